// Builds a scanner's driver from its port: a keyboard-wedge or HID-POS scanner through node-hid
// (loaded only when one is used), or a serial scanner through serialport. A simulated scanner is
// the same driver with the simulator's opener handed in by the composition root. The station
// routes their scans with ScanRouter (scan-router.ts); scan-fields.ts splits a label's fields.
import type { Logger } from 'pino';
import { z } from 'zod';
import type { HidOpener } from '../emitter/hid-led.js';
import type { PortOpener } from '../transport/port.js';
import { serialOpener } from '../transport/serial.js';
import { hidScannerOpener, HidScanner, loadScannerHid } from './hid-scanner.js';
import { DEFAULT_RECONNECT, type FilterSettings, type ReconnectSettings } from './scanner-base.js';
import type { Scanner } from './scanner.js';
import { SerialScanner, type ScanDelimiter } from './serial-scanner.js';
import type { ScannerFault, SimScanOptions } from './simulator/scanner-sim.js';

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
    z.strictObject({
      kind: z.literal('hid-keyboard'),
      ...hidTarget,
      terminators: z
        .array(z.enum(['enter', 'tab']))
        .min(1)
        .default(['enter', 'tab']),
    }),
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

/** What a scanner driver reads from. */
export type ScannerPort =
  | { kind: 'serial'; label: string; open: PortOpener; delimiter: ScanDelimiter; prefix?: string; suffix?: string }
  | { kind: 'hid-keyboard' | 'hid-pos'; label: string; open: HidOpener; terminators?: ('enter' | 'tab')[]; reportId?: number };

export interface CreateScannerOptions {
  id: string;
  port: ScannerPort;
  log: Logger;
  /** A driver that cannot work on this machine (node-hid missing): called once, with what to install. */
  onUnavailable?: (message: string) => void;
  filter?: FilterSettings;
  reconnect?: ReconnectSettings;
  /** Gap that ends a scan with no terminator: default 50 ms for HID, 300 ms for serial. */
  idleGapMs?: number;
}

/** The port of a real (not simulated) scanner from its driver config, checked. */
export function scannerPortOf(id: string, driver: ScannerDriverConfig, loadHid: typeof loadScannerHid = loadScannerHid): ScannerPort {
  const parsed = scannerDriverSchema.safeParse(driver);
  if (!parsed.success) {
    throw new Error(`scanner ${id}: driver config is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const d = parsed.data;
  if (d.kind === 'simulated') throw new Error(`scanner ${id}: a simulated scanner's port comes from the simulation`);
  if (d.kind === 'serial') return { kind: 'serial', label: d.path, open: serialOpener({ path: d.path, baudRate: d.baudRate }), delimiter: d.delimiter, prefix: d.prefix, suffix: d.suffix };
  return {
    kind: d.kind,
    label: d.path ?? `${d.vendorId ?? '*'}:${d.productId ?? '*'}`,
    open: hidScannerOpener(d, () => loadHid()),
    terminators: d.kind === 'hid-keyboard' ? d.terminators : undefined,
    reportId: d.reportId,
  };
}

export function createScanner(opts: CreateScannerOptions): Scanner {
  const log = opts.log.child({ part: 'drivers.scanner' });
  const common = { id: opts.id, log, filter: opts.filter, reconnect: opts.reconnect ?? DEFAULT_RECONNECT, idleGapMs: opts.idleGapMs };
  const port = opts.port;
  if (port.kind === 'serial') {
    return new SerialScanner({ ...common, label: port.label, open: port.open, delimiter: port.delimiter, prefix: port.prefix, suffix: port.suffix });
  }
  return new HidScanner({ ...common, format: port.kind, open: port.open, terminators: port.terminators, reportId: port.reportId, onUnavailable: opts.onUnavailable });
}
