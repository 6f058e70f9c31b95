// Retention (storage.retention, docs/storage.md#retention-and-the-disk-budget): which rows of the
// store may be deleted, reading them for the archive, deleting them in bounded transactions, and
// giving the freed pages back to the file system. The job that schedules it, writes the archive
// and reports on it is jobs/retention.ts; this file only knows the tables.
//
// A run may go, with its step results, measurements, prompt answers (who answered), outbox records
// and their dead-letter rows, when all of these hold:
//  - it has ended (its status is not 'running') and its end is older than the cutoff;
//  - every outbox record of it is acknowledged by every sink (acknowledgedByEverySink in
//    outbox.ts, the one place that says what that means): never a record not yet delivered, never
//    one in a batch that may still be sent again, never a dead letter an engineer has not resolved
//    (a requeued dead letter is resolved once it is accepted).
// A run with no outbox record (an interrupted run; a failed run of a unit never identified) has
// nothing to deliver: it goes by age alone.
//
// Never deleted here: device rows (a blessed unit's identity stays, and the registry keeps the
// first verdicts that first-pass yield is computed from), device secrets, sequences and their
// versions, the token ledger, settings. A device whose last run is deleted keeps that run's upload
// time in devices.uploaded_at, so the API's uploadedAt does not change (the next verdict of that
// device clears it: store.ts, upsertDevice).
//
// Every write goes through the store's one connection: the deletes in store.commitNow() (which
// commits whatever the line has queued first, then the deletes without an fsync of their own: a
// power cut that undoes them loses nothing, the next pass deletes them again; the archive file,
// when there is one, was fsynced before), the vacuum after store.flush(). Each call does a bounded
// amount of work, so the line never waits long.
import type Database from 'better-sqlite3';
import type { RetentionCounts } from '../events.js';
import { acknowledgedByEverySink } from './outbox.js';
import type { Store } from './store.js';

/** Rows deleted, per table; `batches` counts upload_batches rows whose every record is gone
 *  (uplink bookkeeping, not archived). */
export type PruneCounts = RetentionCounts;

export const NO_PRUNE: Readonly<PruneCounts> = Object.freeze({ runs: 0, steps: 0, measurements: 0, outbox: 0, deadLetters: 0, batches: 0 });

export function addCounts(a: PruneCounts, b: PruneCounts): PruneCounts {
  return {
    runs: a.runs + b.runs,
    steps: a.steps + b.steps,
    measurements: a.measurements + b.measurements,
    outbox: a.outbox + b.outbox,
    deadLetters: a.deadLetters + b.deadLetters,
    batches: a.batches + b.batches,
  };
}

type Row = Record<string, unknown>;

/** A run and every row that goes with it, each row as its table holds it (column names as in SQL). */
export interface RunRows {
  run: Row;
  steps: Row[];
  measurements: Row[];
  /** Who answered each of the run's operator prompts (migration 10). */
  promptAnswers: Row[];
  outbox: Row[];
  deadLetters: Row[];
}

export interface ScanResult {
  /** Runs that may go, oldest first. */
  runIds: string[];
  /** Where the next scan starts: the last runs rowid looked at. */
  cursor: number;
  /** The scan reached runs that started after the cutoff, or the end of the table. */
  done: boolean;
  /** Runs past the cutoff kept because a record of theirs is not delivered or is a dead letter. */
  held: number;
}

/** Runs read per query while scanning. */
const CHUNK = 1000;
/** Runs looked at in one scan() call at most, so one call stays short however many are held. */
const SCAN_MAX = 5000;

/** A record of the run is not acknowledged by every sink (not delivered, in a batch still open, or
 *  a dead letter not resolved): the run is kept. */
const HELD = `EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = r.run_id AND NOT ${acknowledgedByEverySink('o')})`;

export class StoreRetention {
  private stmts: ReturnType<StoreRetention['prepare']> | null = null;
  private preparedFor: Database.Database | null = null;

  constructor(private readonly store: Store) {}

  private get s(): ReturnType<StoreRetention['prepare']> {
    const db = this.store.database;
    if (!this.stmts || this.preparedFor !== db) {
      this.stmts = this.prepare(db);
      this.preparedFor = db;
    }
    return this.stmts;
  }

  private prepare(db: Database.Database) {
    return {
      // Runs in insertion order (rowid), which is the order they started in: oldest first.
      chunk: db.prepare(`SELECT r.rowid AS rid, r.run_id, r.status, r.started_at, r.ended_at, ${HELD} AS held FROM runs r WHERE r.rowid > ? ORDER BY r.rowid LIMIT ?`),
      eligible: db.prepare(`SELECT r.device_id FROM runs r WHERE r.run_id = ? AND r.status <> 'running' AND r.ended_at < ? AND NOT ${HELD}`),
      run: db.prepare(`SELECT * FROM runs WHERE run_id = ?`),
      steps: db.prepare(`SELECT * FROM step_results WHERE run_id = ? ORDER BY step_index`),
      measurements: db.prepare(`SELECT * FROM measurements WHERE run_id = ? ORDER BY step_index, rowid`),
      promptAnswers: db.prepare(`SELECT * FROM prompt_answers WHERE run_id = ? ORDER BY seq`),
      outbox: db.prepare(`SELECT * FROM outbox WHERE run_id = ? ORDER BY seq`),
      deadLetters: db.prepare(`SELECT d.* FROM dead_letters d JOIN outbox o ON o.record_id = d.record_id WHERE o.run_id = ? ORDER BY d.seq`),
      // The device keeps its last run's upload time once that run's record is gone (the API's uploadedAt).
      keepUploadedAt: db.prepare(
        `UPDATE devices SET uploaded_at = coalesce((SELECT o.uploaded_at FROM outbox o WHERE o.run_id = @runId), uploaded_at) WHERE device_id = @deviceId AND last_run_id = @runId`,
      ),
      delDeadLetters: db.prepare(`DELETE FROM dead_letters WHERE record_id IN (SELECT record_id FROM outbox WHERE run_id = ?)`),
      delOutbox: db.prepare(`DELETE FROM outbox WHERE run_id = ?`),
      delMeasurements: db.prepare(`DELETE FROM measurements WHERE run_id = ?`),
      delSteps: db.prepare(`DELETE FROM step_results WHERE run_id = ?`),
      // Who answered the run's prompts (migration 10) goes with the run, archived with it (read()).
      delPromptAnswers: db.prepare(`DELETE FROM prompt_answers WHERE run_id = ?`),
      delRun: db.prepare(`DELETE FROM runs WHERE run_id = ?`),
      // Indexes: sink_records_batch for the members (their rows go with their outbox rows: the
      // cascade); dead_letters_batch for the dead letters.
      delBatches: db.prepare(
        `DELETE FROM upload_batches WHERE state = 'done' AND done_at < ?
           AND NOT EXISTS (SELECT 1 FROM sink_records r WHERE r.batch_id = upload_batches.batch_id)
           AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.batch_id = upload_batches.batch_id)`,
      ),
      oldestRun: db.prepare(`SELECT started_at FROM runs ORDER BY rowid LIMIT 1`),
    };
  }

  /**
   * Looks for runs that may go (ended before `cutoffMs`, delivered), from the runs rowid `cursor`
   * on, oldest first: up to `max` of them, looking at SCAN_MAX runs at most. Stops (done) at a
   * chunk of runs that all started at or after the cutoff, or at the end of the table.
   */
  scan(cutoffMs: number, cursor: number, max: number): ScanResult {
    const runIds: string[] = [];
    let held = 0;
    let looked = 0;
    for (;;) {
      const rows = this.s.chunk.all(cursor, CHUNK) as { rid: number; run_id: string; status: string; started_at: number; ended_at: number | null; held: number }[];
      if (rows.length === 0) return { runIds, cursor, done: true, held };
      let allLater = true;
      for (const r of rows) {
        cursor = r.rid;
        looked++;
        if (r.started_at < cutoffMs) allLater = false;
        if (r.status === 'running' || r.ended_at === null || r.ended_at >= cutoffMs) continue;
        if (r.held) {
          held++;
          continue;
        }
        runIds.push(r.run_id);
        if (runIds.length >= max) return { runIds, cursor, done: false, held };
      }
      if (allLater || rows.length < CHUNK) return { runIds, cursor, done: true, held };
      if (looked >= SCAN_MAX) return { runIds, cursor, done: false, held };
    }
  }

  /** The runs and every row that goes with them, as stored: what the archive keeps. */
  read(runIds: readonly string[]): RunRows[] {
    const s = this.s;
    const out: RunRows[] = [];
    for (const id of runIds) {
      const run = s.run.get(id) as Row | undefined;
      if (!run) continue;
      out.push({
        run,
        steps: s.steps.all(id) as Row[],
        measurements: s.measurements.all(id) as Row[],
        promptAnswers: s.promptAnswers.all(id) as Row[],
        outbox: s.outbox.all(id) as Row[],
        deadLetters: s.deadLetters.all(id) as Row[],
      });
    }
    return out;
  }

  /**
   * Deletes runs and their rows in one transaction, taking them in order until `deadline`
   * (performance.now()) has passed and at least `minRuns` (at least one) are done, so one call
   * holds the connection for a bounded time. Each run is checked again inside it (one no longer
   * eligible is left alone and not counted). Returns what was deleted, and how many of `runIds`
   * were dealt with (the caller passes the rest to the next call).
   */
  delete(runIds: readonly string[], cutoffMs: number, deadline = Infinity, minRuns = 1): { counts: PruneCounts; deleted: string[]; processed: number } {
    return this.store.commitNow(() => {
      const s = this.s;
      const c: PruneCounts = { ...NO_PRUNE };
      const deleted: string[] = [];
      let processed = 0;
      for (const id of runIds) {
        if (processed >= Math.max(1, minRuns) && performance.now() > deadline) break;
        processed++;
        const row = s.eligible.get(id, cutoffMs) as { device_id: string | null } | undefined;
        if (!row) continue;
        if (row.device_id !== null) s.keepUploadedAt.run({ deviceId: row.device_id, runId: id });
        c.deadLetters += s.delDeadLetters.run(id).changes;
        c.outbox += s.delOutbox.run(id).changes;
        c.measurements += s.delMeasurements.run(id).changes;
        c.steps += s.delSteps.run(id).changes;
        s.delPromptAnswers.run(id);
        c.runs += s.delRun.run(id).changes;
        deleted.push(id);
      }
      return { counts: c, deleted, processed };
    });
  }

  /**
   * Deletes the upload_batches rows (uplink bookkeeping) of batches done before `cutoffMs` that no
   * record and no dead letter belongs to any more: once per pass, after the runs.
   */
  deleteEmptyBatches(cutoffMs: number): number {
    return this.store.commitNow(() => this.s.delBatches.run(cutoffMs).changes);
  }

  /** When the oldest run still in the store started (the first by rowid), or null with none. */
  oldestRunStartedAt(): number | null {
    const row = this.s.oldestRun.get() as { started_at: number } | undefined;
    return row?.started_at ?? null;
  }

  /** Pages the file holds free (deleted rows' pages not yet given back). */
  freePages(): number {
    return this.store.database.pragma('freelist_count', { simple: true }) as number;
  }

  /** True when the file can give free pages back (auto_vacuum = INCREMENTAL, migration 9). */
  canShrink(): boolean {
    return (this.store.database.pragma('auto_vacuum', { simple: true }) as number) === 2;
  }

  /**
   * Gives up to `pages` free pages back to the file system (PRAGMA incremental_vacuum), after
   * committing what the line has queued; returns how many. In WAL mode the file itself shrinks
   * at the next checkpoint (store.checkpoint()).
   */
  vacuum(pages: number): number {
    this.store.flush();
    const before = this.freePages();
    if (before === 0 || !this.canShrink()) return 0;
    // exec, not pragma(): the pragma answers a row per page moved, and nobody needs them.
    this.store.database.exec(`PRAGMA incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
    return before - this.freePages();
  }

  /** Page size in bytes, to say what a vacuum gave back. */
  pageSize(): number {
    return this.store.database.pragma('page_size', { simple: true }) as number;
  }
}
