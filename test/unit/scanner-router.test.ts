// Routing scans to slots: a scanner fixed to a slot, a roaming scanner pointed with a slot
// barcode (for its next scan, for 30 s), and the refusals in between.
import { describe, expect, it } from 'vitest';
import { createScanner } from '../../drivers/scanner/index.js';
import { simulatedScanner } from '../../drivers/scanner/simulator/index.js';
import { ScanRouter, type ScanRouterEvents } from '../../drivers/scanner/scan-router.js';
import { silentLogger } from '../../station/log.js';
import { waitFor } from '../support/wait.js';

function rig(slotCount = 4): { router: ScanRouter; advance: (ms: number) => void; routed: ScanRouterEvents['routed'][]; rejected: string[] } {
  let t = 5_000_000;
  const router = new ScanRouter({ scanners: [{ id: 'nest2', slot: 2 }, { id: 'hand1' }, { id: 'hand2' }] }, { log: silentLogger(), slotCount, now: () => t });
  const routed: ScanRouterEvents['routed'][] = [];
  const rejected: string[] = [];
  router.events.on('routed', (r) => routed.push(r));
  router.events.on('rejected', (r) => rejected.push(r.reason));
  return { router, advance: (ms) => (t += ms), routed, rejected };
}

describe('scan routing', () => {
  it('sends every scan of a fixed scanner to its slot', () => {
    const { router, routed } = rig();
    expect(router.route({ scannerId: 'nest2', text: 'SN1' })).toEqual({ kind: 'routed', slot: 2 });
    router.route({ scannerId: 'nest2', text: 'SN2' });
    expect(routed).toEqual([
      { slot: 2, scannerId: 'nest2', text: 'SN1' },
      { slot: 2, scannerId: 'nest2', text: 'SN2' },
    ]);
  });

  it("routes a roaming scanner's next scan to the slot its slot barcode selected, once", () => {
    const { router, routed, rejected } = rig();
    expect(router.route({ scannerId: 'hand1', text: 'SLOT:3' })).toEqual({ kind: 'selected', slot: 3 });
    expect(router.selectedSlot('hand1')).toBe(3);
    expect(router.selectedSlot('hand2')).toBeNull(); // per scanner
    expect(router.route({ scannerId: 'hand1', text: 'SN9' })).toEqual({ kind: 'routed', slot: 3 });
    expect(router.route({ scannerId: 'hand1', text: 'SN10' })).toEqual({ kind: 'rejected', reason: 'scan a slot barcode first' });
    expect(routed).toEqual([{ slot: 3, scannerId: 'hand1', text: 'SN9' }]);
    expect(rejected).toEqual(['scan a slot barcode first']);
  });

  it('refuses a roaming scan with no slot selected, and lets a selection expire after 30 s', () => {
    const { router, advance } = rig();
    expect(router.route({ scannerId: 'hand2', text: 'SN1' })).toEqual({ kind: 'rejected', reason: 'scan a slot barcode first' });
    router.route({ scannerId: 'hand2', text: 'SLOT:1' });
    advance(29_000);
    expect(router.selectedSlot('hand2')).toBe(1);
    advance(1_000);
    expect(router.route({ scannerId: 'hand2', text: 'SN1' })).toEqual({ kind: 'rejected', reason: 'scan a slot barcode first' });
    router.route({ scannerId: 'hand2', text: 'SLOT:4' });
    router.route({ scannerId: 'hand2', text: 'SLOT:1' }); // a second slot barcode replaces the first
    expect(router.route({ scannerId: 'hand2', text: 'SN2' })).toEqual({ kind: 'routed', slot: 1 });
  });

  it('refuses slot barcodes for slots the station does not have, or from a fixed scanner, and unknown scanners', () => {
    const { router } = rig(4);
    expect(router.route({ scannerId: 'hand1', text: 'SLOT:7' })).toEqual({ kind: 'rejected', reason: 'slot barcode names slot 7; this station has slots 1-4' });
    expect(router.route({ scannerId: 'hand1', text: 'SLOT:0' })).toMatchObject({ kind: 'rejected' });
    expect(router.route({ scannerId: 'nest2', text: 'SLOT:1' })).toEqual({ kind: 'rejected', reason: 'slot barcode ignored: scanner nest2 belongs to slot 2' });
    expect(router.route({ scannerId: 'ghost', text: 'SN1' })).toEqual({ kind: 'rejected', reason: 'scanner ghost is not in the scanner configuration' });
  });

  it('takes a configured slot barcode pattern and refuses bad configs with the key that is wrong', () => {
    const router = new ScanRouter({ scanners: [{ id: 'h' }], slotBarcodePattern: '^NEST-(\\d+)$' }, { log: silentLogger() });
    expect(router.route({ scannerId: 'h', text: 'NEST-12' })).toEqual({ kind: 'selected', slot: 12 });
    expect(router.route({ scannerId: 'h', text: 'SLOT:1' })).toEqual({ kind: 'routed', slot: 12 });
    expect(() => new ScanRouter({ scanners: [{ id: 'h' }], slotBarcodePattern: '^SLOT:\\d$' }, { log: silentLogger() })).toThrow(
      /slotBarcodePattern: must be a valid regular expression with a capture group/,
    );
    expect(() => new ScanRouter({ scanners: [{ id: 'h' }, { id: 'h' }] }, { log: silentLogger() })).toThrow(/scanner ids must be unique/);
    expect(() => new ScanRouter({ scanners: [{ id: 'h', slot: 9 }] }, { log: silentLogger(), slotCount: 4 })).toThrow(/scanner h is configured for slot 9, but this station has slots 1-4/);
  });

  it("routes a real scanner's scans once attached", async () => {
    const { router, routed } = rig();
    const sim = simulatedScanner('hand1', 'hid-keyboard');
    const simulation = sim.simulation;
    const scanner = createScanner({ id: 'hand1', port: sim.port, log: silentLogger() });
    const detach = router.attach(scanner);
    await scanner.start();
    await simulation?.inject('SLOT:2');
    await simulation?.inject('BOX-77', { bounce: 'enter' });
    await waitFor('condition', () => routed.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(routed).toEqual([{ slot: 2, scannerId: 'hand1', text: 'BOX-77' }]);
    detach();
    await scanner.stop();
  });
});
