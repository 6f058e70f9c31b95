// A simulated keyboard-wedge USB scanner on the HID device seam (what node-hid's HIDAsync gives the
// driver): each scan is typed as boot keyboard reports with a US layout, Shift for capitals and
// symbols, Ctrl+] for GS, a key release between keys (or overlapping presses, in rollover mode),
// and the terminator key at the end.
import { EventEmitter } from 'node:events';
import type { HidDeviceLike } from '../../emitter/hid-led.js';
import { KeyCode, Modifier, US_LAYOUT, type Terminator } from '../keyboard-report.js';
import { SAMPLE_SCAN, type ScannerFault, type ScannerSim, type SimScanOptions } from './scanner-sim.js';

interface Keystroke {
  modifiers: number;
  code: number;
}

/** The keystroke a US keyboard types `ch` with; throws for a character it cannot type. */
export function keystrokeFor(ch: string): Keystroke {
  if (ch === '\x1d') return { modifiers: Modifier.LEFT_CTRL, code: KeyCode.CLOSE_BRACKET };
  if (ch === '\n' || ch === '\r') return { modifiers: 0, code: KeyCode.ENTER };
  const c = ch.charCodeAt(0);
  if (ch.length === 1 && c >= 0x01 && c <= 0x1a && ch !== '\t' && ch !== '\b') return { modifiers: Modifier.LEFT_CTRL, code: KeyCode.A + c - 1 };
  for (const [code, [plain, shifted]] of US_LAYOUT) {
    if (code >= 0x54) continue; // main keys, not the keypad
    if (plain === ch) return { modifiers: 0, code };
    if (shifted === ch) return { modifiers: Modifier.LEFT_SHIFT, code };
  }
  throw new Error(`a US keyboard cannot type U+${c.toString(16).toUpperCase().padStart(4, '0')}; a keyboard-wedge scanner would need Alt codes for it`);
}

function report(modifiers: number, codes: number[]): Buffer {
  const r = Buffer.alloc(8);
  r[0] = modifiers;
  codes.slice(0, 6).forEach((code, i) => (r[2 + i] = code));
  return r;
}

const RELEASE = report(0, []);

/** The reports for `text` then the terminator ('none': no terminator). */
export function keyboardReports(text: string, opts: { terminator?: Terminator | 'none'; rollover?: boolean } = {}): Buffer[] {
  const strokes = [...text].map(keystrokeFor);
  const terminator = opts.terminator ?? 'enter';
  if (terminator !== 'none') strokes.push({ modifiers: 0, code: terminator === 'tab' ? KeyCode.TAB : KeyCode.ENTER });
  const reports: Buffer[] = [];
  let held: number | null = null;
  for (const s of strokes) {
    if (!opts.rollover || held === s.code) {
      if (held !== null) reports.push(RELEASE);
      reports.push(report(s.modifiers, [s.code]));
    } else {
      // The next key goes down before the last comes up, as fast typists and scanners do.
      reports.push(report(s.modifiers, held === null ? [s.code] : [held, s.code]));
      reports.push(report(s.modifiers, [s.code]));
    }
    held = s.code;
  }
  if (held !== null) reports.push(RELEASE);
  return reports;
}

export interface HidKeyboardSimOptions {
  terminator?: Terminator;
  rollover?: boolean;
}

export class HidKeyboardScannerSim extends EventEmitter implements HidDeviceLike, ScannerSim {
  closed = false;
  /** Every report sent, for tests. */
  readonly sent: Buffer[] = [];

  constructor(private readonly opts: HidKeyboardSimOptions = {}) {
    super();
  }

  write(data: number[]): number {
    return data.length; // output reports (keyboard LEDs) are ignored
  }

  close(): void {
    this.closed = true;
  }

  /** The USB cable pulled: the device read fails, as node-hid reports it. */
  unplug(): void {
    this.emit('error', new Error('could not read from HID device'));
  }

  async scan(text: string, opts: SimScanOptions = {}): Promise<void> {
    await this.send(keyboardReports(text, { terminator: this.opts.terminator, rollover: this.opts.rollover }));
    if (opts.bounce === 'enter') await this.send(keyboardReports('', { terminator: this.opts.terminator }));
    if (opts.bounce === 'repeat') await this.scan(text);
  }

  async fault(kind: ScannerFault, text = SAMPLE_SCAN): Promise<void> {
    if (kind === 'doubled') return this.scan(text, { bounce: 'repeat' });
    if (kind === 'truncated') return this.send(keyboardReports(text.slice(0, Math.ceil(text.length / 2)), { terminator: 'none' }));
    // A short report, an F-key, a keycode past the table, then a proper end of scan.
    await this.send([Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]), report(0, [0x3a]), RELEASE, report(0x02, [0xe8]), RELEASE, ...keyboardReports('', { terminator: this.opts.terminator })]);
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
