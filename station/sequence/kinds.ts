// The step kinds a sequence can use, listed once. A new kind is one module in steps/ (its schema,
// compile, checks and execute) and one line here; the sequence schema, the compiled form and the
// runner follow from this list. A group holds steps of any kind, so it is built here around the
// step schema itself.
import { z } from 'zod';
import { operatorWords, type OperatorWords } from './fields.js';
import type { CompileDefaults, Report } from './step-kind.js';
import { blessStep } from './steps/bless.js';
import { blinkupStep } from './steps/blinkup.js';
import { delayStep } from './steps/delay.js';
import { groupStepKind } from './steps/group.js';
import { identifyStep } from './steps/identify.js';
import { instrumentStep } from './steps/instrument.js';
import { interlockStep } from './steps/interlock.js';
import { measureStep } from './steps/measure.js';
import { powerStep } from './steps/power.js';
import { promptStep } from './steps/prompt.js';
import { scanStep } from './steps/scan.js';
import { scriptStep } from './steps/script.js';

const groupStep = groupStepKind({
  schema: z.lazy(() => stepSchema) as unknown as z.ZodType<{ type: string; name: string }>,
  compile: (def, d) => compileStep(def as StepDef, d),
  check: (def, path, report) => checkStep(def as StepDef, path, report),
});

export const STEP_KINDS = [identifyStep, interlockStep, blinkupStep, measureStep, promptStep, scanStep, delayStep, groupStep, powerStep, instrumentStep, scriptStep, blessStep] as const;

type Kinds = (typeof STEP_KINDS)[number];

/** A step as an engineer writes it, once parsed (defaults filled in); any kind may carry the operator's words. */
export type StepDef = Kinds extends infer K ? (K extends { compile(def: infer D, ...rest: never[]): unknown } ? D & OperatorWords : never) : never;
/** A step ready to run (regexes built, timeouts resolved), with its operator's words. */
export type CompiledStep = Kinds extends infer K ? (K extends { compile(...args: never[]): infer C } ? C & OperatorWords : never) : never;
export type StepType = StepDef['type'];

/** Any step, as its kind's schema says, with the operator's words every kind may carry. */
export const stepSchema: z.ZodType<StepDef> = z.discriminatedUnion(
  'type',
  STEP_KINDS.map((k) => (k.schema as unknown as z.ZodObject).extend(operatorWords)) as unknown as [z.ZodObject, ...z.ZodObject[]],
) as unknown as z.ZodType<StepDef>;

const BY_TYPE = new Map<string, Kinds>(STEP_KINDS.map((k) => [k.type, k]));

/** The kind of a step type (every parsed step has one). */
export function kindOf(type: string): Kinds {
  const kind = BY_TYPE.get(type);
  if (!kind) throw new Error(`no step kind "${type}"`);
  return kind;
}

export function compileStep(def: StepDef, defaults: CompileDefaults): CompiledStep {
  const compiled = (kindOf(def.type).compile as (d: StepDef, x: CompileDefaults) => CompiledStep)(def, defaults);
  // A kind's compile need not know of the operator's words: they ride along here.
  return { ...compiled, ...(def.operatorText !== undefined ? { operatorText: def.operatorText } : {}), ...(def.onFail !== undefined ? { onFail: def.onFail } : {}) };
}

/** The kind's own rules for one step (a limit that can be met, a group's inner steps). */
export function checkStep(def: StepDef, path: (string | number)[], report: Report): void {
  (kindOf(def.type).check as ((d: StepDef, p: (string | number)[], r: Report) => void) | undefined)?.(def, path, report);
}
