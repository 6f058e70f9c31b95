// Read-only queries for the engineer console and the dashboard: device search and history, yield
// per step, the records export, and the verdicts of the current shift. They read the store's
// connection synchronously; none of them writes. Search by MAC or ICCID scans the devices table
// (migration 1 chose no index for them: an index costs a page per blessing).
import { DEVICE_COLUMNS, deviceRow, type DeviceDbRow, type DeviceRow, type Store } from './store.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * Devices whose Device ID starts with `q`, whose MAC starts with `q` (any separators), or whose
 * ICCID or IMEI starts with `q`; newest first, at most `limit`.
 */
export function searchDevices(store: Store, q: string, limit = 100): DeviceRow[] {
  const text = q.trim().toLowerCase();
  const hex = text.replace(/[\s:.-]/g, '');
  // GLOB patterns: only hex digits or digits reach them, so no wildcard can come from the query.
  const idPattern = /^[0-9a-f]+$/.test(text) ? `${text}*` : null;
  const macPattern = /^[0-9a-f]+$/.test(hex) && hex.length >= 2 ? `${hex}*` : null;
  const digitPattern = /^\d+$/.test(text) ? `${text}*` : null;
  if (!idPattern && !macPattern && !digitPattern) return [];
  const rows = store.database
    .prepare(
      `SELECT ${DEVICE_COLUMNS} FROM devices
       WHERE device_id GLOB @id OR mac GLOB @mac OR iccid GLOB @digits OR imei GLOB @digits
       ORDER BY updated_at DESC, device_id DESC LIMIT @limit`,
    )
    .all({ id: idPattern, mac: macPattern, digits: digitPattern, limit }) as DeviceDbRow[];
  return rows.map(deviceRow);
}

export interface HistoryRun {
  runId: string;
  slot: number;
  status: string;
  startedAt: string | null;
  endedAt: string | null;
  sequenceHash: string;
  failStep: string | null;
  reason: string | null;
  rework: boolean;
  attempt: number | null;
}

/** One device with its runs, newest first (at most 500), or null when the station never saw it. */
export function deviceHistory(store: Store, deviceId: string): { device: DeviceRow; runs: HistoryRun[] } | null {
  const db = store.database;
  const device = db.prepare(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id = ?`).get(deviceId) as DeviceDbRow | undefined;
  if (!device) return null;
  const runs = db
    .prepare(
      `SELECT run_id, slot, status, started_at, ended_at, sequence_hash, fail_step, reason, rework, attempt FROM runs
       WHERE device_id = ? ORDER BY started_at DESC LIMIT 500`,
    )
    .all(deviceId) as {
    run_id: string;
    slot: number;
    status: string;
    started_at: number;
    ended_at: number | null;
    sequence_hash: string;
    fail_step: string | null;
    reason: string | null;
    rework: number;
    attempt: number | null;
  }[];
  return {
    device: deviceRow(device),
    runs: runs.map((r) => ({
      runId: r.run_id,
      slot: r.slot,
      status: r.status,
      startedAt: iso(r.started_at),
      endedAt: iso(r.ended_at),
      sequenceHash: r.sequence_hash,
      failStep: r.fail_step,
      reason: r.reason,
      rework: r.rework === 1,
      attempt: r.attempt,
    })),
  };
}

export interface StepYield {
  index: number;
  name: string;
  type: string;
  /** Results with a verdict: pass, marginal, fail or error (skipped and interrupted steps are not counted). */
  runs: number;
  pass: number;
  marginal: number;
  fail: number;
  error: number;
  /** Runs whose first failing (fail or error) step is this one: where units fail. */
  firstFailures: number;
}

/**
 * Yield per step over the finished runs of one sequence started since `sinceMs`, optionally of one
 * product variant (null: the runs on the base limits), and started before `untilMs` when given. Counts the sequence's own steps (a group
 * counts once, as its outcome).
 */
export function yieldPerStep(store: Store, opts: { sequenceHash: string; sinceMs: number; untilMs?: number; steps: { name: string; type: string }[]; variant?: string | null }): StepYield[] {
  const db = store.database;
  const params = { hash: opts.sequenceHash, since: opts.sinceMs, until: opts.untilMs ?? null, anyVariant: opts.variant === undefined ? 1 : 0, variant: opts.variant ?? null };
  const variantClause = `(@anyVariant = 1 OR r.variant IS @variant) AND (@until IS NULL OR r.started_at < @until)`;
  const counts = db
    .prepare(
      `SELECT sr.step_index AS idx,
              count(*) FILTER (WHERE sr.status IN ('pass','marginal','fail','error')) AS runs,
              count(*) FILTER (WHERE sr.status = 'pass') AS pass,
              count(*) FILTER (WHERE sr.status = 'marginal') AS marginal,
              count(*) FILTER (WHERE sr.status = 'fail') AS fail,
              count(*) FILTER (WHERE sr.status = 'error') AS error
       FROM runs r JOIN step_results sr ON sr.run_id = r.run_id
       WHERE r.sequence_hash = @hash AND r.started_at >= @since AND r.status <> 'running' AND sr.parent_index IS NULL AND ${variantClause}
       GROUP BY sr.step_index`,
    )
    .all(params) as { idx: number; runs: number; pass: number; marginal: number; fail: number; error: number }[];
  const first = db
    .prepare(
      `SELECT idx, count(*) AS n FROM (
         SELECT min(sr.step_index) AS idx FROM runs r JOIN step_results sr ON sr.run_id = r.run_id
         WHERE r.sequence_hash = @hash AND r.started_at >= @since AND r.status <> 'running' AND sr.status IN ('fail','error')
           AND sr.parent_index IS NULL AND ${variantClause}
         GROUP BY r.run_id)
       GROUP BY idx`,
    )
    .all(params) as { idx: number; n: number }[];
  const byIndex = new Map(counts.map((c) => [c.idx, c]));
  const firstByIndex = new Map(first.map((f) => [f.idx, f.n]));
  return opts.steps.map((step, index) => {
    const c = byIndex.get(index);
    return {
      index,
      name: step.name,
      type: step.type,
      runs: c?.runs ?? 0,
      pass: c?.pass ?? 0,
      marginal: c?.marginal ?? 0,
      fail: c?.fail ?? 0,
      error: c?.error ?? 0,
      firstFailures: firstByIndex.get(index) ?? 0,
    };
  });
}

export interface ExportRecord {
  seq: number;
  deviceId: string;
  mac: string | null;
  iccid: string | null;
  imei: string | null;
  status: string;
  attempts: number | null;
  runId: string;
  sequenceHash: string | null;
  mode: string | null;
  failStep: string | null;
  reason: string | null;
  /** The verdict's time (blessed or failed): every row has one. */
  verdictAt: string;
  blessedAt: string | null;
  uploadedAt: string | null;
}

/**
 * One page of the records (the outbox: every blessed and failed verdict), in record order, after
 * `afterSeq`, whose verdict time is in [sinceMs, untilMs). Paged so the caller can wait for the
 * socket to drain between pages: an open better-sqlite3 iterator keeps the connection busy, so
 * each page is read to its end before anything else runs. No token or mobile secret is read.
 */
export function exportRecordsPage(store: Store, opts: { afterSeq: number; sinceMs: number | null; untilMs: number | null; limit: number }): ExportRecord[] {
  const stmt = store.database.prepare(
    `SELECT o.seq, o.device_id, o.kind, o.run_id, o.created_at, o.uploaded_at,
            json_extract(o.payload, '$.mac') AS mac, json_extract(o.payload, '$.iccid') AS iccid, json_extract(o.payload, '$.imei') AS imei,
            r.attempt, r.sequence_hash, r.mode, r.fail_step, r.reason
     FROM outbox o LEFT JOIN runs r ON r.run_id = o.run_id
     WHERE o.seq > @after AND (@since IS NULL OR o.created_at >= @since) AND (@until IS NULL OR o.created_at < @until)
     ORDER BY o.seq LIMIT @limit`,
  );
  const out: ExportRecord[] = [];
  for (const row of stmt.iterate({ after: opts.afterSeq, since: opts.sinceMs, until: opts.untilMs, limit: opts.limit }) as IterableIterator<{
    seq: number;
    device_id: string;
    kind: string;
    run_id: string;
    created_at: number;
    uploaded_at: number | null;
    mac: string | null;
    iccid: string | null;
    imei: string | null;
    attempt: number | null;
    sequence_hash: string | null;
    mode: string | null;
    fail_step: string | null;
    reason: string | null;
  }>) {
    out.push({
      seq: row.seq,
      deviceId: row.device_id,
      mac: row.mac,
      iccid: row.iccid,
      imei: row.imei,
      status: row.kind,
      attempts: row.attempt,
      runId: row.run_id,
      sequenceHash: row.sequence_hash,
      mode: row.mode,
      failStep: row.fail_step,
      reason: row.reason,
      verdictAt: iso(row.created_at) as string,
      blessedAt: row.kind === 'blessed' ? iso(row.created_at) : null,
      uploadedAt: iso(row.uploaded_at),
    });
  }
  return out;
}

/** Blessed and failed verdicts since `sinceMs`, oldest first: what the shift's counters start from. */
export function verdictsSince(store: Store, sinceMs: number): { deviceId: string; blessed: boolean; endedAt: number }[] {
  const rows = store.database
    .prepare(`SELECT device_id, status, ended_at FROM runs WHERE ended_at >= ? AND status IN ('blessed','failed') AND device_id IS NOT NULL ORDER BY ended_at`)
    .all(sinceMs) as { device_id: string; status: string; ended_at: number }[];
  return rows.map((r) => ({ deviceId: r.device_id, blessed: r.status === 'blessed', endedAt: r.ended_at }));
}
