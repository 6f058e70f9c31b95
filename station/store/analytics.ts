// Read-only queries for the engineer console's analytics (station/server/analytics-routes.ts):
// which runs belong to a sequence version, the numeric measurements of a version's runs, and one
// measurement's readings across units (every version) for a control chart. Every query is bounded
// by a row cap (newest rows first); none of them writes. "Newest first" walks the runs by run_id,
// a UUIDv7 made when the run starts (station/store/ids.ts): its primary-key index is in start
// order, so SQLite reads runs newest first and stops at the cap instead of sorting every reading
// (runs has no index on started_at). CROSS JOIN keeps runs the outer loop (SQLite does not
// reorder it): left to itself the planner scans every reading and sorts them.
//
// A run records its sequence's hash, not a version number, and a revert makes a new version with
// an older hash. A run belongs to the latest version with its hash saved at or before the run
// started (a run in flight across a save keeps the version it started with); so version N's runs
// are those with its hash started from its save until the next save of the same hash.
import type { Store } from './store.js';

export interface VersionWindow {
  version: number;
  hash: string;
  /** When the version was saved (ms); its runs started at or after it (the first version of a hash: any earlier run too). */
  fromMs: number;
  /** When the same hash was saved again as a later version (a revert), or null. */
  untilMs: number | null;
  createdAt: number;
}

/** Every version with the window of run start times that belongs to it, oldest first. */
export function versionWindows(store: Store): VersionWindow[] {
  const rows = store.database.prepare(`SELECT version, hash, created_at FROM sequence_versions ORDER BY version`).all() as { version: number; hash: string; created_at: number }[];
  const seen = new Set<string>();
  return rows.map((r, i) => {
    const next = rows.slice(i + 1).find((n) => n.hash === r.hash);
    const first = !seen.has(r.hash);
    seen.add(r.hash);
    return { version: r.version, hash: r.hash, fromMs: first ? 0 : r.created_at, untilMs: next ? next.created_at : null, createdAt: r.created_at };
  });
}

/** The version a run of `hash` started at `startedAt` belongs to (see the header), or null for a hash no version has. */
export function versionOfRun(windows: readonly VersionWindow[], hash: string, startedAt: number): number | null {
  let found: number | null = null;
  for (const w of windows) if (w.hash === hash && startedAt >= w.fromMs && (w.untilMs === null || startedAt < w.untilMs)) found = w.version;
  return found;
}

export interface MeasurementRow {
  step: string;
  stepIndex: number;
  name: string;
  value: number;
  unit: string | null;
  outcome: string;
  limitJson: string | null;
  variant: string | null;
}

const variantClause = `(@anyVariant = 1 OR r.variant IS @variant)`;

/**
 * The numeric measurements of the finished runs of one version, started in [fromMs, untilMs),
 * optionally of one product variant (null: the runs on the base limits); newest runs first, at most
 * `maxRows` (the answer says whether more were there).
 */
export function versionMeasurements(
  store: Store,
  opts: { window: VersionWindow; fromMs: number | null; untilMs: number | null; variant?: string | null; maxRows: number },
): { rows: MeasurementRow[]; capped: boolean } {
  const from = Math.max(opts.window.fromMs, opts.fromMs ?? 0);
  const ends = [opts.window.untilMs, opts.untilMs].filter((t): t is number => t !== null);
  const until = ends.length ? Math.min(...ends) : null;
  const raw = store.database
    .prepare(
      `SELECT sr.name AS step, m.step_index, m.name, m.value_num, m.unit, m.outcome, m.limit_json, r.variant
       FROM runs r
       CROSS JOIN measurements m ON m.run_id = r.run_id
       CROSS JOIN step_results sr ON sr.run_id = m.run_id AND sr.step_index = m.step_index
       WHERE r.sequence_hash = @hash AND r.started_at >= @from AND (@until IS NULL OR r.started_at < @until)
         AND r.status <> 'running' AND m.value_num IS NOT NULL AND ${variantClause}
       ORDER BY r.run_id DESC
       LIMIT @limit`,
    )
    .all({
      hash: opts.window.hash,
      from,
      until,
      anyVariant: opts.variant === undefined ? 1 : 0,
      variant: opts.variant ?? null,
      limit: opts.maxRows + 1,
    }) as { step: string; step_index: number; name: string; value_num: number; unit: string | null; outcome: string; limit_json: string | null; variant: string | null }[];
  const capped = raw.length > opts.maxRows;
  return {
    capped,
    rows: raw.slice(0, opts.maxRows).map((r) => ({
      step: r.step,
      stepIndex: r.step_index,
      name: r.name,
      value: r.value_num,
      unit: r.unit,
      outcome: r.outcome,
      limitJson: r.limit_json,
      variant: r.variant,
    })),
  };
}

export interface ControlPoint {
  runId: string;
  startedAt: number;
  hash: string;
  variant: string | null;
  deviceId: string | null;
  value: number;
  limitJson: string | null;
}

/**
 * One measurement (by step name and measurement name) across the finished runs of every version
 * started in [fromMs, untilMs): the newest `maxPoints`, given oldest first (run order).
 */
export function controlPoints(
  store: Store,
  opts: { step: string; measurement: string; fromMs: number | null; untilMs: number | null; variant?: string | null; maxPoints: number },
): { points: ControlPoint[]; capped: boolean } {
  const raw = store.database
    .prepare(
      `SELECT r.run_id, r.started_at, r.sequence_hash, r.variant, r.device_id, m.value_num, m.limit_json
       FROM runs r
       CROSS JOIN step_results sr ON sr.run_id = r.run_id AND sr.name = @step
       CROSS JOIN measurements m ON m.run_id = sr.run_id AND m.step_index = sr.step_index AND m.name = @name
       WHERE r.started_at >= @from AND (@until IS NULL OR r.started_at < @until)
         AND r.status <> 'running' AND m.value_num IS NOT NULL AND ${variantClause}
       ORDER BY r.run_id DESC, sr.step_index DESC
       LIMIT @limit`,
    )
    .all({
      step: opts.step,
      name: opts.measurement,
      from: opts.fromMs ?? 0,
      until: opts.untilMs,
      anyVariant: opts.variant === undefined ? 1 : 0,
      variant: opts.variant ?? null,
      limit: opts.maxPoints + 1,
    }) as { run_id: string; started_at: number; sequence_hash: string; variant: string | null; device_id: string | null; value_num: number; limit_json: string | null }[];
  const capped = raw.length > opts.maxPoints;
  return {
    capped,
    points: raw
      .slice(0, opts.maxPoints)
      .reverse()
      .map((r) => ({ runId: r.run_id, startedAt: r.started_at, hash: r.sequence_hash, variant: r.variant, deviceId: r.device_id, value: r.value_num, limitJson: r.limit_json })),
  };
}
