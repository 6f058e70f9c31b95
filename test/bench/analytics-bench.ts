// The engineer analytics' queries (station/server/analytics-routes.ts) on a store of 100,000
// finished runs with 8 readings each, one version, run ids in start order (UUIDv7) as the station
// makes them. Median of 5 each:
//   analyticsMeasurementsMs  GET /api/analytics/measurements's work: the newest 20,000 readings
//                            read (the cap) and their statistics computed
//   analyticsControlMs       GET /api/analytics/control's query: the newest 2,000 readings of one measurement
//   analyticsControlMissMs   the same for a step no run has: every run's steps walked (the worst case)
import { uuidv7 } from '../../station/store/ids.js';
import { MAX_CONTROL_POINTS, MAX_MEASUREMENT_ROWS, measurementStats } from '../../station/server/analytics-routes.js';
import { controlPoints, versionMeasurements, versionWindows } from '../../station/store/analytics.js';
import type { Store } from '../../station/store/store.js';

const RUNS = 100_000;
const READINGS = 8;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export function benchAnalytics(store: Store): { analyticsMeasurementsMs: number; analyticsControlMs: number; analyticsControlMissMs: number; runs: number } {
  const db = store.database;
  const hash = 'a'.repeat(64);
  db.prepare(`INSERT INTO sequences (hash, name, body, created_at) VALUES (?, 'bench', '{}', 0)`).run(hash);
  db.prepare(`INSERT INTO sequence_versions (hash, author, created_at) VALUES (?, 'config', 0)`).run(hash);
  const run = db.prepare(`INSERT INTO runs (run_id, slot, device_id, sequence_hash, mode, status, started_at) VALUES (?, 0, ?, ?, 'test', 'blessed', ?)`);
  const step = db.prepare(`INSERT INTO step_results (run_id, step_index, name, type, status, attempts, started_at, duration_ms) VALUES (?, ?, ?, 'measure', 'pass', 1, ?, 1)`);
  const reading = db.prepare(`INSERT INTO measurements (run_id, step_index, name, value_num, unit, outcome, limit_json) VALUES (?, ?, ?, ?, 'V', 'pass', ?)`);
  const limit = JSON.stringify({ kind: 'range', low: 3.4, high: 4.2 });
  const t0 = Date.now() - RUNS * 1000;
  db.transaction(() => {
    for (let i = 0; i < RUNS; i++) {
      const at = t0 + i * 1000;
      const id = uuidv7(at);
      run.run(id, `d${i}`, hash, at);
      for (let k = 0; k < READINGS; k++) {
        step.run(id, k, `step ${k}`, at);
        reading.run(id, k, `step ${k}`, 3.7 + Math.sin(i * 7 + k) * 0.05, limit);
      }
    }
  })();
  const window = versionWindows(store)[0];
  if (!window) throw new Error('no version');
  const timed = (fn: () => unknown): number => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      fn();
      samples.push(performance.now() - start);
    }
    return median(samples);
  };
  return {
    runs: RUNS,
    analyticsMeasurementsMs: timed(() => measurementStats(versionMeasurements(store, { window, fromMs: null, untilMs: null, maxRows: MAX_MEASUREMENT_ROWS }).rows)),
    analyticsControlMs: timed(() => controlPoints(store, { step: 'step 3', measurement: 'step 3', fromMs: null, untilMs: null, maxPoints: MAX_CONTROL_POINTS })),
    analyticsControlMissMs: timed(() => controlPoints(store, { step: 'no such step', measurement: 'x', fromMs: null, untilMs: null, maxPoints: MAX_CONTROL_POINTS })),
  };
}
