// What the serial emitter kinds share: a tagged-line console to the device (the DUT console's
// framing, tags, timeouts and reconnects), its connection events, and how its failures read.
import type { Logger } from 'pino';
import { EventBus } from '../../lib/event-bus.js';
import { RequestError } from '../transport/request-error.js';
import { TaggedConsole } from '../console/tagged-console.js';
import { type PortOpener } from '../transport/port.js';
import { EmitterError, type EmitterEvents } from './emitter.js';

export interface LineDeviceOptions {
  label: string;
  open: PortOpener;
  log: Logger;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

export abstract class LineDevice {
  readonly events = new EventBus<EmitterEvents>();
  protected readonly console: TaggedConsole;

  constructor(opts: LineDeviceOptions, what: string, quote?: (command: string) => string) {
    this.console = new TaggedConsole({ ...opts, maxLineBytes: 256, what, quote });
    this.console.events.on('connection', (c) => this.events.emit('connection', c));
  }

  get label(): string {
    return this.console.label;
  }

  get connected(): boolean {
    return this.console.connected;
  }

  start(): Promise<void> {
    return this.console.start();
  }

  stop(): Promise<void> {
    return this.console.stop();
  }

  /** A failed request as the emitter's fault, named for the operator. */
  protected emitterError(err: RequestError, who: string): EmitterError {
    const kind = err.kind === 'rejected' ? 'rejected' : err.kind === 'disconnected' || err.kind === 'stopped' ? 'disconnected' : err.kind === 'aborted' ? 'aborted' : 'not-responding';
    return new EmitterError(kind, `${who} ${this.label}: ${err.message.replace(/^DUT /, '')}`);
  }
}
