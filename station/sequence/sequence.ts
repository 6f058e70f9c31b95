// Test sequences are data: this module owns their schema (composed from the step kinds of
// kinds.ts), the load-time checks that reject an impossible sequence before any DUT sees it, the
// content hash that versions them, and the compiled form (regexes built once) the runner executes.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkStep, compileStep, stepSchema, type CompiledStep, type StepDef } from './kinds.js';
import { limitSchema, type Limit } from './limits.js';
import { checkLimit } from './steps/measure.js';
import { checkModulePath, loadScripts, ScriptError, type ScriptReader, type ScriptSources } from './script-sandbox.js';
import type { ScriptEngine } from './script-worker.js';
import type { Report } from './step-kind.js';

export type { CompiledStep, StepDef, StepType } from './kinds.js';
export type { Limit } from './limits.js';
export type { IdentityField } from './step-kind.js';

export { stepSchema };

/**
 * A product variant: limit overlays for the units whose `when.field` (a field the DUT reports at
 * identify, or its label carries) equals `when.equals`. The first variant that matches is the run's;
 * a run no variant matches uses the steps' own limits. The run keeps the variant's name.
 */
const variantSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, 'must be 1-40 letters, digits, "_", "-" or "." starting with a letter or digit'),
  when: z.strictObject({ field: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/, 'must be a field name (letters, digits, _)'), equals: z.string().min(1).max(100) }),
  /** By step name: the limit this variant judges that step's value by. */
  limits: z.record(z.string().min(1).max(80), limitSchema),
});

export const sequenceSchema = z
  .strictObject({
    name: z.string().min(1).max(80),
    description: z.string().max(1000).optional(),
    stopOnFailure: z.boolean().default(true),
    defaultTimeoutMs: z.number().int().min(1).max(3_600_000).default(5000),
    /** What tells a failed DUT so (its LED goes red): `{code}` is the failing step's name as a code.
     *  Absent: "FAIL {code}" (the tagged firmware); an AT module might take "AT#FAIL {code}". */
    failCommand: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII with no line breaks')
      .optional(),
    steps: z.array(stepSchema).min(2).max(500),
    variants: z.array(variantSchema).max(50).optional(),
  })
  .superRefine((seq, ctx) => checkSequenceRules(seq, (path, message) => ctx.addIssue({ code: 'custom', path, message })));
export type SequenceDef = z.infer<typeof sequenceSchema>;

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
    // The MES is asked before anything is done to the unit, and it can only be asked once the unit is known.
    if (!indexes && step.type === 'interlock' && i !== 1) {
      report([...path, 'type'], 'an interlock step must come first, right after the identify step (steps[1]): the MES is asked before anything is done to the unit');
    }
    if (step.type === 'interlock' && steps.findIndex((s) => s.type === 'interlock') !== i) report([...path, 'type'], 'a sequence has at most one interlock step');
    if (step.type === 'blinkup' && steps.findIndex((s) => s.type === 'blinkup') !== i) report([...path, 'type'], 'a sequence has at most one blinkup step');
    const earlier = names.get(step.name);
    if (earlier !== undefined) report([...path, 'name'], `duplicates the name of step ${earlier}`);
    names.set(step.name, at(i));
    checkStep(step, path, report);
  });
  if (!indexes) checkVariants(seq, report);
}

/** The bench instruments a sequence names (measure sources, instrument steps), groups included. */
export function instrumentsOf(def: Pick<SequenceDef, 'steps'>): string[] {
  const ids = new Set<string>();
  for (const s of allSteps(def.steps) as { source?: { instrument?: string }; instrument?: string }[]) {
    if (s.source?.instrument) ids.add(s.source.instrument);
    if (s.instrument) ids.add(s.instrument);
  }
  return [...ids];
}

/** Every step with a name, groups' inner steps included. */
function allSteps(steps: readonly { type: string; name: string; steps?: unknown }[]): { type: string; name: string; as?: 'number' | 'string'; limit?: Limit }[] {
  return steps.flatMap((s) => [s, ...(Array.isArray(s.steps) ? allSteps(s.steps as { type: string; name: string }[]) : [])]);
}

/**
 * A variant's limits name steps. In a sequence with script steps a name that is no step's is let
 * through (with a load warning, sequenceWarnings): a script's measurement of that name is judged by
 * it (ctx.measure looks the variant's limit up by the measurement's name).
 */
function checkVariants(seq: { steps: StepDef[]; variants?: { name: string; limits: Record<string, Limit> }[] | undefined }, report: Report): void {
  const steps = allSteps(seq.steps);
  const named = new Map(steps.map((s) => [s.name, s]));
  const scripted = steps.some((s) => s.type === 'script');
  const names = new Set<string>();
  seq.variants?.forEach((v, i) => {
    if (names.has(v.name)) report(['variants', i, 'name'], `duplicates variant "${v.name}"`);
    names.add(v.name);
    for (const [stepName, limit] of Object.entries(v.limits)) {
      const step = named.get(stepName);
      if (!step && !scripted) report(['variants', i, 'limits', stepName], 'names no step of this sequence');
      // A script's measurement may be a number or text: the limit is checked as for a number.
      else if (!step) checkLimit({ as: 'number', limit }, ['variants', i, 'limits', stepName], report);
      else if (!('limit' in step) && step.as === undefined) report(['variants', i, 'limits', stepName], `a ${step.type} step has no limit to replace`);
      else checkLimit({ as: step.as ?? 'number', limit }, ['variants', i, 'limits', stepName], report);
    }
  });
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

/**
 * The content hash: of the definition, and of its scripts' sources when it has any (a changed
 * script is a new version). A sequence without scripts hashes as it always did.
 */
export function sequenceHash(seq: SequenceDef, scripts: ScriptSources = {}): string {
  const hash = createHash('sha256').update(canonicalJson(seq));
  const modules = Object.keys(scripts).sort();
  if (modules.length > 0) {
    const digests = Object.fromEntries(
      modules.map((m) => [
        m,
        createHash('sha256')
          .update(scripts[m] as string)
          .digest('hex'),
      ]),
    );
    hash.update(`\0scripts:${canonicalJson(digests)}`);
  }
  return hash.digest('hex');
}

// ---- compiled form -------------------------------------------------------------------------

export interface CompiledVariant {
  name: string;
  field: string;
  equals: string;
  /** By step name: the limit, and its regex built once. */
  limits: Map<string, { limit: Limit; limitRe: RegExp | null }>;
}

export interface CompiledSequence {
  def: SequenceDef;
  hash: string;
  steps: CompiledStep[];
  variants: CompiledVariant[];
  /** The script modules' sources (entries and their local imports), by path; {} without scripts. */
  scripts: ScriptSources;
}

export function compileSequence(def: SequenceDef, scripts: { sources: ScriptSources; engine: ScriptEngine } | null = null): CompiledSequence {
  const defaults = { defaultTimeoutMs: def.defaultTimeoutMs, ...(scripts ? { scripts: scripts.engine } : {}) };
  const steps = def.steps.map((step) => compileStep(step, defaults));
  const variants = (def.variants ?? []).map((v) => ({
    name: v.name,
    field: v.when.field,
    equals: v.when.equals,
    limits: new Map(Object.entries(v.limits).map(([step, limit]) => [step, { limit, limitRe: limit.kind === 'regex' ? new RegExp(limit.pattern) : null }])),
  }));
  return { def, hash: sequenceHash(def, scripts?.sources), steps, variants, scripts: scripts?.sources ?? {} };
}

/**
 * What is doubtful but not wrong:
 * - a product variant chosen by a field that nothing is known to report (the identity fields, the
 *   fields the identify step declares, the label's `labelFields`). Such a variant matches only if
 *   the DUT reports the field anyway; otherwise its units are judged by the base limits.
 * - a variant limit that names no step (let through only in a sequence with script steps): it
 *   judges only a script's measurement of that name.
 */
export function sequenceWarnings(seq: CompiledSequence, labelFields: readonly string[] = []): string[] {
  const identify = seq.steps[0];
  const known = new Set(['deviceId', 'mac', 'iccid', 'imei', ...labelFields, ...(identify?.type === 'identify' ? (identify.fields ?? []) : [])]);
  const stepNames = new Set(allSteps(seq.def.steps).map((s) => s.name));
  return seq.variants.flatMap((v, i) => [
    ...(known.has(v.field)
      ? []
      : [
          `variants[${i}].when.field: no field "${v.field}" is declared by the identify step or the label: the variant "${v.name}" matches only if the DUT reports "${v.field}" anyway, although the identify step does not declare it (declare it in its "fields" to silence this)`,
        ]),
    ...[...v.limits.keys()].filter((name) => !stepNames.has(name)).map((name) => `variants[${i}].limits.${name}: names no step; it applies only if a script measures "${name}"`),
  ]);
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

/** Every script step of a sequence (groups included), with its path. */
function scriptSteps(steps: readonly { type: string; steps?: unknown; module?: string }[], prefix = ''): { module: string; path: string }[] {
  return steps.flatMap((s, i) => [
    ...(s.type === 'script' && s.module !== undefined ? [{ module: s.module, path: `${prefix}steps[${i}].module` }] : []),
    ...(Array.isArray(s.steps) ? scriptSteps(s.steps as typeof steps, `${prefix}steps[${i}].`) : []),
  ]);
}

/**
 * Parses and compiles a sequence from unknown JSON, or throws SequenceError listing every problem.
 * A sequence with script steps needs `scripts`, where their modules are read from (the station's
 * folder on disk, or a stored version's sources).
 */
export function loadSequence(raw: unknown, source: string, opts: { scripts?: ScriptReader } = {}): CompiledSequence {
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
  const scripts = scriptSteps(parsed.data.steps);
  if (scripts.length === 0) return compileSequence(parsed.data);
  const problems: string[] = [];
  for (const s of scripts) {
    const bad = checkModulePath(s.module);
    if (bad) problems.push(`${s.path}: ${bad}`);
  }
  if (!opts.scripts) problems.push(`${scripts[0]?.path}: script steps need the station's folder to read their modules from`);
  if (problems.length > 0) throw new SequenceError(source, problems);
  try {
    return compileSequence(parsed.data, loadScripts([...new Set(scripts.map((s) => s.module))], opts.scripts as ScriptReader));
  } catch (err) {
    if (!(err instanceof ScriptError)) throw err;
    const at = scripts.find((s) => s.module === err.module)?.path ?? scripts[0]?.path ?? 'steps';
    throw new SequenceError(source, [`${at}: ${err.message}`]);
  }
}
