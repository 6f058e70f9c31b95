// A simulated dcttech USB-HID relay ("USBRelay4"): takes the set feature reports, answers the
// status feature report with its ID and relay bits, as the real board does. Handed to the driver
// in place of node-hid's HIDAsync (the same seam the HID emitter's simulator uses).
import { EventEmitter } from 'node:events';
import { HidRelayCommand, RELAY_REPORT_BYTES, RELAY_STATE_BYTE, type HidRelayDeviceLike } from '../hid-relay.js';

export class HidRelaySim extends EventEmitter implements HidRelayDeviceLike {
  /** Relay bits: relay n at bit n - 1. */
  states = 0;
  /** Every feature report written, as written. */
  readonly reports: number[][] = [];
  /** A stuck relay (1-8): it ignores commands, as a welded contact would. */
  stuck: number | null = null;
  closed = false;

  constructor(
    readonly relayCount = 4,
    readonly id = 'SIM01',
  ) {
    super();
  }

  relay(n: number): boolean {
    return (this.states & (1 << (n - 1))) !== 0;
  }

  sendFeatureReport(data: number[]): number {
    if (this.closed) throw new Error('could not send feature report to device');
    this.reports.push([...data]);
    const [, cmd, relay] = data as [number, number, number];
    const bit = relay >= 1 && relay <= this.relayCount && relay !== this.stuck ? 1 << (relay - 1) : 0;
    if (cmd === HidRelayCommand.ON) this.states |= bit;
    else if (cmd === HidRelayCommand.OFF) this.states &= ~bit;
    else if (cmd === HidRelayCommand.ALL_ON) this.states = (1 << this.relayCount) - 1;
    else if (cmd === HidRelayCommand.ALL_OFF) this.states = 0;
    return data.length;
  }

  getFeatureReport(reportId: number, length: number): Buffer {
    if (this.closed) throw new Error('could not get feature report from device');
    const r = Buffer.alloc(Math.min(length, RELAY_REPORT_BYTES));
    r[0] = reportId;
    r.write(this.id.slice(0, 5), 1, 'ascii');
    r[RELAY_STATE_BYTE] = this.states;
    return r;
  }

  /** The board is pulled out: node-hid reports an error on the open device. */
  unplug(): void {
    this.closed = true;
    this.emit('error', new Error('could not read from HID device'));
  }

  close(): void {
    this.closed = true;
  }
}
