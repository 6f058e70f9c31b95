// The step kinds a sequence can use, listed once. A new kind is one module in steps/ (its schema,
// compile, checks and execute) and one line here; the sequence schema, the compiled form and the
// runner follow from this list.
import { blessStep } from './steps/bless.js';
import { blinkupStep } from './steps/blinkup.js';
import { delayStep } from './steps/delay.js';
import { identifyStep } from './steps/identify.js';
import { measureStep } from './steps/measure.js';
import { promptStep } from './steps/prompt.js';
import { scanStep } from './steps/scan.js';

export const STEP_KINDS = [identifyStep, blinkupStep, measureStep, promptStep, scanStep, delayStep, blessStep] as const;

type Kinds = (typeof STEP_KINDS)[number];

/** A step as an engineer writes it, once parsed (defaults filled in). */
export type StepDef = Kinds extends infer K ? (K extends { compile(def: infer D, ...rest: never[]): unknown } ? D : never) : never;
/** A step ready to run (regexes built, timeouts resolved). */
export type CompiledStep = Kinds extends infer K ? (K extends { compile(...args: never[]): infer C } ? C : never) : never;
export type StepType = StepDef['type'];

const BY_TYPE = new Map<string, Kinds>(STEP_KINDS.map((k) => [k.type, k]));

/** The kind of a step type (every parsed step has one). */
export function kindOf(type: string): Kinds {
  const kind = BY_TYPE.get(type);
  if (!kind) throw new Error(`no step kind "${type}"`);
  return kind;
}
