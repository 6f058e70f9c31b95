// The outbox: the one owner of the records the cloud receives (docs/cloud-api.md). It shapes the
// cloud record and appends it inside the verdict's own transaction (so every record's recordId is
// created with its blessing), forms batches from it, reads a batch back as the exact records it was
// formed with, settles what the cloud answered, keeps the dead letters, and counts what waits.
// A batch's membership is written (durably) before its first send and never changes, so every
// retry sends the same records under the same batchId, and the cloud can deduplicate on either.
//
// "Queued" is defined here once: a record not uploaded and not a dead letter.
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

/** How the outbox commits on its own (the store's durably(): committed and fsynced on return). */
export type Durably = <T>(work: () => T) => T;

export interface BatchInfo {
  batchId: string;
  records: number;
  attempts: number;
  createdAt: number;
}

export interface BatchRecord {
  seq: number;
  recordId: string;
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

const iso = (ms: number): string => new Date(ms).toISOString();

export class Outbox {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly durably: Durably,
  ) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO outbox (record_id, run_id, device_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
      openBatches: db.prepare(`SELECT batch_id, records, attempts, created_at FROM upload_batches WHERE state = 'open' ORDER BY created_at, batch_id`),
      oldestUnbatched: db.prepare(`SELECT min(created_at) AS at, count(*) AS n FROM (SELECT created_at FROM outbox WHERE batch_id IS NULL ORDER BY seq LIMIT ?)`),
      claim: db.prepare(
        `UPDATE outbox SET batch_id = @batchId WHERE seq IN (SELECT seq FROM outbox WHERE batch_id IS NULL ORDER BY seq LIMIT @max)
         RETURNING seq`,
      ),
      insertBatch: db.prepare(`INSERT INTO upload_batches (batch_id, sink, first_seq, last_seq, records, created_at, state) VALUES (?, ?, ?, ?, ?, ?, 'open')`),
      members: db.prepare(`SELECT seq, record_id, payload FROM outbox WHERE batch_id = ? ORDER BY seq`),
      memberState: db.prepare(
        `SELECT o.record_id, o.uploaded_at, d.record_id IS NOT NULL AND d.requeued_at IS NULL AS dead
         FROM outbox o LEFT JOIN dead_letters d ON d.record_id = o.record_id WHERE o.batch_id = ?`,
      ),
      // One statement a batch: the accepted recordIds arrive as a JSON array.
      markUploaded: db.prepare(
        `UPDATE outbox SET uploaded_at = @now WHERE batch_id = @batchId AND uploaded_at IS NULL AND record_id IN (SELECT value FROM json_each(@ids))
         RETURNING 1`,
      ),
      deadLetter: db.prepare(
        `INSERT INTO dead_letters (record_id, seq, batch_id, reason, at) SELECT record_id, seq, batch_id, ?, ? FROM outbox WHERE record_id = ? AND batch_id = ?
         ON CONFLICT (record_id) DO UPDATE SET batch_id = excluded.batch_id, reason = excluded.reason, at = excluded.at, requeued_at = NULL`,
      ),
      attempt: db.prepare(`UPDATE upload_batches SET attempts = attempts + 1, last_attempt_at = ?, last_error = ? WHERE batch_id = ?`),
      finishBatch: db.prepare(`UPDATE upload_batches SET state = 'done', done_at = ? WHERE batch_id = ?`),
      pendingCount: db.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NULL`),
      oldestQueued: db.prepare(
        `SELECT created_at FROM outbox o WHERE uploaded_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.record_id = o.record_id AND d.requeued_at IS NULL)
         ORDER BY created_at LIMIT 1`,
      ),
      deadCount: db.prepare(`SELECT count(*) AS n FROM dead_letters WHERE requeued_at IS NULL`),
      deadList: db.prepare(
        `SELECT d.record_id, d.seq, d.batch_id, d.reason, d.at, o.device_id, o.kind FROM dead_letters d JOIN outbox o ON o.record_id = d.record_id
         WHERE d.requeued_at IS NULL ORDER BY d.at DESC, d.seq DESC LIMIT ?`,
      ),
      requeue: db.prepare(`UPDATE dead_letters SET requeued_at = ? WHERE record_id = ? AND requeued_at IS NULL`),
      unclaim: db.prepare(`UPDATE outbox SET batch_id = NULL WHERE record_id = ? AND uploaded_at IS NULL`),
    };
  }

  /**
   * Appends the cloud record of a verdict; call it inside the verdict's transaction (the store's
   * finishRun does), so the record and its recordId exist exactly when the verdict does.
   */
  append(e: OutboxEntry): { recordId: string; seq: number } {
    const recordId = uuidv7(e.endedAt);
    const payload = JSON.stringify({
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
    const seq = Number(this.stmts.insert.run(recordId, e.runId, e.identity.deviceId, e.verdict, payload, e.endedAt).lastInsertRowid);
    return { recordId, seq };
  }

  /** Batches formed and not yet settled, oldest first: these go before any new batch. */
  openBatches(): BatchInfo[] {
    return (this.stmts.openBatches.all() as { batch_id: string; records: number; attempts: number; created_at: number }[]).map((r) => ({
      batchId: r.batch_id,
      records: r.records,
      attempts: r.attempts,
      createdAt: r.created_at,
    }));
  }

  /** How many records wait for a batch (counted up to `cap`), and when the oldest was written. */
  unbatched(cap: number): { count: number; oldestAt: number | null } {
    const row = this.stmts.oldestUnbatched.get(cap) as { at: number | null; n: number };
    return { count: row.n, oldestAt: row.at };
  }

  /**
   * Forms the next batch from up to `max` records in no batch, durably (fsynced) before it returns:
   * the batch exists, with these members, before anything is sent. Null when nothing waits.
   */
  formBatch(max: number, sink: string): BatchInfo | null {
    return this.durably(() => {
      const batchId = uuidv7();
      const seqs = (this.stmts.claim.all({ batchId, max }) as { seq: number }[]).map((r) => r.seq);
      if (seqs.length === 0) return null;
      const now = Date.now();
      this.stmts.insertBatch.run(batchId, sink, Math.min(...seqs), Math.max(...seqs), seqs.length, now);
      return { batchId, records: seqs.length, attempts: 0, createdAt: now };
    });
  }

  /** The batch's records, in seq order, exactly as formed. */
  members(batchId: string): BatchRecord[] {
    return (this.stmts.members.all(batchId) as { seq: number; record_id: string; payload: string }[]).map((r) => ({
      seq: r.seq,
      recordId: r.record_id,
      payload: r.payload,
    }));
  }

  /** Notes a failed attempt (the reason in words: never a body or a key). */
  noteAttempt(batchId: string, error: string | null): void {
    this.durably(() => this.stmts.attempt.run(Date.now(), error, batchId));
  }

  /**
   * Applies the cloud's answer: accepted records are marked uploaded, permanent rejections become
   * dead letters with the cloud's reason. Answers about records not in this batch are ignored
   * (and counted in `ignored`). The batch is done when every member is uploaded or dead.
   */
  settle(batchId: string, accepted: readonly string[], permanent: readonly Rejection[], error: string | null): SettleResult & { ignored: number } {
    return this.durably(() => {
      const now = Date.now();
      let uploaded = 0;
      let deadLettered = 0;
      let ignored = 0;
      if (accepted.length > 0) {
        const marked = this.stmts.markUploaded.all({ now, batchId, ids: JSON.stringify(accepted) });
        uploaded = marked.length;
        ignored += accepted.length - marked.length;
      }
      for (const r of permanent) {
        const changes = this.stmts.deadLetter.run(r.reason.slice(0, 500), now, r.recordId, batchId).changes;
        if (changes > 0) deadLettered++;
        else ignored++;
      }
      const states = this.stmts.memberState.all(batchId) as { record_id: string; uploaded_at: number | null; dead: number }[];
      const pending = states.filter((s) => s.uploaded_at === null && !s.dead).length;
      this.stmts.attempt.run(now, pending > 0 ? error : null, batchId);
      if (pending === 0) this.stmts.finishBatch.run(now, batchId);
      return { uploaded, deadLettered, pending, done: pending === 0, ignored };
    });
  }

  counts(): UplinkCounts {
    // Dead letters are never uploaded: every one is among the pending rows.
    const pending = (this.stmts.pendingCount.get() as { n: number }).n;
    const dead = (this.stmts.deadCount.get() as { n: number }).n;
    const oldest = this.stmts.oldestQueued.get() as { created_at: number } | undefined;
    return { queued: Math.max(0, pending - dead), oldestQueuedAt: oldest?.created_at ?? null, deadLetters: dead };
  }

  /** The dead letters not requeued, newest first: the last refused first (a record refused again
   *  after a requeue counts from its new refusal), records refused together by seq, highest first. */
  deadLetters(limit = 100): { recordId: string; seq: number; batchId: string; reason: string; at: string; deviceId: string; status: string }[] {
    return (this.stmts.deadList.all(limit) as { record_id: string; seq: number; batch_id: string; reason: string; at: number; device_id: string; kind: string }[]).map((r) => ({
      recordId: r.record_id,
      seq: r.seq,
      batchId: r.batch_id,
      reason: r.reason,
      at: new Date(r.at).toISOString(),
      deviceId: r.device_id,
      status: r.kind,
    }));
  }

  /** Sends dead letters again (after the cloud was fixed): each joins the next new batch. */
  requeue(recordIds: readonly string[]): number {
    return this.durably(() => {
      const now = Date.now();
      let n = 0;
      for (const id of recordIds) {
        if (this.stmts.requeue.run(now, id).changes > 0) {
          this.stmts.unclaim.run(id);
          n++;
        }
      }
      return n;
    });
  }
}

/**
 * SQL: the outbox record under alias `o` is acknowledged by every sink, so nothing will ever send
 * it again and it may be deleted (retention, station/store/retention.ts). The one place that says
 * so: with several sinks, each with its own cursor (issue 13), this becomes "every sink's cursor is
 * past o.seq". Today there is one sink, and a record is acknowledged when it was accepted
 * (uploaded_at) and its batch is no longer open: an open batch is sent again with exactly the
 * members it was formed with (the cloud refuses an Idempotency-Key reused with other bytes), so
 * none of them may go before the batch is done. A dead letter is never uploaded (uploaded_at stays
 * NULL until it is requeued and accepted), so it is never acknowledged.
 */
export function acknowledgedByEverySink(o: string): string {
  return `(${o}.uploaded_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM upload_batches ab WHERE ab.batch_id = ${o}.batch_id AND ab.state = 'open'))`;
}
