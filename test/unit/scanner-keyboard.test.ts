// Keyboard-wedge scanners: boot keyboard reports decoded to text with the US layout, Shift,
// Caps Lock, rollover, terminators and the idle gap, both in the pure decoder and through the HID
// driver with the simulated scanner behind node-hid's seam.
import { describe, expect, it } from 'vitest';
import { HidScanner } from '../../drivers/scanner/hid-scanner.js';
import { KeyboardDecoder, KeyCode, Modifier, type KeyboardOutcome } from '../../drivers/scanner/keyboard-report.js';
import { HidKeyboardScannerSim, keyboardReports, keystrokeFor } from '../../drivers/scanner/simulator/hid-keyboard-sim.js';
import type { ScannerEvents } from '../../drivers/scanner/scanner.js';
import { silentLogger } from '../../station/log.js';
import { nextEvent } from '../support/unit-fakes.js';

const rep = (modifiers: number, ...codes: number[]): Uint8Array => {
  const r = new Uint8Array(8);
  r[0] = modifiers;
  codes.forEach((c, i) => (r[2 + i] = c));
  return r;
};
const RELEASE = rep(0);

function decodeAll(decoder: KeyboardDecoder, reports: Uint8Array[]): KeyboardOutcome[] {
  return reports.flatMap((r) => decoder.push(r));
}

describe('keyboard report decoding', () => {
  it('types letters, digits, Shift (left and right) and the shifted symbols of the US layout', () => {
    const d = new KeyboardDecoder();
    const out = decodeAll(d, [
      rep(0, 0x04),
      RELEASE, // a
      rep(Modifier.LEFT_SHIFT, 0x05),
      RELEASE, // B
      rep(Modifier.RIGHT_SHIFT, 0x06),
      RELEASE, // C
      rep(0, 0x1e),
      RELEASE, // 1
      rep(Modifier.LEFT_SHIFT, 0x1f),
      RELEASE, // @
      rep(0, 0x2d),
      RELEASE, // -
      rep(Modifier.LEFT_SHIFT, 0x2d),
      RELEASE, // _
      rep(0, 0x2c),
      RELEASE, // space
      rep(Modifier.LEFT_SHIFT, 0x33),
      RELEASE, // :
      rep(0, 0x38),
      RELEASE, // /
      rep(Modifier.RIGHT_SHIFT, 0x27),
      RELEASE, // )
      rep(0, 0x62),
      RELEASE, // keypad 0
      rep(0, KeyCode.ENTER),
      RELEASE,
    ]);
    expect(out).toEqual([{ kind: 'text', text: 'aBC1@-_ :/)0' }]);
  });

  it("round-trips every printable ASCII character through the simulator's reports", () => {
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    const d = new KeyboardDecoder({ maxLength: 200 });
    expect(decodeAll(d, keyboardReports(printable))).toEqual([{ kind: 'text', text: printable }]);
  });

  it('counts a key once while it is held (rollover), and again after a release', () => {
    const d = new KeyboardDecoder();
    const out = decodeAll(d, [
      rep(0, 0x04), // a down
      rep(0, 0x04, 0x05), // a held, b down
      rep(0, 0x05), // a up
      rep(0, 0x05, 0x06), // c down
      RELEASE,
      rep(0, 0x04), // a again
      RELEASE,
      rep(0, KeyCode.ENTER),
      rep(0, KeyCode.ENTER), // Enter still held: not a second scan
      RELEASE,
    ]);
    expect(out).toEqual([{ kind: 'text', text: 'abca' }]);
    const rolled = new KeyboardDecoder();
    expect(decodeAll(rolled, keyboardReports('AAb:Zz9', { rollover: true }))).toEqual([{ kind: 'text', text: 'AAb:Zz9' }]);
  });

  it('ends a scan at Enter, Keypad Enter or Tab by default, and only at the configured terminators', () => {
    const d = new KeyboardDecoder();
    expect(decodeAll(d, [rep(0, 0x04), RELEASE, rep(0, KeyCode.TAB), RELEASE, rep(0, 0x05), RELEASE, rep(0, KeyCode.KEYPAD_ENTER), RELEASE])).toEqual([
      { kind: 'text', text: 'a' },
      { kind: 'text', text: 'b' },
    ]);
    const enterOnly = new KeyboardDecoder({ terminators: ['enter'] });
    expect(decodeAll(enterOnly, keyboardReports('a\tb'))).toEqual([{ kind: 'text', text: 'a\tb' }]);
  });

  it('gives an empty scan for a double Enter (the filter drops it)', () => {
    const d = new KeyboardDecoder();
    expect(decodeAll(d, [...keyboardReports('x'), ...keyboardReports('')])).toEqual([
      { kind: 'text', text: 'x' },
      { kind: 'text', text: '' },
    ]);
  });

  it('follows Caps Lock within a scan (letters only) and forgets it at the end of the scan', () => {
    const d = new KeyboardDecoder();
    const out = decodeAll(d, [
      rep(0, KeyCode.CAPS_LOCK),
      RELEASE,
      rep(0, 0x04),
      RELEASE, // A
      rep(Modifier.LEFT_SHIFT, 0x05),
      RELEASE, // b (Shift undoes Caps Lock)
      rep(0, 0x1e),
      RELEASE, // 1 (digits unaffected)
      rep(0, KeyCode.ENTER),
      RELEASE,
      rep(0, 0x04),
      RELEASE,
      rep(0, KeyCode.ENTER),
      RELEASE,
    ]);
    expect(out).toEqual([
      { kind: 'text', text: 'Ab1' },
      { kind: 'text', text: 'a' },
    ]);
  });

  it('types GS as Ctrl+] and Ctrl+letter as its control character', () => {
    expect(keystrokeFor('\x1d')).toEqual({ modifiers: Modifier.LEFT_CTRL, code: KeyCode.CLOSE_BRACKET });
    const d = new KeyboardDecoder();
    expect(decodeAll(d, [...keyboardReports('AB\x1dCD')])).toEqual([{ kind: 'text', text: 'AB\x1dCD' }]);
    expect(decodeAll(d, [rep(Modifier.RIGHT_CTRL, 0x06), RELEASE, rep(0, KeyCode.ENTER)])).toEqual([{ kind: 'text', text: '\x03' }]);
  });

  it('refuses a scan with an unknown key code, naming the code, at its terminator', () => {
    const d = new KeyboardDecoder();
    const out = decodeAll(d, [rep(0, 0x04), RELEASE, rep(0, 0x3a), RELEASE, rep(0, 0x05), RELEASE, rep(0, KeyCode.ENTER), RELEASE]);
    expect(out).toEqual([{ kind: 'bad', reason: 'unknown key code 0x3a in the scan', length: 2 }]);
    // The next scan is clean again.
    expect(decodeAll(d, keyboardReports('ok'))).toEqual([{ kind: 'text', text: 'ok' }]);
  });

  it('refuses Alt/GUI combinations and malformed reports', () => {
    const d = new KeyboardDecoder();
    expect(decodeAll(d, [rep(Modifier.LEFT_ALT, 0x59), RELEASE, rep(0, KeyCode.ENTER), RELEASE])).toEqual([{ kind: 'bad', reason: 'Alt or GUI key combinations in the scan', length: 0 }]);
    expect(decodeAll(d, [new Uint8Array([1, 2, 3]), rep(0, KeyCode.ENTER)])).toEqual([{ kind: 'bad', reason: 'malformed keyboard report (3 bytes, expected 8)', length: 0 }]);
  });

  it('ignores the phantom state of too many keys (ErrorRollOver)', () => {
    const d = new KeyboardDecoder();
    const out = decodeAll(d, [rep(0, 0x04), rep(0, 1, 1, 1, 1, 1, 1), rep(0, 0x04), RELEASE, rep(0, KeyCode.ENTER)]);
    expect(out).toEqual([{ kind: 'text', text: 'a' }]);
  });

  it("strips a configured report ID and skips the device's other reports", () => {
    const d = new KeyboardDecoder({ reportId: 1 });
    const withId = keyboardReports('Q7').map((r) => Uint8Array.from([1, ...r]));
    expect(decodeAll(d, [Uint8Array.from([3, 0xff, 0xff]), ...withId])).toEqual([{ kind: 'text', text: 'Q7' }]);
  });

  it('cuts a scan short at the idle gap, and refuses one longer than the cap with its full length', () => {
    const d = new KeyboardDecoder({ maxLength: 5 });
    expect(d.idle()).toBeNull();
    decodeAll(d, keyboardReports('abc', { terminator: 'none' }));
    expect(d.inScan).toBe(true);
    expect(d.idle()).toEqual({ kind: 'bad', reason: expect.stringMatching(/^scan cut short/), length: 3 });
    expect(d.inScan).toBe(false);
    expect(decodeAll(d, keyboardReports('abcdefgh'))).toEqual([{ kind: 'bad', reason: 'scan of 8 characters is longer than the 5-character limit', length: 8 }]);
  });
});

function hidRig(idleGapMs = 50): { scanner: HidScanner; sim: HidKeyboardScannerSim; seen: { scans: string[]; rejected: ScannerEvents['rejected'][] } } {
  const sim = new HidKeyboardScannerSim();
  const scanner = new HidScanner({
    id: 'kb1',
    format: 'hid-keyboard',
    open: async () => ((sim.closed = false), sim),
    log: silentLogger(),
    reconnect: { reconnectInitialMs: 10, reconnectMaxMs: 50 },
    idleGapMs,
  });
  const seen = { scans: [] as string[], rejected: [] as ScannerEvents['rejected'][] };
  scanner.events.on('scan', (s) => seen.scans.push(s.text));
  scanner.events.on('rejected', (r) => seen.rejected.push(r));
  return { scanner, sim, seen };
}

describe('keyboard-wedge HID scanner driver', () => {
  it('emits one scan per label, drops the auto-Enter bounce, and refuses a truncated scan after the idle gap', async () => {
    const { scanner, sim, seen } = hidRig();
    await scanner.start();
    expect(scanner.connected).toBe(true);
    await sim.scan('SN-0001 Ab', { bounce: 'enter' });
    await sim.scan('SN-0002', { bounce: 'repeat' });
    expect(seen.scans).toEqual(['SN-0001 Ab', 'SN-0002']);
    const cut = nextEvent(scanner.events, 'rejected');
    await sim.fault('truncated', 'SN-0003');
    expect((await cut).reason).toMatch(/^scan cut short: no Enter\/Tab/);
    expect((await cut).length).toBe(4);
    await sim.scan('SN-0004');
    expect(seen.scans).toEqual(['SN-0001 Ab', 'SN-0002', 'SN-0004']);
    await scanner.stop();
  });

  it('refuses garbage reports with a reason and keeps working; reconnects after the device errors', async () => {
    const { scanner, sim, seen } = hidRig();
    await scanner.start();
    await sim.fault('garbage');
    expect(seen.rejected.map((r) => r.reason)).toEqual(['malformed keyboard report (5 bytes, expected 8)']);
    const lost = nextEvent(scanner.events, 'status', (s) => !s.connected);
    const back = nextEvent(scanner.events, 'status', (s) => s.connected);
    sim.unplug();
    expect((await lost).error).toMatch(/disconnected/);
    await back;
    await sim.scan('AFTER-REPLUG');
    expect(seen.scans).toEqual(['AFTER-REPLUG']);
    await scanner.stop();
  });
});
