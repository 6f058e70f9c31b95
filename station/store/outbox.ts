// The outbox: the one owner of the records the sinks receive (docs/cloud-api.md, docs/mqtt.md). It
// shapes the cloud record and appends it inside the verdict's own transaction (so every record's
// recordId is created with its blessing), and keeps, for each sink (station/config/uplink.ts, by
// its id), its cursor over the records, the batches it formed from them, what it acknowledged and
// what it refused for good (dead letters); and it counts what waits.
// A batch belongs to one sink. Its membership is written (durably) before its first send and never
// changes, so every retry sends the same records under the same batchId, and a sink can deduplicate
// on either that or the recordId.
//
// Defined here once:
//  - a sink *owes* a record when the sink is in the configuration (active) and the record's seq is
//    past the sink's start: a sink added later starts at the first record still waiting (nothing
//    already delivered everywhere is replayed to it); a sink keeps its cursor under its id;
//  - a record is *queued* for a sink when the sink owes it, has not acknowledged it, and does not
//    hold it as a dead letter; "queued" for the station is the union over the active sinks: queued
//    for at least one of them (each sink's own count is in sinkCounts);
//  - outbox.uploaded_at is set once every active sink that owes a record has acknowledged it
//    (deliveredToEverySinkSql: what retention may prune), and cleared when a sink that owes it is
//    added.
import type Database from 'better-sqlite3';
import type { DeviceIdentity, Verdict } from '../model.js';
import { uuidv7 } from './ids.js';

/** What a verdict puts in the outbox (blessed and failed runs of identified devices). */
export interface OutboxEntry {
  stationId: string;
  identity: DeviceIdentity;
  verdict: Exclude<Verdict, 'interrupted'>;
  mode: 'production' | 'test';
  runId: string;
  attempt: number;
  rework: boolean;
  sequenceHash: string;
  /** The product variant whose limits judged the unit (null: the base limits). */
  variant: string | null;
  failStep: string | null;
  reason: string | null;
  startedAt: number;
  endedAt: number;
}

/** The cloud record of an outbox entry as JSON text (without its seq): what every sink delivers.
 *  Exported for the fleet's load generator (fleet/load.ts), which publishes the station's records. */
export function recordPayload(recordId: string, e: OutboxEntry): string {
  return JSON.stringify({
    recordId,
    stationId: e.stationId,
    deviceId: e.identity.deviceId,
    mac: e.identity.mac,
    iccid: e.identity.iccid,
    imei: e.identity.imei,
    status: e.verdict,
    mode: e.mode,
    runId: e.runId,
    attempt: e.attempt,
    rework: e.rework,
    sequenceHash: e.sequenceHash,
    variant: e.variant,
    failStep: e.failStep,
    reason: e.reason,
    startedAt: iso(e.startedAt),
    endedAt: iso(e.endedAt),
  });
}

/** How the outbox commits on its own: the store's durably() (committed and fsynced on return), or
 *  its commitNow() (committed, not waiting for the disk). */
export type Durably = <T>(work: () => T) => T;

/** Whether a batch's bookkeeping waits for the disk: an HTTP sink's does (its batchId is the
 *  Idempotency-Key of bytes that must never change); an MQTT sink's need not (a record sent twice
 *  after a power cut carries its recordId). */
export interface CommitOptions {
  durable?: boolean;
}

export interface BatchInfo {
  batchId: string;
  records: number;
  attempts: number;
  createdAt: number;
}

export interface BatchRecord {
  seq: number;
  recordId: string;
  deviceId: string;
  /** The record as written with its verdict (JSON text), without the seq. */
  payload: string;
}

export interface Rejection {
  recordId: string;
  reason: string;
}

export interface SettleResult {
  uploaded: number;
  deadLettered: number;
  /** Members neither accepted nor rejected for good: the batch stays open and is sent again. */
  pending: number;
  done: boolean;
}

export interface UplinkCounts {
  queued: number;
  oldestQueuedAt: number | null;
  deadLetters: number;
}

export interface DeadLetter {
  recordId: string;
  /** The sink that refused it. */
  sink: string;
  seq: number;
  batchId: string;
  reason: string;
  at: string;
  deviceId: string;
  status: string;
}

/**
 * "Acknowledged by every sink", as SQL over the outbox table (named `alias` in the query): the
 * records retention may prune. The outbox keeps outbox.uploaded_at as exactly this.
 */
export function deliveredToEverySinkSql(alias = 'outbox'): string {
  return `${alias}.uploaded_at IS NOT NULL`;
}

/** True for a record (outbox row `alias`) that every active sink owing it has acknowledged, and
 *  some active sink owes: never true for no sink at all. */
function everyOwingSinkDelivered(alias: string): string {
  return `EXISTS (SELECT 1 FROM uplink_sinks s WHERE s.active = 1 AND ${alias}.seq > s.start_after_seq)
    AND NOT EXISTS (SELECT 1 FROM uplink_sinks s WHERE s.active = 1 AND ${alias}.seq > s.start_after_seq
      AND NOT EXISTS (SELECT 1 FROM sink_records r WHERE r.seq = ${alias}.seq AND r.sink_id = s.sink_id AND r.delivered_at IS NOT NULL))`;
}

const ACTIVE_DEAD = `SELECT d.record_id FROM dead_letters d JOIN uplink_sinks s ON s.sink_id = d.sink_id AND s.active = 1 WHERE d.requeued_at IS NULL`;

interface SinkRow {
  sink_id: string;
  active: number;
  start_after_seq: number;
  claimed_through: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class Outbox {
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly durably: Durably,
    private readonly quickly: Durably = durably,
  ) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO outbox (record_id, run_id, device_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      // ---- sinks
      sink: db.prepare(`SELECT sink_id, active, start_after_seq, claimed_through FROM uplink_sinks WHERE sink_id = ?`),
      sinks: db.prepare(`SELECT sink_id, active, start_after_seq, claimed_through FROM uplink_sinks`),
      insertSink: db.prepare(`INSERT INTO uplink_sinks (sink_id, active, start_after_seq, claimed_through, added_at) VALUES (?, 1, ?, ?, ?)`),
      setActive: db.prepare(`UPDATE uplink_sinks SET active = ? WHERE sink_id = ?`),
      // The first record still waiting that no active sink holds as a dead letter: where a new sink starts.
      firstWaiting: db.prepare(`SELECT seq FROM outbox WHERE uploaded_at IS NULL AND record_id NOT IN (${ACTIVE_DEAD}) ORDER BY seq LIMIT 1`),
      lastSeq: db.prepare(`SELECT coalesce(max(seq), 0) AS seq FROM outbox`),
      // Delivered everywhere and past `from`: only up to the lowest active cursor can a record be
      // (past a sink's cursor that sink has not even claimed it), so the range is short.
      owedPast: db.prepare(
        `UPDATE outbox SET uploaded_at = NULL WHERE seq > @from AND uploaded_at IS NOT NULL
           AND seq <= (SELECT coalesce(min(claimed_through), -1) FROM uplink_sinks WHERE active = 1 AND sink_id <> @sink)`,
      ),
      owedClaimed: db.prepare(`UPDATE outbox SET uploaded_at = NULL WHERE uploaded_at IS NOT NULL AND seq IN (SELECT seq FROM sink_records WHERE sink_id = ? AND delivered_at IS NULL)`),
      recompute: db.prepare(`UPDATE outbox SET uploaded_at = ? WHERE uploaded_at IS NULL AND ${everyOwingSinkDelivered('outbox')}`),
      // ---- batches
      openBatches: db.prepare(`SELECT batch_id, records, attempts, created_at FROM upload_batches WHERE state = 'open' AND sink = ? ORDER BY rowid`),
      requeuedWaiting: db.prepare(
        `SELECT count(*) AS n, min(o.created_at) AS at FROM sink_records r JOIN outbox o ON o.seq = r.seq WHERE r.sink_id = ? AND r.delivered_at IS NULL AND r.batch_id IS NULL`,
      ),
      // Past an active sink's cursor every record is waiting (uploaded_at NULL): counted on the slim index.
      pastCursorCount: db.prepare(`SELECT count(*) AS n FROM (SELECT 1 FROM outbox WHERE uploaded_at IS NULL AND seq > ? LIMIT ?)`),
      pastCursorFirstAt: db.prepare(`SELECT created_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT 1`),
      claimRequeued: db.prepare(
        `UPDATE sink_records SET batch_id = @batchId WHERE sink_id = @sink AND delivered_at IS NULL AND batch_id IS NULL
           AND seq IN (SELECT seq FROM sink_records WHERE sink_id = @sink AND delivered_at IS NULL AND batch_id IS NULL ORDER BY seq LIMIT @max)
         RETURNING seq`,
      ),
      claimNew: db.prepare(`INSERT INTO sink_records (seq, sink_id, batch_id) SELECT seq, @sink, @batchId FROM outbox WHERE seq > @after ORDER BY seq LIMIT @max RETURNING seq`),
      advance: db.prepare(`UPDATE uplink_sinks SET claimed_through = max(claimed_through, ?) WHERE sink_id = ?`),
      insertBatch: db.prepare(`INSERT INTO upload_batches (batch_id, sink, first_seq, last_seq, records, created_at, state) VALUES (?, ?, ?, ?, ?, ?, 'open')`),
      members: db.prepare(`SELECT o.seq, o.record_id, o.device_id, o.payload FROM sink_records r JOIN outbox o ON o.seq = r.seq WHERE r.batch_id = ? ORDER BY r.seq`),
      // One statement a batch: the accepted recordIds arrive as a JSON array.
      markDelivered: db.prepare(
        `UPDATE sink_records SET delivered_at = @now WHERE batch_id = @batchId AND delivered_at IS NULL
           AND seq IN (SELECT seq FROM outbox WHERE record_id IN (SELECT value FROM json_each(@ids)))
         RETURNING 1`,
      ),
      deliveredEverywhere: db.prepare(
        `UPDATE outbox SET uploaded_at = @now WHERE seq IN (SELECT seq FROM sink_records WHERE batch_id = @batchId AND delivered_at IS NOT NULL)
           AND uploaded_at IS NULL AND ${everyOwingSinkDelivered('outbox')}`,
      ),
      deadLetter: db.prepare(
        `INSERT INTO dead_letters (record_id, sink_id, seq, batch_id, reason, at)
         SELECT o.record_id, r.sink_id, o.seq, r.batch_id, @reason, @now FROM outbox o JOIN sink_records r ON r.seq = o.seq
         WHERE o.record_id = @recordId AND r.batch_id = @batchId AND r.delivered_at IS NULL
         ON CONFLICT (record_id, sink_id) DO UPDATE SET batch_id = excluded.batch_id, reason = excluded.reason, at = excluded.at, requeued_at = NULL`,
      ),
      waitingInBatch: db.prepare(`SELECT count(*) AS n FROM sink_records WHERE batch_id = ? AND delivered_at IS NULL`),
      deadInBatch: db.prepare(`SELECT count(*) AS n FROM dead_letters WHERE batch_id = ? AND requeued_at IS NULL`),
      attempt: db.prepare(`UPDATE upload_batches SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE batch_id = ?`),
      finishBatch: db.prepare(`UPDATE upload_batches SET state = 'done', done_at = ? WHERE batch_id = ?`),
      // ---- counts
      waitingPast: db.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NULL AND seq > ?`),
      firstWaitingAt: db.prepare(`SELECT created_at FROM outbox WHERE uploaded_at IS NULL ORDER BY seq LIMIT 1`),
      claimedWaiting: db.prepare(`SELECT count(*) AS n FROM sink_records WHERE sink_id = ? AND delivered_at IS NULL`),
      claimedOldest: db.prepare(
        `SELECT min(o.created_at) AS at FROM sink_records r JOIN outbox o ON o.seq = r.seq WHERE r.sink_id = ? AND r.delivered_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.record_id = o.record_id AND d.sink_id = r.sink_id AND d.requeued_at IS NULL)`,
      ),
      sinkDead: db.prepare(`SELECT count(*) AS n FROM dead_letters WHERE sink_id = ? AND requeued_at IS NULL`),
      deadAnywhere: db.prepare(`SELECT count(DISTINCT record_id) AS n FROM (${ACTIVE_DEAD})`),
      // Waiting records every active sink owing them has acknowledged or holds as a dead letter: not queued.
      deadEverywhere: db.prepare(
        `SELECT count(*) AS n FROM outbox o WHERE o.uploaded_at IS NULL AND o.seq > ? AND o.record_id IN (${ACTIVE_DEAD})
           AND NOT EXISTS (SELECT 1 FROM uplink_sinks s WHERE s.active = 1 AND o.seq > s.start_after_seq
             AND NOT EXISTS (SELECT 1 FROM sink_records r WHERE r.seq = o.seq AND r.sink_id = s.sink_id AND r.delivered_at IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.record_id = o.record_id AND d.sink_id = s.sink_id AND d.requeued_at IS NULL))`,
      ),
      deadList: db.prepare(
        `SELECT d.record_id, d.sink_id, d.seq, d.batch_id, d.reason, d.at, o.device_id, o.kind
         FROM dead_letters d JOIN outbox o ON o.record_id = d.record_id JOIN uplink_sinks s ON s.sink_id = d.sink_id AND s.active = 1
         WHERE d.requeued_at IS NULL AND (@sink IS NULL OR d.sink_id = @sink) ORDER BY d.at DESC, d.seq DESC, d.sink_id LIMIT @limit`,
      ),
      requeue: db.prepare(
        `UPDATE dead_letters SET requeued_at = @now WHERE record_id = @recordId AND requeued_at IS NULL AND (@sink IS NULL OR sink_id = @sink)
           AND sink_id IN (SELECT sink_id FROM uplink_sinks WHERE active = 1)
         RETURNING sink_id, seq`,
      ),
      unclaim: db.prepare(`UPDATE sink_records SET batch_id = NULL WHERE seq = ? AND sink_id = ? AND delivered_at IS NULL`),
    };
  }

  /**
   * Appends the cloud record of a verdict; call it inside the verdict's transaction (the store's
   * finishRun does), so the record and its recordId exist exactly when the verdict does.
   */
  append(e: OutboxEntry): { recordId: string; seq: number } {
    const recordId = uuidv7(e.endedAt);
    const payload = recordPayload(recordId, e);
    const seq = Number(this.stmts.insert.run(recordId, e.runId, e.identity.deviceId, e.verdict, payload, e.endedAt).lastInsertRowid);
    return { recordId, seq };
  }

  /**
   * The sinks of the configuration, by id, at the uplink's start: they are the active ones (the
   * others keep their state, unused). A sink seen for the first time starts at the first record
   * still waiting; a sink back in the configuration picks up at its cursor. Records a new or returning
   * sink owes are no longer delivered everywhere; records only a removed sink still owed now are.
   */
  registerSinks(ids: readonly string[]): void {
    this.durably(() => {
      const now = Date.now();
      const known = new Map((this.stmts.sinks.all() as SinkRow[]).map((r) => [r.sink_id, r]));
      let removed = false;
      const returning: SinkRow[] = [];
      for (const [id, row] of known) {
        const active = ids.includes(id) ? 1 : 0;
        if (row.active === active) continue;
        this.stmts.setActive.run(active, id);
        if (active === 0) removed = true;
        else returning.push(row);
      }
      if (removed) this.stmts.recompute.run(now);
      for (const row of returning) {
        this.stmts.owedPast.run({ from: row.claimed_through, sink: row.sink_id });
        this.stmts.owedClaimed.run(row.sink_id);
      }
      for (const id of ids) if (!known.has(id)) this.addSink(id, now);
    });
  }

  /** A sink's row, added (active, starting at the first record still waiting) when it is new. */
  private ensureSink(sinkId: string): SinkRow {
    const row = this.stmts.sink.get(sinkId) as SinkRow | undefined;
    if (row) return row;
    return this.db.inTransaction ? this.addSink(sinkId, Date.now()) : this.durably(() => this.addSink(sinkId, Date.now()));
  }

  private addSink(sinkId: string, now: number): SinkRow {
    const first = this.stmts.firstWaiting.get() as { seq: number } | undefined;
    const startAfter = first ? first.seq - 1 : (this.stmts.lastSeq.get() as { seq: number }).seq;
    this.stmts.insertSink.run(sinkId, startAfter, startAfter, now);
    // Records past its start that the other sinks have all acknowledged: this one still owes them.
    this.stmts.owedPast.run({ from: startAfter, sink: sinkId });
    return { sink_id: sinkId, active: 1, start_after_seq: startAfter, claimed_through: startAfter };
  }

  /** A sink's batches formed and not yet settled, oldest first: these go before any new batch. */
  openBatches(sinkId: string): BatchInfo[] {
    return (this.stmts.openBatches.all(sinkId) as { batch_id: string; records: number; attempts: number; created_at: number }[]).map((r) => ({
      batchId: r.batch_id,
      records: r.records,
      attempts: r.attempts,
      createdAt: r.created_at,
    }));
  }

  /** How many records wait for a sink's next batch (counted up to `cap`), and when the oldest was written. */
  unbatched(sinkId: string, cap: number): { count: number; oldestAt: number | null } {
    const sink = this.ensureSink(sinkId);
    const requeued = this.stmts.requeuedWaiting.get(sinkId) as { n: number; at: number | null };
    const past = (this.stmts.pastCursorCount.get(sink.claimed_through, cap) as { n: number }).n;
    const pastAt = past > 0 ? ((this.stmts.pastCursorFirstAt.get(sink.claimed_through) as { created_at: number } | undefined)?.created_at ?? null) : null;
    const oldest = [requeued.at, pastAt].filter((t): t is number => t !== null);
    return { count: Math.min(cap, requeued.n + past), oldestAt: oldest.length > 0 ? Math.min(...oldest) : null };
  }

  /**
   * Forms a sink's next batch from up to `max` records (its requeued dead letters first, then the
   * records past its cursor), committed (and fsynced, unless `durable` is false) before it returns:
   * the batch exists, with these members, before anything is sent. Null when nothing waits.
   */
  formBatch(max: number, sinkId: string, opts: CommitOptions = {}): BatchInfo | null {
    return this.commit(opts, () => {
      const sink = this.ensureSink(sinkId);
      const batchId = uuidv7();
      const seqs = (this.stmts.claimRequeued.all({ batchId, sink: sinkId, max }) as { seq: number }[]).map((r) => r.seq);
      if (seqs.length < max) {
        const fresh = (this.stmts.claimNew.all({ batchId, sink: sinkId, after: sink.claimed_through, max: max - seqs.length }) as { seq: number }[]).map((r) => r.seq);
        if (fresh.length > 0) this.stmts.advance.run(fresh[fresh.length - 1], sinkId);
        seqs.push(...fresh);
      }
      if (seqs.length === 0) return null;
      let first = Infinity;
      let last = -Infinity;
      for (const s of seqs) {
        if (s < first) first = s;
        if (s > last) last = s;
      }
      const now = Date.now();
      this.stmts.insertBatch.run(batchId, sinkId, first, last, seqs.length, now);
      return { batchId, records: seqs.length, attempts: 0, createdAt: now };
    });
  }

  /** The batch's records, in seq order, exactly as formed. */
  members(batchId: string): BatchRecord[] {
    return (this.stmts.members.all(batchId) as { seq: number; record_id: string; device_id: string; payload: string }[]).map((r) => ({
      seq: r.seq,
      recordId: r.record_id,
      deviceId: r.device_id,
      payload: r.payload,
    }));
  }

  /** Notes a failed attempt (the reason in words: never a body or a key). */
  noteAttempt(batchId: string, error: string | null, opts: CommitOptions = {}): void {
    this.commit(opts, () => this.stmts.attempt.run(Date.now(), error, batchId));
  }

  private commit<T>(opts: CommitOptions, work: () => T): T {
    return opts.durable === false ? this.quickly(work) : this.durably(work);
  }

  /**
   * Applies the sink's answer: accepted records are marked acknowledged by this sink (and uploaded
   * once every sink has them), permanent rejections become this sink's dead letters with its reason.
   * Answers about records not in this batch are ignored (and counted in `ignored`). The batch is
   * done when every member is acknowledged or dead.
   */
  settle(batchId: string, accepted: readonly string[], permanent: readonly Rejection[], error: string | null, opts: CommitOptions = {}): SettleResult & { ignored: number } {
    return this.commit(opts, () => {
      const now = Date.now();
      let uploaded = 0;
      let deadLettered = 0;
      let ignored = 0;
      if (accepted.length > 0) {
        const marked = this.stmts.markDelivered.all({ now, batchId, ids: JSON.stringify(accepted) });
        uploaded = marked.length;
        ignored += accepted.length - marked.length;
        if (marked.length > 0) this.stmts.deliveredEverywhere.run({ now, batchId });
      }
      for (const r of permanent) {
        const changes = this.stmts.deadLetter.run({ reason: r.reason.slice(0, 500), now, recordId: r.recordId, batchId }).changes;
        if (changes > 0) deadLettered++;
        else ignored++;
      }
      const waiting = (this.stmts.waitingInBatch.get(batchId) as { n: number }).n;
      const dead = (this.stmts.deadInBatch.get(batchId) as { n: number }).n;
      const pending = Math.max(0, waiting - dead);
      this.stmts.attempt.run(now, pending > 0 ? error : null, batchId);
      if (pending === 0) this.stmts.finishBatch.run(now, batchId);
      return { uploaded, deadLettered, pending, done: pending === 0, ignored };
    });
  }

  /** What waits for at least one active sink (the union), and the dead letters of the active sinks. */
  counts(): UplinkCounts {
    const active = (this.stmts.sinks.all() as SinkRow[]).filter((s) => s.active === 1);
    if (active.length === 0) {
      const first = this.stmts.firstWaitingAt.get() as { created_at: number } | undefined;
      return { queued: (this.stmts.waitingPast.get(0) as { n: number }).n, oldestQueuedAt: first?.created_at ?? null, deadLetters: 0 };
    }
    const from = Math.min(...active.map((s) => s.start_after_seq));
    const waiting = (this.stmts.waitingPast.get(from) as { n: number }).n;
    const deadLetters = (this.stmts.deadAnywhere.get() as { n: number }).n;
    const notQueued = deadLetters > 0 ? (this.stmts.deadEverywhere.get(from) as { n: number }).n : 0;
    const oldest = active.map((s) => this.sinkOldest(s)).filter((t): t is number => t !== null);
    return { queued: Math.max(0, waiting - notQueued), oldestQueuedAt: oldest.length > 0 ? Math.min(...oldest) : null, deadLetters };
  }

  /** What one sink owes and has not acknowledged (its dead letters apart). */
  sinkCounts(sinkId: string): UplinkCounts {
    const sink = this.stmts.sink.get(sinkId) as SinkRow | undefined;
    if (!sink) return { queued: 0, oldestQueuedAt: null, deadLetters: 0 };
    const past = (this.stmts.waitingPast.get(sink.claimed_through) as { n: number }).n;
    const claimed = (this.stmts.claimedWaiting.get(sinkId) as { n: number }).n;
    const dead = (this.stmts.sinkDead.get(sinkId) as { n: number }).n;
    return { queued: Math.max(0, past + claimed - dead), oldestQueuedAt: this.sinkOldest(sink), deadLetters: dead };
  }

  private sinkOldest(sink: SinkRow): number | null {
    const claimed = (this.stmts.claimedOldest.get(sink.sink_id) as { at: number | null }).at;
    const past = (this.stmts.pastCursorFirstAt.get(sink.claimed_through) as { created_at: number } | undefined)?.created_at ?? null;
    if (claimed === null) return past;
    return past === null ? claimed : Math.min(claimed, past);
  }

  /** The dead letters of the active sinks (or of one) not requeued, newest first: the last refused
   *  first (a record refused again after a requeue counts from its new refusal), records refused
   *  together by seq, highest first. */
  deadLetters(limit = 100, sinkId: string | null = null): DeadLetter[] {
    return (
      this.stmts.deadList.all({ limit, sink: sinkId }) as { record_id: string; sink_id: string; seq: number; batch_id: string; reason: string; at: number; device_id: string; kind: string }[]
    ).map((r) => ({
      recordId: r.record_id,
      sink: r.sink_id,
      seq: r.seq,
      batchId: r.batch_id,
      reason: r.reason,
      at: iso(r.at),
      deviceId: r.device_id,
      status: r.kind,
    }));
  }

  /** Sends dead letters again (after the sink was fixed): each joins its sink's next new batch. With
   *  no sink named, a record is sent again to every active sink that holds it as a dead letter.
   *  Returns how many of the records were requeued (to one sink or more). */
  requeue(recordIds: readonly string[], sinkId: string | null = null): number {
    return this.durably(() => {
      const now = Date.now();
      let n = 0;
      for (const recordId of recordIds) {
        const requeued = this.stmts.requeue.all({ now, recordId, sink: sinkId }) as { sink_id: string; seq: number }[];
        for (const r of requeued) this.stmts.unclaim.run(r.seq, r.sink_id);
        if (requeued.length > 0) n++;
      }
      return n;
    });
  }
}

/**
 * SQL: the outbox record under alias `o` is acknowledged by every sink, so nothing will ever send
 * it again and it may be deleted (retention, station/store/retention.ts): every active sink owing
 * it acknowledged it (deliveredToEverySinkSql), and no batch it is a member of is still open: an
 * open batch is sent again with exactly the members it was formed with (the cloud refuses an
 * Idempotency-Key reused with other bytes), so none of them may go before the batch is done. A
 * dead letter is never acknowledged by the sink that refused it, so it is never pruned until an
 * engineer requeues it and that sink accepts it.
 */
export function acknowledgedByEverySink(o: string): string {
  return `(${deliveredToEverySinkSql(o)} AND NOT EXISTS (SELECT 1 FROM sink_records ar JOIN upload_batches ab ON ab.batch_id = ar.batch_id WHERE ar.seq = ${o}.seq AND ab.state = 'open'))`;
}
