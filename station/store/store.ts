// The station's local store: one SQLite file in WAL mode, one connection, one writer.
// Writes are queued and committed together once per event-loop turn (group commit):
//  - a batch holding a verdict (blessing, failure, outbox row) commits with synchronous=FULL, so
//    its fsync makes it durable before any caller is told; one fsync covers every verdict that
//    arrived in the same turn, which is what lets 32 slots bless without queueing on the disk;
//  - a batch of run starts and step results only commits with synchronous=NORMAL: it survives a
//    crashed process at once (the write is in the OS) and reaches the platter with the next FULL
//    commit, whose fsync covers the whole WAL.
// Each queued write runs in its own savepoint, so one bad write cannot undo its neighbours.
import { statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { canonicalJson, type CompiledSequence } from '../sequence/sequence.js';
import type { DeviceIdentity, StepStatus, Verdict } from '../model.js';
import { secureDatabaseFiles, secureDataDir } from './data-dir.js';
import { StoreFaults } from './fault-watch.js';
import { LAYOUT_REPAIRS, type LayoutRepair } from './layout-repairs.js';
import { DataDirLock } from './lock.js';
import { MIGRATIONS } from './migrations.js';
import { Outbox } from './outbox.js';
import { migrateSchema, refuseForeignFile } from './schema.js';
import { monotonicMs } from '../../lib/clock.js';

export interface StepRecord {
  index: number;
  name: string;
  type: string;
  status: StepStatus;
  attempts: number;
  startedAt: number;
  durationMs: number;
  message: string | null;
  measurement?: {
    name: string;
    valueNum: number | null;
    valueText: string | null;
    unit: string | null;
    outcome: 'pass' | 'marginal' | 'fail';
    limitJson: string | null;
    /** The instrument that took it (id, and serial number from its *IDN?). */
    instrument?: { id: string; serial: string | null } | null;
  };
  /** More than one measurement (a script step's). */
  measurements?: NonNullable<StepRecord['measurement']>[];
  /** For a step inside a group: the group's index, and which attempt of the group. */
  parentIndex?: number;
  groupAttempt?: number;
  /** Time spent waiting for a shared instrument before the step could run. */
  waitMs?: number | null;
}

export interface FinishDetails {
  verdict: Verdict;
  endedAt: number;
  failStep: string | null;
  reason: string | null;
  identity: DeviceIdentity | null;
  rework: boolean;
  stationId: string;
}

export interface FinishResult {
  recordId: string | null;
  seq: number | null;
  attempt: number;
}

export interface DeviceRow {
  deviceId: string;
  mac: string | null;
  iccid: string | null;
  imei: string | null;
  status: Verdict;
  attempts: number;
  runId: string | null;
  blessedAt: string | null;
  uploadedAt: string | null;
  updatedAt: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A device's uploadedAt: when the record of its last run was uploaded (index outbox_run); once
 *  retention has deleted that record, the time it copied into the device row. */
const DEVICE_UPLOADED_AT = `coalesce((SELECT o.uploaded_at FROM outbox o WHERE o.run_id = devices.last_run_id), devices.uploaded_at)`;

/** A devices row as the API reads it (select DEVICE_COLUMNS FROM devices). */
export interface DeviceDbRow {
  device_id: string;
  mac: string | null;
  iccid: string | null;
  imei: string | null;
  status: DeviceRow['status'];
  attempts: number;
  last_run_id: string | null;
  blessed_at: number | null;
  uploaded_at: number | null;
  updated_at: number;
}

export const DEVICE_COLUMNS = `device_id, mac, iccid, imei, status, attempts, last_run_id, blessed_at, ${DEVICE_UPLOADED_AT} AS uploaded_at, updated_at`;

export function deviceRow(r: DeviceDbRow): DeviceRow {
  return {
    deviceId: r.device_id,
    mac: r.mac,
    iccid: r.iccid,
    imei: r.imei,
    status: r.status,
    attempts: r.attempts,
    runId: r.last_run_id,
    blessedAt: iso(r.blessed_at),
    uploadedAt: iso(r.uploaded_at),
    updatedAt: iso(r.updated_at) as string,
  };
}

export class Store {
  private db!: Database.Database;
  private syncFull!: Database.Statement;
  private syncNormal!: Database.Statement;
  private readonly lock: DataDirLock;
  readonly dbPath: string;
  private stmts!: ReturnType<Store['prepare']>;
  private queue: QueuedWrite[] = [];
  private flushScheduled = false;
  private batchTxn!: (batch: QueuedWrite[]) => void;
  private savepoint!: (work: () => unknown) => unknown;
  /** Runs begun by this process and not yet finished: finishing one needs no read back. */
  private readonly openRuns = new Map<string, OpenRun>();
  private outboxOnOpen: Outbox | null = null;
  /** Faults of the disk under the store, seen on every call to the connection (fault-watch.ts). */
  readonly faults = new StoreFaults();

  constructor(
    private readonly dataDir: string,
    private readonly log: Logger,
  ) {
    this.dbPath = path.join(dataDir, 'station.db');
    this.lock = new DataDirLock(dataDir);
  }

  /** Takes the data folder, opens and migrates the database, and closes out runs a crash left open. */
  open(): { interruptedRuns: number } {
    secureDataDir(this.dataDir, this.log); // 0700, and station.db 0600 (data-dir.ts)
    this.lock.acquire();
    try {
      refuseForeignFile(this.dbPath, MIGRATIONS); // a newer or another program's file: before anything writes to it
      secureDatabaseFiles(this.dbPath, this.log);
      this.db = this.faults.watch(new Database(this.dbPath));
      // A new file gets incremental auto-vacuum from its first page (migration 9 gives it to older
      // files with a VACUUM): it must be set before anything is written, WAL mode included.
      if ((this.db.pragma('page_count', { simple: true }) as number) === 0) this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
      this.syncFull = this.db.prepare('PRAGMA synchronous = FULL');
      this.syncNormal = this.db.prepare('PRAGMA synchronous = NORMAL');
      this.syncNormal.run();
      this.stmts = this.prepare();
      this.outboxOnOpen = new Outbox(
        this.db,
        (work) => this.durably(work),
        (work) => this.commitNow(work),
      );
      this.savepoint = this.db.transaction((work: () => unknown) => work());
      this.batchTxn = this.db.transaction((batch: QueuedWrite[]) => {
        for (const w of batch) {
          try {
            w.result = this.savepoint(w.work);
          } catch (err) {
            w.error = err as Error;
          }
        }
      });
      return { interruptedRuns: this.recoverInterrupted() };
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    try {
      if (this.db?.open) {
        this.flush();
        this.db.close();
      }
    } catch (err) {
      this.log.error({ err }, 'closing the database failed');
    }
    this.lock.release();
  }

  /** Queues a write for this turn's commit. A durable write's promise settles after the fsync. */
  private enqueue<T>(work: () => T, durable: true): Promise<T>;
  private enqueue(work: () => unknown, durable: false): void;
  private enqueue<T>(work: () => T, durable: boolean): Promise<T> | void {
    if (!this.db?.open) throw new Error(`the store ${this.dbPath} is closed`);
    const write: QueuedWrite = { work, durable, result: undefined, error: null, settle: null };
    this.queue.push(write);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    if (!durable) return;
    return new Promise<T>((resolve, reject) => {
      write.settle = () => (write.error ? reject(write.error) : resolve(write.result as T));
    });
  }

  /**
   * The connection, for parts that own their own tables (the token ledger, the uplink). Their
   * writes must go through `durably` so they join the store's ordering.
   */
  get database(): Database.Database {
    return this.db;
  }

  /** Queues `work` (a write to a part's own table) for this turn's commit, with synchronous=NORMAL:
   *  for what need not be fsynced before anyone is told (the alarm history, say). */
  later(work: () => void): void {
    this.enqueue(work, false);
  }

  /**
   * Runs `work` now, in its own transaction committed with synchronous=FULL (fsynced before this
   * returns), after committing whatever was queued. For what must be on disk before the station
   * acts on it: a factory token marked sent before its light leaves the emitter, say.
   */
  durably<T>(work: () => T): T {
    this.flush();
    this.syncFull.run();
    try {
      return this.db.transaction(work)();
    } finally {
      this.backToNormal();
    }
  }

  /** synchronous = NORMAL again after a durable commit; a failure here (the disk gone) is logged,
   *  never thrown from a finally over the commit's own outcome. */
  private backToNormal(): void {
    try {
      this.syncNormal.run();
    } catch (err) {
      this.log.error({ err }, 'setting synchronous = NORMAL after a durable commit failed');
    }
  }

  /**
   * Runs `work` now in its own transaction, after committing whatever was queued, without waiting
   * for the disk (synchronous=NORMAL: it survives a crashed process, and reaches the platter with
   * the next FULL commit). For bookkeeping that may be lost to a power cut at no cost but doing it
   * again (an MQTT sink's batches: a record sent twice carries its recordId).
   */
  commitNow<T>(work: () => T): T {
    this.flush();
    return this.db.transaction(work)();
  }

  /** Copies the WAL into the database and truncates it: gives its space back (the disk budget). */
  checkpoint(): void {
    this.flush();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** The outbox: the cloud records, their batches and dead letters (open() prepares it). */
  get outbox(): Outbox {
    if (!this.outboxOnOpen) throw new Error(`the store ${this.dbPath} is not open`);
    return this.outboxOnOpen;
  }

  /** True when a verdict is waiting for this turn's commit. */
  get verdictPending(): boolean {
    return this.queue.some((w) => w.durable);
  }

  /** Commits everything queued, in order, in one transaction; FULL when any write is a verdict. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const durable = batch.some((w) => w.durable);
    let commitError: Error | null = null;
    try {
      if (durable) this.syncFull.run();
      this.batchTxn(batch);
    } catch (err) {
      // The commit itself failed (disk full, I/O error): nothing in the batch is stored.
      commitError = err as Error;
      for (const w of batch) w.error ??= commitError;
      this.log.error({ err, writes: batch.length }, 'committing to the store failed');
    } finally {
      if (durable) this.backToNormal();
    }
    for (const w of batch) {
      if (w.settle) w.settle();
      else if (w.error && w.error !== commitError) this.log.error({ err: w.error }, 'a journal write failed'); // the commit's failure is logged once, above
    }
  }

  private migrate(): void {
    // Every pending migration in one transaction: all of them, or the file as it was (schema.ts).
    const onRepair = (r: LayoutRepair): void => this.log.warn({ repair: r.name }, 'database layout repaired (a migration edited after this file ran it)');
    for (const m of migrateSchema(this.db, MIGRATIONS, this.dbPath, { repairs: LAYOUT_REPAIRS, onRepair })) {
      this.log.info({ version: m.version, migration: m.name }, 'database migrated');
    }
    if (MIGRATIONS.some((m) => m.autoVacuum === 'incremental')) this.ensureIncrementalVacuum();
  }

  /**
   * Migration 9's second half: the file's auto_vacuum becomes INCREMENTAL, so the pages retention
   * frees can be given back to the file system (PRAGMA incremental_vacuum). A file created before
   * needs one VACUUM, outside any transaction: it rewrites the whole file through the WAL, so it
   * needs about twice the file's size free (the WAL holds a copy until the checkpoint) and takes
   * about 2 s for 200 MB on this project's build machine (218 MB: 1.9 s). Without that room it is
   * put off to a later start, with a warning; the station runs meanwhile (freed pages are reused,
   * not given back). A failed VACUUM changes nothing (SQLite rolls it back). Runs while the store
   * opens, before the station is ready: a start after the upgrade waits for it, once.
   */
  private ensureIncrementalVacuum(): void {
    if ((this.db.pragma('auto_vacuum', { simple: true }) as number) === 2) return;
    const size = (p: string): number => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    const bytes = size(this.dbPath) + size(`${this.dbPath}-wal`);
    const fs = statfsSync(this.dataDir);
    const free = Number(fs.bavail) * Number(fs.bsize);
    const mb = (n: number): number => Math.round(n / 104857.6) / 10;
    if (free < 2 * bytes + 64 * 1048576) {
      this.log.warn(
        { fileMb: mb(bytes), freeMb: mb(free), neededMb: mb(2 * bytes + 64 * 1048576) },
        'incremental auto-vacuum not turned on yet: the VACUUM it takes needs about twice the file size free; retrying at the next start (the file reuses freed pages meanwhile, it does not shrink)',
      );
      return;
    }
    const t0 = Date.now();
    try {
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.exec('VACUUM');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (err) {
      this.log.warn({ err, fileMb: mb(bytes) }, 'incremental auto-vacuum not turned on: the VACUUM failed (nothing changed); retrying at the next start');
      return;
    }
    this.log.info({ fileMb: mb(bytes), afterMb: mb(size(this.dbPath)), ms: Date.now() - t0 }, 'database rewritten with incremental auto-vacuum (VACUUM, once)');
  }

  private prepare() {
    const j = this.db;
    const l = this.db;
    return {
      insertRun: j.prepare(`INSERT INTO runs (run_id, slot, sequence_hash, mode, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)`),
      setRunDevice: j.prepare(`UPDATE runs SET device_id = ?, attempt = ?, rework = ? WHERE run_id = ?`),
      setRunVariant: j.prepare(`UPDATE runs SET variant = ? WHERE run_id = ?`),
      insertStep: j.prepare(
        `INSERT OR REPLACE INTO step_results (run_id, step_index, name, type, status, attempts, started_at, duration_ms, message, parent_index, group_attempt, wait_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertMeasurement: j.prepare(
        `INSERT OR REPLACE INTO measurements (run_id, step_index, name, value_num, value_text, unit, outcome, limit_json, instrument_id, instrument_serial)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deviceForAttach: j.prepare(`SELECT attempts, blessed_at FROM devices WHERE device_id = ?`),
      runForFinish: l.prepare(`SELECT run_id, slot, device_id, sequence_hash, mode, status, started_at, attempt, variant FROM runs WHERE run_id = ?`),
      // rework is only ever raised here: recovery does not know it and must not clear it
      endRun: l.prepare(`UPDATE runs SET status = ?, ended_at = ?, fail_step = ?, reason = ?, rework = max(rework, ?) WHERE run_id = ?`),
      upsertDevice: l.prepare(
        `INSERT INTO devices (device_id, mac, iccid, imei, status, attempts, last_run_id, first_seen_at, updated_at, blessed_at, first_verdict)
         VALUES (@deviceId, @mac, @iccid, @imei, @status, 1, @runId, @now, @now, @blessedAt, @firstVerdict)
         ON CONFLICT (device_id) DO UPDATE SET
           mac = coalesce(excluded.mac, mac), iccid = coalesce(excluded.iccid, iccid), imei = coalesce(excluded.imei, imei),
           status = CASE WHEN excluded.status = 'interrupted' AND status IN ('blessed','failed') THEN status ELSE excluded.status END,
           attempts = attempts + 1, last_run_id = excluded.last_run_id, updated_at = excluded.updated_at,
           uploaded_at = NULL, -- the upload time retention kept of the previous last run (retention.ts)
           blessed_at = coalesce(blessed_at, excluded.blessed_at),
           first_verdict = coalesce(first_verdict, excluded.first_verdict)
`,
      ),
      stepsForRun: l.prepare(
        `SELECT step_index, name, type, status, attempts, started_at, duration_ms, message, parent_index, group_attempt, wait_ms FROM step_results WHERE run_id = ? ORDER BY step_index`,
      ),
      // A step's measurements in the order they were recorded (a script's, as it measured them):
      // recordStep inserts them in that order, and rowid follows inserts (measurements has no
      // INTEGER PRIMARY KEY, so only a VACUUM renumbers it: migration 9 runs one, once, and it
      // copies the rows in rowid order, so their order is kept; incremental_vacuum moves pages, not
      // rows). A name
      // recorded twice in a step keeps its last value, at its last place (INSERT OR REPLACE).
      measurementsForRun: l.prepare(
        `SELECT step_index, name, value_num, value_text, unit, outcome, limit_json, instrument_id, instrument_serial FROM measurements WHERE run_id = ? ORDER BY step_index, rowid`,
      ),
    };
  }

  /** Runs a crash or a pulled plug left `running` are interrupted: never blessed, never uploaded. */
  private recoverInterrupted(): number {
    const open = this.db.prepare(`SELECT run_id FROM runs WHERE status = 'running'`).all() as { run_id: string }[];
    if (open.length === 0) return 0;
    this.syncFull.run();
    try {
      this.db.transaction(() => {
        for (const { run_id } of open) {
          this.finishInTxn(run_id, {
            verdict: 'interrupted',
            endedAt: Date.now(),
            failStep: null,
            reason: 'the station stopped during the run (crash or power loss)',
            identity: null,
            rework: false,
            stationId: '',
          });
        }
      })();
    } finally {
      this.syncNormal.run();
    }
    this.log.warn({ runs: open.length }, 'runs left open by an earlier stop marked interrupted');
    return open.length;
  }

  /** Records a sequence version (idempotent: its content hash is the key). Durable on return. */
  registerSequence(seq: CompiledSequence): void {
    this.durably(() =>
      this.db
        .prepare(`INSERT OR IGNORE INTO sequences (hash, name, body, created_at, scripts) VALUES (?, ?, ?, ?, ?)`)
        .run(seq.hash, seq.def.name, canonicalJson(seq.def), Date.now(), Object.keys(seq.scripts).length > 0 ? JSON.stringify(seq.scripts) : null),
    );
  }

  beginRun(run: { runId: string; slot: number; sequenceHash: string; mode: 'production' | 'test'; startedAt: number }): void {
    this.enqueue(() => this.stmts.insertRun.run(run.runId, run.slot, run.sequenceHash, run.mode, run.startedAt), false);
    this.openRuns.set(run.runId, { sequenceHash: run.sequenceHash, mode: run.mode, startedAt: run.startedAt, deviceId: null, attempt: null });
  }

  /** Links an identified device to its run. Returns this attempt's number and whether it was blessed before. */
  attachDevice(runId: string, deviceId: string): { attempt: number; previouslyBlessed: boolean } {
    const row = this.stmts.deviceForAttach.get(deviceId) as { attempts: number; blessed_at: number | null } | undefined;
    const attempt = (row?.attempts ?? 0) + 1;
    const previouslyBlessed = row?.blessed_at != null;
    this.enqueue(() => this.stmts.setRunDevice.run(deviceId, attempt, previouslyBlessed ? 1 : 0, runId), false);
    const open = this.openRuns.get(runId);
    if (open) {
      open.deviceId = deviceId;
      open.attempt = attempt;
    }
    return { attempt, previouslyBlessed };
  }

  /** An engineer's override of an instrument past its calibration date (due as YYYY-MM-DD), or null. */
  calibrationOverride(instrumentId: string, due: string): { reason: string; byRole: string; at: string } | null {
    const row = this.db.prepare(`SELECT reason, by_role, at FROM calibration_overrides WHERE instrument_id = ? AND due = ?`).get(instrumentId, due) as
      { reason: string; by_role: string; at: number } | undefined;
    return row ? { reason: row.reason, byRole: row.by_role, at: new Date(row.at).toISOString() } : null;
  }

  /** Records (durably) that an engineer lets testing go on with an instrument past its calibration date. */
  recordCalibrationOverride(o: { instrumentId: string; due: string; reason: string; byRole: string }): void {
    this.durably(() =>
      this.db.prepare(`INSERT OR REPLACE INTO calibration_overrides (instrument_id, due, reason, by_role, at) VALUES (?, ?, ?, ?, ?)`).run(o.instrumentId, o.due, o.reason, o.byRole, Date.now()),
    );
  }

  /** Records the product variant whose limits a run uses. */
  setRunVariant(runId: string, variant: string): void {
    this.enqueue(() => this.stmts.setRunVariant.run(variant, runId), false);
    const open = this.openRuns.get(runId);
    if (open) open.variant = variant;
  }

  /** Writes a step result; it is committed at the end of this event-loop turn. */
  recordStep(runId: string, s: StepRecord): void {
    this.enqueue(() => {
      this.stmts.insertStep.run(runId, s.index, s.name, s.type, s.status, s.attempts, s.startedAt, s.durationMs, s.message, s.parentIndex ?? null, s.groupAttempt ?? null, s.waitMs ?? null);
      for (const m of s.measurements ?? (s.measurement ? [s.measurement] : [])) {
        this.stmts.insertMeasurement.run(runId, s.index, m.name, m.valueNum, m.valueText, m.unit, m.outcome, m.limitJson, m.instrument?.id ?? null, m.instrument?.serial ?? null);
      }
    }, false);
  }

  /**
   * Closes a run with its verdict. For blessed and failed runs the run, the device row and the
   * outbox record (with its recordId) commit together; the promise resolves after the fsync.
   */
  finishRun(runId: string, details: FinishDetails): Promise<FinishResult> {
    return this.enqueue(() => this.finishInTxn(runId, details), true);
  }

  private finishInTxn(runId: string, d: FinishDetails): FinishResult {
    const run = this.openRuns.get(runId) ?? this.readOpenRun(runId);
    if (d.verdict === 'blessed' && !d.identity) throw new Error(`run ${runId} cannot be blessed without an identified device`);
    this.stmts.endRun.run(d.verdict, d.endedAt, d.failStep, d.reason, d.rework ? 1 : 0, runId);
    const deviceId = d.identity?.deviceId ?? run.deviceId;
    if (!deviceId) {
      this.openRuns.delete(runId);
      return { recordId: null, seq: null, attempt: 0 };
    }
    this.stmts.upsertDevice.run({
      deviceId,
      mac: d.identity?.mac ?? null,
      iccid: d.identity?.iccid ?? null,
      imei: d.identity?.imei ?? null,
      status: d.verdict,
      runId,
      now: d.endedAt,
      blessedAt: d.verdict === 'blessed' ? d.endedAt : null,
      firstVerdict: d.verdict === 'interrupted' ? null : d.verdict,
    });
    const attempt = run.attempt ?? 1;
    this.openRuns.delete(runId);
    if (d.verdict === 'interrupted' || !d.identity) return { recordId: null, seq: null, attempt };
    const { recordId, seq } = this.outbox.append({
      stationId: d.stationId,
      identity: d.identity,
      verdict: d.verdict,
      mode: run.mode,
      runId,
      attempt,
      rework: d.rework,
      sequenceHash: run.sequenceHash,
      variant: run.variant ?? null,
      failStep: d.failStep,
      reason: d.reason,
      startedAt: run.startedAt,
      endedAt: d.endedAt,
    });
    return { recordId, seq, attempt };
  }

  /** A run not begun by this process (left open by a crash): read it back; it must be running. */
  private readOpenRun(runId: string): OpenRun {
    const row = this.stmts.runForFinish.get(runId) as
      { device_id: string | null; sequence_hash: string; mode: 'production' | 'test'; status: string; started_at: number; attempt: number | null; variant: string | null } | undefined;
    if (!row) throw new Error(`run ${runId} does not exist`);
    if (row.status !== 'running') throw new Error(`run ${runId} is already ${row.status}`);
    return { sequenceHash: row.sequence_hash, mode: row.mode, startedAt: row.started_at, deviceId: row.device_id, attempt: row.attempt, variant: row.variant };
  }

  // ---- queries for the API, health and metrics ---------------------------------------------

  listDevices(opts: { limit: number; cursor?: string | null; status?: string | null }): { devices: DeviceRow[]; nextCursor: string | null } {
    let after: { updatedAt: number; deviceId: string } | null = null;
    if (opts.cursor) after = decodeCursor(opts.cursor);
    const rows = this.db
      .prepare(
        `SELECT ${DEVICE_COLUMNS} FROM devices
         WHERE (@status IS NULL OR status = @status)
           AND (@after IS NULL OR updated_at < @after OR (updated_at = @after AND device_id < @afterId))
         ORDER BY updated_at DESC, device_id DESC LIMIT @limit`,
      )
      .all({ status: opts.status ?? null, after: after?.updatedAt ?? null, afterId: after?.deviceId ?? '', limit: opts.limit + 1 }) as DeviceDbRow[];
    const page = rows.slice(0, opts.limit);
    const last = page.at(-1);
    return {
      devices: page.map(deviceRow),
      nextCursor: rows.length > opts.limit && last ? encodeCursor(last.updated_at, last.device_id) : null,
    };
  }

  getRun(runId: string): object | null {
    const run = this.db.prepare(`SELECT r.*, s.name AS sequence_name FROM runs r JOIN sequences s ON s.hash = r.sequence_hash WHERE r.run_id = ?`).get(runId) as Record<string, unknown> | undefined;
    if (!run) return null;
    const measurements = this.stmts.measurementsForRun.all(runId) as Record<string, unknown>[];
    type StepView = Record<string, unknown> & { steps?: StepView[] };
    const views = new Map<number, StepView>();
    const top: StepView[] = [];
    for (const s of this.stmts.stepsForRun.all(runId) as Record<string, unknown>[]) {
      const view: StepView = {
        index: s.step_index,
        name: s.name,
        type: s.type,
        status: s.status,
        attempts: s.attempts,
        startedAt: iso(s.started_at as number),
        durationMs: s.duration_ms,
        // Time waited for a shared instrument before the step ran (null: it used none).
        waitMs: s.wait_ms,
        message: s.message,
        ...(s.group_attempt !== null ? { groupAttempt: s.group_attempt } : {}),
        measurements: measurements
          .filter((m) => m.step_index === s.step_index)
          .map((m) => ({
            name: m.name,
            value: m.value_num ?? m.value_text,
            unit: m.unit,
            outcome: m.outcome,
            limit: m.limit_json ? JSON.parse(m.limit_json as string) : null,
            instrument: m.instrument_id ? { id: m.instrument_id, serial: m.instrument_serial } : null,
          })),
      };
      if (s.type === 'group') view.steps = [];
      views.set(s.step_index as number, view);
      // A step inside a group is listed under it (its steps, every attempt, in the order they ran).
      const parent = s.parent_index === null ? null : views.get(s.parent_index as number);
      if (parent) (parent.steps ??= []).push(view);
      else top.push(view);
    }
    // A group is recorded when it ends, after its steps: put it where it stands in the sequence.
    const steps = top.sort((a, b) => (a.index as number) - (b.index as number));
    return {
      runId: run.run_id,
      slot: run.slot,
      deviceId: run.device_id,
      status: run.status,
      mode: run.mode,
      attempt: run.attempt,
      rework: run.rework === 1,
      sequence: { name: run.sequence_name, hash: run.sequence_hash },
      startedAt: iso(run.started_at as number),
      endedAt: iso(run.ended_at as number | null),
      failStep: run.fail_step,
      reason: run.reason,
      variant: run.variant ?? null,
      steps,
    };
  }

  private statsCache: { at: number; value: StoreStats } | null = null;

  /**
   * Counts for health, metrics and the dashboard. These are scans (an index for each would cost a
   * page per blessing), so a result is reused for a second: many dashboards cost one scan.
   */
  stats(): StoreStats {
    const now = monotonicMs();
    if (this.statsCache && now - this.statsCache.at < 1000) return this.statsCache.value;
    const value = this.computeStats();
    this.statsCache = { at: now, value };
    return value;
  }

  private computeStats(): StoreStats {
    const runs = this.db.prepare(`SELECT status, count(*) AS n FROM runs GROUP BY status`).all() as { status: string; n: number }[];
    const byStatus = Object.fromEntries(runs.map((r) => [r.status, r.n]));
    const dev = this.db
      .prepare(
        `SELECT count(*) FILTER (WHERE first_verdict IS NOT NULL) AS tested,
                count(*) FILTER (WHERE first_verdict = 'blessed') AS first_pass,
                count(*) FILTER (WHERE blessed_at IS NOT NULL) AS blessed
         FROM devices`,
      )
      .get() as { tested: number; first_pass: number; blessed: number };
    const rework = this.db.prepare(`SELECT count(*) AS n FROM runs WHERE rework = 1 AND status = 'blessed'`).get() as { n: number };
    const outbox = this.outbox.counts();
    return {
      runs: { blessed: byStatus.blessed ?? 0, failed: byStatus.failed ?? 0, interrupted: byStatus.interrupted ?? 0, running: byStatus.running ?? 0 },
      devicesTested: dev.tested,
      devicesBlessed: dev.blessed,
      firstPassYield: dev.tested > 0 ? dev.first_pass / dev.tested : null,
      finalYield: dev.tested > 0 ? dev.blessed / dev.tested : null,
      reworkBlessings: rework.n,
      outboxQueued: outbox.queued,
      outboxOldestAt: outbox.oldestQueuedAt,
    };
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }
}

interface QueuedWrite {
  work: () => unknown;
  durable: boolean;
  result: unknown;
  error: Error | null;
  settle: (() => void) | null;
}

interface OpenRun {
  variant?: string | null;
  sequenceHash: string;
  mode: 'production' | 'test';
  startedAt: number;
  deviceId: string | null;
  attempt: number | null;
}

export interface StoreStats {
  runs: { blessed: number; failed: number; interrupted: number; running: number };
  devicesTested: number;
  devicesBlessed: number;
  firstPassYield: number | null;
  finalYield: number | null;
  reworkBlessings: number;
  outboxQueued: number;
  outboxOldestAt: number | null;
}

function encodeCursor(updatedAt: number, deviceId: string): string {
  return Buffer.from(`${updatedAt}:${deviceId}`).toString('base64url');
}

export class BadCursorError extends Error {}

function decodeCursor(cursor: string): { updatedAt: number; deviceId: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,15}):([0-9a-f]{1,64})$/.exec(text);
  if (!m) throw new BadCursorError('cursor is not one this station issued');
  return { updatedAt: Number(m[1]), deviceId: m[2] as string };
}
