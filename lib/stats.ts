// Process statistics for the engineer console's analytics: a measurement's n, mean, sample sigma,
// minimum and maximum (Welford's one-pass method: no loss of precision on values far from 0), its
// process capability against its limits (Cp, Cpk; one-sided when only one limit is set), and a
// histogram. Pure functions on plain numbers.

export interface Summary {
  n: number;
  /** null when n = 0. */
  mean: number | null;
  /** The sample standard deviation (n - 1 in the denominator); null when n < 2. */
  sigma: number | null;
  min: number | null;
  max: number | null;
}

/** n, mean, sample sigma, min and max of the finite values (NaN and infinities are left out). */
export function summarize(values: Iterable<number>): Summary {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of values) {
    if (!Number.isFinite(x)) continue;
    n++;
    const delta = x - mean;
    mean += delta / n;
    m2 += delta * (x - mean);
    if (x < min) min = x;
    if (x > max) max = x;
  }
  if (n === 0) return { n: 0, mean: null, sigma: null, min: null, max: null };
  return { n, mean, sigma: n < 2 ? null : Math.sqrt(Math.max(0, m2 / (n - 1))), min, max };
}

export interface Capability {
  /** (USL - LSL) / 6σ; null unless both limits are set. */
  cp: number | null;
  /** min(Cpl, Cpu) over the limits that are set; null without a limit. */
  cpk: number | null;
  /** (mean - LSL) / 3σ, or null without a low limit. */
  cpl: number | null;
  /** (USL - mean) / 3σ, or null without a high limit. */
  cpu: number | null;
  /** Why a figure is null: fewer than 2 values, no spread (sigma 0), or no limit; null when every figure that applies was computed. */
  note: 'too few values' | 'no spread' | 'no limits' | null;
}

/**
 * Cp and Cpk of `s` against `low` (LSL) and `high` (USL), either of which may be absent: with one
 * limit Cpk is that side's index and Cp is null. With n < 2 or sigma 0 (every value equal) the
 * indices are undefined and given as null, with the reason in `note`.
 */
export function capability(s: Summary, limits: { low?: number | null; high?: number | null }): Capability {
  const low = typeof limits.low === 'number' && Number.isFinite(limits.low) ? limits.low : null;
  const high = typeof limits.high === 'number' && Number.isFinite(limits.high) ? limits.high : null;
  const none = (note: Capability['note']): Capability => ({ cp: null, cpk: null, cpl: null, cpu: null, note });
  if (low === null && high === null) return none('no limits');
  if (s.mean === null || s.sigma === null) return none('too few values');
  if (s.sigma === 0) return none('no spread');
  const cpl = low === null ? null : (s.mean - low) / (3 * s.sigma);
  const cpu = high === null ? null : (high - s.mean) / (3 * s.sigma);
  const cp = low !== null && high !== null ? (high - low) / (6 * s.sigma) : null;
  const cpk = cpl === null ? cpu : cpu === null ? cpl : Math.min(cpl, cpu);
  return { cp, cpk, cpl, cpu, note: null };
}

export interface Histogram {
  /** bins + 1 edges, ascending; the last bin includes its upper edge. */
  edges: number[];
  counts: number[];
}

/**
 * Counts of the finite values in `bins` equal bins over [from, to] (values outside are not
 * counted). With from = to (every value equal) one bin of width 1 centred on the value.
 */
export function histogram(values: Iterable<number>, from: number, to: number, bins: number): Histogram {
  const k = Math.max(1, Math.floor(bins));
  let lo = from;
  let hi = to;
  if (!(hi > lo)) {
    lo = from - 0.5;
    hi = from + 0.5;
  }
  const width = (hi - lo) / k;
  const edges = Array.from({ length: k + 1 }, (_, i) => (i === k ? hi : lo + i * width));
  const counts = new Array<number>(k).fill(0);
  for (const x of values) {
    if (!Number.isFinite(x) || x < lo || x > hi) continue;
    const i = Math.min(k - 1, Math.floor((x - lo) / width));
    counts[i] = (counts[i] as number) + 1;
  }
  return { edges, counts };
}

/** The bin count for n values: the square-root rule, within [5, 40]. */
export function binCount(n: number): number {
  return Math.max(5, Math.min(40, Math.ceil(Math.sqrt(Math.max(0, n)))));
}

/**
 * The range a histogram spans: the values' [min, max], widened to take in a limit that lies
 * within one data span of it (so a near limit shows on the chart; a far one would squeeze the
 * data into one bin, and is named beside the chart instead).
 */
export function histogramRange(s: Summary, limits: { low?: number | null; high?: number | null }): [number, number] | null {
  if (s.min === null || s.max === null) return null;
  const span = Math.max(s.max - s.min, Math.abs(s.mean ?? 0) * 1e-6, 1e-12);
  let lo = s.min;
  let hi = s.max;
  for (const limit of [limits.low, limits.high]) {
    if (typeof limit !== 'number' || !Number.isFinite(limit)) continue;
    if (limit < lo && lo - limit <= span) lo = limit;
    if (limit > hi && limit - hi <= span) hi = limit;
  }
  return [lo, hi];
}
