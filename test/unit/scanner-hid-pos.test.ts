// HID-POS scanners (usage page 0x8C): Scanned Data Reports reassembled into scans, through the
// pure decoder and through the HID driver with the simulated scanner.
import { describe, expect, it } from 'vitest';
import { HidScanner } from '../../drivers/scanner/hid-scanner.js';
import { HidPosDecoder, POS_DATA_BYTES, POS_FLAG_CONTINUED, POS_FLAGS_OFFSET, POS_REPORT_BYTES, posScanReports } from '../../drivers/scanner/hid-pos.js';
import { HidPosScannerSim } from '../../drivers/scanner/simulator/hid-pos-sim.js';
import { silentLogger } from '../../station/log.js';
import { nextEvent } from '../support/unit-fakes.js';

describe('HID-POS report decoding', () => {
  it('lays a scan out as documented: report ID 2, length, AIM identifier, data, continued flag', () => {
    const [r] = posScanReports(Buffer.from('ABC'), ']C0');
    expect(r?.length).toBe(POS_REPORT_BYTES);
    expect([...(r as Buffer).subarray(0, 8)]).toEqual([0x02, 3, 0x5d, 0x43, 0x30, 0x41, 0x42, 0x43]);
    expect(r?.[POS_FLAGS_OFFSET]).toBe(0);
  });

  it('reassembles a scan spread over several reports, UTF-8 split across a report boundary included', () => {
    const text = `${'X'.repeat(POS_DATA_BYTES - 1)}é${'0123456789'.repeat(8)}`;
    const reports = posScanReports(Buffer.from(text, 'utf8'));
    expect(reports.length).toBe(3);
    expect(reports.slice(0, -1).every((r) => (r[POS_FLAGS_OFFSET] as number) & POS_FLAG_CONTINUED)).toBe(true);
    const d = new HidPosDecoder();
    const outcomes = reports.map((r) => d.push(r));
    expect(outcomes.slice(0, -1)).toEqual([null, null]);
    expect(outcomes.at(-1)).toEqual({ kind: 'text', text, symbology: ']d1' });
    expect(d.inScan).toBe(false);
  });

  it('gives an empty scan for an empty report and ignores reports with other IDs', () => {
    const d = new HidPosDecoder();
    const status = Buffer.alloc(POS_REPORT_BYTES);
    status[0] = 0x04;
    expect(d.push(status)).toBeNull();
    expect(d.inScan).toBe(false);
    expect(d.push(posScanReports(new Uint8Array(0))[0] as Buffer)).toEqual({ kind: 'text', text: '', symbology: ']d1' });
  });

  it('refuses malformed reports, bytes that are not UTF-8, over-long scans, and a scan whose rest never came', () => {
    const d = new HidPosDecoder({ maxLength: 10 });
    expect(d.push(Buffer.from([0x02, 1, 0, 0, 0, 0x41]))).toBeNull();
    expect(d.push(posScanReports(Buffer.from('A'))[0] as Buffer)).toEqual({ kind: 'bad', reason: 'malformed HID-POS report (6 bytes, expected 64)', length: 1 });
    const lying = Buffer.alloc(POS_REPORT_BYTES);
    lying[0] = 0x02;
    lying[1] = 57;
    expect(d.push(lying)).toEqual({ kind: 'bad', reason: `malformed HID-POS report (claims 57 data bytes, at most ${POS_DATA_BYTES} fit)`, length: 0 });
    expect(d.push(posScanReports(Buffer.from([0x41, 0xc3, 0x28]))[0] as Buffer)).toEqual({ kind: 'bad', reason: 'the scan is not UTF-8 text', length: 3 });
    const long = posScanReports(Buffer.from('Z'.repeat(100)));
    expect(long.map((r) => d.push(r)).at(-1)).toEqual({ kind: 'bad', reason: 'scan of 100 bytes is longer than the 10-character limit', length: 100 });
    d.push(posScanReports(Buffer.from('Z'.repeat(70)))[0] as Buffer);
    expect(d.inScan).toBe(true);
    expect(d.idle()).toEqual({ kind: 'bad', reason: expect.stringMatching(/^scan cut short: a HID-POS report said more data follows/), length: POS_DATA_BYTES });
    expect(d.push(posScanReports(Buffer.from('fine'))[0] as Buffer)).toMatchObject({ kind: 'text', text: 'fine' });
  });
});

describe('HID-POS scanner driver', () => {
  it('emits long scans whole, drops a doubled scan, and refuses garbage and a truncated scan', async () => {
    const sim = new HidPosScannerSim();
    const scanner = new HidScanner({ id: 'pos1', format: 'hid-pos', open: async () => sim, log: silentLogger(), reconnect: { reconnectInitialMs: 10, reconnectMaxMs: 50 } });
    const scans: string[] = [];
    const reasons: string[] = [];
    scanner.events.on('scan', (s) => scans.push(s.text));
    scanner.events.on('rejected', (r) => reasons.push(r.reason));
    await scanner.start();
    const long = `SN12345678 ${'k'.repeat(120)}`;
    await sim.scan(long);
    await sim.fault('doubled', 'SN-DOUBLE');
    await sim.fault('garbage');
    const cut = nextEvent(scanner.events, 'rejected', (r) => r.reason.startsWith('scan cut short'));
    await sim.fault('truncated');
    await cut;
    await sim.scan('SN-LAST', { bounce: 'enter' });
    expect(scans).toEqual([long, 'SN-DOUBLE', 'SN-LAST']);
    expect(reasons).toEqual([
      `malformed HID-POS report (claims 200 data bytes, at most ${POS_DATA_BYTES} fit)`,
      'the scan is not UTF-8 text',
      'scan cut short: a HID-POS report said more data follows, and none came',
    ]);
    await scanner.stop();
  });
});
