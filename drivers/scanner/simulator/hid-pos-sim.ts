// A simulated HID-POS scanner (usage page 0x8C) on the HID device seam: each scan is sent as
// Scanned Data Reports of 64 bytes, UTF-8 data 56 bytes a report, each but the last flagged
// "continued" (docs/protocols.md, "Scanners").
import { EventEmitter } from 'node:events';
import type { HidDeviceLike } from '../../emitter/hid-led.js';
import { POS_FLAG_CONTINUED, POS_FLAGS_OFFSET, POS_REPORT_BYTES, posScanReports } from '../hid-pos.js';
import { SAMPLE_SCAN, type ScannerFault, type ScannerSim, type SimScanOptions } from './scanner-sim.js';

export class HidPosScannerSim extends EventEmitter implements HidDeviceLike, ScannerSim {
  closed = false;
  readonly sent: Buffer[] = [];

  /** `symbology`: the AIM identifier sent with each scan (Data Matrix ECC 200 by default). */
  constructor(private readonly symbology = ']d1') {
    super();
  }

  write(data: number[]): number {
    return data.length; // output reports (beeper, LED) are ignored
  }

  close(): void {
    this.closed = true;
  }

  unplug(): void {
    this.emit('error', new Error('could not read from HID device'));
  }

  async scan(text: string, opts: SimScanOptions = {}): Promise<void> {
    await this.send(posScanReports(Buffer.from(text, 'utf8'), this.symbology));
    if (opts.bounce === 'enter') await this.send(posScanReports(new Uint8Array(0), this.symbology));
    if (opts.bounce === 'repeat') await this.scan(text);
  }

  async fault(kind: ScannerFault, text = SAMPLE_SCAN): Promise<void> {
    if (kind === 'doubled') return this.scan(text, { bounce: 'repeat' });
    if (kind === 'truncated') {
      // The first report of a scan, flagged "more follows", and nothing after it.
      const first = posScanReports(Buffer.from(text, 'utf8'), this.symbology)[0] as Buffer;
      first[POS_FLAGS_OFFSET] = (first[POS_FLAGS_OFFSET] as number) | POS_FLAG_CONTINUED;
      return this.send([first]);
    }
    // A report that claims more data than fits, then a scan of bytes that are not UTF-8.
    const overlong = Buffer.alloc(POS_REPORT_BYTES);
    overlong[0] = 0x02;
    overlong[1] = 0xc8;
    await this.send([overlong, ...posScanReports(Buffer.from([0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a]), this.symbology)]);
  }

  /**
   * Sends reports in order, one 'data' event each, all in one turn of the event loop: a real
   * scanner sends a scan's reports a millisecond or so apart, and a busy test machine must not
   * stretch that into the driver's idle gap.
   */
  async send(reports: Buffer[]): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const r of reports) {
      if (this.closed) return;
      this.sent.push(r);
      this.emit('data', Buffer.from(r));
    }
  }
}
