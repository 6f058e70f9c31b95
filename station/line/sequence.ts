// Test sequences are data: this module owns their schema, the load-time checks that reject an
// impossible sequence before any DUT sees it, the content hash that versions them, and the compiled
// form (regexes built once) the runner executes.
import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A DUT command: printable ASCII, no line breaks (the protocol is line-framed). */
const dutCommand = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII with no line breaks and not start with a space');

const regexSource = z.string().min(1).max(500).superRefine((src, ctx) => {
  try {
    new RegExp(src);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(err as Error).message}` });
  }
});

const stepBase = {
  name: z.string().min(1).max(80),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  retries: z.number().int().min(0).max(10).default(0),
};

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

/** Identity fields a label can carry and a step can cross-check against the DUT's answer. */
const identityField = z.enum(['deviceId', 'mac', 'iccid', 'imei']);
export type IdentityField = z.infer<typeof identityField>;

const identifyStep = z.strictObject({
  ...stepBase,
  type: z.literal('identify'),
  command: dutCommand.default('IDENT'),
  /** Hex characters in a Device ID: 16 for imp modules, 24 for Particle devices. */
  deviceIdHexLength: z.number().int().min(8).max(64).default(16),
  requireCellular: z.boolean().default(false),
  /** Also scan the unit's label (station labels.format) and require it to match what the DUT
   *  reports: a mismatch fails the DUT with both values named. */
  label: z
    .strictObject({
      text: z.string().min(1).max(300).default('Scan the unit label'),
      match: z.array(identityField).min(1).max(4).default(['deviceId']),
      timeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    })
    .optional(),
});
const measureStep = z.strictObject({
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
const promptStep = z.strictObject({
  ...stepBase,
  type: z.literal('prompt'),
  text: z.string().min(1).max(300),
  answers: z.array(z.string().min(1).max(40)).min(1).max(8).default(['yes', 'no']),
  /** Answers that pass the step. */
  pass: z.array(z.string().min(1).max(40)).min(1).default(['yes']),
});
/** An operator scan (a scanner routed to the slot, or typed on the dashboard): a label in the
 *  station's labels.format, one identity field, or text matching a pattern. A scan in the wrong
 *  format is refused and the prompt stays open, saying what was expected. */
const scanStep = z.strictObject({
  name: stepBase.name,
  type: z.literal('scan'),
  text: z.string().min(1).max(300),
  expect: z.enum(['label', 'deviceId', 'mac', 'iccid', 'imei', 'pattern']).default('label'),
  /** For expect "pattern": the whole scan must match it. */
  pattern: regexSource.optional(),
  /** Fields that must equal the DUT's (for expect "label", or the one field expected). */
  match: z.array(identityField).max(4).default([]),
  timeoutMs: z.number().int().min(1000).max(3_600_000).optional(),
});
// A delay has no timeout or retries; a blessing is never retried (a second BLESS would read as rework).
const delayStep = z.strictObject({ name: stepBase.name, type: z.literal('delay'), ms: z.number().int().min(0).max(600_000) });
/** Factory BlinkUp: token, credentials and light; the step runs its own retries (station/line/blinkup.ts). */
const blinkupStep = z.strictObject({
  name: stepBase.name,
  type: z.literal('blinkup'),
  /** How long to wait for the DUT's enrollment answer after the last symbol. */
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /** Fresh tokens to try after a token is rejected as invalid or expired. */
  tokenRetries: z.number().int().min(0).max(5).default(2),
  /** BlinkUps to repeat when the DUT does not answer or cannot read the frame, before asking the
   *  operator to re-seat it. */
  noAnswerRetries: z.number().int().min(0).max(5).default(1),
});
const blessStep = z.strictObject({ name: stepBase.name, timeoutMs: stepBase.timeoutMs, type: z.literal('bless'), command: dutCommand.default('BLESS') });

export const stepSchema = z.discriminatedUnion('type', [identifyStep, blinkupStep, measureStep, promptStep, scanStep, delayStep, blessStep]);
export type StepDef = z.infer<typeof stepSchema>;
export type StepType = StepDef['type'];

export const sequenceSchema = z
  .strictObject({
    name: z.string().min(1).max(80),
    description: z.string().max(1000).optional(),
    stopOnFailure: z.boolean().default(true),
    defaultTimeoutMs: z.number().int().min(1).max(3_600_000).default(5000),
    steps: z.array(stepSchema).min(2).max(500),
  })
  .superRefine((seq, ctx) => checkSequenceRules(seq, (path, message) => ctx.addIssue({ code: 'custom', path, message })));
export type SequenceDef = z.infer<typeof sequenceSchema>;

type Report = (path: (string | number)[], message: string) => void;

/**
 * The rules a schema cannot say: order of steps, unique names, limits that can be met.
 * `indexes` maps a partial list (the steps that parsed) back to their places in the original;
 * with it, rules about order are skipped, since positions in a partial list mean nothing.
 */
function checkSequenceRules(seq: { steps: StepDef[] }, report: Report, indexes?: number[]): void {
  const steps = seq.steps;
  const at = (i: number): number => indexes?.[i] ?? i;
  if (!indexes) {
    if (steps[0]?.type !== 'identify') report(['steps', 0, 'type'], 'the first step must be an identify step');
    if (steps.at(-1)?.type !== 'bless') report(['steps', steps.length - 1, 'type'], 'the last step must be a bless step');
  }
  const names = new Map<string, number>();
  steps.forEach((step, i) => {
    const path = ['steps', at(i)];
    if (!indexes && step.type === 'identify' && i !== 0) report([...path, 'type'], 'only the first step may identify the DUT');
    if (!indexes && step.type === 'bless' && i !== steps.length - 1) report([...path, 'type'], 'only the last step may bless');
    if (step.type === 'blinkup' && steps.findIndex((s) => s.type === 'blinkup') !== i) report([...path, 'type'], 'a sequence has at most one blinkup step');
    const earlier = names.get(step.name);
    if (earlier !== undefined) report([...path, 'name'], `duplicates the name of step ${earlier}`);
    names.set(step.name, at(i));
    if (step.type === 'measure') checkMeasure(step, path, report);
    if (step.type === 'scan') {
      if (step.expect === 'pattern' && step.pattern === undefined) report([...path, 'pattern'], 'is required when expect is "pattern"');
      if (step.expect !== 'pattern' && step.pattern !== undefined) report([...path, 'pattern'], 'is only used with expect "pattern"');
      if (step.expect !== 'label' && step.expect !== 'pattern') {
        for (const [j, f] of step.match.entries()) if (f !== step.expect) report([...path, 'match', j], `a scan of one ${step.expect} can only match ${step.expect}`);
      }
    }
    if (step.type === 'prompt') {
      for (const [j, answer] of step.pass.entries()) {
        if (!step.answers.includes(answer)) report([...path, 'pass', j], `"${answer}" is not one of the answers`);
      }
    }
  });
}

function checkMeasure(step: Extract<StepDef, { type: 'measure' }>, path: (string | number)[], report: Report): void {
  if (step.capture !== undefined && captureGroupCount(step.capture) < 1) {
    report([...path, 'capture'], 'needs a capture group, for example "v=([0-9.]+)"');
  }
  const limit = step.limit;
  if (!limit) return;
  if (step.capture === undefined) report([...path, 'limit'], 'a limit needs a capture to measure against');
  if (limit.kind === 'range') {
    if (step.as !== 'number') report([...path, 'limit'], 'a range limit needs "as": "number"');
    const { low, high, marginalLow, marginalHigh } = limit;
    if (low === undefined && high === undefined) report([...path, 'limit'], 'a range needs low, high or both');
    if (low !== undefined && high !== undefined && low > high) report([...path, 'limit', 'low'], `low ${low} is above high ${high}`);
    if (marginalLow !== undefined && (low === undefined || marginalLow < low)) {
      report([...path, 'limit', 'marginalLow'], 'must be at or above low');
    }
    if (marginalHigh !== undefined && (high === undefined || marginalHigh > high)) {
      report([...path, 'limit', 'marginalHigh'], 'must be at or below high');
    }
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

function captureGroupCount(source: string): number {
  try {
    return (new RegExp(`${source}|`).exec('')?.length ?? 1) - 1;
  } catch {
    return 0;
  }
}

/** Canonical JSON: keys sorted, so the hash depends on content, not on key order or whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sequenceHash(seq: SequenceDef): string {
  return createHash('sha256').update(canonicalJson(seq)).digest('hex');
}

// ---- compiled form -------------------------------------------------------------------------

export type CompiledStep =
  | (Extract<StepDef, { type: 'identify' }> & { timeoutMs: number })
  | (Extract<StepDef, { type: 'measure' }> & { timeoutMs: number; captureRe: RegExp | null; limitRe: RegExp | null })
  | (Extract<StepDef, { type: 'prompt' }> & { timeoutMs: number })
  | (Extract<StepDef, { type: 'scan' }> & { timeoutMs: number; retries: 0; patternRe: RegExp | null })
  | (Extract<StepDef, { type: 'delay' }> & { timeoutMs: number; retries: 0 })
  | (Extract<StepDef, { type: 'blinkup' }> & { retries: 0 })
  | (Extract<StepDef, { type: 'bless' }> & { timeoutMs: number; retries: 0 });

export interface CompiledSequence {
  def: SequenceDef;
  hash: string;
  steps: CompiledStep[];
}

export function compileSequence(def: SequenceDef): CompiledSequence {
  const steps = def.steps.map((step): CompiledStep => {
    if (step.type === 'delay') return { ...step, timeoutMs: step.ms, retries: 0 };
    if (step.type === 'blinkup') return { ...step, retries: 0 };
    if (step.type === 'bless') return { ...step, timeoutMs: step.timeoutMs ?? def.defaultTimeoutMs, retries: 0 };
    if (step.type === 'scan') return { ...step, timeoutMs: step.timeoutMs ?? 300_000, retries: 0, patternRe: step.pattern ? new RegExp(`^(?:${step.pattern})$`, 'u') : null };
    const timeoutMs = step.timeoutMs ?? (step.type === 'prompt' ? 300_000 : def.defaultTimeoutMs);
    if (step.type === 'measure') {
      return {
        ...step,
        timeoutMs,
        captureRe: step.capture ? new RegExp(step.capture) : null,
        limitRe: step.limit?.kind === 'regex' ? new RegExp(step.limit.pattern) : null,
      };
    }
    return { ...step, timeoutMs };
  });
  return { def, hash: sequenceHash(def), steps };
}

export class SequenceError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`sequence ${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SequenceError';
  }
}

export function formatIssuePath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out || '(root)';
}

/** Parses and compiles a sequence from unknown JSON, or throws SequenceError listing every problem. */
export function loadSequence(raw: unknown, source: string): CompiledSequence {
  const parsed = sequenceSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${formatIssuePath('', i.path)}: ${i.message}`);
    // zod skips the cross-step rules when any step fails its own schema: run them over the steps
    // that did parse, so one typo does not hide every other problem.
    const steps = (raw as { steps?: unknown } | null)?.steps;
    if (Array.isArray(steps)) {
      const parsedSteps = steps.map((s) => stepSchema.safeParse(s));
      if (parsedSteps.some((p) => !p.success)) {
        const good = parsedSteps.flatMap((p, i) => (p.success ? [{ step: p.data, index: i }] : []));
        checkSequenceRules(
          { steps: good.map((g) => g.step) },
          (path, message) => {
            const text = `${formatIssuePath('', path)}: ${message}`;
            if (!problems.includes(text)) problems.push(text);
          },
          good.map((g) => g.index),
        );
      }
    }
    throw new SequenceError(source, problems);
  }
  return compileSequence(parsed.data);
}
