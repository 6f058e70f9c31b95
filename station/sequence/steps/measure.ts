// measure: sends a command to the DUT and judges its answer. The capture regex's first group is
// the value (a number or a string), judged by the same limit code as every measurement
// (station/sequence/limits.ts: range with marginal bands, equals with a tolerance, regex).
import { z } from 'zod';
import { escapeForDisplay } from '../../../lib/text.js';
import { judge, limitSchema, type Limit } from '../limits.js';
import { captureGroupCount, defineStepKind, dutCommand, regexSource, stepBase, type Report, type StepOutcome } from '../step-kind.js';

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('measure'),
  command: dutCommand,
  /** Applied to the DUT's answer; the first capture group is the measured value. Absent: OK is a pass. */
  capture: regexSource.optional(),
  as: z.enum(['number', 'string']).default('number'),
  measurement: z.string().min(1).max(80).optional(),
  unit: z.string().max(16).optional(),
  limit: limitSchema.optional(),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number; captureRe: RegExp | null; limitRe: RegExp | null };

/** The limit rules a schema cannot say, for any step that judges a value against a limit. */
export function checkLimit(step: { as: 'number' | 'string'; limit?: Limit | undefined }, path: (string | number)[], report: Report): void {
  const limit = step.limit;
  if (!limit) return;
  if (limit.kind === 'range') {
    if (step.as !== 'number') report([...path, 'limit'], 'a range limit needs "as": "number"');
    const { low, high, marginalLow, marginalHigh } = limit;
    if (low === undefined && high === undefined) report([...path, 'limit'], 'a range needs low, high or both');
    if (low !== undefined && high !== undefined && low > high) report([...path, 'limit', 'low'], `low ${low} is above high ${high}`);
    if (marginalLow !== undefined && (low === undefined || marginalLow < low)) report([...path, 'limit', 'marginalLow'], 'must be at or above low');
    if (marginalHigh !== undefined && (high === undefined || marginalHigh > high)) report([...path, 'limit', 'marginalHigh'], 'must be at or below high');
    if (marginalLow !== undefined && marginalHigh !== undefined && marginalLow > marginalHigh) {
      report([...path, 'limit', 'marginalLow'], 'the marginal band leaves no clean pass range (marginalLow > marginalHigh)');
    }
  }
  if (limit.kind === 'equals' && limit.tolerance !== undefined && typeof limit.value !== 'number') {
    report([...path, 'limit', 'tolerance'], 'a tolerance needs a numeric value');
  }
  if (limit.kind === 'equals' && typeof limit.value === 'number' && step.as !== 'number') {
    report([...path, 'limit', 'value'], 'a numeric value needs "as": "number"');
  }
}

/** A captured value judged against `limit` (the step's, or its variant's), as a step outcome with its measurement row. */
export function judged(value: number | string, step: { name: string; measurement?: string | undefined; unit?: string | undefined }, judgedBy: { limit: Limit | undefined; limitRe: RegExp | null }): StepOutcome {
  const verdict = judge(value, judgedBy.limit, step.unit, judgedBy.limitRe);
  const limit = judgedBy.limit;
  return {
    status: verdict.outcome,
    message: verdict.reason,
    measurement: {
      name: step.measurement ?? step.name,
      valueNum: typeof value === 'number' ? value : null,
      valueText: typeof value === 'string' ? value : null,
      unit: step.unit ?? null,
      outcome: verdict.outcome,
      limitJson: limit ? JSON.stringify(limit) : null,
    },
  };
}

/** The measured value in an answer: the capture's first group, as a number when `as` says so. */
export function captured(step: Compiled, answer: string): { ok: true; value: number | string } | { ok: false; message: string } {
  const m = (step.captureRe as RegExp).exec(answer);
  if (!m || m[1] === undefined) return { ok: false, message: `answer ${escapeForDisplay(answer)} does not match /${step.capture}/` };
  if (step.as !== 'number') return { ok: true, value: m[1] };
  const value = Number(m[1]);
  if (!Number.isFinite(value) || m[1].trim() === '') return { ok: false, message: `${escapeForDisplay(m[1])} is not a number` };
  return { ok: true, value };
}

export const measureStep = defineStepKind<Def, Compiled>({
  type: 'measure',
  schema,
  compile: (def, d) => ({
    ...def,
    timeoutMs: def.timeoutMs ?? d.defaultTimeoutMs,
    captureRe: def.capture ? new RegExp(def.capture) : null,
    limitRe: def.limit?.kind === 'regex' ? new RegExp(def.limit.pattern) : null,
  }),
  check(step, path, report) {
    if (step.capture !== undefined && captureGroupCount(step.capture) < 1) report([...path, 'capture'], 'needs a capture group, for example "v=([0-9.]+)"');
    if (step.limit && step.capture === undefined) report([...path, 'limit'], 'a limit needs a capture to measure against');
    checkLimit(step, path, report);
  },
  async execute(ctx, step) {
    const answer = await ctx.request(step.command, step.timeoutMs);
    if (!step.captureRe) return { status: 'pass', message: null };
    const value = captured(step, answer);
    return value.ok ? judged(value.value, step, ctx.limitFor(step)) : { status: 'fail', message: value.message };
  },
});
