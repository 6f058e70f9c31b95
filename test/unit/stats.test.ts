// The analytics' statistics against hand-computed values: n, mean, sample sigma, Cp and Cpk (two-
// and one-sided), the cases where they are undefined (n < 2, sigma 0, no limit), and histograms.
import { describe, expect, it } from 'vitest';
import { binCount, capability, histogram, histogramRange, summarize } from '../../lib/stats.js';

// 2, 4, 4, 4, 5, 5, 7, 9: sum 40, mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32;
// sample variance 32 / 7, sigma = sqrt(32/7) = 2.138089935...
const DATA = [2, 4, 4, 4, 5, 5, 7, 9];
const SIGMA = Math.sqrt(32 / 7);

describe('summarize', () => {
  it('gives n, mean, the sample sigma (n - 1), min and max', () => {
    const s = summarize(DATA);
    expect(s.n).toBe(8);
    expect(s.mean).toBeCloseTo(5, 12);
    expect(s.sigma).toBeCloseTo(2.138089935, 9);
    expect(s.min).toBe(2);
    expect(s.max).toBe(9);
  });

  it('keeps its precision on values far from zero (3.7 V read as 1e9 + 3.7)', () => {
    const s = summarize(DATA.map((x) => 1e9 + x));
    expect(s.mean).toBeCloseTo(1e9 + 5, 6);
    expect(s.sigma).toBeCloseTo(SIGMA, 6);
  });

  it('has no sigma with one value and nothing with none; leaves NaN and infinities out', () => {
    expect(summarize([3.7])).toEqual({ n: 1, mean: 3.7, sigma: null, min: 3.7, max: 3.7 });
    expect(summarize([])).toEqual({ n: 0, mean: null, sigma: null, min: null, max: null });
    expect(summarize([Number.NaN, Infinity, 1, 3])).toMatchObject({ n: 2, mean: 2, sigma: Math.SQRT2 });
  });

  it('has sigma 0 when every value is equal', () => {
    expect(summarize([4, 4, 4]).sigma).toBe(0);
  });
});

describe('capability', () => {
  const s = summarize(DATA);

  it('gives Cp = (USL - LSL) / 6σ and Cpk = min(Cpl, Cpu) with both limits', () => {
    // LSL 0, USL 12: Cp = 12 / (6 × 2.13809) = 0.935414; Cpl = 5 / 6.41427 = 0.779512;
    // Cpu = 7 / 6.41427 = 1.091317; Cpk = 0.779512.
    const c = capability(s, { low: 0, high: 12 });
    expect(c.cp).toBeCloseTo(0.935414, 5);
    expect(c.cpl).toBeCloseTo(0.779512, 5);
    expect(c.cpu).toBeCloseTo(1.091317, 5);
    expect(c.cpk).toBeCloseTo(0.779512, 5);
    expect(c.note).toBeNull();
  });

  it('is one-sided with one limit: Cpk is that side, Cp is undefined', () => {
    const lowOnly = capability(s, { low: 0 });
    expect(lowOnly.cp).toBeNull();
    expect(lowOnly.cpu).toBeNull();
    expect(lowOnly.cpk).toBeCloseTo(0.779512, 5);
    const highOnly = capability(s, { high: 12, low: null });
    expect(highOnly.cp).toBeNull();
    expect(highOnly.cpl).toBeNull();
    expect(highOnly.cpk).toBeCloseTo(1.091317, 5);
  });

  it('is negative when the mean is outside a limit', () => {
    // mean 5 above USL 4: Cpu = (4 - 5) / 6.41427 = -0.155902.
    expect(capability(s, { low: 0, high: 4 }).cpk).toBeCloseTo(-0.155902, 5);
  });

  it('is undefined (null, with the reason) with fewer than 2 values, with no spread, or with no limit', () => {
    expect(capability(summarize([3.7]), { low: 3.4, high: 4.2 })).toEqual({ cp: null, cpk: null, cpl: null, cpu: null, note: 'too few values' });
    expect(capability(summarize([]), { low: 3.4 })).toMatchObject({ cpk: null, note: 'too few values' });
    expect(capability(summarize([3.7, 3.7, 3.7]), { low: 3.4, high: 4.2 })).toEqual({ cp: null, cpk: null, cpl: null, cpu: null, note: 'no spread' });
    expect(capability(s, {})).toMatchObject({ cpk: null, note: 'no limits' });
  });
});

describe('histogram', () => {
  it('counts values into equal bins, the last one closed', () => {
    const h = histogram(DATA, 2, 10, 4);
    expect(h.edges).toEqual([2, 4, 6, 8, 10]);
    // [2,4): 2 · [4,6): 4,4,4,5,5 · [6,8): 7 · [8,10]: 9
    expect(h.counts).toEqual([1, 5, 1, 1]);
    expect(histogram([10], 2, 10, 4).counts).toEqual([0, 0, 0, 1]);
  });

  it('leaves values outside the range out, and makes one bin around a single value', () => {
    expect(histogram([1, 5, 11], 2, 10, 2).counts).toEqual([1, 0]);
    const one = histogram([3.7, 3.7], 3.7, 3.7, 10);
    expect(one.counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(one.edges[0]).toBeLessThan(3.7);
    expect(one.edges.at(-1)).toBeGreaterThan(3.7);
  });

  it('spans the data and a limit near it, not a far one', () => {
    const s = summarize([3.6, 3.8, 4.0]); // span 0.4
    expect(histogramRange(s, { low: 3.4, high: 4.2 })).toEqual([3.4, 4.2]);
    expect(histogramRange(s, { low: 0, high: 100 })).toEqual([3.6, 4.0]);
    expect(histogramRange(summarize([]), { low: 1 })).toBeNull();
  });

  it('picks the square-root rule for its bin count, within 5 to 40', () => {
    expect(binCount(0)).toBe(5);
    expect(binCount(100)).toBe(10);
    expect(binCount(1e6)).toBe(40);
  });
});
