// What a step kind is: its schema (what an engineer writes), how it is compiled (regexes built once,
// defaults filled in), the checks a schema cannot say, and how it runs against one unit. Each kind
// is one module in station/sequence/steps/, listed once in kinds.ts; the runner
// (station/line/runner.ts) walks a sequence and calls each step's kind, and never grows a branch
// per kind. Kinds reach the world only through the StepContext the runner hands them.
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { DutConsole } from '../../drivers/console/console.js';
import type { Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import type { ParticleProduct } from '../../drivers/particle/options.js';
import type { ScanFields } from '../../drivers/scanner/scan-fields.js';
import type { DeviceIdentity, StepStatus } from '../model.js';
import type { LocalText } from './fields.js';
import type { Limit } from './limits.js';

export { dutCommand, identityField, localText, regexSource, stepBase, textOf, translationsOf, type IdentityField, type LocalText, type OperatorWords } from './fields.js';

/** Reports a problem at a path inside the sequence ("steps[3].limit.low"). */
export type Report = (path: (string | number)[], message: string) => void;

/** Sequence-wide values a step's compiled form may take (its default timeout, its scripts). */
export interface CompileDefaults {
  defaultTimeoutMs: number;
  /** What runs the sequence's scripts (their worker thread); script steps start their runs through it. */
  scripts?: import('./script-worker.js').ScriptEngine;
}

/** Every compiled step has these; kinds add their own fields. */
export interface CompiledBase {
  type: string;
  name: string;
  timeoutMs: number;
  retries: number;
  /** Plain words for operators instead of the name (fields.ts operatorWords), in one language or several. */
  operatorText?: LocalText | undefined;
  /** The operator's next action when a unit fails here. */
  onFail?: { action: 'reject-bin' | 'retest' | 'call-engineer'; text?: LocalText | undefined } | undefined;
}

// ---- running ------------------------------------------------------------------------------------

export interface StepOutcome {
  status: StepStatus;
  message: string | null;
  /** Time the step waited for a shared instrument before it could run. */
  waitMs?: number;
  measurement?: {
    name: string;
    valueNum: number | null;
    valueText: string | null;
    unit: string | null;
    outcome: 'pass' | 'marginal' | 'fail';
    limitJson: string | null;
    /** The instrument that took it: its id, and its serial number from *IDN? (traceability). */
    instrument?: { id: string; serial: string | null } | null;
  };
  /** More than one measurement (a script records as many as it judges). */
  measurements?: NonNullable<StepOutcome['measurement']>[];
}

/** Where a measurement comes from when a bench instrument takes it (a measure step's `source`). */
export type InstrumentSource =
  | { instrument: string; function: 'voltage-dc' | 'current-dc' | 'resistance'; range?: number | undefined; samples: number; intervalMs?: number | undefined }
  | { instrument: string; function: 'voltage' | 'current'; channel?: number | undefined };

/** A value a bench instrument measured (value null: an overload). */
export interface InstrumentReading {
  value: number | null;
  unit: string;
  overload: boolean;
  instrument: { id: string; serial: string | null };
  /** Time spent waiting for the instrument (and the switch routing to it) before measuring. */
  waitMs: number;
  min?: number | null;
  max?: number | null;
  samples?: number;
}

/**
 * The slot's fixture, as steps use it (station/fixture/ implements it): its DUT power and the
 * bench instruments it shares with other slots. Every call takes the instruments' locks only for
 * its own commands (never across a DUT answer or a prompt) and says how long it waited.
 * A fault of the fixture (an instrument silent, gone or the wrong one) throws StationFault: the
 * run is interrupted, never failed, for it.
 */
export interface FixtureAccess {
  /** Switches the slot's DUT power: on (and the unit's boot awaited), off, or off then on. */
  power(action: 'on' | 'off' | 'cycle', opts: { settleMs: number; offMs: number; bootTimeoutMs: number; signal: AbortSignal }): Promise<{ waitMs: number; tripped: boolean }>;
  measure(source: InstrumentSource, signal: AbortSignal): Promise<InstrumentReading>;
  /** Raw SCPI on a generic instrument: the writes, then the query's answer (null without one). */
  scpi(
    instrument: string,
    exchange: { write: string[]; query?: string | undefined },
    signal: AbortSignal,
  ): Promise<{ answer: string | null; waitMs: number; instrument: { id: string; serial: string | null } }>;
}

/** What a run knows of its unit so far; steps read and fill it. */
export interface RunState {
  identity: DeviceIdentity | null;
  rework: boolean;
  attempt: number;
  /** Every field the unit reported at identify, and its label's (secrets left out): a product
   *  variant is chosen by one of them. */
  fields: Record<string, string>;
  /** The product variant whose limits the run uses (null: the steps' own). */
  variant: string | null;
}

/** A scan prompt's check: the scan's value (fields split, checked) or the reason it is not usable. */
export type ScanCheck<T> = (text: string) => { ok: true; value: T; shown: string } | { ok: false; reason: string };

/** Operator prompts, as steps use them (station/line/prompts.ts implements it). */
export interface Prompts {
  /** `i18n`: the prompt's text in other languages (by language tag), when the sequence gives them. */
  ask(req: { slot: number; runId: string; text: string; answers: string[]; timeoutMs: number; signal: AbortSignal; i18n?: PromptTranslations | undefined }): Promise<string>;
  /** `expected`: what to scan in the operator's words; `format`: the same as an engineer reads it (folded under details). */
  askScan<T>(req: {
    slot: number;
    runId: string;
    text: string;
    expected: string;
    format?: string;
    check: ScanCheck<T>;
    timeoutMs: number;
    signal: AbortSignal;
    i18n?: PromptTranslations | undefined;
  }): Promise<T>;
}

/** A prompt's words in other languages, by language tag: its text, and for a scan what to scan. */
export interface PromptTranslations {
  text?: Record<string, string>;
  expected?: Record<string, string>;
}

/** Factory BlinkUp, as the blinkup step uses it (station/line/blinkup.ts implements it). */
export interface BlinkUpRunner {
  run(
    ctx: { runId: string; slot: number; console: DutConsole; emitter: Emitter | ImpFixture | null; signal: AbortSignal },
    step: { timeoutMs: number; tokenRetries: number; noAnswerRetries: number },
    onDetail: (words: string | null) => void,
  ): Promise<{ status: StepStatus; message: string | null; alreadyBlessed?: boolean }>;
}

/** The plant's MES, as the interlock step uses it (drivers/mes/client.ts implements it; docs/mes.md). */
export interface MesRouting {
  readonly operation: string;
  /** What a unit's run does when the MES cannot be asked (station config mes.offlinePolicy). */
  readonly offlinePolicy: 'block' | 'allow-and-flag';
  /** The MES's answer for the unit here; rejects (MesUnreachable) after its bounded tries, or with
   *  the signal's reason when the run is interrupted. `onRetry` hears that a try failed, in words. */
  route(deviceId: string, opts: { signal: AbortSignal; onRetry?: (words: string) => void }): Promise<{ allowed: boolean; reason: string }>;
}

export interface StepContext {
  runId: string;
  slot: number;
  signal: AbortSignal;
  console: DutConsole;
  emitter: Emitter | ImpFixture | null;
  log: Logger;
  prompts: Prompts;
  /** How unit labels are laid out (station labels.format). */
  labelFormat: ScanFields;
  /** Hex characters in this sequence's Device IDs. */
  deviceIdHexLength: number;
  /** Factory BlinkUp, when the station has tokens, credentials and emitters. */
  blinkup: BlinkUpRunner | null;
  state: RunState;
  /** A DUT request; an interruption (abort, a lost port) escapes as Interrupted, other errors reject as they are.
   *  `signal` (default: the run's) lets a step withdraw its own requests. */
  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string>;
  /** Whether `command` is one only the runner sends: the sequence's bless command or its fail command (with any code). */
  isVerdictCommand(command: string): boolean;
  /** The limit to judge a step's value by: the run's variant's for that step, else its own. */
  limitFor(step: { name: string; limit?: Limit | undefined; limitRe?: RegExp | null }): { limit: Limit | undefined; limitRe: RegExp | null };
  /** Links the identified device to the run: this attempt's number and whether it was blessed before. */
  attachDevice(deviceId: string): { attempt: number; previouslyBlessed: boolean };
  /** Seals and stores a label's secret fields (the mobile secret) for the device. */
  storeSecrets(deviceId: string, secrets: Record<string, string>): void;
  onIdentified(identity: DeviceIdentity, attempt: number, rework: boolean): void;
  /** Words for the slot while a long step works (BlinkUp progress); null clears them. */
  onDetail(words: string | null): void;
  /**
   * Runs `steps` (a group's) once, as attempt `attempt`, each recorded under the step that asked;
   * resolves with how they went together: pass (marginal if any was), or the first that did not
   * pass. Stops at that one.
   */
  runSteps(steps: readonly CompiledBase[], attempt: number): Promise<StepOutcome>;
  /** The slot's fixture (power, instruments); null for a slot with none. */
  fixture: FixtureAccess | null;
  /** The plant's MES, when the station has one configured (station config `mes`). */
  mes?: MesRouting | null;
  /** The Particle product blessed units join (the uplink's particle sink): identify checks the
   *  unit's platform and 24-character Device ID against it. */
  particle?: ParticleProduct | null;
}

// ---- the kind ---------------------------------------------------------------------------------

export interface StepKind<Def extends { type: string; name: string }, Compiled extends CompiledBase> {
  type: Def['type'];
  schema: z.ZodType<Def, unknown>;
  compile(def: Def, defaults: CompileDefaults): Compiled;
  /** Rules the schema cannot say (a limit that can be met, a capture group present). */
  check?(def: Def, path: (string | number)[], report: Report): void;
  execute(ctx: StepContext, step: Compiled): Promise<StepOutcome>;
  /**
   * How the runner treats it: "verdict" for the bless step (the last, never retried, the run's
   * blessing); "identity" for identify (nothing more can be said of a unit it failed); "gate" for
   * a step that decides whether the unit may be tested at all (the MES interlock): nothing more is
   * done to a unit it did not let through, whatever stopOnFailure says.
   */
  role?: 'verdict' | 'identity' | 'gate';
}

/** Typed helper: a kind's module exports `defineStepKind({...})`. */
export function defineStepKind<Def extends { type: string; name: string }, Compiled extends CompiledBase>(kind: StepKind<Def, Compiled>): StepKind<Def, Compiled> {
  return kind;
}

/** The number of capture groups a regex source has (0 when it does not compile). */
export function captureGroupCount(source: string): number {
  try {
    return (new RegExp(`${source}|`).exec('')?.length ?? 1) - 1;
  } catch {
    return 0;
  }
}
