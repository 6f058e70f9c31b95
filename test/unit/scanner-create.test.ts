// Building scanners from config: every simulated model behind its real driver, a HID scanner on a
// machine where node-hid cannot load (one alarm naming what to install, no retry loop, and the
// other scanners keep working), a cable pulled and plugged back, and configs refused by key.
import { describe, expect, it } from 'vitest';
import { HidUnavailableError, loadNodeHid } from '../../drivers/emitter/hid-led.js';
import { loadScannerHid } from '../../drivers/scanner/hid-scanner.js';
import { createScanner, filterSettingsOf, scannerConfigSchema, scannerDriverSchema, scannerPortOf, type CreateScannerOptions } from '../../drivers/scanner/index.js';
import { simulatedScanner } from '../../drivers/scanner/simulator/index.js';
import type { ScannerEvents } from '../../drivers/scanner/scanner.js';
import { silentLogger } from '../../station/log.js';
import { nextEvent } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const noLibusb = (): Promise<never> => Promise.reject(new Error('libusb-1.0.so.0: cannot open shared object file: No such file or directory'));

function collect(events: { on: <K extends keyof ScannerEvents>(k: K, l: (p: ScannerEvents[K]) => void) => unknown }): { scans: string[]; reasons: string[] } {
  const seen = { scans: [] as string[], reasons: [] as string[] };
  events.on('scan', (s) => seen.scans.push(s.text));
  events.on('rejected', (r) => seen.reasons.push(r.reason));
  return seen;
}

/** A simulated scanner of `model` behind its real driver, as the simulated world builds one. */
function simulated(id: string, model: 'hid-keyboard' | 'hid-pos' | 'serial', extra: Partial<CreateScannerOptions> = {}) {
  const { port, simulation } = simulatedScanner(id, model);
  return { scanner: createScanner({ id, port, log: silentLogger(), ...extra }), simulation };
}

describe('createScanner', () => {
  it.each(['hid-keyboard', 'hid-pos', 'serial'] as const)('runs a simulated %s scanner through its real driver: scans, bounce, faults', async (model) => {
    const { scanner, simulation } = simulated(`sim-${model}`, model);
    expect(simulation).not.toBeNull();
    const seen = collect(scanner.events);
    await scanner.start();
    await waitFor('the simulated scanner to connect', () => scanner.connected, { timeoutMs: 5000, intervalMs: 2 });
    await simulation?.inject('SN00000042 a1b2c3', { bounce: 'enter' });
    await simulation?.fault('doubled', 'BOX-1');
    await simulation?.fault('garbage');
    const cut = nextEvent(scanner.events, 'rejected', (r) => r.reason.startsWith('scan cut short'));
    await simulation?.fault('truncated', 'SN00000043');
    await cut;
    await simulation?.inject('SN00000044');
    await waitFor('the last scan', () => seen.scans.length === 3, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen.scans).toEqual(['SN00000042 a1b2c3', 'BOX-1', 'SN00000044']);
    expect(seen.reasons.length).toBeGreaterThanOrEqual(2); // garbage (one or two reasons) and the truncated scan
    expect(seen.reasons.every((r) => r.length > 0)).toBe(true);
    await scanner.stop();
    expect(scanner.connected).toBe(false);
  });

  it('reconnects a simulated scanner whose cable is pulled', async () => {
    for (const model of ['serial', 'hid-pos'] as const) {
      const { scanner, simulation } = simulated(`pull-${model}`, model, { reconnect: { reconnectInitialMs: 20, reconnectMaxMs: 100 } });
      const seen = collect(scanner.events);
      await scanner.start();
      await waitFor('condition', () => scanner.connected, { timeoutMs: 5000, intervalMs: 2 });
      const lost = nextEvent(scanner.events, 'status', (s) => !s.connected);
      simulation?.unplug(100);
      expect((await lost).error).toMatch(/lost|disconnected/);
      await waitFor(`${model} to reconnect`, () => scanner.connected, { timeoutMs: 5000, intervalMs: 2 });
      await simulation?.inject('AFTER');
      await waitFor('condition', () => seen.scans.length === 1, { timeoutMs: 5000, intervalMs: 2 });
      expect(seen.scans).toEqual(['AFTER']);
      await scanner.stop();
    }
  });

  it('calls onUnavailable once, naming libusb and hidapi, when node-hid cannot load; a serial scanner beside it still works', async () => {
    const unavailable: string[] = [];
    const statuses: ScannerEvents['status'][] = [];
    const hid = {
      scanner: createScanner({
        id: 'hid1',
        port: scannerPortOf('hid1', { kind: 'hid-keyboard', path: '/dev/hidraw7' }, () => loadScannerHid(noLibusb)),
        log: silentLogger(),
        onUnavailable: (m) => unavailable.push(m),
        reconnect: { reconnectInitialMs: 10, reconnectMaxMs: 10 },
      }),
    };
    hid.scanner.events.on('status', (s) => statuses.push(s));
    const serial = simulated('ser1', 'serial');
    const seen = collect(serial.scanner.events);
    await hid.scanner.start();
    await serial.scanner.start();
    await hid.scanner.stop();
    await hid.scanner.start(); // a restart does not raise it again
    expect(hid.scanner.connected).toBe(false);
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]).toMatch(/^USB-HID scanners are unavailable: node-hid cannot load \(libusb-1\.0\.so\.0/);
    expect(unavailable[0]).toMatch(/hidapi/);
    expect(unavailable[0]).toMatch(/apt-get install libusb-1\.0-0/);
    expect(statuses).toEqual([{ connected: false, error: unavailable[0] }]);
    await waitFor('condition', () => serial.scanner.connected, { timeoutMs: 5000, intervalMs: 2 });
    await serial.simulation?.inject('STILL-WORKS');
    await waitFor('condition', () => seen.scans.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen.scans).toEqual(['STILL-WORKS']);
    await hid.scanner.stop();
    await serial.scanner.stop();
  });

  it('loads the real node-hid with its native part, or fails with the message naming what to install', async () => {
    const result = await loadScannerHid().then(
      (hid) => ({ ok: true as const, hid }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (result.ok) expect(typeof result.hid.HIDAsync.open).toBe('function');
    else {
      expect(result.e).toBeInstanceOf(HidUnavailableError);
      expect((result.e as Error).message).toMatch(/^USB-HID scanners are unavailable: .*apt-get install libusb-1\.0-0/);
    }
    // The emitter's own loader is untouched by the scanner's wording.
    expect(await loadNodeHid(noLibusb).catch((e: Error) => e.message)).toMatch(/^USB-HID emitters are unavailable/);
  });

  it('retries a HID scanner that is not plugged in (a plain open failure), without an alarm', async () => {
    const unavailable: string[] = [];
    let opens = 0;
    const scanner = createScanner({
      id: 'hid2',
      port: scannerPortOf('hid2', { kind: 'hid-pos', vendorId: 0x0c2e, productId: 0x0b61 }, async () => ({
        HIDAsync: {
          open: async (...args: unknown[]) => {
            opens++;
            throw new Error(`no device ${args.map((a) => (a as number).toString(16)).join(':')}`);
          },
        },
      })),
      log: silentLogger(),
      onUnavailable: (m) => unavailable.push(m),
      reconnect: { reconnectInitialMs: 5, reconnectMaxMs: 10 },
    });
    const down = nextEvent(scanner.events, 'status');
    await scanner.start();
    expect((await down).error).toBe('cannot open HID scanner 0c2e:0b61: no device c2e:b61');
    await waitFor('retries', () => opens >= 3, { timeoutMs: 5000, intervalMs: 2 });
    await scanner.stop();
    expect(unavailable).toEqual([]);
  });

  it('refuses driver configs with the key that is wrong', () => {
    expect(() => scannerPortOf('x', { kind: 'hid-keyboard' })).toThrow(/scanner x: driver config is invalid: path: a HID scanner needs a path, or a vendorId and a productId/);
    expect(() => scannerPortOf('x', { kind: 'serial', path: '/dev/ttyUSB0', delimiter: 'NUL' as 'CR' })).toThrow(/delimiter/);
    expect(scannerDriverSchema.parse({ kind: 'serial', path: '/dev/ttyUSB0' })).toEqual({ kind: 'serial', path: '/dev/ttyUSB0', baudRate: 9600, delimiter: 'CR' });
  });

  it('builds a scanner from a station config entry: its debounce, cap and Tab setting reach the filter', async () => {
    const cfg = scannerConfigSchema.parse({ id: 'hand-1', driver: { kind: 'simulated', model: 'hid-keyboard' }, maxLength: 12, debounceMs: 0, allowTab: true });
    expect(filterSettingsOf(cfg)).toEqual({ debounceMs: 0, maxLength: 12, allowedControls: ['\x1d', '\t'] });
    if (cfg.driver.kind !== 'simulated') throw new Error('the config above is a simulated scanner');
    const { scanner, simulation } = simulated(cfg.id, cfg.driver.model, { filter: filterSettingsOf(cfg) });
    const seen = collect(scanner.events);
    await scanner.start();
    await simulation?.inject('SAME');
    await simulation?.inject('SAME'); // debounce 0: a real second scan
    await simulation?.inject('THIRTEEN-CHAR');
    await waitFor('condition', () => seen.reasons.length === 1, { timeoutMs: 5000, intervalMs: 2 });
    expect(seen.scans).toEqual(['SAME', 'SAME']);
    expect(seen.reasons).toEqual(['scan of 13 characters is longer than the 12-character limit']);
    await scanner.stop();
    expect(() => scannerConfigSchema.parse({ id: 'bad id!', driver: { kind: 'simulated' } })).toThrow(/letters, digits/);
  });
});
