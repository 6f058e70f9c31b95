// A simulated USB-HID LED emitter: takes the frame's reports, plays it for its real on-air time
// down the optical link, and answers with a PLAYED input report.
import { EventEmitter } from 'node:events';
import { HidAnswer, HidCommand, type HidDeviceLike } from '../hid-led.js';
import type { OpticalLink } from './optical-link.js';

export class HidEmitterSim extends EventEmitter implements HidDeviceLike {
  private frame: { rate: number; activeLow: boolean; count: number; data: number[]; nextSeq: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  framesPlayed = 0;
  silent = false;

  constructor(
    private readonly link: OpticalLink,
    private readonly driftPpm: number,
  ) {
    super();
  }

  write(report: number[]): number {
    const [, command, ...body] = report;
    if (this.silent) return report.length;
    if (command === HidCommand.FRAME_BEGIN) {
      const [rate, polarity, hi, lo] = body as [number, number, number, number];
      if (rate !== 60 && rate !== 142) this.answerError(1);
      else this.frame = { rate, activeLow: polarity === 1, count: (hi << 8) | lo, data: [], nextSeq: 0 };
    } else if (command === HidCommand.FRAME_DATA && this.frame) {
      const [seq, len, ...bytes] = body as number[];
      if (seq !== (this.frame.nextSeq & 0xff) || len === undefined || len > bytes.length) {
        this.frame = null;
        this.answerError(2);
      } else {
        this.frame.nextSeq++;
        this.frame.data.push(...bytes.slice(0, len));
      }
    } else if (command === HidCommand.FRAME_PLAY && this.frame) {
      this.play(this.frame);
      this.frame = null;
    } else if (command === HidCommand.STOP) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
    }
    return report.length;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private play(frame: { rate: number; activeLow: boolean; count: number; data: number[] }): void {
    if (this.timer) return this.answerError(3);
    if (frame.data.length !== Math.ceil(frame.count / 8)) return this.answerError(2);
    const symbols = new Uint8Array(frame.count);
    for (let i = 0; i < frame.count; i++) symbols[i] = ((frame.data[i >> 3] as number) >> (7 - (i & 7))) & 1;
    const onAirMs = (frame.count / (frame.rate * (1 + this.driftPpm / 1e6))) * 1000;
    this.link.begin(onAirMs);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.framesPlayed++;
      this.link.shine({ symbols, symbolRateHz: frame.rate, activeLow: frame.activeLow, driftPpm: this.driftPpm });
      const played = Buffer.alloc(64);
      played[0] = HidAnswer.PLAYED;
      played.writeUInt16BE(frame.count, 1);
      played.writeUInt32BE(Math.round(onAirMs), 3);
      this.emit('data', played);
    }, onAirMs);
  }

  private answerError(code: number): void {
    const r = Buffer.alloc(64);
    r[0] = HidAnswer.ERROR;
    r[1] = code;
    setImmediate(() => this.emit('data', r));
  }
}
