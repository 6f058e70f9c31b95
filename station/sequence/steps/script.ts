// script: a step written in TypeScript (station/sequence/script-sandbox.ts has the fence):
// `{"type": "script", "name", "module": "sequences/calibrate-rtc.ts", "timeoutMs"}`. The module's
// default function gets a ctx (sequences/station-script.d.ts declares it): the DUT console (send,
// expect), the fixture's instruments, measure() judged by the same limit code as every measurement,
// prompt(), the unit's identity and fields, a logger, sleep() and an abort flag. It cannot bless
// (the sequence's bless and fail commands are refused), nor reach the store, the token vault, the
// network or files. A script that throws fails the step with its message; one past its timeout is
// abandoned (its ctx reports aborted, its DUT requests are withdrawn) and the step errors.
import { z } from 'zod';
import { limitSchema, type Limit } from '../limits.js';
import { Interrupted, StationFault } from '../run-errors.js';
import type { ScriptHost, ScriptRealm } from '../script-sandbox.js';
import { defineStepKind, stepBase, type CompiledBase, type StepContext, type StepOutcome } from '../step-kind.js';
import { judged, sourceSchema } from './measure.js';

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('script'),
  /** The module, relative to the station's folder: sequences/calibrate-rtc.ts. */
  module: z.string().min(1).max(200),
});

type Def = z.output<typeof schema>;
export interface CompiledScript extends CompiledBase {
  type: 'script';
  module: string;
  /** The sequence's scripts, evaluated in their own context (null until the sequence loads them). */
  realm: ScriptRealm | null;
}

/** What a script's calls may carry (checked: a script is the engineers' code, but still input). */
const measureOptions = z.strictObject({ unit: z.string().max(16).optional(), limit: limitSchema.optional() });
const sendOptions = z.strictObject({ timeoutMs: z.number().int().min(1).max(600_000).optional() });
const scpiExchange = z.strictObject({ write: z.array(z.string().min(1).max(200)).max(20).default([]), query: z.string().min(1).max(200).optional() });

function parseArgs<T>(schemaOf: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schemaOf.safeParse(value);
  if (!parsed.success) throw new Error(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Runs one script step; the outcome, or Interrupted when the run (or its port) went. */
async function runScript(ctx: StepContext, step: CompiledScript): Promise<StepOutcome> {
  const realm = step.realm;
  if (!realm) throw new StationFault(`the script ${step.module} was not loaded with the sequence`, true);
  const abandon = new AbortController();
  const signal = AbortSignal.any([ctx.signal, abandon.signal]);
  const measurements: NonNullable<StepOutcome['measurement']>[] = [];
  /** Why each failed or marginal measurement was judged so, in the limit code's words. */
  const reasons: string[] = [];
  let waitMs = 0;
  let interruption: Interrupted | null = null;
  const forbidden = new Set(['BLESS', 'FAIL'].concat(ctx.forbiddenCommands));

  const send = async (command: string, timeoutMs: number | undefined): Promise<string> => {
    const verb = command.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
    if (forbidden.has(command.trim()) || forbidden.has(verb)) throw new Error(`a script cannot send "${verb}": blessing and failing the unit are the runner's`);
    try {
      return await ctx.request(command, timeoutMs ?? step.timeoutMs, signal);
    } catch (err) {
      if (err instanceof Interrupted && !abandon.signal.aborted) interruption ??= err;
      throw err;
    }
  };
  const calls: Record<string, (args: unknown[]) => Promise<unknown>> = {
    send: async ([command, opts]) => send(String(command), parseArgs(sendOptions, opts, 'dut.send options').timeoutMs),
    expect: async ([command, pattern, opts]) => {
      const answer = await send(String(command), parseArgs(sendOptions, opts, 'dut.expect options').timeoutMs);
      let re: RegExp;
      try {
        re = new RegExp(String(pattern));
      } catch (err) {
        throw new Error(`dut.expect: /${String(pattern)}/ is not a valid regular expression: ${(err as Error).message}`);
      }
      const m = re.exec(answer);
      if (!m) throw new Error(`the answer to "${String(command)}", "${answer.slice(0, 80)}", does not match /${String(pattern)}/`);
      return [...m];
    },
    'instrument.measure': async ([source]) => {
      if (!ctx.fixture) throw new Error('this slot has no bench instruments');
      const reading = await ctx.fixture.measure(parseArgs(sourceSchema, source, 'instruments.measure source'), signal);
      waitMs += reading.waitMs;
      return { value: reading.value, unit: reading.unit, overload: reading.overload, instrument: reading.instrument, min: reading.min ?? null, max: reading.max ?? null, samples: reading.samples ?? 1 };
    },
    'instrument.scpi': async ([id, exchange]) => {
      if (!ctx.fixture) throw new Error('this slot has no bench instruments');
      const done = await ctx.fixture.scpi(String(id), parseArgs(scpiExchange, exchange, 'instruments.scpi'), signal);
      waitMs += done.waitMs;
      return done.answer;
    },
    measure: async ([name, value, opts]) => {
      if (typeof value !== 'number' && typeof value !== 'string') throw new Error(`measure("${String(name)}"): the value must be a number or a string`);
      if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`measure("${String(name)}"): ${value} is not a finite number`);
      const o = parseArgs(measureOptions, opts, `measure("${String(name)}") options`);
      const limit: Limit | undefined = o.limit;
      const measured = String(name).slice(0, 80);
      const variantOrOwn = ctx.limitFor({ name: measured, limit, limitRe: limit?.kind === 'regex' ? new RegExp(limit.pattern) : null });
      const outcome = judged(value, { name: measured, unit: o.unit }, variantOrOwn);
      if (outcome.measurement) measurements.push(outcome.measurement);
      if (outcome.message) reasons.push(`${measured}: ${outcome.message}`);
      return outcome.status;
    },
    prompt: async ([text, answers]) => {
      const list = parseArgs(z.array(z.string().min(1).max(40)).min(1).max(8), answers, 'prompt answers');
      return ctx.prompts.ask({ slot: ctx.slot, runId: ctx.runId, text: String(text).slice(0, 300), answers: list, timeoutMs: step.timeoutMs, signal });
    },
    sleep: async ([ms]) => {
      const wait = Math.max(0, Math.min(Number(ms) || 0, 600_000));
      await new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(new Error('aborted'));
        const t = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, wait);
        const onAbort = (): void => {
          clearTimeout(t);
          reject(new Error('aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      return undefined;
    },
  };
  const host: ScriptHost = {
    data: JSON.stringify({ identity: ctx.state.identity, fields: ctx.state.fields, variant: ctx.state.variant }),
    call: async (name, argsJson) => {
      const fn = calls[name];
      if (!fn) throw new Error(`no such call "${name}"`);
      const result = await fn(JSON.parse(argsJson) as unknown[]);
      return result === undefined ? undefined : JSON.stringify(result);
    },
    aborted: () => signal.aborted,
    log: (message, fieldsJson) => {
      let fields: unknown = {};
      try {
        fields = JSON.parse(fieldsJson);
      } catch {
        fields = {};
      }
      ctx.log.info({ part: 'line.script', slot: ctx.slot, runId: ctx.runId, script: step.module, fields }, message.slice(0, 500));
    },
  };

  let running: ReturnType<ScriptRealm['start']>;
  try {
    running = realm.start(step.module, host, Math.min(step.timeoutMs, 2000));
  } catch (err) {
    return { status: 'error', message: `script ${step.module} could not start: ${(err as Error).message}` };
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), step.timeoutMs);
  });
  const onRunAbort = (): void => running.abort();
  ctx.signal.addEventListener('abort', onRunAbort, { once: true });
  try {
    const result = await Promise.race([running.done.then(() => 'done' as const), timedOut]);
    if (result === 'timeout') {
      abandon.abort('timeout');
      running.abort();
      running.done.catch(() => undefined);
      return { status: 'error', message: `script ${step.module} did not finish within ${step.timeoutMs} ms: abandoned`, waitMs, ...withMeasurements(measurements) };
    }
  } catch (err) {
    if (ctx.signal.aborted) throw new Interrupted(String(ctx.signal.reason ?? 'interrupted'));
    if (interruption) throw interruption;
    const message = String((err as { message?: unknown } | null)?.message ?? err);
    return { status: 'fail', message: `script failed: ${message.slice(0, 300)}`, waitMs, ...withMeasurements(measurements) };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onRunAbort);
  }
  if (ctx.signal.aborted) throw new Interrupted(String(ctx.signal.reason ?? 'interrupted'));
  if (interruption) throw interruption;
  const failed = measurements.find((m) => m.outcome === 'fail');
  const marginal = measurements.some((m) => m.outcome === 'marginal');
  return { status: failed ? 'fail' : marginal ? 'marginal' : 'pass', message: reasons.length > 0 ? reasons.join('; ').slice(0, 500) : null, waitMs, ...withMeasurements(measurements) };
}

function withMeasurements(list: NonNullable<StepOutcome['measurement']>[]): Pick<StepOutcome, 'measurements'> {
  return list.length > 0 ? { measurements: list } : {};
}

export const scriptStep = defineStepKind<Def, CompiledScript>({
  type: 'script',
  schema,
  compile: (def, d) => ({ type: 'script', name: def.name, module: def.module, timeoutMs: def.timeoutMs ?? 10_000, retries: def.retries, realm: d.scripts ?? null }),
  async execute(ctx, step) {
    return runScript(ctx, step);
  },
});

