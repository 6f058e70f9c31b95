// What every scanner driver shares: its events, the scan filter between its decoder and the
// station, one log line per connection change, and the reconnect timer (lib/backoff.ts, as every
// port's) for a device that vanished.
import type { Logger } from 'pino';
import { RetryTimer } from '../../lib/backoff.js';
import { EventBus } from '../../lib/event-bus.js';
import { ScanFilter, type ScanFilterOptions } from './scan-filter.js';
import type { Scanner, ScannerEvents } from './scanner.js';

export type FilterSettings = Omit<ScanFilterOptions, 'scannerId' | 'log'>;

export interface ReconnectSettings {
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

export const DEFAULT_RECONNECT: ReconnectSettings = { reconnectInitialMs: 200, reconnectMaxMs: 5000 };

export abstract class FilteredScanner implements Scanner {
  readonly events: EventBus<ScannerEvents>;
  protected readonly filter: ScanFilter;
  private isConnected = false;
  private lastStatusError: string | null = null;
  private readonly retry: RetryTimer;
  /** True from stop() until the next start(): nothing reconnects. */
  protected stopping = true;

  protected constructor(
    readonly id: string,
    protected readonly log: Logger,
    filter: FilterSettings,
    reconnect: ReconnectSettings,
  ) {
    this.events = new EventBus<ScannerEvents>(log);
    this.retry = new RetryTimer({ initialMs: reconnect.reconnectInitialMs, maxMs: reconnect.reconnectMaxMs }, () => void this.connect());
    this.filter = new ScanFilter({ ...filter, scannerId: id, log });
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.retry.cancel();
    await this.close();
  }

  /** Opens the device; on failure or loss it calls scheduleReconnect(). */
  protected abstract connect(): Promise<void>;
  /** Closes the device for stop(). */
  protected abstract close(): Promise<void>;

  /** Tries connect() again after the next backoff delay, unless stopping or already waiting. */
  protected scheduleReconnect(): void {
    if (this.stopping) return;
    this.retry.schedule();
  }

  /** A complete scan's text from the decoder: filtered, then emitted as a scan or a rejection. */
  protected deliver(text: string): void {
    this.publish(this.filter.accept(text));
  }

  /** A scan the decoder refused before it was text. */
  protected refuse(reason: string, length: number): void {
    this.publish(this.filter.reject(reason, length));
  }

  private publish(outcome: ReturnType<ScanFilter['accept']>): void {
    if (outcome.kind === 'scan') this.events.emit('scan', { scannerId: this.id, text: outcome.text, at: outcome.at });
    else if (outcome.kind === 'rejected') this.events.emit('rejected', { scannerId: this.id, reason: outcome.reason, length: outcome.length });
  }

  protected markConnected(): void {
    this.retry.succeeded();
    this.lastStatusError = null;
    if (this.isConnected) return;
    this.isConnected = true;
    this.log.info({ scanner: this.id }, 'scanner connected');
    this.events.emit('status', { connected: true });
  }

  /** Not connected, and why; logged once per distinct reason while it stays down. `retrying`
   *  false: a fault no retry mends (node-hid missing), logged as an error. */
  protected markDisconnected(error: string, retrying = true): void {
    const wasConnected = this.isConnected;
    this.isConnected = false;
    if (!wasConnected && error === this.lastStatusError) return;
    this.lastStatusError = error;
    if (!retrying) this.log.error({ scanner: this.id, err: error }, 'scanner unavailable');
    else this.log.warn({ scanner: this.id, err: error }, wasConnected ? 'scanner lost; reconnecting' : 'cannot open the scanner; retrying');
    this.events.emit('status', { connected: false, error });
  }

  /** Closed on purpose: no longer connected, nothing to retry. */
  protected markStopped(): void {
    this.lastStatusError = null;
    if (!this.isConnected) return;
    this.isConnected = false;
    this.log.info({ scanner: this.id }, 'scanner closed');
    this.events.emit('status', { connected: false, error: 'stopped' });
  }
}
