// Judging a measurement against its limit. Pure functions: the runner calls them on every
// measure step, the engineer console will call them to show a value against its limits.
import type { Limit } from './sequence.js';

export type LimitOutcome = 'pass' | 'marginal' | 'fail';

export interface Judgement {
  outcome: LimitOutcome;
  /** Why, in words an operator can read: "3.61 V above high 3.6 V". */
  reason: string | null;
}

const PASS: Judgement = { outcome: 'pass', reason: null };

function fmt(value: number, unit: string | undefined): string {
  return unit ? `${value} ${unit}` : String(value);
}

export function judge(value: number | string, limit: Limit | undefined, unit?: string, limitRe?: RegExp | null): Judgement {
  if (!limit) return PASS;
  switch (limit.kind) {
    case 'range': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return { outcome: 'fail', reason: `"${String(value)}" is not a number` };
      if (limit.low !== undefined && value < limit.low) return { outcome: 'fail', reason: `${fmt(value, unit)} below low ${fmt(limit.low, unit)}` };
      if (limit.high !== undefined && value > limit.high) return { outcome: 'fail', reason: `${fmt(value, unit)} above high ${fmt(limit.high, unit)}` };
      if (limit.marginalLow !== undefined && value < limit.marginalLow) {
        return { outcome: 'marginal', reason: `${fmt(value, unit)} in the marginal band below ${fmt(limit.marginalLow, unit)}` };
      }
      if (limit.marginalHigh !== undefined && value > limit.marginalHigh) {
        return { outcome: 'marginal', reason: `${fmt(value, unit)} in the marginal band above ${fmt(limit.marginalHigh, unit)}` };
      }
      return PASS;
    }
    case 'equals': {
      if (typeof limit.value === 'number') {
        if (typeof value !== 'number' || !Number.isFinite(value)) return { outcome: 'fail', reason: `"${String(value)}" is not a number` };
        const tolerance = limit.tolerance ?? 0;
        // A relative epsilon: 3.31 - 3.3 is 0.010000000000000231 in binary floating point.
        const epsilon = 1e-9 * Math.max(1, Math.abs(limit.value));
        return Math.abs(value - limit.value) <= tolerance + epsilon
          ? PASS
          : { outcome: 'fail', reason: `${fmt(value, unit)} is not ${fmt(limit.value, unit)}${tolerance ? ` ± ${tolerance}` : ''}` };
      }
      return String(value) === limit.value ? PASS : { outcome: 'fail', reason: `"${String(value)}" is not "${limit.value}"` };
    }
    case 'regex': {
      const re = limitRe ?? new RegExp(limit.pattern);
      return re.test(String(value)) ? PASS : { outcome: 'fail', reason: `"${String(value)}" does not match /${limit.pattern}/` };
    }
  }
}
