// The LED emitter as a USB-HID device: the same frames as the serial emitter, carried in 64-byte
// HID reports (docs/protocols.md, "Emitter over USB-HID"). node-hid is loaded lazily, only when a
// slot has a HID emitter: a machine without hidapi/libusb runs every other driver, and this one
// reports what to install.
import type { Logger } from 'pino';
import { EventBus } from '../../lib/event-bus.js';
import { EmitterError, type EmitOptions, type EmitResult, type Emitter, type EmitterEvents } from './emitter.js';

export const REPORT_BYTES = 64;
export const HidCommand = { FRAME_BEGIN: 0x01, FRAME_DATA: 0x02, FRAME_PLAY: 0x03, STOP: 0x04 } as const;
export const HidAnswer = { PLAYED: 0x81, ERROR: 0x82 } as const;
export const HID_ERRORS: Record<number, string> = { 1: 'BAD_RATE', 2: 'BAD_DATA', 3: 'BUSY' };
/** Symbol bytes in one FRAME_DATA report: 64 less report ID, command, sequence and length. */
export const DATA_BYTES_PER_REPORT = REPORT_BYTES - 4;

/** What the driver needs of an open HID device: node-hid's HIDAsync, or the simulator. */
export interface HidDeviceLike {
  write(data: number[]): Promise<number> | number;
  close(): Promise<void> | void;
  on(event: 'data', listener: (report: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
}

export type HidOpener = () => Promise<HidDeviceLike>;

export class HidUnavailableError extends Error {}

/**
 * node-hid imports without its native part and loads that on first use, so a missing libusb only
 * shows when a device is opened. Asking for the hidapi version loads it here, where the failure
 * becomes the "what to install" message instead of a "cannot open" retried forever.
 */
export async function importNodeHidWithBinding(): Promise<unknown> {
  const mod = (await import('node-hid')) as { getHidapiVersion?: () => string; default?: { getHidapiVersion?: () => string } };
  (mod.getHidapiVersion ?? mod.default?.getHidapiVersion)?.();
  return mod;
}

/** Loads node-hid on first use; a failure names the system packages it needs. */
export async function loadNodeHid(importer: () => Promise<unknown> = importNodeHidWithBinding): Promise<{ HIDAsync: { open(path: string): Promise<HidDeviceLike> } }> {
  try {
    const mod = (await importer()) as { HIDAsync?: unknown; default?: { HIDAsync?: unknown } };
    const HIDAsync = (mod.HIDAsync ?? mod.default?.HIDAsync) as { open(path: string): Promise<HidDeviceLike> } | undefined;
    if (!HIDAsync) throw new Error('the node-hid module has no HIDAsync');
    return { HIDAsync };
  } catch (err) {
    throw new HidUnavailableError(
      `USB-HID emitters are unavailable: node-hid cannot load (${(err as Error).message.split('\n')[0]}). ` +
        "Install hidapi's runtime libraries (Debian: apt-get install libusb-1.0-0 libudev1) and the optional npm package node-hid, then restart.",
    );
  }
}

export function nodeHidOpener(path: string): HidOpener {
  return async () => {
    const hid = await loadNodeHid();
    try {
      return await hid.HIDAsync.open(path);
    } catch (err) {
      throw new Error(`cannot open HID device ${path}: ${(err as Error).message}`);
    }
  };
}

/** The reports that carry one frame. */
export function frameReports(symbols: Uint8Array, opts: EmitOptions): number[][] {
  const packed = Buffer.alloc(Math.ceil(symbols.length / 8));
  for (let i = 0; i < symbols.length; i++) if (symbols[i]) packed[i >> 3] = (packed[i >> 3] as number) | (0x80 >> (i & 7));
  const reports: number[][] = [[0x00, HidCommand.FRAME_BEGIN, opts.symbolRateHz, opts.activeLow ? 1 : 0, symbols.length >> 8, symbols.length & 0xff]];
  for (let seq = 0, at = 0; at < packed.length; seq++, at += DATA_BYTES_PER_REPORT) {
    const chunk = packed.subarray(at, at + DATA_BYTES_PER_REPORT);
    reports.push([0x00, HidCommand.FRAME_DATA, seq & 0xff, chunk.length, ...chunk]);
  }
  reports.push([0x00, HidCommand.FRAME_PLAY]);
  return reports.map((r) => [...r, ...new Array<number>(REPORT_BYTES + 1 - r.length).fill(0)]);
}

function stopReport(): number[] {
  return [0x00, HidCommand.STOP, ...new Array<number>(REPORT_BYTES - 1).fill(0)];
}

interface PendingFrame {
  expected: number;
  resolve(r: EmitResult): void;
  reject(e: EmitterError): void;
}

export class HidLedEmitter implements Emitter {
  readonly kind = 'led' as const;
  readonly events = new EventBus<EmitterEvents>();
  private device: HidDeviceLike | null = null;
  private pending: PendingFrame | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private lastError: string | null = null;

  constructor(private readonly opts: { label: string; open: HidOpener; log: Logger; reconnectMs: number; onUnavailable?: (message: string) => void }) {}

  get label(): string {
    return this.opts.label;
  }

  get connected(): boolean {
    return this.device !== null;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.pending?.reject(new EmitterError('disconnected', `emitter ${this.label} stopped`));
    this.pending = null;
    const device = this.device;
    this.device = null;
    device?.removeAllListeners();
    await Promise.resolve(device?.close()).catch(() => undefined);
  }

  async emit(symbols: Uint8Array, opts: EmitOptions, signal?: AbortSignal): Promise<EmitResult> {
    const device = this.device;
    if (!device) throw new EmitterError('disconnected', `emitter ${this.label} is not connected`);
    if (this.pending) throw new EmitterError('rejected', `emitter ${this.label} is already playing a frame`);
    const onAirMs = (symbols.length / opts.symbolRateHz) * 1000;
    const played = new Promise<EmitResult>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending = null;
          void Promise.resolve(device.write(stopReport())).catch(() => undefined); // as the serial emitter: the next frame must not find it busy
          reject(new EmitterError('not-responding', `emitter ${this.label}: no PLAYED report within ${Math.ceil(onAirMs) + 2000} ms`));
        },
        Math.ceil(onAirMs) + 2000,
      );
      const onAbort = (): void => {
        clearTimeout(timer);
        this.pending = null;
        void Promise.resolve(device.write(stopReport())).catch(() => undefined);
        reject(new EmitterError('aborted', 'the run was interrupted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        expected: symbols.length,
        resolve: (r) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
    });
    try {
      for (const report of frameReports(symbols, opts)) {
        if (signal?.aborted) break; // STOP has been sent; the rest of the frame must not follow it
        await device.write(report);
      }
    } catch (err) {
      const pending = this.pending as PendingFrame | null; // set by the promise above
      pending?.reject(new EmitterError('disconnected', `writing to ${this.label} failed: ${(err as Error).message}`));
      this.pending = null;
    }
    return played;
  }

  private onReport(report: Buffer): void {
    const pending = this.pending;
    if (!pending) return;
    if (report[0] === HidAnswer.PLAYED && report.length >= 7) {
      this.pending = null;
      const played = report.readUInt16BE(1);
      if (played !== pending.expected) {
        pending.reject(new EmitterError('not-responding', `emitter ${this.label} reported ${played} symbols played, expected ${pending.expected}`));
        return;
      }
      pending.resolve({ symbols: played, onAirMs: report.readUInt32BE(3) });
    } else if (report[0] === HidAnswer.ERROR) {
      this.pending = null;
      pending.reject(new EmitterError('rejected', `emitter ${this.label} refused the frame: ${HID_ERRORS[report[1] ?? 0] ?? `error ${report[1]}`}`));
    } else {
      this.pending = null;
      pending.reject(new EmitterError('not-responding', `emitter ${this.label} sent an unknown report 0x${(report[0] ?? 0).toString(16)}`));
    }
  }

  private async connect(): Promise<void> {
    if (this.stopping || this.device) return;
    let device: HidDeviceLike;
    try {
      device = await this.opts.open();
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof HidUnavailableError) {
        // Not a passing fault: an alarm names what to install; no point retrying in a loop.
        this.opts.onUnavailable?.(message);
        this.opts.log.error({ emitter: this.label }, message);
        return;
      }
      if (message !== this.lastError) this.opts.log.warn({ emitter: this.label, err: message }, 'cannot open the HID emitter; retrying');
      this.lastError = message;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        void this.connect();
      }, this.opts.reconnectMs);
      return;
    }
    this.lastError = null;
    this.device = device;
    device.on('data', (r) => this.onReport(r));
    device.on('error', (err) => {
      if (this.device !== device) return;
      this.device = null;
      device.removeAllListeners();
      this.pending?.reject(new EmitterError('disconnected', `emitter ${this.label} disconnected: ${err.message}`));
      this.pending = null;
      this.events.emit('connection', { connected: false, reason: err.message });
      if (!this.stopping) void this.connect();
    });
    this.events.emit('connection', { connected: true, reason: null });
  }
}
