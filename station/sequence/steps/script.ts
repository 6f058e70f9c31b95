// script: a step written in TypeScript, run in the sequence's script worker (script-sandbox.ts,
// script-realm.ts and script-worker.ts have the fence):
// `{"type": "script", "name", "module": "sequences/calibrate-rtc.ts", "timeoutMs"}`. The module's
// default function gets a ctx (sequences/station-script.d.ts declares it): the DUT console (send,
// expect), the fixture's instruments, measure() judged by the same limit code as every measurement,
// prompt(), the unit's identity and fields, a logger, sleep() and an abort flag. It cannot bless
// (the sequence's bless and fail commands are refused), nor reach the store, the token vault, the
// network or files. A script that throws fails the step with its message; one that fails because
// the DUT did not answer (each command waits the sequence's default timeout unless it names one)
// errors, as a measure step would; one past its timeout is abandoned (its ctx reports aborted, its
// requests are withdrawn, its worker is stopped if it keeps running) and the step errors. A lost
// DUT port, an abort or a fault of the fixture interrupts the run, whatever the script does with it.
import { z } from 'zod';
import { limitSchema, type Limit } from '../limits.js';
import { Interrupted, StationFault } from '../run-errors.js';
import type { ScriptHost } from '../script-realm.js';
import { ScriptFailure, type ScriptEngine } from '../script-worker.js';
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
  /** What runs the sequence's scripts (null until the sequence loads them). */
  engine: ScriptEngine | null;
  /** A DUT command's timeout when the script names none: the sequence's default, within the step's. */
  commandTimeoutMs: number;
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
  const engine = step.engine;
  if (!engine) throw new StationFault(`the script ${step.module} was not loaded with the sequence`, true);
  const abandon = new AbortController();
  const signal = AbortSignal.any([ctx.signal, abandon.signal]);
  const measurements: NonNullable<StepOutcome['measurement']>[] = [];
  /** Why each failed or marginal measurement was judged so, in the limit code's words. */
  const reasons: string[] = [];
  let waitMs = 0;
  /** What ends the run rather than the step: a lost DUT port, an abort, a fault of the fixture. */
  let interruption: Interrupted | StationFault | null = null;
  /** The last DUT request that failed (no answer, garbage): a script that fails with it errors, as a measure step would. */
  let dutError: string | null = null;
  const keep = <T>(work: Promise<T>, dut: boolean): Promise<T> =>
    work.catch((err: unknown) => {
      if ((err instanceof Interrupted || err instanceof StationFault) && !abandon.signal.aborted) interruption ??= err;
      else if (dut) dutError = (err as Error).message;
      throw err;
    });

  const send = async (command: string, timeoutMs: number | undefined): Promise<string> => {
    if (ctx.isVerdictCommand(command)) throw new Error(`a script cannot send "${command.trim().slice(0, 40)}": blessing and failing the unit are the runner's`);
    return keep(ctx.request(command, timeoutMs ?? step.commandTimeoutMs, signal), true);
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
      const reading = await keep(ctx.fixture.measure(parseArgs(sourceSchema, source, 'instruments.measure source'), signal), false);
      waitMs += reading.waitMs;
      return {
        value: reading.value,
        unit: reading.unit,
        overload: reading.overload,
        instrument: reading.instrument,
        min: reading.min ?? null,
        max: reading.max ?? null,
        samples: reading.samples ?? 1,
      };
    },
    'instrument.scpi': async ([id, exchange]) => {
      if (!ctx.fixture) throw new Error('this slot has no bench instruments');
      const done = await keep(ctx.fixture.scpi(String(id), parseArgs(scpiExchange, exchange, 'instruments.scpi'), signal), false);
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
      ctx.log.info({ slot: ctx.slot, runId: ctx.runId, script: step.module, fields }, message.slice(0, 500));
    },
  };

  const running = engine.start(step.module, host);
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
    const message = String((err as { message?: unknown } | null)?.message ?? err).slice(0, 300);
    // The script's own failure fails the unit; its worker stopping, or the DUT not answering, is an error of the step.
    if ((err instanceof ScriptFailure && err.byStation) || message === dutError) return { status: 'error', message: `script ${step.module}: ${message}`, waitMs, ...withMeasurements(measurements) };
    return { status: 'fail', message: `script failed: ${message}`, waitMs, ...withMeasurements(measurements) };
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
  compile: (def, d) => {
    const timeoutMs = def.timeoutMs ?? 10_000;
    return { type: 'script', name: def.name, module: def.module, timeoutMs, retries: def.retries, engine: d.scripts ?? null, commandTimeoutMs: Math.min(d.defaultTimeoutMs, timeoutMs) };
  },
  async execute(ctx, step) {
    return runScript(ctx, step);
  },
});
