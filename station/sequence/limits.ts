// Limits and judging a measurement against its limit: the schema every step that measures uses,
// and pure functions the steps call on every value (the engineer console shows values against them).
import { z } from 'zod';
import { regexSource } from './fields.js';

export const rangeLimitSchema = z.strictObject({
  kind: z.literal('range'),
  low: z.number().optional(),
  high: z.number().optional(),
  /** Values between low and marginalLow (or marginalHigh and high) pass, flagged marginal. */
  marginalLow: z.number().optional(),
  marginalHigh: z.number().optional(),
});
export const equalsLimitSchema = z.strictObject({
  kind: z.literal('equals'),
  value: z.union([z.number(), z.string()]),
  /** For numbers: |measured - value| <= tolerance passes. */
  tolerance: z.number().min(0).optional(),
});
export const regexLimitSchema = z.strictObject({ kind: z.literal('regex'), pattern: regexSource });
export const limitSchema = z.discriminatedUnion('kind', [rangeLimitSchema, equalsLimitSchema, regexLimitSchema]);
export type Limit = z.infer<typeof limitSchema>;

export type LimitOutcome = 'pass' | 'marginal' | 'fail';

export interface Judgement {
  outcome: LimitOutcome;
  /** Why, in words an operator can read: "3.61 V above high 3.6 V". */
  reason: string | null;
}

const PASS: Judgement = { outcome: 'pass', reason: null };

/** A value as people read it: at most 6 significant digits (0.000397124, not 0.00039712362500000004). */
export function shownNumber(value: number): string {
  return String(Number(value.toPrecision(6)));
}

function fmt(value: number, unit: string | undefined): string {
  return unit ? `${shownNumber(value)} ${unit}` : shownNumber(value);
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
        return Math.abs(value - limit.value) <= tolerance + epsilon ? PASS : { outcome: 'fail', reason: `${fmt(value, unit)} is not ${fmt(limit.value, unit)}${tolerance ? ` ± ${tolerance}` : ''}` };
      }
      return String(value) === limit.value ? PASS : { outcome: 'fail', reason: `"${String(value)}" is not "${limit.value}"` };
    }
    case 'regex': {
      const re = limitRe ?? new RegExp(limit.pattern);
      return re.test(String(value)) ? PASS : { outcome: 'fail', reason: `"${String(value)}" does not match /${limit.pattern}/` };
    }
  }
}
