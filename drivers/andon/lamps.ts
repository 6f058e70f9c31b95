// What every andon output (a stack light and its buzzer) is to the job that drives it: four lamps
// (green, amber, red, buzzer) on or off, written as a whole. The job decides the light and does
// the blinking (docs/andon.md); a device only ever sees steady on and off, so every output blinks
// in step and a device's own flash mode is never needed.
//
// Each kind (Modbus TCP coils, a USB-serial relay board, a USB-HID relay) opens a `LampDevice`;
// the `AndonOutput` below keeps it open: it reconnects with capped exponential backoff when the
// device goes away, writes the current light again as soon as it is back, and reports each state
// change so the job can raise (and clear) `andon.<id>.unreachable`.
import type { Logger } from 'pino';
import { RetryTimer, type BackoffSettings } from '../../lib/backoff.js';

export const LAMPS = ['green', 'amber', 'red', 'buzzer'] as const;
export type Lamp = (typeof LAMPS)[number];
export type Lamps = Record<Lamp, boolean>;

export const ALL_OFF: Readonly<Lamps> = Object.freeze({ green: false, amber: false, red: false, buzzer: false });

/** "green+buzzer", "off": a light in a few characters, for logs, health and the simulators. */
export function lampsText(l: Lamps): string {
  const on = LAMPS.filter((k) => l[k]);
  return on.length ? on.join('+') : 'off';
}

export function sameLamps(a: Lamps | null, b: Lamps): boolean {
  return a !== null && LAMPS.every((k) => a[k] === b[k]);
}

/** An opened output device. */
export interface LampDevice {
  /** Sets every lamp the device has to `lamps`; rejects when the device did not take it. */
  write(lamps: Lamps): Promise<void>;
  close(): Promise<void>;
  /** Calls `listener` once when the device is found gone (a closed socket, a hung-up port). */
  onLost(listener: (reason: string) => void): void;
  /**
   * Confirms the device still shows `lamps` while nothing changes (called every `refreshMs`):
   * Modbus writes the coils again (which also feeds a module's communication watchdog), the HID
   * relay reads its relay bits back. Rejects when the device is gone or shows something else.
   */
  refresh?(lamps: Lamps): Promise<void>;
}

/** How to open one kind of output. */
export interface LampDriver {
  readonly kind: 'modbus-tcp' | 'serial-relay' | 'hid-relay';
  /** Where it is, in words (host:port, a device path): for health and logs. */
  readonly target: string;
  open(): Promise<LampDevice>;
}

/** A driver's failure that retrying will not mend (node-hid cannot load): named once, not retried. */
export class LampUnavailableError extends Error {}

export type AndonOutputState = 'connecting' | 'connected' | 'unreachable' | 'unavailable';

export interface AndonOutputStatus {
  id: string;
  kind: LampDriver['kind'];
  target: string;
  state: AndonOutputState;
  /** What the device shows now (the last light it took), or null when not known. */
  showing: string | null;
  /** The last failure in words, until the output works again. */
  lastError: string | null;
  /** Writes the device took since the station started. */
  writes: number;
}

export interface AndonOutputOptions {
  id: string;
  driver: LampDriver;
  log: Logger;
  reconnect: BackoffSettings;
  /** How often a steady light is refreshed (LampDevice.refresh); 0: never. */
  refreshMs?: number;
  /** The output became unreachable (message: why) or reachable again (null). Called on changes only. */
  onReachability?(problem: string | null): void;
}

/** One output, kept open: the latest light asked for is written whenever the device is there. */
export class AndonOutput {
  private device: LampDevice | null = null;
  private wanted: Lamps = { ...ALL_OFF };
  /** What the open device was last seen to take; null after a (re)connect until the first write. */
  private shown: Lamps | null = null;
  private writing: Promise<void> | null = null;
  private stopping = true;
  private state: AndonOutputState = 'connecting';
  private lastError: string | null = null;
  private problem: string | null = null;
  private writes = 0;
  private refresher: NodeJS.Timeout | null = null;
  private readonly retry: RetryTimer;

  constructor(private readonly opts: AndonOutputOptions) {
    this.retry = new RetryTimer(opts.reconnect, () => void this.connect());
  }

  get id(): string {
    return this.opts.id;
  }

  get connected(): boolean {
    return this.device !== null;
  }

  status(): AndonOutputStatus {
    return {
      id: this.opts.id,
      kind: this.opts.driver.kind,
      target: this.opts.driver.target,
      state: this.state,
      showing: this.shown ? lampsText(this.shown) : null,
      lastError: this.lastError,
      writes: this.writes,
    };
  }

  /** Opens the device (or schedules the next try); resolves after the first attempt either way. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  /** Asks for a light: written now if the device is there, else as soon as it is. */
  show(lamps: Lamps): void {
    this.wanted = { ...lamps };
    this.pump();
  }

  /** Waits for the write in flight (and any it queued) to settle. */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes `lamps` (all off, at shutdown) if the device is there, within `capMs`, then closes it. */
  async stop(finalLamps: Lamps = ALL_OFF, capMs = 1000): Promise<void> {
    this.stopping = true;
    this.retry.cancel();
    this.stopRefresher();
    this.wanted = { ...finalLamps };
    this.pump();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.settled(), new Promise<void>((r) => (timer = setTimeout(r, capMs)))]);
    clearTimeout(timer);
    const device = this.device;
    this.device = null;
    await device?.close().catch(() => undefined);
  }

  private pump(): void {
    if (this.writing || !this.device || sameLamps(this.shown, this.wanted)) return;
    const device = this.device;
    const lamps = { ...this.wanted };
    this.writing = device
      .write(lamps)
      .then(
        () => {
          if (this.device !== device) return;
          this.shown = lamps;
          this.writes++;
          this.reachable();
        },
        (err: Error) => this.lose(device, `writing the light failed: ${err.message}`),
      )
      .finally(() => {
        this.writing = null;
        this.pump(); // the light may have changed meanwhile
      });
  }

  private async connect(): Promise<void> {
    if (this.stopping || this.device) return;
    let device: LampDevice;
    try {
      device = await this.opts.driver.open();
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof LampUnavailableError) {
        this.state = 'unavailable';
        this.unreachable(message);
        return;
      }
      this.state = 'unreachable';
      this.unreachable(message);
      this.retry.schedule();
      return;
    }
    if (this.stopping) {
      await device.close().catch(() => undefined);
      return;
    }
    this.retry.succeeded();
    this.device = device;
    this.shown = null; // whatever it shows after a power cycle: write the whole light again
    this.state = 'connected';
    device.onLost((reason) => this.lose(device, reason));
    const every = this.opts.refreshMs ?? 0;
    if (device.refresh && every > 0) {
      this.refresher = setInterval(() => this.refresh(device), every);
      this.refresher.unref();
    }
    this.opts.log.info({ output: this.opts.id, target: this.opts.driver.target }, 'andon output connected');
    this.pump();
  }

  /** A steady light checked (or written again); a light change in flight has priority. */
  private refresh(device: LampDevice): void {
    const shown = this.shown;
    if (this.writing || this.device !== device || !shown || !device.refresh) return;
    this.writing = device
      .refresh(shown)
      .then(
        () => undefined,
        (err: Error) => this.lose(device, `refreshing the light failed: ${err.message}`),
      )
      .finally(() => {
        this.writing = null;
        this.pump();
      });
  }

  private stopRefresher(): void {
    if (this.refresher) clearInterval(this.refresher);
    this.refresher = null;
  }

  private lose(device: LampDevice, reason: string): void {
    if (this.device !== device) return;
    this.stopRefresher();
    this.device = null;
    this.shown = null;
    void device.close().catch(() => undefined);
    if (this.stopping) return;
    this.state = 'unreachable';
    this.unreachable(reason);
    this.retry.schedule();
  }

  private unreachable(message: string): void {
    const changed = this.lastError !== message;
    this.lastError = message;
    if (changed) this.opts.log.warn({ output: this.opts.id, target: this.opts.driver.target, err: message }, 'andon output unreachable; retrying');
    if (this.problem === null) {
      this.problem = message;
      this.opts.onReachability?.(`andon output ${this.opts.id} (${this.opts.driver.target}) is unreachable: ${message}`);
    }
  }

  private reachable(): void {
    this.lastError = null;
    if (this.problem === null) return;
    this.problem = null;
    this.opts.onReachability?.(null);
  }
}
