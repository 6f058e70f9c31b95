// A simulated Imp BlinkUp fixture: on BLINKUP it fetches a factory token from its own cloud (the
// simulated enrollment service), encodes the frame, plays it for its real on-air time down the
// optical link, and answers. It refuses triggers closer together than its minimum interval.
import { formatReply, parseRequest } from '../../console/tagged-protocol.js';
import { monotonicMs } from '../../../lib/clock.js';
import type { SimulatedEnrollmentService } from '../../dut/simulator/enrollment.js';
import { encodeFrame } from '../frame.js';
import { LineDeviceSim } from './line-device-sim.js';
import type { OpticalLink } from './optical-link.js';

export class ImpFixtureSim extends LineDeviceSim {
  private busy = false;
  /** Monotonic (lib/clock.ts). */
  private lastAt = -Infinity;
  blinkups = 0;

  constructor(
    private readonly link: OpticalLink,
    private readonly cloud: SimulatedEnrollmentService,
    private readonly opts: { ssid: string; password: string; symbolRateHz: 60 | 142; minIntervalMs: number; driftPpm: number },
  ) {
    super();
  }

  protected override onDetach(): void {
    this.busy = false;
  }

  protected onRequest(line: string): void {
    const req = parseRequest(line);
    if (!req) return;
    if (req.command === 'PING') return this.write(formatReply(req.tag, { ok: true, payload: 'kind=imp-fixture fw=factory-fixture-1.4' }));
    if (req.command !== 'BLINKUP') return this.write(formatReply(req.tag, { ok: false, code: 'UNKNOWN_COMMAND', message: req.command }));
    const since = monotonicMs() - this.lastAt;
    if (this.busy || since < this.opts.minIntervalMs) {
      return this.write(formatReply(req.tag, { ok: false, code: 'RATE_LIMITED', message: `retry in ${Math.max(0, this.opts.minIntervalMs - since)} ms` }));
    }
    this.busy = true;
    this.lastAt = monotonicMs();
    const [issued] = this.cloud.issue(1);
    const symbols = encodeFrame({ ssid: this.opts.ssid, password: this.opts.password, token: issued?.token ?? '', tokenType: 'factory' });
    const onAirMs = (symbols.length / (this.opts.symbolRateHz * (1 + this.opts.driftPpm / 1e6))) * 1000;
    this.link.begin(onAirMs);
    this.later(onAirMs, () => {
      this.busy = false;
      this.blinkups++;
      this.link.shine({ symbols, symbolRateHz: this.opts.symbolRateHz, activeLow: false, driftPpm: this.opts.driftPpm });
      this.write(formatReply(req.tag, { ok: true, payload: `result=sent symbols=${symbols.length} ms=${Math.round(onAirMs)}` }));
    });
  }
}
