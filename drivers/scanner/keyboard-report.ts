// Keyboard-wedge scanners: a USB scanner that pretends to be a keyboard "types" each scan as HID
// boot keyboard input reports (USB HID 1.11, appendix B.1: a modifier byte, a reserved byte, six
// key codes from the Keyboard/Keypad usage page 0x07). This turns those reports back into text with
// the US layout, the way a host with a US keymap would, and cuts it into scans at a terminator key.
// Pure state, no timers: the driver calls `idle()` when no report came for the idle gap.

/** Modifier byte bits (HID 1.11 §8.3). */
export const Modifier = { LEFT_CTRL: 0x01, LEFT_SHIFT: 0x02, LEFT_ALT: 0x04, LEFT_GUI: 0x08, RIGHT_CTRL: 0x10, RIGHT_SHIFT: 0x20, RIGHT_ALT: 0x40, RIGHT_GUI: 0x80 } as const;
const SHIFT = Modifier.LEFT_SHIFT | Modifier.RIGHT_SHIFT;
const CTRL = Modifier.LEFT_CTRL | Modifier.RIGHT_CTRL;
const ALT_OR_GUI = Modifier.LEFT_ALT | Modifier.RIGHT_ALT | Modifier.LEFT_GUI | Modifier.RIGHT_GUI;

export const KeyCode = {
  ERROR_ROLLOVER: 0x01,
  A: 0x04,
  ENTER: 0x28,
  ESCAPE: 0x29,
  BACKSPACE: 0x2a,
  TAB: 0x2b,
  SPACE: 0x2c,
  CLOSE_BRACKET: 0x30,
  CAPS_LOCK: 0x39,
  DELETE: 0x4c,
  KEYPAD_ENTER: 0x58,
} as const;

/** Usage 0x07 key code → [unshifted, shifted] on a US keyboard (Num Lock on for the keypad). */
export const US_LAYOUT: ReadonlyMap<number, readonly [string, string]> = (() => {
  const map = new Map<number, readonly [string, string]>();
  for (let i = 0; i < 26; i++) map.set(0x04 + i, [String.fromCharCode(0x61 + i), String.fromCharCode(0x41 + i)]);
  const digits = '1234567890';
  const shiftedDigits = '!@#$%^&*()';
  for (let i = 0; i < 10; i++) map.set(0x1e + i, [digits.charAt(i), shiftedDigits.charAt(i)]);
  const punctuation: [number, string, string][] = [
    [0x2c, ' ', ' '],
    [0x2d, '-', '_'],
    [0x2e, '=', '+'],
    [0x2f, '[', '{'],
    [0x30, ']', '}'],
    [0x31, '\\', '|'],
    [0x32, '\\', '|'], // "Non-US # and ~": a US host maps it like the backslash key
    [0x33, ';', ':'],
    [0x34, "'", '"'],
    [0x35, '`', '~'],
    [0x36, ',', '<'],
    [0x37, '.', '>'],
    [0x38, '/', '?'],
    [0x2b, '\t', '\t'], // Tab, when it is not a terminator
    [0x29, '\x1b', '\x1b'], // Escape: typed through so the filter refuses the scan by name
    [0x2a, '\x08', '\x08'], // Backspace
    [0x4c, '\x7f', '\x7f'], // Delete
    // The keypad, as scanners in "keypad" or Alt mode use it.
    [0x54, '/', '/'],
    [0x55, '*', '*'],
    [0x56, '-', '-'],
    [0x57, '+', '+'],
    [0x62, '0', '0'],
    [0x63, '.', '.'],
  ];
  for (const [code, plain, shifted] of punctuation) map.set(code, [plain, shifted]);
  for (let i = 0; i < 9; i++) map.set(0x59 + i, [String(i + 1), String(i + 1)]);
  return map;
})();

export type Terminator = 'enter' | 'tab';

export interface KeyboardDecoderOptions {
  /** Keys that end a scan (Keypad Enter counts as Enter). Default: Enter and Tab. */
  terminators?: readonly Terminator[];
  /** Longest scan kept, in characters; longer ones are counted and refused at their end. */
  maxLength?: number;
  /** A device with numbered reports puts this report ID before the 8 bytes. */
  reportId?: number;
}

/** What a report (or the idle gap) produced: a complete scan's text, or a refused one. */
export type KeyboardOutcome = { kind: 'text'; text: string } | { kind: 'bad'; reason: string; length: number };

export const BOOT_REPORT_BYTES = 8;

export class KeyboardDecoder {
  private readonly terminators: ReadonlySet<number>;
  private readonly maxLength: number;
  private readonly reportId: number | undefined;
  private held = new Set<number>();
  private text = '';
  private length = 0;
  private started = false;
  private fault: string | null = null;
  private capsLock = false;

  constructor(opts: KeyboardDecoderOptions = {}) {
    const terminators = opts.terminators ?? ['enter', 'tab'];
    const codes = new Set<number>();
    if (terminators.includes('enter')) {
      codes.add(KeyCode.ENTER);
      codes.add(KeyCode.KEYPAD_ENTER);
    }
    if (terminators.includes('tab')) codes.add(KeyCode.TAB);
    this.terminators = codes;
    this.maxLength = opts.maxLength ?? 256;
    this.reportId = opts.reportId;
  }

  /** True while a scan has begun and not ended: the driver arms its idle-gap timer. */
  get inScan(): boolean {
    return this.started;
  }

  /** One input report as read from the device. */
  push(report: Uint8Array): KeyboardOutcome[] {
    let body = report;
    if (this.reportId !== undefined) {
      if (report[0] !== this.reportId) return []; // another report of the device (LEDs, consumer keys)
      body = report.subarray(1);
    }
    if (body.length !== BOOT_REPORT_BYTES) {
      this.markFault(`malformed keyboard report (${body.length} bytes, expected ${BOOT_REPORT_BYTES})`);
      return [];
    }
    const modifiers = body[0] as number;
    const codes = Array.from(body.subarray(2)).filter((c) => c !== 0);
    // Phantom state: too many keys down, the keyboard cannot tell which. Nothing changed.
    if (codes.some((c) => c === KeyCode.ERROR_ROLLOVER || c === 0x02 || c === 0x03)) return [];
    const outcomes: KeyboardOutcome[] = [];
    const now = new Set(codes);
    for (const code of codes) {
      if (this.held.has(code)) continue; // still held from the last report: typed once
      const outcome = this.press(code, modifiers);
      if (outcome) outcomes.push(outcome);
    }
    this.held = now;
    return outcomes;
  }

  /** No report for the idle gap: a scan without its terminator is cut short. */
  idle(): KeyboardOutcome | null {
    if (!this.started) return null;
    const length = this.length;
    const reason = this.fault ?? 'scan cut short: no Enter/Tab after the last key (the idle gap passed)';
    this.reset();
    this.held.clear();
    return { kind: 'bad', reason, length };
  }

  private press(code: number, modifiers: number): KeyboardOutcome | null {
    if (this.terminators.has(code)) {
      const outcome: KeyboardOutcome = this.fault
        ? { kind: 'bad', reason: this.fault, length: this.length }
        : this.length > this.maxLength
          ? { kind: 'bad', reason: `scan of ${this.length} characters is longer than the ${this.maxLength}-character limit`, length: this.length }
          : { kind: 'text', text: this.text };
      this.reset();
      return outcome;
    }
    this.started = true;
    if (code === KeyCode.CAPS_LOCK) {
      // A scanner that compensates for a host's Caps Lock toggles it around the scan; follow it.
      this.capsLock = !this.capsLock;
      return null;
    }
    const keys = US_LAYOUT.get(code);
    if (!keys) return this.markFault(`unknown key code 0x${code.toString(16).padStart(2, '0')} in the scan`);
    if (modifiers & ALT_OR_GUI) return this.markFault('Alt or GUI key combinations in the scan');
    let ch: string;
    if (modifiers & CTRL) {
      // Ctrl+letter and Ctrl+[ \ ] are the C0 controls; scanners type GS (0x1D) as Ctrl+].
      const base = keys[0];
      if (base >= 'a' && base <= 'z') ch = String.fromCharCode(base.charCodeAt(0) - 0x60);
      else if (base === '[' || base === '\\' || base === ']') ch = String.fromCharCode(base.charCodeAt(0) - 0x40);
      else return this.markFault('Ctrl key combinations in the scan');
    } else {
      const shifted = (modifiers & SHIFT) !== 0;
      const isLetter = code >= 0x04 && code <= 0x1d;
      ch = keys[shifted !== (isLetter && this.capsLock) ? 1 : 0];
    }
    this.length += ch.length;
    if (this.text.length < this.maxLength + 1) this.text += ch;
    return null;
  }

  private markFault(reason: string): null {
    this.started = true;
    this.fault ??= reason;
    return null;
  }

  private reset(): void {
    this.text = '';
    this.length = 0;
    this.started = false;
    this.fault = null;
    this.capsLock = false;
  }
}
