// USB-HID scanners: a keyboard-wedge scanner (boot keyboard reports) or a HID-POS scanner (usage
// page 0x8C Scanned Data Reports), read through node-hid. node-hid is loaded lazily, on the first
// open of a HID scanner, through the emitter's loader: a machine without hidapi/libusb runs every
// other driver, and this one says once what to install (the station raises it as an alarm).
import type { Logger } from 'pino';
import { HidUnavailableError, importNodeHidWithBinding, loadNodeHid, type HidDeviceLike, type HidOpener } from '../emitter/hid-led.js';
import { HidPosDecoder } from './hid-pos.js';
import { KeyboardDecoder, type Terminator } from './keyboard-report.js';
import { FilteredScanner, type FilterSettings, type ReconnectSettings } from './scanner-base.js';

export interface HidTarget {
  /** The hidraw path (node-hid's `devices()[].path`); or, without one, the first device with these IDs. */
  path?: string;
  vendorId?: number;
  productId?: number;
}

type HidModule = { HIDAsync: { open(...args: unknown[]): Promise<HidDeviceLike> } };

/** Loads node-hid for scanners; a failure is a HidUnavailableError naming what to install. */
export async function loadScannerHid(importer: () => Promise<unknown> = importNodeHidWithBinding): Promise<HidModule> {
  try {
    return (await loadNodeHid(importer)) as unknown as HidModule;
  } catch (err) {
    if (err instanceof HidUnavailableError) throw new HidUnavailableError(err.message.replace(/^USB-HID emitters/, 'USB-HID scanners'));
    throw err;
  }
}

export function hidScannerOpener(target: HidTarget, load: () => Promise<HidModule> = () => loadScannerHid()): HidOpener {
  const what = describeTarget(target);
  return async () => {
    const hid = await load();
    try {
      if (target.path) return await hid.HIDAsync.open(target.path);
      return await hid.HIDAsync.open(target.vendorId, target.productId);
    } catch (err) {
      throw new Error(`cannot open HID scanner ${what}: ${(err as Error).message}`);
    }
  };
}

export function describeTarget(target: HidTarget): string {
  if (target.path) return target.path;
  const hex = (n: number | undefined): string => (n === undefined ? '*' : n.toString(16).padStart(4, '0'));
  return `${hex(target.vendorId)}:${hex(target.productId)}`;
}

type DecodedOutcome = { kind: 'text'; text: string } | { kind: 'bad'; reason: string; length: number };

interface ReportDecoder {
  readonly inScan: boolean;
  push(report: Uint8Array): DecodedOutcome[];
  idle(): DecodedOutcome | null;
}

function posReportDecoder(pos: HidPosDecoder): ReportDecoder {
  return {
    get inScan() {
      return pos.inScan;
    },
    push: (report) => {
      const outcome = pos.push(report);
      return outcome ? [outcome] : [];
    },
    idle: () => pos.idle(),
  };
}

export interface HidScannerOptions {
  id: string;
  /** Report format: keyboard-wedge boot reports, or HID-POS scanned data reports. */
  format: 'hid-keyboard' | 'hid-pos';
  open: HidOpener;
  log: Logger;
  filter?: FilterSettings;
  reconnect: ReconnectSettings;
  /** No report for this long in the middle of a scan cuts it short (default 50 ms). */
  idleGapMs?: number;
  /** Keyboard: keys that end a scan (default Enter and Tab). */
  terminators?: readonly Terminator[];
  /** A device with numbered reports: the report ID in front of each (keyboard: none by default). */
  reportId?: number;
  /** Called once when node-hid cannot load on this machine, with what to install. */
  onUnavailable?: (message: string) => void;
}

export class HidScanner extends FilteredScanner {
  private device: HidDeviceLike | null = null;
  private readonly decoder: ReportDecoder;
  private idleTimer: NodeJS.Timeout | null = null;
  private unavailable = false;

  constructor(private readonly opts: HidScannerOptions) {
    super(opts.id, opts.log, opts.filter ?? {}, opts.reconnect);
    const maxLength = opts.filter?.maxLength ?? 256;
    this.decoder =
      opts.format === 'hid-keyboard'
        ? new KeyboardDecoder({ terminators: opts.terminators, maxLength, reportId: opts.reportId })
        : posReportDecoder(new HidPosDecoder({ maxLength, reportId: opts.reportId }));
  }

  protected async close(): Promise<void> {
    this.clearIdle();
    this.markStopped();
    const device = this.device;
    this.device = null;
    device?.removeAllListeners();
    await Promise.resolve(device?.close()).catch((err: Error) => this.log.warn({ scanner: this.id, err: err.message }, 'closing the HID scanner failed'));
  }

  private onReport(report: Buffer): void {
    let outcomes: DecodedOutcome[];
    try {
      outcomes = this.decoder.push(report);
    } catch (err) {
      // The decoders do not throw on any input (fuzzed); this keeps a future bug from killing the daemon.
      this.log.error({ scanner: this.id, err: (err as Error).message }, 'HID report decoding failed');
      return;
    }
    for (const outcome of outcomes) {
      if (outcome.kind === 'text') this.deliver(outcome.text);
      else this.refuse(outcome.reason, outcome.length);
    }
    this.clearIdle();
    if (this.decoder.inScan) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        const cut = this.decoder.idle();
        if (cut?.kind === 'bad') this.refuse(cut.reason, cut.length);
      }, this.opts.idleGapMs ?? 50);
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  protected async connect(): Promise<void> {
    if (this.stopping || this.device || this.unavailable) return;
    let device: HidDeviceLike;
    try {
      device = await this.opts.open();
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof HidUnavailableError) {
        // Not a passing fault: retrying cannot install a library. Said once, as an alarm.
        this.unavailable = true;
        this.markDisconnected(message, false);
        this.opts.onUnavailable?.(message);
        return;
      }
      this.markDisconnected(message);
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await Promise.resolve(device.close()).catch(() => undefined);
      return;
    }
    this.device = device;
    device.on('data', (report) => {
      if (this.device === device) this.onReport(report);
    });
    device.on('error', (err) => {
      if (this.device !== device) return;
      this.device = null;
      device.removeAllListeners();
      void Promise.resolve(device.close()).catch(() => undefined);
      this.clearIdle();
      const cut = this.decoder.idle();
      if (cut?.kind === 'bad') this.refuse(cut.reason, cut.length);
      this.markDisconnected(`HID scanner ${this.id} disconnected: ${err.message}`);
      this.scheduleReconnect();
    });
    this.markConnected();
  }
}
