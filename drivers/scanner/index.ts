// Chooses a scanner's driver from its config: a keyboard-wedge or HID-POS scanner through node-hid
// (loaded only when one is used), a serial scanner through serialport, or one of their simulators
// (the real driver, with the simulated device behind the same seam: the HID device, or an
// in-memory serial cable). The station builds one per configured scanner and routes their scans
// with ScanRouter (scan-router.ts); scan-fields.ts splits a label's fields.
import type { Logger } from 'pino';
import { z } from 'zod';
import { MemoryLink } from '../transport/memory-link.js';
import { serialOpener } from '../transport/serial.js';
import { hidScannerOpener, HidScanner, loadScannerHid } from './hid-scanner.js';
import { DEFAULT_RECONNECT, type FilterSettings, type ReconnectSettings } from './scanner-base.js';
import type { Scanner } from './scanner.js';
import { SerialScanner } from './serial-scanner.js';
import { HidKeyboardScannerSim } from './simulator/hid-keyboard-sim.js';
import { HidPosScannerSim } from './simulator/hid-pos-sim.js';
import type { ScannerFault, SimScanOptions } from './simulator/scanner-sim.js';
import { SerialScannerSim } from './simulator/serial-scanner-sim.js';

export type { Scanner, ScanEvent, ScannerEvents, ScanRejectedEvent, ScannerStatusEvent } from './scanner.js';
export { ScanRouter, scanRouterConfigSchema, type ScanRouterConfig, type ScanRouterEvents, type RouteResult } from './scan-router.js';
export { ScanFields, redactScan, scanFieldRuleSchema, type ScanFieldRule, type SplitResult } from './scan-fields.js';
export { checkScanText, CONFIG_BARCODE_PATTERNS } from './scan-filter.js';
export type { ScannerFault } from './simulator/scanner-sim.js';

const hidId = z.number().int().min(0).max(0xffff);
const hidTarget = {
  /** The hidraw path (`/dev/hidraw3`, or node-hid's devices()[].path). */
  path: z.string().min(1).max(300).optional(),
  /** Without a path: the first device with this vendor and product ID. */
  vendorId: hidId.optional(),
  productId: hidId.optional(),
  /** A device with numbered reports: the ID in front of each report. */
  reportId: z.number().int().min(1).max(255).optional(),
};

export const scannerDriverSchema = z
  .discriminatedUnion('kind', [
    /** A USB scanner that types its scans as a keyboard (boot keyboard reports, US layout). */
    z.strictObject({ kind: z.literal('hid-keyboard'), ...hidTarget, terminators: z.array(z.enum(['enter', 'tab'])).min(1).default(['enter', 'tab']) }),
    /** A USB scanner in HID Point of Sale mode (usage page 0x8C). */
    z.strictObject({ kind: z.literal('hid-pos'), ...hidTarget }),
    /** A serial scanner (RS-232, or USB in virtual COM port mode). */
    z.strictObject({
      kind: z.literal('serial'),
      path: z.string().min(1).max(300),
      baudRate: z.number().int().min(1200).max(4_000_000).default(9600),
      delimiter: z.enum(['CR', 'LF', 'CRLF']).default('CR'),
      prefix: z.string().min(1).max(16).optional(),
      suffix: z.string().min(1).max(16).optional(),
    }),
    /** The real driver with a simulated scanner behind it. */
    z.strictObject({ kind: z.literal('simulated'), model: z.enum(['hid-keyboard', 'hid-pos', 'serial']).default('serial') }),
  ])
  .superRefine((d, ctx) => {
    if ((d.kind === 'hid-keyboard' || d.kind === 'hid-pos') && !d.path && (d.vendorId === undefined || d.productId === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'a HID scanner needs a path, or a vendorId and a productId' });
    }
  });

export type ScannerDriverConfig = z.input<typeof scannerDriverSchema>;

/** One scanner in the station config: its driver, its slot (absent: roaming) and its filter. */
export const scannerConfigSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (up to 64)'),
  slot: z.number().int().min(1).max(99).optional(),
  driver: scannerDriverSchema,
  /** The same scan again within this long is the auto-Enter bounce, dropped. */
  debounceMs: z.number().int().min(0).max(10_000).default(750),
  /** Longest scan accepted, in characters. */
  maxLength: z.number().int().min(1).max(4096).default(256),
  /** A scan with no terminator ends after this gap (default 50 ms HID, 300 ms serial). */
  idleGapMs: z.number().int().min(5).max(10_000).optional(),
  /** Let a Tab through inside a scan (a Tab-separated label); GS (0x1D) always passes. */
  allowTab: z.boolean().default(false),
});

export type ScannerConfig = z.input<typeof scannerConfigSchema>;

/** createScanner's filter settings from a scanner's config entry. */
export function filterSettingsOf(cfg: z.output<typeof scannerConfigSchema>): FilterSettings {
  return { debounceMs: cfg.debounceMs, maxLength: cfg.maxLength, allowedControls: cfg.allowTab ? ['\x1d', '\t'] : ['\x1d'] };
}

/** What a simulated scanner lets a test, the HTTP fault route or the simulated operator do. */
export interface ScannerSimulation {
  /** Sends `text` as one scan, as the real scanner would; resolves once it is all sent. */
  inject(text: string, opts?: SimScanOptions): Promise<void>;
  fault(kind: ScannerFault, text?: string): Promise<void>;
  /** Pulls the scanner's cable (a serial one stays unplugged for `ms`). */
  unplug(ms?: number): void;
}

export interface BuiltScanner {
  scanner: Scanner;
  simulation: ScannerSimulation | null;
}

export interface CreateScannerOptions {
  id: string;
  driver: ScannerDriverConfig;
  log: Logger;
  /** A driver that cannot work on this machine (node-hid missing): called once, with what to install. */
  onUnavailable?: (message: string) => void;
  filter?: FilterSettings;
  reconnect?: ReconnectSettings;
  /** Gap that ends a scan with no terminator: default 50 ms for HID, 300 ms for serial. */
  idleGapMs?: number;
  /** Where node-hid comes from (default: the installed package, loaded on first open). */
  loadHid?: typeof loadScannerHid;
}

export function createScanner(opts: CreateScannerOptions): BuiltScanner {
  const parsed = scannerDriverSchema.safeParse(opts.driver);
  if (!parsed.success) {
    throw new Error(`scanner ${opts.id}: driver config is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const driver = parsed.data;
  const log = opts.log.child({ part: 'drivers.scanner' });
  const common = { id: opts.id, log, filter: opts.filter, reconnect: opts.reconnect ?? DEFAULT_RECONNECT, idleGapMs: opts.idleGapMs };
  const loadHid = opts.loadHid ?? loadScannerHid;

  if (driver.kind === 'hid-keyboard' || driver.kind === 'hid-pos') {
    const scanner = new HidScanner({
      ...common,
      format: driver.kind,
      open: hidScannerOpener(driver, () => loadHid()),
      terminators: driver.kind === 'hid-keyboard' ? driver.terminators : undefined,
      reportId: driver.reportId,
      onUnavailable: opts.onUnavailable,
    });
    return { scanner, simulation: null };
  }
  if (driver.kind === 'serial') {
    const scanner = new SerialScanner({
      ...common,
      label: driver.path,
      open: serialOpener({ path: driver.path, baudRate: driver.baudRate }),
      delimiter: driver.delimiter,
      prefix: driver.prefix,
      suffix: driver.suffix,
    });
    return { scanner, simulation: null };
  }
  if (driver.model === 'serial') {
    const sim = new SerialScannerSim({ delimiter: 'CR' });
    const link = new MemoryLink(`sim-scanner:${opts.id}`, {
      attach: (stream) => {
        sim.attach(stream);
        return { detach: () => sim.detach() };
      },
    });
    const scanner = new SerialScanner({ ...common, label: link.label, open: link.open, delimiter: 'CR' });
    return { scanner, simulation: { inject: (text, o) => sim.scan(text, o), fault: (kind, text) => sim.fault(kind, text), unplug: (ms = 1000) => link.unplug(ms) } };
  }
  const sim = driver.model === 'hid-keyboard' ? new HidKeyboardScannerSim() : new HidPosScannerSim();
  const scanner = new HidScanner({
    ...common,
    format: driver.model,
    open: async () => {
      sim.closed = false; // plugged back in
      return sim;
    },
  });
  return { scanner, simulation: { inject: (text, o) => sim.scan(text, o), fault: (kind, text) => sim.fault(kind, text), unplug: () => sim.unplug() } };
}
