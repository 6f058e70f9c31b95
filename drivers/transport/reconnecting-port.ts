// Keeps one port open for a driver: opens it, notices every way it can be lost, and opens it again
// with capped exponential backoff. The DUT consoles, the emitters, the Imp fixture, serial
// scanners and instruments all sit on one of these, so a lost port is handled once, here.
//
// A port counts as lost on the first of: the stream's `error`, `close` or `end`; a failed write
// (a pulled USB adapter can fail writes before any read notices); the opener's `alive()` check
// turning false (checked every `watchMs` while open, and at once by `checkAlive()`). Whatever the
// cause, listeners hear `connection {connected: false}` once, and a reconnect is scheduled.
import type { Logger } from 'pino';
import { RetryTimer, type BackoffSettings } from '../../lib/backoff.js';
import { EventBus } from '../../lib/event-bus.js';
import type { OpenedPort, PortOpener } from './port.js';
import { RequestError } from './request-error.js';

export interface PortEvents {
  connection: { connected: boolean; reason: string | null };
  data: Buffer;
}

export interface ReconnectingPortOptions {
  /** Where it is, for logs and messages: a device path, host:port, or "sim:<slot>". */
  label: string;
  open: PortOpener;
  log: Logger;
  reconnect: BackoffSettings;
  /** What is on the other end, for log lines: "DUT console", "emitter", "DMM". */
  what: string;
  /** How often an open port's `alive()` is checked (default 250 ms). */
  watchMs?: number;
}

export class ReconnectingPort {
  readonly events: EventBus<PortEvents>;
  private port: OpenedPort | null = null;
  private stopping = true;
  private lastOpenError: string | null = null;
  private readonly retry: RetryTimer;
  private watch: NodeJS.Timeout | null = null;
  /** Declares the open port lost (set while a port is open). */
  private loseCurrent: ((reason: string) => void) | null = null;

  constructor(private readonly opts: ReconnectingPortOptions) {
    this.events = new EventBus<PortEvents>(opts.log);
    this.retry = new RetryTimer(opts.reconnect, () => void this.connect());
  }

  get label(): string {
    return this.opts.label;
  }

  get connected(): boolean {
    return this.port !== null;
  }

  /** Opens the port (or schedules the next try); resolves after the first attempt either way. */
  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.retry.cancel();
    const port = this.port;
    this.detach();
    if (port) await port.close().catch((err: Error) => this.opts.log.warn({ port: this.label, err: err.message }, `closing the ${this.opts.what} port failed`));
  }

  /** Writes bytes; rejects (and declares the port lost) when the port is not there or the write fails. */
  write(data: string | Buffer): Promise<void> {
    const port = this.port;
    if (!port) return Promise.reject(new RequestError('disconnected', `${this.opts.what} ${this.label} is not connected`));
    return new Promise<void>((resolve, reject) => {
      port.stream.write(data, (err) => {
        if (!err) return resolve();
        this.lose(`write failed: ${err.message}`);
        reject(new RequestError('disconnected', `writing to ${this.label} failed: ${err.message}`));
      });
    });
  }

  /** Declares the open port lost (a driver that knows better than the stream, say). */
  lose(reason: string): void {
    this.loseCurrent?.(reason);
  }

  /** Runs the port's own liveness check now; false (and the port declared lost) when it is gone. */
  checkAlive(): boolean {
    const port = this.port;
    if (!port) return false;
    if (!port.alive || port.alive()) return true;
    this.lose('the device is gone (its device node was removed or replaced)');
    return false;
  }

  private detach(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
    this.port = null;
    this.loseCurrent = null;
  }

  private async connect(): Promise<void> {
    if (this.stopping || this.port) return;
    let opened: OpenedPort;
    try {
      opened = await this.opts.open();
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastOpenError) this.opts.log.warn({ port: this.label, err: message }, `cannot open the ${this.opts.what} port; retrying`);
      this.lastOpenError = message;
      this.retry.schedule();
      return;
    }
    if (this.stopping) {
      await opened.close().catch(() => undefined);
      return;
    }
    this.lastOpenError = null;
    this.retry.succeeded();
    this.port = opened;
    let lost = false;
    const onLost = (reason: string): void => {
      if (lost) return;
      lost = true;
      if (this.port !== opened) return;
      this.detach();
      void opened.close().catch(() => undefined);
      this.events.emit('connection', { connected: false, reason });
      if (!this.stopping) {
        this.opts.log.warn({ port: this.label, reason }, `${this.opts.what} lost; reconnecting`);
        this.retry.schedule();
      }
    };
    this.loseCurrent = onLost;
    opened.stream.on('data', (chunk: Buffer) => {
      if (this.port === opened) this.events.emit('data', chunk);
    });
    opened.stream.on('error', (err: Error) => onLost(err.message));
    opened.stream.on('close', () => onLost('port closed'));
    opened.stream.on('end', () => onLost('port ended'));
    if (opened.alive) {
      this.watch = setInterval(() => this.checkAlive(), this.opts.watchMs ?? 250);
      this.watch.unref();
    }
    this.opts.log.info({ port: this.label }, `${this.opts.what} connected`);
    this.events.emit('connection', { connected: true, reason: null });
  }
}
