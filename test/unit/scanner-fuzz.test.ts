// Fuzzing what a scanner can send: arbitrary HID report bytes through both decoders, arbitrary
// byte streams through the serial framing, and arbitrary strings (control characters, escape
// sequences, odd Unicode, configuration barcodes inside labels) through the filter. Nothing
// throws; every accepted scan is printable and within the cap; every rejection has a reason.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { duplexPair } from '../../drivers/transport/memory-link.js';
import { HidPosDecoder, POS_REPORT_BYTES } from '../../drivers/scanner/hid-pos.js';
import { KeyboardDecoder } from '../../drivers/scanner/keyboard-report.js';
import { ScanFilter, type FilterOutcome } from '../../drivers/scanner/scan-filter.js';
import { SerialScanner } from '../../drivers/scanner/serial-scanner.js';
import { keyboardReports } from '../../drivers/scanner/simulator/hid-keyboard-sim.js';
import { silentLogger } from '../../station/log.js';
import { waitFor } from '../support/wait.js';

const CAP = 64;

/** Independent of the filter's own code: what "printable" means for a scan the line may act on. */
function isPrintableScan(text: string): boolean {
  const withoutGs = text.split('\x1d').join('');
  return text.length > 0 && text.length <= CAP && !/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u.test(withoutGs) && !/[^\S ]/u.test(withoutGs) && withoutGs.trim() !== '';
}

function checkOutcome(o: FilterOutcome): void {
  if (o.kind === 'scan') expect(isPrintableScan(o.text), JSON.stringify(o.text)).toBe(true);
  if (o.kind === 'rejected') {
    expect(o.reason.length).toBeGreaterThan(0);
    expect(o.length).toBeGreaterThanOrEqual(0);
  }
}

function filter(): ScanFilter {
  let t = 0;
  return new ScanFilter({ scannerId: 'fuzz', log: silentLogger(), maxLength: CAP, now: () => (t += 1000) });
}

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)); // lone surrogates included
const nasty = fc.constantFrom(
  '\x1b[31m',
  '\x1b',
  '\u202E',
  '\u200B',
  '\uFEFF',
  '\x00',
  '\x7f',
  '\u0085',
  '\uD800',
  '\uDFFF',
  '\u0301',
  '\t',
  '\r\n',
  '\x1d',
  '^FNC3',
  'NLS0006010',
  '$P',
  'DEFALT.',
  '\uE000',
  '\u00A0',
);
const scanText = fc.string({
  unit: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...'ABCDEFGHIJ0123456789 -:/') },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 1 }) },
    { weight: 1, arbitrary: codeUnit },
    { weight: 1, arbitrary: nasty },
  ),
  maxLength: 90,
});

describe('scanner input fuzzing', () => {
  it('filters arbitrary strings without throwing: accepted scans are printable and within the cap, rejections have reasons', () => {
    fc.assert(
      fc.property(fc.array(scanText, { maxLength: 8 }), (texts) => {
        const f = filter();
        for (const text of texts) {
          const o = f.accept(text);
          checkOutcome(o);
          if (o.kind === 'scan') expect(o.text).toBe(text); // accepted means unchanged, never "cleaned up"
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a label that carries a configuration barcode at its start', () => {
    fc.assert(
      fc.property(fc.constantFrom('^FNC3', '<FNC3>', '{fnc3}', '\x1bZ', 'NLS0006010', '$PSET', '$+', 'DEFALT.'), fc.string({ maxLength: 20 }), (config, rest) => {
        const text = config === '$+' ? config : config + rest;
        const o = filter().accept(text);
        expect(o).toMatchObject({ kind: 'rejected', reason: 'configuration barcode ignored' });
      }),
    );
  });

  it('decodes arbitrary keyboard report bytes without throwing, and every scan out of the filter is clean', () => {
    const report = fc.oneof(
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 12 }) },
      { weight: 3, arbitrary: fc.tuple(fc.nat(255), fc.uint8Array({ minLength: 6, maxLength: 6, max: 0x70 })).map(([m, keys]) => Uint8Array.from([m, 0, ...keys])) },
      { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(8), Uint8Array.from([0, 0, 0x28, 0, 0, 0, 0, 0]), Uint8Array.from([0, 0, 0x2b, 0, 0, 0, 0, 0])) },
    );
    fc.assert(
      fc.property(fc.array(report, { maxLength: 60 }), fc.boolean(), (reports, withId) => {
        const d = new KeyboardDecoder({ maxLength: CAP, reportId: withId ? 1 : undefined });
        const f = filter();
        for (const r of reports) {
          for (const o of d.push(withId ? Uint8Array.from([1, ...r]) : r)) {
            checkOutcome(o.kind === 'text' ? f.accept(o.text) : f.reject(o.reason, o.length));
          }
        }
        const last = d.idle();
        if (last) checkOutcome(last.kind === 'text' ? f.accept(last.text) : f.reject(last.reason, last.length));
        expect(d.inScan).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes any typable string typed by the simulator back to itself or refuses it with a reason', () => {
    const typable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '\x1d', '\x1b'), maxLength: 80 });
    fc.assert(
      fc.property(typable, fc.boolean(), (text, rollover) => {
        const d = new KeyboardDecoder({ maxLength: CAP, terminators: ['enter'] });
        const out = keyboardReports(text, { rollover }).flatMap((r) => d.push(r));
        expect(out).toHaveLength(1);
        const [o] = out;
        if (text.length > CAP) expect(o).toMatchObject({ kind: 'bad', length: text.length });
        else expect(o).toEqual({ kind: 'text', text });
      }),
      { numRuns: 1000 },
    );
  });

  it('reassembles arbitrary HID-POS report bytes without throwing', () => {
    const report = fc.oneof(
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 70 }) },
      {
        weight: 4,
        arbitrary: fc.tuple(fc.nat(70), fc.uint8Array({ minLength: 61, maxLength: 61 }), fc.nat(3)).map(([n, rest, flags]) => {
          const r = new Uint8Array(POS_REPORT_BYTES);
          r[0] = 2;
          r[1] = n;
          r.set(rest.subarray(0, 61), 2);
          r[63] = flags;
          return r;
        }),
      },
    );
    fc.assert(
      fc.property(fc.array(report, { maxLength: 30 }), (reports) => {
        const d = new HidPosDecoder({ maxLength: CAP });
        const f = filter();
        for (const r of reports) {
          const o = d.push(r);
          if (o) checkOutcome(o.kind === 'text' ? f.accept(o.text) : f.reject(o.reason, o.length));
        }
        const last = d.idle();
        if (last) checkOutcome(f.reject(last.kind === 'bad' ? last.reason : 'x', 0));
      }),
      { numRuns: 2000 },
    );
  });

  it("takes arbitrary bytes on a serial scanner's port without throwing; every scan it emits is clean", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(Buffer.from('GOOD-1\r'), Buffer.from('\r\r'), Buffer.from('\x1b[2J\r'))), { maxLength: 12 }),
        async (chunks) => {
          const [station, far] = duplexPair();
          let t = 0;
          const scanner = new SerialScanner({
            id: 'fz',
            label: 'memory',
            open: async () => ({ stream: station, close: async () => void station.destroy() }),
            log: silentLogger(),
            delimiter: 'CR',
            filter: { maxLength: CAP, now: () => (t += 1000) },
            reconnect: { reconnectInitialMs: 1000, reconnectMaxMs: 1000 },
            idleGapMs: 5,
          });
          const events: FilterOutcome[] = [];
          scanner.events.on('scan', (s) => events.push({ kind: 'scan', text: s.text, at: s.at }));
          scanner.events.on('rejected', (r) => events.push({ kind: 'rejected', reason: r.reason, length: r.length }));
          await scanner.start();
          for (const c of chunks) far.write(Buffer.from(c));
          far.write(Buffer.from('\rEND-MARK\r')); // ends whatever came before, then a known scan
          await waitFor('the end marker', () => events.some((e) => e.kind === 'scan' && e.text === 'END-MARK'), { timeoutMs: 2000, intervalMs: 2 });
          await scanner.stop();
          for (const e of events) checkOutcome(e);
        },
      ),
      { numRuns: 150 },
    );
  });
});
