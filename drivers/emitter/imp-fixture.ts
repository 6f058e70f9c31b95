// An Imp BlinkUp fixture on a serial port: a fixture running its own factory firmware performs the
// factory BlinkUp itself, with a token it gets from its own cloud. The station triggers it, never
// faster than the fixture's minimum interval, and reads its result (docs/protocols.md, "Imp
// fixture"). No token from the station's pool is involved.
import type { Logger } from 'pino';
import { EventBus } from '../../station/events.js';
import { DutRequestError } from '../dut/console.js';
import { parseFields } from '../dut/protocol.js';
import { StreamDutConsole, type PortOpener } from '../dut/stream-console.js';
import { EmitterError, type EmitResult, type EmitterEvents } from './emitter.js';

export class ImpFixture {
  readonly kind = 'fixture' as const;
  readonly events = new EventBus<EmitterEvents>();
  private readonly console: StreamDutConsole;
  private lastTriggerAt = 0;

  constructor(
    private readonly opts: {
      label: string;
      open: PortOpener;
      log: Logger;
      reconnectInitialMs: number;
      reconnectMaxMs: number;
      /** The fixture's own limit between BlinkUps; retriggers wait this long. */
      minRetriggerMs: number;
      /** The longest a fixture BlinkUp takes, token fetch included. */
      blinkupTimeoutMs: number;
    },
  ) {
    this.console = new StreamDutConsole({ ...opts, maxLineBytes: 256, what: 'BlinkUp fixture' });
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

  /** Triggers one BlinkUp; resolves when the fixture reports its light sent. */
  async trigger(signal?: AbortSignal): Promise<EmitResult> {
    const wait = this.lastTriggerAt + this.opts.minRetriggerMs - Date.now();
    if (wait > 0) await abortableWait(wait, signal);
    this.lastTriggerAt = Date.now();
    let answer: string;
    try {
      answer = await this.console.request('BLINKUP', this.opts.blinkupTimeoutMs, signal);
    } catch (err) {
      if (!(err instanceof DutRequestError)) throw err;
      const kind = err.kind === 'rejected' ? 'rejected' : err.kind === 'disconnected' || err.kind === 'stopped' ? 'disconnected' : err.kind === 'aborted' ? 'aborted' : 'not-responding';
      throw new EmitterError(kind, `fixture ${this.label}: ${err.message.replace(/^DUT /, '')}`);
    }
    const f = parseFields(answer);
    if (f.result !== 'sent') throw new EmitterError('not-responding', `fixture ${this.label} answered "${answer.slice(0, 60)}", expected result=sent`);
    return { onAirMs: Number(f.ms) || 0, symbols: Number(f.symbols) || 0 };
  }
}

function abortableWait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new EmitterError('aborted', 'the run was interrupted'));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new EmitterError('aborted', 'the run was interrupted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
