// An Imp BlinkUp fixture on a serial port: a fixture running its own factory firmware performs the
// factory BlinkUp itself, with a token it gets from its own cloud. The station triggers it, never
// faster than the fixture's minimum interval, and reads its result (docs/protocols.md, "Imp
// fixture"). No token from the station's pool is involved.
import { RequestError } from '../transport/request-error.js';
import { parseFields } from '../console/tagged-protocol.js';
import { EmitterError, type EmitResult } from './emitter.js';
import { LineDevice, type LineDeviceOptions } from './line-device.js';
import { monotonicMs } from '../../lib/clock.js';

export class ImpFixture extends LineDevice {
  readonly kind = 'fixture' as const;
  /** Monotonic (lib/clock.ts). */
  private lastTriggerAt = -Infinity;

  constructor(
    private readonly opts: LineDeviceOptions & {
      /** The fixture's own limit between BlinkUps; retriggers wait this long. */
      minRetriggerMs: number;
      /** The longest a fixture BlinkUp takes, token fetch included. */
      blinkupTimeoutMs: number;
    },
  ) {
    super(opts, 'BlinkUp fixture');
  }

  /** Triggers one BlinkUp; resolves when the fixture reports its light sent. */
  async trigger(signal?: AbortSignal): Promise<EmitResult> {
    const wait = this.lastTriggerAt + this.opts.minRetriggerMs - monotonicMs();
    if (wait > 0) await abortableWait(wait, signal);
    this.lastTriggerAt = monotonicMs();
    let answer: string;
    try {
      answer = await this.console.request('BLINKUP', this.opts.blinkupTimeoutMs, signal);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      throw this.emitterError(err, 'fixture');
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
