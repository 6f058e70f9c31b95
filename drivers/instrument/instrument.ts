// What every bench instrument shows the station, whatever its kind: its id, kind and model, the
// identity it gave (*IDN?: the serial is recorded with every measurement), its state with the
// reason, typed events, its FIFO lock, and start/stop. The kinds (dmm.ts, psu.ts, switch.ts,
// generic.ts) add their typed methods on the same SCPI session.
import type { Logger } from 'pino';
import { EventBus } from '../../lib/event-bus.js';
import { InstrumentError } from './instrument-error.js';
import { InstrumentLock } from './lock.js';
import type { InstrumentKind, ModelName } from './models.js';
import type { InstrumentState, ScpiSession } from './scpi-session.js';
import type { InstrumentIdentity } from './scpi-values.js';

export type { InstrumentState } from './scpi-session.js';
export type { InstrumentIdentity } from './scpi-values.js';

export interface InstrumentEvents {
  /** The state changed (or its reason did): `wrong-instrument` says "expected X, answered Y". */
  state: { id: string; state: InstrumentState; reason: string | null; previous: InstrumentState };
  /** The connect check passed; `changed` when a different unit (serial) of the model is now there. */
  identity: { id: string; identity: InstrumentIdentity; changed: boolean };
}

export interface InstrumentInit {
  id: string;
  model: ModelName;
  session: ScpiSession;
  log: Logger;
  calibrationDue?: string | null;
}

export abstract class Instrument {
  abstract readonly kind: InstrumentKind;
  readonly id: string;
  readonly model: ModelName;
  readonly events: EventBus<InstrumentEvents>;
  /** Taken by a slot around its use of the instrument (lock.ts). */
  readonly lock: InstrumentLock;
  /** From the config (YYYY-MM-DD), for the station's calibration alarm; null when not set. */
  readonly calibrationDue: string | null;
  protected readonly session: ScpiSession;
  protected readonly log: Logger;

  constructor(init: InstrumentInit) {
    this.id = init.id;
    this.model = init.model;
    this.session = init.session;
    this.log = init.log;
    this.calibrationDue = init.calibrationDue ?? null;
    this.lock = new InstrumentLock(init.id);
    this.events = new EventBus<InstrumentEvents>(init.log);
    this.session.events.on('state', (s) => {
      this.onStateChange(s.state);
      this.events.emit('state', { id: this.id, ...s });
    });
    this.session.events.on('identity', (i) => this.events.emit('identity', { id: this.id, ...i }));
  }

  /** Where it is: host:port, a device path, sim:<id>. */
  get label(): string {
    return this.session.label;
  }

  get state(): InstrumentState {
    return this.session.state;
  }

  get stateReason(): string | null {
    return this.session.stateReason;
  }

  /** What *IDN? said at the last good connect check; null before one. */
  get identity(): InstrumentIdentity | null {
    return this.session.identity;
  }

  /** Opens the link; resolves after the first attempt (the state says how it went). */
  start(): Promise<void> {
    return this.session.start();
  }

  stop(): Promise<void> {
    return this.session.stop();
  }

  /** Resolves once `ready`; rejects after `timeoutMs` with the state and its reason. */
  waitReady(timeoutMs: number): Promise<void> {
    return this.session.waitReady(timeoutMs);
  }

  /** A kind that caches instrument settings forgets them when the link is lost. */
  protected onStateChange(_state: InstrumentState): void {}

  protected serial(): string {
    return this.session.identity?.serial ?? '';
  }

  protected invalid(message: string): InstrumentError {
    return new InstrumentError('invalid', `${this.id}: ${message}`, { instrumentId: this.id });
  }

  protected unsupported(message: string): InstrumentError {
    return new InstrumentError('unsupported', `${this.id} (${this.model}): ${message}`, { instrumentId: this.id });
  }

  /** A channel number the model has: 1..count. */
  protected checkChannel(channel: number, count: number): void {
    if (!Number.isInteger(channel) || channel < 1 || channel > count) {
      throw this.invalid(`channel ${channel} does not exist (${this.model} has channels 1 to ${count})`);
    }
  }
}
