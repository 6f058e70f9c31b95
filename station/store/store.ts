// The station's local store: one SQLite file in WAL mode, two connections on it.
//  - `ledger` (synchronous=FULL) commits verdicts, blessings, outbox rows and the token ledger:
//    each commit fsyncs the WAL, so a blessing is durable before anyone is told of it.
//  - `journal` (synchronous=NORMAL) writes run starts and step results as they finish: they survive
//    a crashed process at once (the write is in the OS), and reach the platter with the next ledger
//    commit, whose fsync covers the whole WAL. That keeps per-step cost in microseconds.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { canonicalJson, type CompiledSequence } from '../line/sequence.js';
import { DataDirLock } from './lock.js';
import { MIGRATIONS } from './migrations.js';

export type RunStatus = 'running' | 'blessed' | 'failed' | 'interrupted';
export type StepStatus = 'pass' | 'marginal' | 'fail' | 'error' | 'skipped' | 'interrupted';

export interface DeviceIdentity {
  deviceId: string;
  mac: string;
  iccid: string | null;
  imei: string | null;
}

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
  };
}

export interface FinishDetails {
  verdict: 'blessed' | 'failed' | 'interrupted';
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
  status: 'blessed' | 'failed' | 'interrupted';
  attempts: number;
  runId: string | null;
  blessedAt: string | null;
  uploadedAt: string | null;
  updatedAt: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class Store {
  private ledger!: Database.Database;
  private journal!: Database.Database;
  private readonly lock: DataDirLock;
  readonly dbPath: string;
  private stmts!: ReturnType<Store['prepare']>;
  private finishTxn!: (runId: string, d: FinishDetails) => FinishResult;
  private stepTxn!: (runId: string, s: StepRecord) => void;

  constructor(
    private readonly dataDir: string,
    private readonly log: Logger,
  ) {
    this.dbPath = path.join(dataDir, 'station.db');
    this.lock = new DataDirLock(dataDir);
  }

  /** Takes the data folder, opens and migrates the database, and closes out runs a crash left open. */
  open(): { interruptedRuns: number } {
    mkdirSync(this.dataDir, { recursive: true });
    this.lock.acquire();
    try {
      this.ledger = new Database(this.dbPath);
      this.ledger.pragma('journal_mode = WAL');
      this.ledger.pragma('synchronous = FULL');
      this.ledger.pragma('foreign_keys = ON');
      this.ledger.pragma('busy_timeout = 5000');
      this.migrate();
      this.journal = new Database(this.dbPath);
      this.journal.pragma('synchronous = NORMAL');
      this.journal.pragma('foreign_keys = ON');
      this.journal.pragma('busy_timeout = 5000');
      this.stmts = this.prepare();
      this.finishTxn = this.ledger.transaction((runId: string, d: FinishDetails) => this.finishInTxn(runId, d));
      this.stepTxn = this.journal.transaction((runId: string, s: StepRecord) => {
        this.stmts.insertStep.run(runId, s.index, s.name, s.type, s.status, s.attempts, s.startedAt, s.durationMs, s.message);
        const m = s.measurement;
        if (m) this.stmts.insertMeasurement.run(runId, s.index, m.name, m.valueNum, m.valueText, m.unit, m.outcome, m.limitJson);
      });
      return { interruptedRuns: this.recoverInterrupted() };
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    for (const db of [this.journal, this.ledger]) {
      try {
        if (db?.open) db.close();
      } catch (err) {
        this.log.error({ err }, 'closing the database failed');
      }
    }
    this.lock.release();
  }

  private migrate(): void {
    const current = this.ledger.pragma('user_version', { simple: true }) as number;
    const latest = MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new Error(`database ${this.dbPath} is at schema version ${current}, newer than this station (${latest}); upgrade the station`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.ledger.transaction(() => {
        this.ledger.exec(m.sql);
        this.ledger.pragma(`user_version = ${m.version}`);
      })();
      this.log.info({ version: m.version, migration: m.name }, 'database migrated');
    }
  }

  private prepare() {
    const j = this.journal;
    const l = this.ledger;
    return {
      insertRun: j.prepare(
        `INSERT INTO runs (run_id, slot, sequence_hash, mode, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)`,
      ),
      setRunDevice: j.prepare(`UPDATE runs SET device_id = ?, attempt = ?, rework = ? WHERE run_id = ?`),
      insertStep: j.prepare(
        `INSERT OR REPLACE INTO step_results (run_id, step_index, name, type, status, attempts, started_at, duration_ms, message)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertMeasurement: j.prepare(
        `INSERT OR REPLACE INTO measurements (run_id, step_index, name, value_num, value_text, unit, outcome, limit_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deviceForAttach: j.prepare(`SELECT attempts, blessed_at FROM devices WHERE device_id = ?`),
      runForFinish: l.prepare(`SELECT run_id, slot, device_id, sequence_hash, mode, status, started_at, attempt FROM runs WHERE run_id = ?`),
      endRun: l.prepare(`UPDATE runs SET status = ?, ended_at = ?, fail_step = ?, reason = ?, rework = ? WHERE run_id = ?`),
      upsertDevice: l.prepare(
        `INSERT INTO devices (device_id, mac, iccid, imei, status, attempts, last_run_id, first_seen_at, updated_at, blessed_at, first_verdict)
         VALUES (@deviceId, @mac, @iccid, @imei, @status, 1, @runId, @now, @now, @blessedAt, @firstVerdict)
         ON CONFLICT (device_id) DO UPDATE SET
           mac = coalesce(excluded.mac, mac), iccid = coalesce(excluded.iccid, iccid), imei = coalesce(excluded.imei, imei),
           status = CASE WHEN excluded.status = 'interrupted' AND status IN ('blessed','failed') THEN status ELSE excluded.status END,
           attempts = attempts + 1, last_run_id = excluded.last_run_id, updated_at = excluded.updated_at,
           blessed_at = coalesce(blessed_at, excluded.blessed_at),
           first_verdict = coalesce(first_verdict, excluded.first_verdict)
         RETURNING attempts`,
      ),
      insertOutbox: l.prepare(
        `INSERT INTO outbox (record_id, run_id, device_id, kind, payload, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`,
      ),
      stepsForRun: l.prepare(`SELECT step_index, name, type, status, attempts, started_at, duration_ms, message FROM step_results WHERE run_id = ? ORDER BY step_index`),
      measurementsForRun: l.prepare(`SELECT step_index, name, value_num, value_text, unit, outcome, limit_json FROM measurements WHERE run_id = ? ORDER BY step_index, name`),
    };
  }

  /** Runs a crash or a pulled plug left `running` are interrupted: never blessed, never uploaded. */
  private recoverInterrupted(): number {
    const open = this.ledger.prepare(`SELECT run_id FROM runs WHERE status = 'running'`).all() as { run_id: string }[];
    for (const { run_id } of open) {
      this.finishRun(run_id, {
        verdict: 'interrupted',
        endedAt: Date.now(),
        failStep: null,
        reason: 'the station stopped during the run (crash or power loss)',
        identity: null,
        rework: false,
        stationId: '',
      });
    }
    if (open.length > 0) this.log.warn({ runs: open.length }, 'runs left open by an earlier stop marked interrupted');
    return open.length;
  }

  registerSequence(seq: CompiledSequence): void {
    this.ledger
      .prepare(`INSERT OR IGNORE INTO sequences (hash, name, body, created_at) VALUES (?, ?, ?, ?)`)
      .run(seq.hash, seq.def.name, canonicalJson(seq.def), Date.now());
  }

  beginRun(run: { runId: string; slot: number; sequenceHash: string; mode: 'production' | 'test'; startedAt: number }): void {
    this.stmts.insertRun.run(run.runId, run.slot, run.sequenceHash, run.mode, run.startedAt);
  }

  /** Links an identified device to its run. Returns this attempt's number and whether it was blessed before. */
  attachDevice(runId: string, deviceId: string): { attempt: number; previouslyBlessed: boolean } {
    const row = this.stmts.deviceForAttach.get(deviceId) as { attempts: number; blessed_at: number | null } | undefined;
    const attempt = (row?.attempts ?? 0) + 1;
    const previouslyBlessed = row?.blessed_at != null;
    this.stmts.setRunDevice.run(deviceId, attempt, previouslyBlessed ? 1 : 0, runId);
    return { attempt, previouslyBlessed };
  }

  recordStep(runId: string, step: StepRecord): void {
    this.stepTxn(runId, step);
  }

  /**
   * Closes a run with its verdict. For blessed and failed runs the device row, the run and the
   * outbox record (with its recordId) commit together and are fsynced before this returns.
   */
  finishRun(runId: string, details: FinishDetails): FinishResult {
    return this.finishTxn(runId, details);
  }

  private finishInTxn(runId: string, d: FinishDetails): FinishResult {
    const run = this.stmts.runForFinish.get(runId) as
      | { run_id: string; slot: number; device_id: string | null; sequence_hash: string; mode: string; status: string; started_at: number; attempt: number | null }
      | undefined;
    if (!run) throw new Error(`run ${runId} does not exist`);
    if (run.status !== 'running') throw new Error(`run ${runId} is already ${run.status}`);
    if (d.verdict === 'blessed' && !d.identity) throw new Error(`run ${runId} cannot be blessed without an identified device`);
    this.stmts.endRun.run(d.verdict, d.endedAt, d.failStep, d.reason, d.rework ? 1 : 0, runId);
    const deviceId = d.identity?.deviceId ?? run.device_id;
    if (!deviceId) return { recordId: null, seq: null, attempt: 0 };
    const { attempts } = this.stmts.upsertDevice.get({
      deviceId,
      mac: d.identity?.mac ?? null,
      iccid: d.identity?.iccid ?? null,
      imei: d.identity?.imei ?? null,
      status: d.verdict,
      runId,
      now: d.endedAt,
      blessedAt: d.verdict === 'blessed' ? d.endedAt : null,
      firstVerdict: d.verdict === 'interrupted' ? null : d.verdict,
    }) as { attempts: number };
    if (d.verdict === 'interrupted' || !d.identity) return { recordId: null, seq: null, attempt: attempts };
    const recordId = randomUUID();
    const payload = JSON.stringify({
      recordId,
      stationId: d.stationId,
      deviceId,
      mac: d.identity.mac,
      iccid: d.identity.iccid,
      imei: d.identity.imei,
      status: d.verdict,
      mode: run.mode,
      runId,
      attempt: attempts,
      rework: d.rework,
      sequenceHash: run.sequence_hash,
      failStep: d.failStep,
      reason: d.reason,
      startedAt: iso(run.started_at),
      endedAt: iso(d.endedAt),
    });
    const { seq } = this.stmts.insertOutbox.get(recordId, runId, deviceId, d.verdict, payload, d.endedAt) as { seq: number };
    return { recordId, seq, attempt: attempts };
  }

  // ---- queries for the API, health and metrics ---------------------------------------------

  listDevices(opts: { limit: number; cursor?: string | null; status?: string | null }): { devices: DeviceRow[]; nextCursor: string | null } {
    let after: { updatedAt: number; deviceId: string } | null = null;
    if (opts.cursor) after = decodeCursor(opts.cursor);
    const rows = this.ledger
      .prepare(
        `SELECT device_id, mac, iccid, imei, status, attempts, last_run_id, blessed_at, uploaded_at, updated_at FROM devices
         WHERE status != 'testing'
           AND (@status IS NULL OR status = @status)
           AND (@after IS NULL OR updated_at < @after OR (updated_at = @after AND device_id < @afterId))
         ORDER BY updated_at DESC, device_id DESC LIMIT @limit`,
      )
      .all({ status: opts.status ?? null, after: after?.updatedAt ?? null, afterId: after?.deviceId ?? '', limit: opts.limit + 1 }) as {
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
    }[];
    const page = rows.slice(0, opts.limit);
    const last = page.at(-1);
    return {
      devices: page.map((r) => ({
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
      })),
      nextCursor: rows.length > opts.limit && last ? encodeCursor(last.updated_at, last.device_id) : null,
    };
  }

  getRun(runId: string): object | null {
    const run = this.ledger
      .prepare(
        `SELECT r.*, s.name AS sequence_name FROM runs r JOIN sequences s ON s.hash = r.sequence_hash WHERE r.run_id = ?`,
      )
      .get(runId) as Record<string, unknown> | undefined;
    if (!run) return null;
    const measurements = this.stmts.measurementsForRun.all(runId) as Record<string, unknown>[];
    const steps = (this.stmts.stepsForRun.all(runId) as Record<string, unknown>[]).map((s) => ({
      index: s.step_index,
      name: s.name,
      type: s.type,
      status: s.status,
      attempts: s.attempts,
      startedAt: iso(s.started_at as number),
      durationMs: s.duration_ms,
      message: s.message,
      measurements: measurements
        .filter((m) => m.step_index === s.step_index)
        .map((m) => ({
          name: m.name,
          value: m.value_num ?? m.value_text,
          unit: m.unit,
          outcome: m.outcome,
          limit: m.limit_json ? JSON.parse(m.limit_json as string) : null,
        })),
    }));
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
      steps,
    };
  }

  /** Counts for health, metrics and the dashboard. Cheap: indexed aggregates. */
  stats(): StoreStats {
    const runs = this.ledger.prepare(`SELECT status, count(*) AS n FROM runs GROUP BY status`).all() as { status: string; n: number }[];
    const byStatus = Object.fromEntries(runs.map((r) => [r.status, r.n]));
    const dev = this.ledger
      .prepare(
        `SELECT count(*) FILTER (WHERE first_verdict IS NOT NULL) AS tested,
                count(*) FILTER (WHERE first_verdict = 'blessed') AS first_pass,
                count(*) FILTER (WHERE blessed_at IS NOT NULL) AS blessed
         FROM devices`,
      )
      .get() as { tested: number; first_pass: number; blessed: number };
    const rework = this.ledger.prepare(`SELECT count(*) AS n FROM runs WHERE rework = 1 AND status = 'blessed'`).get() as { n: number };
    const outbox = this.ledger
      .prepare(`SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE uploaded_at IS NULL`)
      .get() as { n: number; oldest: number | null };
    const tokens = this.ledger.prepare(`SELECT count(*) AS n FROM token_ledger WHERE state = 'available' AND expires_at > ?`).get(Date.now()) as { n: number };
    return {
      runs: { blessed: byStatus.blessed ?? 0, failed: byStatus.failed ?? 0, interrupted: byStatus.interrupted ?? 0, running: byStatus.running ?? 0 },
      devicesTested: dev.tested,
      devicesBlessed: dev.blessed,
      firstPassYield: dev.tested > 0 ? dev.first_pass / dev.tested : null,
      finalYield: dev.tested > 0 ? dev.blessed / dev.tested : null,
      reworkBlessings: rework.n,
      outboxQueued: outbox.n,
      outboxOldestAt: outbox.oldest,
      tokensAvailable: tokens.n,
    };
  }

  integrityCheck(): string {
    return this.ledger.pragma('integrity_check', { simple: true }) as string;
  }
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
  tokensAvailable: number;
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
