// Any SCPI instrument, driven by raw commands from a sequence: a query returns the answer line, a
// write is followed by the error-queue check like every other command. The session's rules hold
// (the *IDN? check at connect, one command at a time, timeouts, staying in step).
import { InstrumentError } from './instrument-error.js';
import { Instrument, type InstrumentInit } from './instrument.js';
import { MODELS } from './models.js';
import type { CommandOptions } from './scpi-session.js';
import { isPrintableAscii, parseNumber } from './scpi-values.js';

export const MAX_RAW_COMMAND_CHARS = 1000;

export class ScpiInstrument extends Instrument {
  readonly kind = 'scpi' as const;

  constructor(init: InstrumentInit) {
    super(init);
    if (MODELS[init.model].kind !== 'scpi') throw new Error(`${init.id}: model ${init.model} is not a generic SCPI instrument`);
  }

  query(command: string, opts: CommandOptions = {}): Promise<string> {
    const bad = this.check(command);
    return bad ? Promise.reject(bad) : this.session.query(command, opts);
  }

  write(command: string, opts: CommandOptions = {}): Promise<void> {
    const bad = this.check(command);
    return bad ? Promise.reject(bad) : this.session.write(command, opts);
  }

  /** A query whose answer must be a number; an overload (9.9E37) fails it as `overload`. */
  async queryNumber(command: string, opts: CommandOptions = {}): Promise<number> {
    const answer = await this.query(command, opts);
    const parsed = parseNumber(answer);
    if (parsed.kind === 'overload') throw new InstrumentError('overload', `${this.id} reported an overload (${parsed.raw}) for "${command}"`, { instrumentId: this.id, command });
    if (parsed.kind === 'garbage') throw new InstrumentError('garbage', `${this.id} answered "${command}" with "${parsed.raw}", not a number`, { instrumentId: this.id, command });
    return parsed.value;
  }

  /** One line of printable text: a terminator inside would split it into two commands. */
  private check(command: string): InstrumentError | null {
    if (command.length === 0 || command.length > MAX_RAW_COMMAND_CHARS || !isPrintableAscii(command) || command.includes('\t')) {
      return this.invalid(`a raw command must be 1 to ${MAX_RAW_COMMAND_CHARS} printable characters on one line`);
    }
    return null;
  }
}
