import { describe, expect, it } from 'vitest';
import { judge } from '../../station/sequence/limits.js';
import type { Limit } from '../../station/sequence/sequence.js';

const both: Limit = { kind: 'range', low: 3.4, high: 4.2, marginalLow: 3.5, marginalHigh: 4.1 };

describe('judge: no limit', () => {
  it('passes any value when the step has no limit', () => {
    expect(judge(-1e9, undefined)).toEqual({ outcome: 'pass', reason: null });
    expect(judge('anything', undefined)).toEqual({ outcome: 'pass', reason: null });
  });
});

describe('judge: range', () => {
  it('passes a value inside low..high and fails values outside, with the value and limit in the reason', () => {
    const limit: Limit = { kind: 'range', low: 3.4, high: 4.2 };
    expect(judge(3.7, limit, 'V')).toEqual({ outcome: 'pass', reason: null });
    expect(judge(3.39, limit, 'V')).toEqual({ outcome: 'fail', reason: '3.39 V below low 3.4 V' });
    expect(judge(4.21, limit, 'V')).toEqual({ outcome: 'fail', reason: '4.21 V above high 4.2 V' });
  });

  it('treats low and high as inclusive bounds', () => {
    const limit: Limit = { kind: 'range', low: 3.4, high: 4.2 };
    expect(judge(3.4, limit).outcome).toBe('pass');
    expect(judge(4.2, limit).outcome).toBe('pass');
  });

  it('with only a low bound, fails below it and passes any higher value', () => {
    const limit: Limit = { kind: 'range', low: 100 };
    expect(judge(99.9, limit, 'lux')).toEqual({ outcome: 'fail', reason: '99.9 lux below low 100 lux' });
    expect(judge(1e12, limit, 'lux').outcome).toBe('pass');
  });

  it('with only a high bound, fails above it and passes any lower value', () => {
    const limit: Limit = { kind: 'range', high: -20 };
    expect(judge(-19, limit, 'dBm')).toEqual({ outcome: 'fail', reason: '-19 dBm above high -20 dBm' });
    expect(judge(-1000, limit, 'dBm').outcome).toBe('pass');
  });

  it('writes the reason without a unit when the step has none', () => {
    expect(judge(5, { kind: 'range', high: 4 }).reason).toBe('5 above high 4');
  });

  it('flags a value between low and marginalLow as marginal, naming the band', () => {
    expect(judge(3.45, both, 'V')).toEqual({ outcome: 'marginal', reason: '3.45 V in the marginal band below 3.5 V' });
    expect(judge(3.4, both, 'V').outcome).toBe('marginal');
  });

  it('flags a value between marginalHigh and high as marginal, naming the band', () => {
    expect(judge(4.15, both, 'V')).toEqual({ outcome: 'marginal', reason: '4.15 V in the marginal band above 4.1 V' });
    expect(judge(4.2, both, 'V').outcome).toBe('marginal');
  });

  it('passes clean values at the marginal band edges', () => {
    expect(judge(3.5, both).outcome).toBe('pass');
    expect(judge(4.1, both).outcome).toBe('pass');
    expect(judge(3.8, both).outcome).toBe('pass');
  });

  it('fails rather than flags marginal outside low/high even when marginal bands exist', () => {
    expect(judge(3.0, both).outcome).toBe('fail');
    expect(judge(5.0, both).outcome).toBe('fail');
  });

  it('supports a marginal band on one side only', () => {
    const rssi: Limit = { kind: 'range', low: -75, high: -20, marginalLow: -68 };
    expect(judge(-70, rssi, 'dBm').outcome).toBe('marginal');
    expect(judge(-21, rssi, 'dBm').outcome).toBe('pass');
  });

  it('fails NaN and infinities as "not a number" instead of letting them through', () => {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const j = judge(v, both, 'V');
      expect(j.outcome, String(v)).toBe('fail');
      expect(j.reason).toContain('is not a number');
    }
  });

  it('fails a string value against a range, even one that looks numeric', () => {
    expect(judge('3.7', both)).toEqual({ outcome: 'fail', reason: '"3.7" is not a number' });
    expect(judge('', both).outcome).toBe('fail');
  });
});

describe('judge: equals', () => {
  it('passes an exact numeric match and fails anything else when there is no tolerance', () => {
    const limit: Limit = { kind: 'equals', value: 42 };
    expect(judge(42, limit)).toEqual({ outcome: 'pass', reason: null });
    expect(judge(42.0001, limit)).toEqual({ outcome: 'fail', reason: '42.0001 is not 42' });
  });

  it('passes within the tolerance on either side and fails beyond it, naming the tolerance', () => {
    const limit: Limit = { kind: 'equals', value: 100, tolerance: 5 };
    expect(judge(95, limit).outcome).toBe('pass');
    expect(judge(105, limit).outcome).toBe('pass');
    expect(judge(94, limit, 'mA')).toEqual({ outcome: 'fail', reason: '94 mA is not 100 mA ± 5' });
    expect(judge(106, limit).outcome).toBe('fail');
  });

  // |measured - value| <= tolerance passes (sequence.ts): a reading exactly at the edge must pass on
  // both sides. Binary floating point makes 3.31 - 3.3 = 0.010000000000000231 > 0.01.
  it('passes decimal readings exactly at the tolerance edge on both sides', () => {
    const limit: Limit = { kind: 'equals', value: 3.3, tolerance: 0.01 };
    expect(judge(3.29, limit).outcome).toBe('pass');
    expect(judge(3.31, limit).outcome).toBe('pass');
    expect(judge(2.9, { kind: 'equals', value: 3, tolerance: 0.1 }).outcome).toBe('pass');
    expect(judge(3.32, limit).outcome).toBe('fail');
  });

  it('fails a non-number against a numeric value', () => {
    expect(judge('42', { kind: 'equals', value: 42 })).toEqual({ outcome: 'fail', reason: '"42" is not a number' });
    expect(judge(Number.NaN, { kind: 'equals', value: 42, tolerance: 1e9 }).outcome).toBe('fail');
  });

  it('compares strings exactly (case matters) and quotes both in the reason', () => {
    const limit: Limit = { kind: 'equals', value: 'PASS' };
    expect(judge('PASS', limit).outcome).toBe('pass');
    expect(judge('pass', limit)).toEqual({ outcome: 'fail', reason: '"pass" is not "PASS"' });
    expect(judge('PASS ', limit).outcome).toBe('fail');
  });
});

describe('judge: regex', () => {
  it('passes a value the pattern matches and fails one it does not, quoting the pattern', () => {
    const limit: Limit = { kind: 'regex', pattern: '^fw-2\\.[0-9]+$' };
    expect(judge('fw-2.31', limit).outcome).toBe('pass');
    expect(judge('fw-3.1', limit)).toEqual({ outcome: 'fail', reason: '"fw-3.1" does not match /^fw-2\\.[0-9]+$/' });
  });

  it('uses the precompiled regex when one is given', () => {
    const limit: Limit = { kind: 'regex', pattern: '^abc$' };
    expect(judge('ABC', limit, undefined, /^abc$/i).outcome).toBe('pass');
    expect(judge('ABC', limit).outcome).toBe('fail');
  });

  it('matches numbers by their text', () => {
    expect(judge(12, { kind: 'regex', pattern: '^1[0-9]$' }).outcome).toBe('pass');
    expect(judge(21, { kind: 'regex', pattern: '^1[0-9]$' }).outcome).toBe('fail');
  });
});
