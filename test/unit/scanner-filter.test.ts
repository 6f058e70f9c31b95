// The scan filter: the auto-Enter debounce, every reason a scan is refused, rejections logged once
// per reason per scanner, and a label's secret never reaching the log whatever happens to the scan.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkScanText, DEFAULT_SCAN_RULES, ScanFilter } from '../../drivers/scanner/scan-filter.js';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { createScanner } from '../../drivers/scanner/index.js';
import { simulatedScanner } from '../../drivers/scanner/simulator/index.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { captureStream } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('scan debounce', () => {
  it('passes the same scan once within the window and twice after it', () => {
    const c = clock();
    const f = new ScanFilter({ scannerId: 's1', log: silentLogger(), debounceMs: 750, now: c.now });
    expect(f.accept('SN-1').kind).toBe('scan');
    c.advance(300);
    expect(f.accept('SN-1')).toEqual({ kind: 'dropped', why: 'duplicate' });
    c.advance(760);
    expect(f.accept('SN-1').kind).toBe('scan');
  });

  it('keeps a label held under the scanner one scan (the window slides with each repeat)', () => {
    const c = clock();
    const f = new ScanFilter({ scannerId: 's1', log: silentLogger(), debounceMs: 750, now: c.now });
    const kinds = [f.accept('HELD').kind];
    for (let i = 0; i < 5; i++) {
      c.advance(500);
      kinds.push(f.accept('HELD').kind);
    }
    expect(kinds).toEqual(['scan', 'dropped', 'dropped', 'dropped', 'dropped', 'dropped']);
  });

  it('passes a different scan at once, and drops the empty scan of a double Enter', () => {
    const c = clock();
    const f = new ScanFilter({ scannerId: 's1', log: silentLogger(), now: c.now });
    expect(f.accept('SN-1').kind).toBe('scan');
    expect(f.accept('')).toEqual({ kind: 'dropped', why: 'empty' });
    expect(f.accept('SN-2').kind).toBe('scan');
    expect(f.accept('SN-1').kind).toBe('scan'); // not the last scan: a real second scan
  });

  it('debounces per scanner: two scanners reading the same label both count', () => {
    const c = clock();
    const a = new ScanFilter({ scannerId: 'a', log: silentLogger(), now: c.now });
    const b = new ScanFilter({ scannerId: 'b', log: silentLogger(), now: c.now });
    expect([a.accept('SAME').kind, b.accept('SAME').kind]).toEqual(['scan', 'scan']);
  });
});

describe('scan sanitiser', () => {
  const cases: [string, string, string][] = [
    ['over-long input', 'A'.repeat(257), 'scan of 257 characters is longer than the 256-character limit'],
    ['a control character', 'SN\x07123', 'control characters in the scan'],
    ['a NUL', 'SN\x00', 'control characters in the scan'],
    ['a C1 control', 'SN\u0085X', 'control characters in the scan'],
    ['DEL', 'SN\x7f', 'control characters in the scan'],
    ['a Tab when Tab is not allowed', 'SN\t1', 'control characters in the scan'],
    ['an ANSI escape sequence', 'SN\x1b[31mRED', 'escape sequence in the scan'],
    ['an ANSI sequence at the start', '\x1b[2J', 'escape sequence in the scan'],
    ['a bidi override', 'SN\u202E123', 'bidirectional override characters in the scan'],
    ['a bidi isolate', '\u2066SN', 'bidirectional override characters in the scan'],
    ['a zero-width space', 'SN\u200B1', 'zero-width characters in the scan'],
    ['a byte order mark', '\uFEFFSN', 'zero-width characters in the scan'],
    ['a soft hyphen', 'SN\u00AD1', 'invisible format characters in the scan'],
    ['a lone high surrogate', 'SN\uD800', 'broken Unicode (an unpaired surrogate) in the scan'],
    ['a lone low surrogate', '\uDC00SN', 'broken Unicode (an unpaired surrogate) in the scan'],
    ['a private-use character', 'SN\uE000', 'unassigned or private-use characters in the scan'],
    ['a noncharacter', 'SN\uFFFF', 'unassigned or private-use characters in the scan'],
    ['a no-break space', 'SN\u00A01', 'unusual space characters in the scan'],
    ['a line separator', 'SN\u20281', 'unusual space characters in the scan'],
    ['a leading combining mark', '\u0301SN', 'the scan starts with a combining mark'],
    ['only spaces', '   ', 'blank scan (only spaces or separators)'],
    ['an FNC3 configuration barcode', '^FNC3DEFALT', 'configuration barcode ignored'],
    ['an <FNC3> configuration barcode', '<FNC3>9999', 'configuration barcode ignored'],
    ['an ESC command', '\x1bS', 'configuration barcode ignored'],
    ['a Newland setting code', 'NLS0006010', 'configuration barcode ignored'],
    ['a Datalogic programming command', '$PSETUP', 'configuration barcode ignored'],
    ['a Honeywell menu command', 'DEFALT.', 'configuration barcode ignored'],
  ];
  it.each(cases)('refuses %s with its reason', (_what, text, reason) => {
    expect(checkScanText(text)).toEqual({ ok: false, reason });
  });

  it('accepts ordinary labels, GS-separated GS1 fields, accented letters and emoji', () => {
    for (const text of ['SN12345678 0123456789abcdef', '01095011010209171719050810ABCD1234\x1d21SERIAL', 'Müller-Lüdenscheid', 'naïve café', 'BOX 📦 42', 'A'.repeat(256)]) {
      expect(checkScanText(text)).toEqual({ ok: true });
    }
    expect(checkScanText('SN\t1', { ...DEFAULT_SCAN_RULES, allowedControls: ['\t'] })).toEqual({ ok: true });
  });

  it('honours a configured cap and extra configuration patterns', () => {
    const f = new ScanFilter({ scannerId: 's', log: silentLogger(), maxLength: 8, extraConfigPatterns: [/^@@CFG/] });
    expect(f.accept('123456789')).toMatchObject({ kind: 'rejected', reason: 'scan of 9 characters is longer than the 8-character limit', length: 9 });
    expect(f.accept('@@CFG1')).toMatchObject({ kind: 'rejected', reason: 'configuration barcode ignored' });
  });
});

describe('rejection logging', () => {
  function capturingFilter(relogAfterMs?: number): { filter: ScanFilter; lines: () => Record<string, unknown>[]; c: ReturnType<typeof clock> } {
    const out = captureStream();
    const c = clock();
    const log = pino({ level: 'debug' }, out.stream);
    const filter = new ScanFilter({ scannerId: 'kb7', log, now: c.now, relogAfterMs });
    const lines = (): Record<string, unknown>[] =>
      out
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { filter, lines, c };
  }

  it('logs each distinct reason once per scanner, and a repeat only after the quiet period, with a count', () => {
    const { filter, lines, c } = capturingFilter(60_000);
    for (let i = 0; i < 20; i++) filter.accept(`X\x07${i}`);
    for (let i = 0; i < 5; i++) filter.accept(`Y\x1b[${i}m`);
    filter.reject('scan cut short: no Enter/Tab after the last key (the idle gap passed)', 3);
    const warned = lines().filter((l) => l.level === 40);
    expect(warned.map((l) => l.reason)).toEqual(['control characters in the scan', 'escape sequence in the scan', 'scan cut short: no Enter/Tab after the last key (the idle gap passed)']);
    expect(warned.every((l) => l.scanner === 'kb7')).toBe(true);
    c.advance(61_000);
    filter.accept('Z\x07');
    const again = lines()
      .filter((l) => l.level === 40)
      .slice(3);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ reason: 'control characters in the scan', repeats: 19 });
  });

  it('never logs the scan text, whether accepted, bounced or refused, and a secret field stays out', async () => {
    const out = captureStream();
    const { log } = createLogger({ level: 'trace', destination: out.stream as never });
    const secret = 'f00dfeedcafe4242deadbeef13371337';
    const sim = simulatedScanner('ser9', 'serial');
    const simulation = sim.simulation;
    const scanner = createScanner({ id: 'ser9', port: sim.port, log });
    const fields = new ScanFields({ separator: ' ', fields: ['serial', 'secret'], patterns: { serial: '^[A-Z0-9]{10}$' }, secretFields: ['secret'] });
    const seen: string[] = [];
    const rejected: string[] = [];
    scanner.events.on('scan', (s) => {
      const split = fields.split(s.text);
      // What a caller may log: the redacted fields, or the reason.
      if (split.ok) log.info({ fields: fields.redact(split.fields) }, 'label scanned');
      else log.info({ reason: split.reason }, 'label refused');
      seen.push(s.text);
    });
    scanner.events.on('rejected', (r) => rejected.push(r.reason));
    await scanner.start();
    await waitFor('condition', () => scanner.connected, { timeoutMs: 5000, intervalMs: 2 });
    await simulation?.inject(`SN12345678 ${secret}`, { bounce: 'repeat' });
    await simulation?.inject(`sn-bad ${secret}`);
    await simulation?.inject(`SN12345678 ${secret}\x07`);
    await simulation?.inject(`SN12345678 ${secret}${'x'.repeat(300)}`);
    await simulation?.inject(`\x1b[0mSN12345678 ${secret}`);
    await simulation?.fault('truncated', `SN12345678 ${secret}`);
    await waitFor('the scans and rejections', () => rejected.length === 4 && seen.length === 2, { timeoutMs: 5000, intervalMs: 2 });
    await scanner.stop();
    const text = out.text();
    expect(text).toContain('[redacted]');
    expect(text).toContain('scan rejected');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(0, 16)); // not even the half a truncated scan carried
  });
});
