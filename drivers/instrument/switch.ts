// A switch unit (relay multiplexer) that routes one shared DMM to the nests: close a channel, open
// it, open them all. Commands from the model table (models.ts): SCPI-1999 ROUTe with channel lists.
// Closing is not exclusive: to route a single nest, openAll() then close(n), under the switch's lock.
import { InstrumentError } from './instrument-error.js';
import { Instrument, type InstrumentInit } from './instrument.js';
import { fillTemplate, MAX_SWITCH_CHANNEL, MODELS, type SwitchModel } from './models.js';
import { parseBoolean } from './scpi-values.js';

export interface SwitchCommandOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class Switch extends Instrument {
  readonly kind = 'switch' as const;
  private readonly spec: SwitchModel;

  constructor(init: InstrumentInit) {
    super(init);
    const model = MODELS[init.model];
    if (model.kind !== 'switch') throw new Error(`${init.id}: model ${init.model} is not a switch`);
    this.spec = model;
  }

  close(channel: number, opts: SwitchCommandOptions = {}): Promise<void> {
    return this.run(this.spec.commands.close, channel, opts);
  }

  open(channel: number, opts: SwitchCommandOptions = {}): Promise<void> {
    return this.run(this.spec.commands.open, channel, opts);
  }

  openAll(opts: SwitchCommandOptions = {}): Promise<void> {
    return this.run(this.spec.commands.openAll, null, opts);
  }

  /** Whether the unit says the channel is closed. */
  isClosed(channel: number, opts: SwitchCommandOptions = {}): Promise<boolean> {
    try {
      this.checkChannel(channel, this.spec.channels ?? MAX_SWITCH_CHANNEL);
    } catch (err) {
      return Promise.reject(err);
    }
    const command = fillTemplate(this.spec.commands.isClosed, { ch: channel });
    return this.session.query(command, opts).then((answer) => {
      const closed = parseBoolean(answer);
      if (closed === null) throw new InstrumentError('garbage', `${this.id} answered "${command}" with "${answer}", not 1 or 0`, { instrumentId: this.id, command });
      return closed;
    });
  }

  private run(templates: readonly string[], channel: number | null, opts: SwitchCommandOptions): Promise<void> {
    try {
      if (channel !== null) this.checkChannel(channel, this.spec.channels ?? MAX_SWITCH_CHANNEL);
    } catch (err) {
      return Promise.reject(err);
    }
    const commands = templates.map((t) => fillTemplate(t, channel === null ? {} : { ch: channel }));
    return this.session.batch(async (x) => {
      for (const command of commands) await x.write(command, { timeoutMs: opts.timeoutMs });
    }, opts.signal);
  }
}
