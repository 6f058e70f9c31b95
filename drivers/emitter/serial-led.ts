// The LED emitter on a serial port: a small microcontroller that replays a frame's symbols on its
// LED at the symbol rate and answers when the last symbol is shown (docs/protocols.md, "Emitter").
// Framing, tags, timeouts and reconnecting are the same tagged-line console the DUTs use.
import { RequestError } from '../transport/request-error.js';
import { parseFields } from '../console/tagged-protocol.js';
import { EmitterError, packSymbols, type EmitOptions, type EmitResult, type Emitter } from './emitter.js';
import { LineDevice, type LineDeviceOptions } from './line-device.js';

/** The longest frame the protocol carries: 4,096 symbols (1,024 hex characters on one line). */
export const MAX_FRAME_SYMBOLS = 4096;

/** An emitter command as errors may show it: a FRAME without its symbols. */
export function quoteEmitterCommand(command: string): string {
  const m = /^FRAME (\S+) (\S+) (\S+) /.exec(command);
  return m ? `FRAME ${m[1]} ${m[2]} ${m[3]} <frame data not shown>` : command;
}

export class SerialLedEmitter extends LineDevice implements Emitter {
  readonly kind = 'led' as const;

  constructor(opts: LineDeviceOptions) {
    // A FRAME line carries the factory token and the Wi-Fi password (encoded, not hidden): errors
    // and logs quote its rate, polarity and length only.
    super(opts, 'emitter', quoteEmitterCommand);
  }

  async emit(symbols: Uint8Array, opts: EmitOptions, signal?: AbortSignal): Promise<EmitResult> {
    if (symbols.length === 0 || symbols.length > MAX_FRAME_SYMBOLS) {
      throw new EmitterError('rejected', `a frame must have 1-${MAX_FRAME_SYMBOLS} symbols, not ${symbols.length}`);
    }
    const onAirMs = (symbols.length / opts.symbolRateHz) * 1000;
    const command = `FRAME ${opts.symbolRateHz} ${opts.activeLow ? 'LOW' : 'HIGH'} ${symbols.length} ${packSymbols(symbols)}`;
    let answer: string;
    try {
      // The answer comes when the last symbol has been shown: allow the on-air time and a margin.
      answer = await this.console.request(command, Math.ceil(onAirMs) + 2000, signal);
    } catch (err) {
      if (!(err instanceof RequestError)) throw err;
      // Abandoned mid-frame: tell the emitter to stop, so the next frame does not find it busy.
      if (err.kind === 'aborted' || err.kind === 'timeout') await this.console.request('STOP', 1000).catch(() => undefined);
      throw this.emitterError(err, 'emitter');
    }
    const f = parseFields(answer);
    const played = Number(f.played);
    if (played !== symbols.length) throw new EmitterError('not-responding', `emitter ${this.label} reported ${f.played ?? 'no'} symbols played, expected ${symbols.length}`);
    return { onAirMs: Number(f.ms) || onAirMs, symbols: played };
  }
}
