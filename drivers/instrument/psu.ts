// A bench power supply powering the nests: per channel, the voltage and current limit, output on
// and off, voltage and current read back, and over-current protection with its trip read back (a
// tripped channel is a fixture fault: "short / over-current"). The commands come from the model
// table (models.ts); this file checks the request and fills them in.
import { InstrumentError } from './instrument-error.js';
import { Instrument, type InstrumentInit } from './instrument.js';
import { fillTemplate, MODELS, type PsuModel } from './models.js';
import { parseBoolean, parseNumber } from './scpi-values.js';

export interface PsuSettings {
  volts: number;
  currentLimitA: number;
  /** Over-current protection at the limit: the output switches off instead of limiting. Default:
   *  on where the model has remote OCP (modelSupports(model, 'ocp')), off elsewhere. */
  ocp?: boolean;
}

export type PsuQuantity = 'voltage' | 'current';

export interface PsuReading {
  instrumentId: string;
  serial: string;
  channel: number;
  quantity: PsuQuantity;
  value: number;
  unit: 'V' | 'A';
}

export interface PsuCommandOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class Psu extends Instrument {
  readonly kind = 'psu' as const;
  private readonly spec: PsuModel;

  constructor(init: InstrumentInit) {
    super(init);
    const model = MODELS[init.model];
    if (model.kind !== 'psu') throw new Error(`${init.id}: model ${init.model} is not a power supply`);
    this.spec = model;
  }

  get channels(): number {
    return this.spec.channels.length;
  }

  get hasOcp(): boolean {
    return this.spec.commands.ocpOn !== undefined && this.spec.commands.ocpTripped !== undefined;
  }

  /** Sets a channel's voltage and current limit, and its over-current protection. */
  configure(channel: number, settings: PsuSettings, opts: PsuCommandOptions = {}): Promise<void> {
    try {
      this.checkChannel(channel, this.channels);
      for (const [name, value] of [
        ['volts', settings.volts],
        ['currentLimitA', settings.currentLimitA],
      ] as const) {
        if (!Number.isFinite(value) || value < 0) throw this.invalid(`${name} must be a number of 0 or more, not ${value}`);
      }
      if (settings.ocp === true && !this.hasOcp) throw this.unsupported('has no over-current protection over SCPI (its output limits current instead)');
    } catch (err) {
      return Promise.reject(err);
    }
    const ocp = settings.ocp ?? this.hasOcp;
    const values = { ch: channel, volts: settings.volts, amps: settings.currentLimitA };
    const commands = [...this.spec.commands.configure, ...((ocp ? this.spec.commands.ocpOn : this.spec.commands.ocpOff) ?? [])].map((t) => fillTemplate(t, values));
    return this.session.batch(async (x) => {
      for (const command of commands) await x.write(command, { timeoutMs: opts.timeoutMs });
    }, opts.signal);
  }

  /** Switches a channel on (clearing a latched protection trip first) or off. */
  output(channel: number, on: boolean, opts: PsuCommandOptions = {}): Promise<void> {
    try {
      this.checkChannel(channel, this.channels);
    } catch (err) {
      return Promise.reject(err);
    }
    const commands = (on ? this.spec.commands.outputOn : this.spec.commands.outputOff).map((t) => fillTemplate(t, { ch: channel }));
    return this.session.batch(async (x) => {
      for (const command of commands) await x.write(command, { timeoutMs: opts.timeoutMs });
    }, opts.signal);
  }

  /** The channel's output voltage or current, as the supply measures it. */
  measure(channel: number, quantity: PsuQuantity, opts: PsuCommandOptions = {}): Promise<PsuReading> {
    try {
      this.checkChannel(channel, this.channels);
    } catch (err) {
      return Promise.reject(err);
    }
    const command = fillTemplate(quantity === 'voltage' ? this.spec.commands.measureVoltage : this.spec.commands.measureCurrent, { ch: channel });
    return this.session.query(command, opts).then((answer) => {
      const parsed = parseNumber(answer);
      if (parsed.kind === 'overload') throw new InstrumentError('overload', `${this.id} reported an overload (${parsed.raw}) for "${command}"`, { instrumentId: this.id, command });
      if (parsed.kind === 'garbage') throw new InstrumentError('garbage', `${this.id} answered "${command}" with "${parsed.raw}", not a number`, { instrumentId: this.id, command });
      return { instrumentId: this.id, serial: this.serial(), channel, quantity, value: parsed.value, unit: quantity === 'voltage' ? 'V' : 'A' };
    });
  }

  /** True when over-current protection has switched the channel off and not been cleared. */
  tripped(channel: number, opts: PsuCommandOptions = {}): Promise<boolean> {
    const query = this.spec.commands.ocpTripped;
    try {
      this.checkChannel(channel, this.channels);
      if (!query) throw this.unsupported('cannot report an over-current trip over SCPI');
    } catch (err) {
      return Promise.reject(err);
    }
    const command = fillTemplate(query, { ch: channel });
    const mask = (this.spec.commands as { ocpTrippedMask?: number }).ocpTrippedMask;
    return this.session.query(command, opts).then((answer) => {
      if (mask !== undefined) {
        const register = /^[+]?\d{1,10}$/.test(answer.trim()) ? Number(answer.trim()) : NaN;
        if (!Number.isInteger(register)) throw new InstrumentError('garbage', `${this.id} answered "${command}" with "${answer}", not a status register`, { instrumentId: this.id, command });
        return (register & mask) !== 0;
      }
      const tripped = parseBoolean(answer);
      if (tripped === null) throw new InstrumentError('garbage', `${this.id} answered "${command}" with "${answer}", not a yes or no`, { instrumentId: this.id, command });
      return tripped;
    });
  }
}
