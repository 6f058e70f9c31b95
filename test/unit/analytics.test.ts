// The analytics' grouping and version slicing on a real SQLite store: which runs belong to a
// version (a revert included), readings grouped per measurement and per limit (variants judged by
// other limits make rows of their own), the row cap, and a control chart's points across versions
// with the limit each run was judged by.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../station/log.js';
import { limitBounds, measurementStats } from '../../station/server/analytics-routes.js';
import { controlPoints, versionMeasurements, versionOfRun, versionWindows, type VersionWindow } from '../../station/store/analytics.js';
import { Store } from '../../station/store/store.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  dirs.cleanup();
});

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const range = (low: number | null, high: number | null): string => JSON.stringify({ kind: 'range', ...(low === null ? {} : { low }), ...(high === null ? {} : { high }) });

/** A store with versions v1 = A (t=1000), v2 = B (t=2000), v3 = A again (t=3000: a revert). */
function rig() {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  open.push(store);
  const db = store.database;
  for (const h of [A, B]) db.prepare(`INSERT INTO sequences (hash, name, body, created_at) VALUES (?, 'seq', '{}', 0)`).run(h);
  db.prepare(`INSERT INTO sequence_versions (hash, author, created_at) VALUES (?, 'config', 1000), (?, 'engineer', 2000), (?, 'engineer', 3000)`).run(A, B, A);
  let n = 0;
  const run = (
    hash: string,
    startedAt: number,
    readings: { step?: string; value: number; limit: string | null; outcome?: string }[],
    opts: { variant?: string | null; status?: string } = {},
  ): string => {
    const runId = `run-${++n}`;
    db.prepare(`INSERT INTO runs (run_id, slot, device_id, sequence_hash, mode, status, started_at, variant) VALUES (?, 0, ?, ?, 'test', ?, ?, ?)`).run(
      runId,
      `dev${n}`,
      hash,
      opts.status ?? 'blessed',
      startedAt,
      opts.variant ?? null,
    );
    readings.forEach((r, i) => {
      db.prepare(`INSERT INTO step_results (run_id, step_index, name, type, status, attempts, started_at, duration_ms) VALUES (?, ?, ?, 'measure', 'pass', 1, ?, 1)`).run(
        runId,
        i + 1,
        r.step ?? 'VBAT',
        startedAt,
      );
      db.prepare(`INSERT INTO measurements (run_id, step_index, name, value_num, unit, outcome, limit_json) VALUES (?, ?, ?, ?, 'V', ?, ?)`).run(
        runId,
        i + 1,
        r.step ?? 'VBAT',
        r.value,
        r.outcome ?? 'pass',
        r.limit,
      );
    });
    return runId;
  };
  return { store, run };
}

describe('version windows', () => {
  it("gives a run the latest version of its hash saved at or before its start, a revert's runs to the revert", () => {
    const { store } = rig();
    const w = versionWindows(store);
    expect(w.map((x) => [x.version, x.fromMs, x.untilMs])).toEqual([
      [1, 0, 3000],
      [2, 0, null],
      [3, 3000, null],
    ]);
    expect(versionOfRun(w, A, 500)).toBe(1); // before any version: the first of its hash
    expect(versionOfRun(w, A, 2500)).toBe(1); // a run of A in flight across the save of v2
    expect(versionOfRun(w, B, 2500)).toBe(2);
    expect(versionOfRun(w, A, 3000)).toBe(3);
    expect(versionOfRun(w, 'c'.repeat(64), 3000)).toBeNull();
  });

  it("reads a version's readings only, newest first, and says when it stopped at the cap", () => {
    const { store, run } = rig();
    run(A, 1500, [{ value: 1, limit: range(0, 10) }]);
    run(A, 3500, [{ value: 2, limit: range(0, 10) }]);
    run(A, 3600, [{ value: 3, limit: range(0, 10) }]);
    run(A, 3700, [{ value: 99, limit: range(0, 10) }], { status: 'running' });
    const w = versionWindows(store);
    const v1 = versionMeasurements(store, { window: w[0] as VersionWindow, fromMs: null, untilMs: null, maxRows: 100 });
    expect(v1.rows.map((r) => r.value)).toEqual([1]);
    const v3 = versionMeasurements(store, { window: w[2] as VersionWindow, fromMs: null, untilMs: null, maxRows: 100 });
    expect(v3.rows.map((r) => r.value)).toEqual([3, 2]);
    expect(v3.capped).toBe(false);
    const capped = versionMeasurements(store, { window: w[2] as VersionWindow, fromMs: null, untilMs: null, maxRows: 1 });
    expect(capped).toMatchObject({ capped: true, rows: [{ value: 3 }] });
    expect(versionMeasurements(store, { window: w[2] as VersionWindow, fromMs: 3550, untilMs: null, maxRows: 100 }).rows.map((r) => r.value)).toEqual([3]);
  });

  it("gives a control chart's points across versions in run order, each with its limits", () => {
    const { store, run } = rig();
    run(A, 1500, [{ value: 3.7, limit: range(3.4, 4.2) }]);
    run(B, 2500, [
      { value: 3.8, limit: range(3.4, 4.15) },
      { step: 'OTHER', value: 7, limit: null },
    ]);
    run(A, 3500, [{ value: 3.9, limit: range(3.4, 4.2) }]);
    const { points, capped } = controlPoints(store, { step: 'VBAT', measurement: 'VBAT', fromMs: null, untilMs: null, maxPoints: 10 });
    expect(capped).toBe(false);
    const w = versionWindows(store);
    expect(points.map((p) => [p.value, versionOfRun(w, p.hash, p.startedAt), limitBounds(p.limitJson).high])).toEqual([
      [3.7, 1, 4.2],
      [3.8, 2, 4.15],
      [3.9, 3, 4.2],
    ]);
    expect(controlPoints(store, { step: 'VBAT', measurement: 'VBAT', fromMs: null, untilMs: null, maxPoints: 2 }).points.map((p) => p.value)).toEqual([3.8, 3.9]);
  });
});

describe('measurement statistics', () => {
  it('groups readings per step, name and limit (a variant judged by other limits is a row of its own), in step order', () => {
    const rows = [
      { step: 'VBAT', stepIndex: 1, name: 'VBAT', value: 3.6, unit: 'V', outcome: 'pass', limitJson: range(3.4, 4.2), variant: null },
      { step: 'VBAT', stepIndex: 1, name: 'VBAT', value: 3.8, unit: 'V', outcome: 'marginal', limitJson: range(3.4, 4.2), variant: null },
      { step: 'VBAT', stepIndex: 1, name: 'VBAT', value: 3.35, unit: 'V', outcome: 'pass', limitJson: range(3.3, 4.2), variant: 'eu' },
      { step: 'LUX', stepIndex: 0, name: 'LUX', value: 400, unit: 'lux', outcome: 'pass', limitJson: range(100, null), variant: null },
      { step: 'LUX', stepIndex: 0, name: 'LUX', value: 500, unit: 'lux', outcome: 'fail', limitJson: range(100, null), variant: null },
    ];
    const stats = measurementStats(rows);
    expect(stats.map((s) => [s.step, s.low, s.high, s.n, s.variants])).toEqual([
      ['LUX', 100, null, 2, ['']],
      ['VBAT', 3.3, 4.2, 1, ['eu']],
      ['VBAT', 3.4, 4.2, 2, ['']],
    ]);
    const lux = stats[0];
    // mean 450, sigma sqrt(5000) = 70.7107; one-sided: Cpk = (450 - 100) / (3 × 70.7107) = 1.649916.
    expect(lux?.cp).toBeNull();
    expect(lux?.cpk).toBeCloseTo(1.649916, 5);
    expect(lux?.outcomes).toEqual({ pass: 1, marginal: 0, fail: 1 });
    expect(stats[1]).toMatchObject({ n: 1, sigma: null, cpk: null, note: 'too few values' });
    expect(stats[2]?.outcomes).toEqual({ pass: 1, marginal: 1, fail: 0 });
  });

  it("reads a range's bounds, an equals limit on a number as value ± tolerance, and none from text limits", () => {
    expect(limitBounds(range(3.4, 4.2))).toEqual({ low: 3.4, high: 4.2 });
    expect(limitBounds(range(null, -20))).toEqual({ low: null, high: -20 });
    expect(limitBounds(JSON.stringify({ kind: 'equals', value: 5, tolerance: 0.5 }))).toEqual({ low: 4.5, high: 5.5 });
    expect(limitBounds(JSON.stringify({ kind: 'equals', value: 'OK' }))).toEqual({ low: null, high: null });
    expect(limitBounds(JSON.stringify({ kind: 'regex', pattern: '^a' }))).toEqual({ low: null, high: null });
    expect(limitBounds(null)).toEqual({ low: null, high: null });
    expect(limitBounds('{not json')).toEqual({ low: null, high: null });
  });
});
