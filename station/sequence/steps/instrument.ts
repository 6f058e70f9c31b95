// instrument: raw SCPI on a generic bench instrument (instruments[].kind "scpi"): writes, then an
// optional query whose answer is captured and judged like a measurement. For anything the station
// has no model for. A timeoutMs, when the step gives one, bounds the whole exchange, the wait for
// the instrument included (boundedExchange); without it each command has the instrument's timeout.
import { z } from 'zod';
import { limitSchema } from '../limits.js';
import { captureGroupCount, defineStepKind, regexSource, stepBase } from '../step-kind.js';
import { boundedExchange, checkLimit, exchangeTimedOut, judged } from './measure.js';

/** A SCPI command: printable ASCII, no line ends. */
const scpiCommand = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII with no line breaks');

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('instrument'),
  instrument: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  /** Commands with no answer, sent in order (each followed by the error queue check). */
  write: z.array(scpiCommand).max(20).default([]),
  /** A query; its answer is the step's value (or the capture's first group of it). */
  query: scpiCommand.optional(),
  capture: regexSource.optional(),
  as: z.enum(['number', 'string']).default('number'),
  measurement: z.string().min(1).max(80).optional(),
  unit: z.string().max(16).optional(),
  limit: limitSchema.optional(),
});

type Def = z.output<typeof schema>;
/** `exchangeTimeoutMs`: the step's own timeoutMs, bounding the exchange; null: none given. */
type Compiled = Def & { timeoutMs: number; exchangeTimeoutMs: number | null; captureRe: RegExp | null; limitRe: RegExp | null };

export const instrumentStep = defineStepKind<Def, Compiled>({
  type: 'instrument',
  schema,
  compile: (def, d) => ({
    ...def,
    timeoutMs: def.timeoutMs ?? d.defaultTimeoutMs,
    exchangeTimeoutMs: def.timeoutMs ?? null,
    captureRe: def.capture ? new RegExp(def.capture) : null,
    limitRe: def.limit?.kind === 'regex' ? new RegExp(def.limit.pattern) : null,
  }),
  check(step, path, report) {
    if (step.write.length === 0 && step.query === undefined) report([...path, 'query'], 'give a query, writes, or both');
    if (step.query === undefined && (step.capture !== undefined || step.limit !== undefined)) report([...path, 'query'], 'a capture or a limit needs a query to judge');
    if (step.capture !== undefined && captureGroupCount(step.capture) < 1) report([...path, 'capture'], 'needs a capture group');
    checkLimit(step, [...path, 'limit'], report);
  },
  async execute(ctx, step) {
    const fixture = ctx.fixture;
    if (!fixture) throw new Error('this station has no bench instruments');
    const bounded = await boundedExchange(ctx.signal, step.exchangeTimeoutMs, (signal) => fixture.scpi(step.instrument, { write: step.write, query: step.query }, signal));
    if (bounded.timedOut) return exchangeTimedOut(step.instrument, 'answer', step.exchangeTimeoutMs as number);
    const done = bounded.value;
    if (done.answer === null) return { status: 'pass', message: null, waitMs: done.waitMs };
    let text = done.answer;
    if (step.captureRe) {
      const m = step.captureRe.exec(text);
      if (!m || m[1] === undefined) return { status: 'fail', message: `${step.instrument} answered "${text.slice(0, 60)}", which does not match /${step.capture}/`, waitMs: done.waitMs };
      text = m[1];
    }
    const value = step.as === 'number' ? Number(text) : text;
    if (typeof value === 'number' && (!Number.isFinite(value) || text.trim() === ''))
      return { status: 'fail', message: `${step.instrument} answered "${text.slice(0, 60)}", not a number`, waitMs: done.waitMs };
    const outcome = judged(value, step, ctx.limitFor(step));
    return { ...outcome, waitMs: done.waitMs, ...(outcome.measurement ? { measurement: { ...outcome.measurement, instrument: done.instrument } } : {}) };
  },
});
