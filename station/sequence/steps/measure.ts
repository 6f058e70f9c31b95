// measure: a value judged against a limit, by the same limit code as every measurement
// (station/sequence/limits.ts: range with marginal bands, equals with a tolerance, regex). The
// value comes from the DUT (a command, and the capture regex's first group of its answer) or from
// a bench instrument (`source`: a DMM function, or a supply channel's voltage or current); an
// instrument's reading keeps the instrument's id and serial number with the measurement.
//
// timeoutMs: for a DUT command, how long the DUT has to answer (default: the sequence's
// defaultTimeoutMs). With a `source`, only when the step gives one, how long the instrument
// exchange may take, the wait for the instrument (another slot using it) included; past it the
// step errors. Without it, the instrument's own per-command timeouts bound the exchange.
import { z } from 'zod';
import { escapeForDisplay } from '../../../lib/text.js';
import { judge, limitSchema, shownNumber, type Limit } from '../limits.js';
import { StationFault } from '../run-errors.js';
import { captureGroupCount, defineStepKind, dutCommand, regexSource, stepBase, type Report, type StepOutcome } from '../step-kind.js';

const instrumentId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/);

/** A bench instrument's reading: a DMM function, or a supply channel's voltage or current. */
export const sourceSchema = z.union([
  z.strictObject({
    instrument: instrumentId,
    function: z.enum(['voltage-dc', 'current-dc', 'resistance']),
    /** The largest value expected (the smallest range holding it); absent: autorange. */
    range: z.number().positive().optional(),
    samples: z.number().int().min(1).max(1000).default(1),
    intervalMs: z.number().int().min(0).max(60_000).optional(),
  }),
  z.strictObject({
    instrument: instrumentId,
    function: z.enum(['voltage', 'current']),
    /** The supply channel; absent: the slot's own power channel. */
    channel: z.number().int().min(1).max(64).optional(),
  }),
]);

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('measure'),
  /** A DUT command whose answer holds the value; or give `source` instead. */
  command: dutCommand.optional(),
  source: sourceSchema.optional(),
  /** Applied to the DUT's answer; the first capture group is the measured value. Absent: OK is a pass. */
  capture: regexSource.optional(),
  as: z.enum(['number', 'string']).default('number'),
  measurement: z.string().min(1).max(80).optional(),
  unit: z.string().max(16).optional(),
  limit: limitSchema.optional(),
});

type Def = z.output<typeof schema>;
/** `exchangeTimeoutMs`: the step's own timeoutMs, bounding an instrument exchange; null: none given. */
type Compiled = Def & { timeoutMs: number; exchangeTimeoutMs: number | null; captureRe: RegExp | null; limitRe: RegExp | null };

/**
 * Runs an instrument exchange (`run`, given the signal to pass the fixture) bounded by `timeoutMs`
 * when it is not null: the wait for the instruments' locks and the commands. Past it the exchange
 * is abandoned as an interrupted run's would be (a command on the wire still runs to its end, so
 * the instrument stays in step) and this resolves `{timedOut: true}`. The run's own interruption
 * still escapes as it does.
 */
export async function boundedExchange<T>(signal: AbortSignal, timeoutMs: number | null, run: (signal: AbortSignal) => Promise<T>): Promise<{ timedOut: false; value: T } | { timedOut: true }> {
  if (timeoutMs === null) return { timedOut: false, value: await run(signal) };
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error(`the step's timeoutMs (${timeoutMs} ms) ran out`)), timeoutMs);
  try {
    return { timedOut: false, value: await run(AbortSignal.any([signal, timeout.signal])) };
  } catch (err) {
    if (timeout.signal.aborted && !signal.aborted) return { timedOut: true };
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** A step whose instrument exchange ran past its timeoutMs: an error of the step, naming the
 *  instrument. (How much of it was the wait for the lock is not known: no waitMs.) */
export function exchangeTimedOut(instrument: string, what: 'answer' | 'reading', timeoutMs: number): StepOutcome {
  return { status: 'error', message: `${instrument}: no ${what} within the step's timeoutMs (${timeoutMs} ms), the wait for the instrument included` };
}

/** The limit rules a schema cannot say, for any step (or variant) that judges a value against a limit; `at` is the limit's own path. */
export function checkLimit(step: { as: 'number' | 'string'; limit?: Limit | undefined }, at: (string | number)[], report: Report): void {
  const limit = step.limit;
  if (!limit) return;
  if (limit.kind === 'range') {
    if (step.as !== 'number') report(at, 'a range limit needs "as": "number"');
    const { low, high, marginalLow, marginalHigh } = limit;
    if (low === undefined && high === undefined) report(at, 'a range needs low, high or both');
    if (low !== undefined && high !== undefined && low > high) report([...at, 'low'], `low ${low} is above high ${high}`);
    if (marginalLow !== undefined && (low === undefined || marginalLow < low)) report([...at, 'marginalLow'], 'must be at or above low');
    if (marginalHigh !== undefined && (high === undefined || marginalHigh > high)) report([...at, 'marginalHigh'], 'must be at or below high');
    if (marginalLow !== undefined && marginalHigh !== undefined && marginalLow > marginalHigh) {
      report([...at, 'marginalLow'], 'the marginal band leaves no clean pass range (marginalLow > marginalHigh)');
    }
  }
  if (limit.kind === 'equals' && limit.tolerance !== undefined && typeof limit.value !== 'number') {
    report([...at, 'tolerance'], 'a tolerance needs a numeric value');
  }
  if (limit.kind === 'equals' && typeof limit.value === 'number' && step.as !== 'number') {
    report([...at, 'value'], 'a numeric value needs "as": "number"');
  }
}

/** A captured value judged against `limit` (the step's, or its variant's), as a step outcome with its measurement row. */
export function judged(
  value: number | string,
  step: { name: string; measurement?: string | undefined; unit?: string | undefined },
  judgedBy: { limit: Limit | undefined; limitRe: RegExp | null },
): StepOutcome {
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
    exchangeTimeoutMs: def.source ? (def.timeoutMs ?? null) : null,
    captureRe: def.capture ? new RegExp(def.capture) : null,
    limitRe: def.limit?.kind === 'regex' ? new RegExp(def.limit.pattern) : null,
  }),
  check(step, path, report) {
    if ((step.command === undefined) === (step.source === undefined)) report([...path, 'command'], 'give a DUT command or an instrument source (exactly one)');
    if (step.source) {
      if (step.capture !== undefined) report([...path, 'capture'], 'an instrument source gives the value itself: no capture');
      if (step.as !== 'number') report([...path, 'as'], 'an instrument source gives a number');
    } else if (step.limit && step.capture === undefined) report([...path, 'limit'], 'a limit needs a capture to measure against');
    if (step.capture !== undefined && captureGroupCount(step.capture) < 1) report([...path, 'capture'], 'needs a capture group, for example "v=([0-9.]+)"');
    checkLimit(step, [...path, 'limit'], report);
  },
  async execute(ctx, step) {
    if (step.source) {
      if (!ctx.fixture) throw new StationFault(`slot ${ctx.slot + 1} has no bench instruments to measure "${step.name}" with`, true);
      const fixture = ctx.fixture;
      const source = step.source;
      const bounded = await boundedExchange(ctx.signal, step.exchangeTimeoutMs, (signal) => fixture.measure(source, signal));
      if (bounded.timedOut) return exchangeTimedOut(source.instrument, 'reading', step.exchangeTimeoutMs as number);
      const reading = bounded.value;
      const unit = step.unit ?? reading.unit;
      if (reading.overload || reading.value === null) {
        return { status: 'fail', message: `${reading.instrument.id} reported an overload measuring ${step.name} (over its range)`, waitMs: reading.waitMs };
      }
      const outcome = judged(reading.value, { ...step, unit }, ctx.limitFor(step));
      const spread =
        reading.samples && reading.samples > 1 && reading.min != null && reading.max != null ? ` (${reading.samples} samples, ${shownNumber(reading.min)} to ${shownNumber(reading.max)} ${unit})` : '';
      return {
        ...outcome,
        message: outcome.message ? `${outcome.message}${spread}` : null,
        waitMs: reading.waitMs,
        ...(outcome.measurement ? { measurement: { ...outcome.measurement, instrument: reading.instrument } } : {}),
      };
    }
    const answer = await ctx.request(step.command as string, step.timeoutMs);
    if (!step.captureRe) return { status: 'pass', message: null };
    const value = captured(step, answer);
    return value.ok ? judged(value.value, step, ctx.limitFor(step)) : { status: 'fail', message: value.message };
  },
});
