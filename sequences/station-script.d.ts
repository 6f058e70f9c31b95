// What a scripted step's module gets: `export default async function (ctx: ScriptContext) { ... }`.
// Shipped with the station so an editor autocompletes it (station/sequence/steps/script.ts runs it;
// docs/configuration.md, "script", says what each call does). Import it as a type only:
//   import type { ScriptContext } from './station-script';

/** A limit, as in a measure step (docs/configuration.md, "Limits"). */
export type Limit =
  { kind: 'range'; low?: number; high?: number; marginalLow?: number; marginalHigh?: number } | { kind: 'equals'; value: number | string; tolerance?: number } | { kind: 'regex'; pattern: string };

/** A bench instrument's reading source, as a measure step's `source`. */
export type InstrumentSource =
  | { instrument: string; function: 'voltage-dc' | 'current-dc' | 'resistance'; range?: number; samples?: number; intervalMs?: number }
  | { instrument: string; function: 'voltage' | 'current'; channel?: number };

export interface InstrumentReading {
  /** The mean of the samples; null for an overload. */
  value: number | null;
  unit: string;
  overload: boolean;
  instrument: { id: string; serial: string | null };
  min: number | null;
  max: number | null;
  samples: number;
}

export interface ScriptContext {
  /** The unit, as identify checked it. */
  readonly identity: { deviceId: string; mac: string; iccid: string | null; imei: string | null };
  /** Every field the unit reported at identify (and its label's, secrets left out). */
  readonly fields: Readonly<Record<string, string>>;
  /** The product variant whose limits the run uses, or null. */
  readonly variant: string | null;
  /** True once the step is abandoned (its timeout) or the run interrupted: stop soon. */
  readonly aborted: boolean;
  /** Called once when the step is abandoned or the run interrupted. */
  onAbort(handler: () => void): void;
  readonly dut: {
    /** Sends a command to the DUT; its answer. Rejects on an error answer, a timeout, garbage.
     *  The sequence's bless and fail commands are refused: a script never blesses. */
    send(command: string, options?: { timeoutMs?: number }): Promise<string>;
    /** Sends a command and matches its answer: the match (whole, then groups); rejects when it does not match. */
    expect(command: string, pattern: string, options?: { timeoutMs?: number }): Promise<string[]>;
  };
  readonly instruments: {
    /** A reading of a bench instrument (the slot's route and locks as a measure step's). */
    measure(source: InstrumentSource): Promise<InstrumentReading>;
    /** Raw SCPI on a generic instrument: the writes, then the query's answer (null without one). */
    scpi(instrument: string, exchange: { write?: string[]; query?: string }): Promise<string | null>;
  };
  /** Records a measurement judged by `limit` (the run's variant's limit for this name, if it has
   *  one): 'pass', 'marginal' or 'fail'. A failed one fails the step when the script returns. */
  measure(name: string, value: number | string, options?: { unit?: string; limit?: Limit }): Promise<'pass' | 'marginal' | 'fail'>;
  /** Asks the operator on the slot's tile; the answer chosen. */
  prompt(text: string, answers?: string[]): Promise<string>;
  sleep(ms: number): Promise<void>;
  /** One line in the station's log, with the run and the script named. */
  log(message: string, fields?: Record<string, string | number | boolean | null>): void;
}
