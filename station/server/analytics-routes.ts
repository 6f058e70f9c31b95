// The engineer console's analytics (docs/api.md, "Analytics"): per measurement of a sequence
// version a histogram, n, mean, sample sigma, Cp and Cpk against its limits, computed here from
// the stored readings; and one measurement's readings across units and versions, each with the
// limit it was judged by, for a control chart with the limit history. Both read at most a fixed
// number of rows, newest first, and say when they stopped there.
import type { Request, Response } from 'express';
import { z } from 'zod';
import { binCount, capability, histogram, histogramRange, summarize } from '../../lib/stats.js';
import { controlPoints, versionMeasurements, versionOfRun, versionWindows, type MeasurementRow, type VersionWindow } from '../store/analytics.js';
import { parseOr400, type HttpDeps, type RouteSpec } from './deps.js';

/** Measurement rows one analytics answer reads at most (the newest runs' first). */
export const MAX_MEASUREMENT_ROWS = 20_000;
/** Readings one control chart shows at most (the newest). */
export const MAX_CONTROL_POINTS = 2_000;

const isoTime = z.iso.datetime({ offset: true });
const variantParam = z.union([z.literal(''), z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/)]);
const measurementsQuery = z.strictObject({
  version: z.coerce.number().int().min(1).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  variant: variantParam.optional(),
});
const controlQuery = z.strictObject({
  step: z.string().min(1).max(200),
  measurement: z.string().min(1).max(200),
  from: isoTime.optional(),
  to: isoTime.optional(),
  variant: variantParam.optional(),
});

/** A limit's numeric bounds: a range's low and high, an equals limit's value ± tolerance; null bounds for text limits. */
export function limitBounds(limitJson: string | null): { low: number | null; high: number | null } {
  if (!limitJson) return { low: null, high: null };
  let limit: unknown;
  try {
    limit = JSON.parse(limitJson);
  } catch {
    return { low: null, high: null };
  }
  if (!limit || typeof limit !== 'object') return { low: null, high: null };
  const l = limit as Record<string, unknown>;
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  if (l.kind === 'range') return { low: num(l.low), high: num(l.high) };
  if (l.kind === 'equals' && typeof l.value === 'number') {
    const tol = num(l.tolerance) ?? 0;
    return { low: l.value - tol, high: l.value + tol };
  }
  return { low: null, high: null };
}

export interface MeasurementStats {
  step: string;
  stepIndex: number;
  name: string;
  unit: string | null;
  low: number | null;
  high: number | null;
  /** The product variants whose runs these readings are ("" for the base limits). */
  variants: string[];
  n: number;
  mean: number | null;
  sigma: number | null;
  min: number | null;
  max: number | null;
  cp: number | null;
  cpk: number | null;
  cpl: number | null;
  cpu: number | null;
  note: string | null;
  outcomes: { pass: number; marginal: number; fail: number };
  histogram: { edges: number[]; counts: number[] };
}

/**
 * The readings grouped per step and measurement name and per limit (runs of different product
 * variants can be judged by different limits: each set of limits is a row of its own), in step order.
 */
export function measurementStats(rows: readonly MeasurementRow[]): MeasurementStats[] {
  const groups = new Map<
    string,
    { first: MeasurementRow; low: number | null; high: number | null; values: number[]; variants: Set<string>; outcomes: { pass: number; marginal: number; fail: number } }
  >();
  // A version's readings share a few limits: each limit text is parsed once.
  const bounds = new Map<string | null, { low: number | null; high: number | null }>();
  for (const r of rows) {
    let b = bounds.get(r.limitJson);
    if (!b) bounds.set(r.limitJson, (b = limitBounds(r.limitJson)));
    const { low, high } = b;
    const key = `${r.step}\u0000${r.name}\u0000${low}\u0000${high}`;
    let g = groups.get(key);
    if (!g) {
      g = { first: r, low, high, values: [], variants: new Set(), outcomes: { pass: 0, marginal: 0, fail: 0 } };
      groups.set(key, g);
    }
    if (r.stepIndex < g.first.stepIndex) g.first = r;
    g.values.push(r.value);
    g.variants.add(r.variant ?? '');
    if (r.outcome === 'pass' || r.outcome === 'marginal' || r.outcome === 'fail') g.outcomes[r.outcome]++;
  }
  const out = [...groups.values()].map((g) => {
    const s = summarize(g.values);
    const c = capability(s, { low: g.low, high: g.high });
    const range = histogramRange(s, { low: g.low, high: g.high });
    return {
      step: g.first.step,
      stepIndex: g.first.stepIndex,
      name: g.first.name,
      unit: g.first.unit,
      low: g.low,
      high: g.high,
      variants: [...g.variants].sort(),
      n: s.n,
      mean: s.mean,
      sigma: s.sigma,
      min: s.min,
      max: s.max,
      cp: c.cp,
      cpk: c.cpk,
      cpl: c.cpl,
      cpu: c.cpu,
      note: c.note,
      outcomes: g.outcomes,
      histogram: range ? histogram(g.values, range[0], range[1], binCount(s.n)) : { edges: [], counts: [] },
    };
  });
  return out.sort((a, b) => a.stepIndex - b.stepIndex || a.name.localeCompare(b.name) || (a.low ?? -Infinity) - (b.low ?? -Infinity));
}

/** The version `version` names, or the active one (its latest version); null when there is none. */
export function pickVersion(d: HttpDeps, windows: readonly VersionWindow[], version: number | undefined): VersionWindow | null {
  if (version !== undefined) return windows.find((w) => w.version === version) ?? null;
  const active = d.versions.activeHash();
  return windows.filter((w) => w.hash === active).at(-1) ?? null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function analyticsRoutes(d: HttpDeps): RouteSpec[] {
  const measurements = (req: Request, res: Response): void => {
    const q = parseOr400(measurementsQuery, req.query, res, 'query');
    if (!q) return;
    const windows = versionWindows(d.store);
    const w = pickVersion(d, windows, q.version);
    if (!w) {
      res.status(404).json({ error: `no sequence version ${q.version ?? '(active)'}` });
      return;
    }
    const fromMs = q.from ? Date.parse(q.from) : null;
    const untilMs = q.to ? Date.parse(q.to) : null;
    const { rows, capped } = versionMeasurements(d.store, { window: w, fromMs, untilMs, ...(q.variant !== undefined ? { variant: q.variant || null } : {}), maxRows: MAX_MEASUREMENT_ROWS });
    res.json({
      version: w.version,
      hash: w.hash,
      from: iso(fromMs),
      to: iso(untilMs),
      ...(q.variant !== undefined ? { variant: q.variant || null } : {}),
      maxRows: MAX_MEASUREMENT_ROWS,
      rowsRead: rows.length,
      capped,
      measurements: measurementStats(rows),
    });
  };

  const control = (req: Request, res: Response): void => {
    const q = parseOr400(controlQuery, req.query, res, 'query');
    if (!q) return;
    const windows = versionWindows(d.store);
    const fromMs = q.from ? Date.parse(q.from) : null;
    const untilMs = q.to ? Date.parse(q.to) : null;
    const { points, capped } = controlPoints(d.store, {
      step: q.step,
      measurement: q.measurement,
      fromMs,
      untilMs,
      ...(q.variant !== undefined ? { variant: q.variant || null } : {}),
      maxPoints: MAX_CONTROL_POINTS,
    });
    const s = summarize(points.map((p) => p.value));
    res.json({
      step: q.step,
      measurement: q.measurement,
      from: iso(fromMs),
      to: iso(untilMs),
      ...(q.variant !== undefined ? { variant: q.variant || null } : {}),
      maxPoints: MAX_CONTROL_POINTS,
      capped,
      // The centre line and sigma of the readings shown (mean ± 3 sigma: the chart's control limits).
      mean: s.mean,
      sigma: s.sigma,
      points: points.map((p) => ({
        runId: p.runId,
        startedAt: new Date(p.startedAt).toISOString(),
        version: versionOfRun(windows, p.hash, p.startedAt),
        variant: p.variant,
        deviceId: p.deviceId,
        value: p.value,
        ...limitBounds(p.limitJson),
      })),
    });
  };

  return [
    { method: 'get', path: '/api/analytics/measurements', access: 'engineer', handlers: [measurements] },
    { method: 'get', path: '/api/analytics/control', access: 'engineer', handlers: [control] },
  ];
}
