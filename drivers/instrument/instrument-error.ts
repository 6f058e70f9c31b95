// A request to a bench instrument that got no good result. `message` is written for the operator
// and the engineer: it names the instrument id, the command, and quotes what the instrument said
// (its own error text, `-222,"Data out of range"`), never a bare "failed".

export type InstrumentErrorKind =
  /** No answer within the command's timeout. */
  | 'timeout'
  /** The port is not open, or was lost during the command. */
  | 'disconnected'
  /** An answer with control or non-ASCII bytes, an over-long line, or text that is not what the
   *  command returns (a number expected, say). */
  | 'garbage'
  /** The instrument put an error in its error queue (SYST:ERR?); the message quotes it. */
  | 'instrument-error'
  /** A different instrument answered *IDN? at the configured address. */
  | 'wrong-instrument'
  /** The instrument reported an overload (9.9E37) where a number was needed. */
  | 'overload'
  /** The model cannot do what was asked (OCP on a supply without remote OCP). */
  | 'unsupported'
  /** The request itself is out of bounds (channel 4 of a 3-channel supply). */
  | 'invalid'
  /** The caller gave up (a run interrupted) before the result came. */
  | 'aborted'
  /** The instrument driver was stopped. */
  | 'stopped';

export class InstrumentError extends Error {
  constructor(
    readonly kind: InstrumentErrorKind,
    message: string,
    readonly detail: {
      instrumentId: string;
      /** The command that failed, as sent (null for state errors). */
      command?: string | null;
      /** For `instrument-error`: every entry drained from the error queue, as the instrument wrote it. */
      instrumentErrors?: string[];
      /** For `instrument-error`: the SCPI code of the first entry (-222, ...). */
      code?: number | null;
    },
  ) {
    super(message);
    this.name = 'InstrumentError';
  }

  get instrumentId(): string {
    return this.detail.instrumentId;
  }

  get command(): string | null {
    return this.detail.command ?? null;
  }

  get code(): number | null {
    return this.detail.code ?? null;
  }

  /** The link, not the measurement, failed: a run using it is interrupted, never failed for it. */
  get lostPort(): boolean {
    return this.kind === 'disconnected' || this.kind === 'aborted' || this.kind === 'stopped';
  }
}
