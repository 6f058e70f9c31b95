// A simulated LED emitter on a byte stream: it speaks the emitter protocol, "plays" each frame for
// its real on-air time, and shines it down the optical link at the DUT in the same nest, with the
// clock error a cheap microcontroller has. Faults on demand: no answer, a garbage answer.
import { formatReply, parseRequest } from '../../console/tagged-protocol.js';
import { unpackSymbols } from '../emitter.js';
import { LineDeviceSim } from './line-device-sim.js';
import type { OpticalLink } from './optical-link.js';

export type EmitterFault = 'silent' | 'garbage';

export interface EmitterSimOptions {
  /** The emitter's clock error, in parts per million. */
  driftPpm: number;
  /** Real time per on-air second (1 = real time). */
  timeScale?: number;
}

export class LedEmitterSim extends LineDeviceSim {
  private busy = false;
  private readonly faults: EmitterFault[] = [];
  framesPlayed = 0;

  constructor(
    private readonly link: OpticalLink,
    private readonly opts: EmitterSimOptions,
  ) {
    super();
  }

  injectFault(fault: EmitterFault): void {
    this.faults.push(fault);
  }

  protected override onDetach(): void {
    this.busy = false;
  }

  protected onRequest(line: string): void {
    const req = parseRequest(line);
    if (!req) return;
    const fault = this.faults.shift();
    if (fault === 'silent') return;
    if (fault === 'garbage') {
      this.write('\x1b[?25l\xff\xfe emitter brown-out\n');
      return;
    }
    if (req.command === 'STOP') {
      // Cut the frame in progress (the station abandoned it); its FRAME is never answered.
      this.clearTimers();
      this.busy = false;
      this.write(formatReply(req.tag, { ok: true, payload: 'stopped=1' }));
      return;
    }
    if (req.command === 'PING') {
      this.write(formatReply(req.tag, { ok: true, payload: 'kind=led fw=1.0 rates=60,142' }));
      return;
    }
    if (req.command !== 'FRAME') {
      this.write(formatReply(req.tag, { ok: false, code: 'UNKNOWN_COMMAND', message: req.command }));
      return;
    }
    const [rate, polarity, countText, hex] = req.args;
    const symbolRateHz = Number(rate);
    const count = Number(countText);
    if (symbolRateHz !== 60 && symbolRateHz !== 142) {
      this.write(formatReply(req.tag, { ok: false, code: 'BAD_RATE', message: 'rates are 60 and 142' }));
      return;
    }
    const symbols = Number.isInteger(count) && count > 0 && count <= 4096 && hex ? unpackSymbols(hex, count) : null;
    if (!symbols || (polarity !== 'HIGH' && polarity !== 'LOW')) {
      this.write(formatReply(req.tag, { ok: false, code: 'BAD_DATA', message: 'FRAME <rate> <HIGH|LOW> <count> <hex>' }));
      return;
    }
    if (this.busy) {
      this.write(formatReply(req.tag, { ok: false, code: 'BUSY', message: 'a frame is playing' }));
      return;
    }
    this.busy = true;
    const realRateHz = symbolRateHz * (1 + this.opts.driftPpm / 1e6);
    const onAirMs = (count / realRateHz) * 1000;
    this.link.begin(onAirMs);
    this.later(onAirMs * (this.opts.timeScale ?? 1), () => {
      this.busy = false;
      this.framesPlayed++;
      this.link.shine({ symbols, symbolRateHz, activeLow: polarity === 'LOW', driftPpm: this.opts.driftPpm });
      this.write(formatReply(req.tag, { ok: true, payload: `played=${count} ms=${Math.round(onAirMs)}` }));
    });
  }
}
