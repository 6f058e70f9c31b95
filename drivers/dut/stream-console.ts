// The DUT console over a byte stream: a serial port (serialport) or the simulator's in-memory link.
// Owns framing (parser-readline behind a line-length cap), request tags and timeouts, one request
// in flight, and reconnecting with capped exponential backoff when the port vanishes.
import type { Duplex } from 'node:stream';
import { ReadlineParser } from '@serialport/parser-readline';
import type { Logger } from 'pino';
import { EventBus } from '../../station/events.js';
import { DutRequestError, type DutConsole, type DutConsoleEvents } from './console.js';
import { cutLine, LineLengthGuard } from './line-guard.js';
import { escapeForDisplay, formatRequest, MAX_TAG, parseDutLine } from './protocol.js';

export interface OpenedPort {
  stream: Duplex;
  close(): Promise<void>;
}

/** Opens the transport; rejects when the port is not there (yet). */
export type PortOpener = () => Promise<OpenedPort>;

export interface StreamConsoleOptions {
  label: string;
  open: PortOpener;
  log: Logger;
  maxLineBytes: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** What is on the other end, for logs and messages: "DUT console" unless told. */
  what?: string;
  /** How a command is quoted in errors and logs; a command carrying a secret (an emitter frame
   *  holds a factory token) must be shortened here. Default: the command as sent. */
  quote?: (command: string) => string;
}

interface Pending {
  tag: number;
  command: string;
  resolve(payload: string): void;
  reject(err: DutRequestError): void;
}

export class StreamDutConsole implements DutConsole {
  readonly events = new EventBus<DutConsoleEvents>();
  readonly label: string;
  private port: OpenedPort | null = null;
  private guard: LineLengthGuard | null = null;
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private nextTag = 1;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectAttempt = 0;
  private lastOpenError: string | null = null;
  /** Declares the open port lost (set while a port is open). */
  private loseCurrent: ((reason: string) => void) | null = null;

  constructor(private readonly opts: StreamConsoleOptions) {
    this.label = opts.label;
  }

  get connected(): boolean {
    return this.port !== null;
  }

  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.failPending(new DutRequestError('stopped', `console ${this.label} stopped`));
    const port = this.port;
    this.port = null;
    if (port) await port.close().catch((err: Error) => this.opts.log.warn({ err: err.message }, 'closing the DUT port failed'));
  }

  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const run = this.chain.then(() => this.send(command, timeoutMs, signal));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private send(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const shown = this.opts.quote ? this.opts.quote(command) : command;
    if (signal?.aborted) return Promise.reject(new DutRequestError('aborted', `"${shown}" not sent: the run was interrupted`));
    const port = this.port;
    if (!port) return Promise.reject(new DutRequestError('disconnected', `DUT console ${this.label} is not connected`));
    const tag = this.nextTag;
    this.nextTag = tag >= MAX_TAG ? 1 : tag + 1;
    return new Promise<string>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.pending?.tag === tag) this.pending = null;
      };
      const onAbort = (): void => {
        finish();
        reject(new DutRequestError('aborted', `"${shown}" abandoned: the run was interrupted`));
      };
      const timer = setTimeout(() => {
        finish();
        const overflow = this.guard?.overflowing ? `; the DUT is sending a line longer than ${this.opts.maxLineBytes} bytes with no end` : '';
        reject(new DutRequestError('timeout', `no answer to "${shown}" within ${timeoutMs} ms${overflow}`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending = {
        tag,
        command: shown,
        resolve: (payload) => {
          finish();
          resolve(payload);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      port.stream.write(formatRequest(tag, command), (err) => {
        if (!err) return;
        if (this.pending?.tag === tag) this.pending.reject(new DutRequestError('disconnected', `writing to ${this.label} failed: ${err.message}`));
        // A port that cannot be written is gone (a pulled USB adapter can fail writes before reads):
        // close it and reconnect, rather than wait for a read error that may never come.
        this.loseCurrent?.(`write failed: ${err.message}`);
      });
    });
  }

  private handleLine(raw: string): void {
    const cut = cutLine(raw, this.opts.maxLineBytes);
    if (cut) {
      this.reportGarbage(cut.kept, `line of ${cut.fullLength} bytes exceeds the ${this.opts.maxLineBytes}-byte limit`);
      return;
    }
    const line = parseDutLine(raw);
    switch (line.kind) {
      case 'reply': {
        const pending = this.pending;
        if (!pending || pending.tag !== line.tag) {
          this.opts.log.debug({ tag: line.tag }, 'late or unexpected answer ignored');
          return;
        }
        if (line.ok) pending.resolve(line.payload);
        else {
          const detail = line.message ? `: ${line.message}` : '';
          pending.reject(new DutRequestError('rejected', `DUT refused "${pending.command}" with ${line.code}${detail}`, line.code));
        }
        return;
      }
      case 'event':
        this.events.emit('event', { name: line.name, fields: line.fields, payload: line.payload });
        return;
      case 'debug':
        return;
      case 'garbage':
        this.reportGarbage(line.line, line.reason);
    }
  }

  private reportGarbage(line: string, reason: string): void {
    this.events.emit('garbage', { line, reason });
    const pending = this.pending;
    if (pending) {
      pending.reject(new DutRequestError('garbage', `DUT answered "${pending.command}" with garbage (${reason}): ${escapeForDisplay(line)}`));
    }
  }

  private failPending(err: DutRequestError): void {
    this.pending?.reject(err);
    this.pending = null;
  }

  private async connect(): Promise<void> {
    if (this.stopping || this.port) return;
    let opened: OpenedPort;
    try {
      opened = await this.opts.open();
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastOpenError) this.opts.log.warn({ port: this.label, err: message }, `cannot open the ${this.opts.what ?? 'DUT console'} port; retrying`);
      this.lastOpenError = message;
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await opened.close().catch(() => undefined);
      return;
    }
    this.lastOpenError = null;
    this.reconnectAttempt = 0;
    this.port = opened;
    const guard = new LineLengthGuard(this.opts.maxLineBytes);
    const parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
    this.guard = guard;
    opened.stream.pipe(guard).pipe(parser);
    parser.on('data', (line: string) => {
      if (this.port === opened) this.handleLine(line);
    });
    let lost = false;
    const onLost = (reason: string): void => {
      if (lost) return;
      lost = true;
      opened.stream.unpipe(guard);
      if (this.port !== opened) return;
      this.port = null;
      this.guard = null;
      this.loseCurrent = null;
      this.failPending(new DutRequestError('disconnected', `DUT console ${this.label} disconnected: ${reason}`));
      this.events.emit('connection', { connected: false, reason });
      if (!this.stopping) {
        this.opts.log.warn({ port: this.label, reason }, `${this.opts.what ?? 'DUT console'} lost; reconnecting`);
        this.scheduleReconnect();
      }
    };
    this.loseCurrent = (reason) => {
      onLost(reason);
      void opened.close().catch(() => undefined);
    };
    opened.stream.on('error', (err: Error) => onLost(err.message));
    opened.stream.on('close', () => onLost('port closed'));
    opened.stream.on('end', () => onLost('port ended'));
    this.opts.log.info({ port: this.label }, `${this.opts.what ?? 'DUT console'} connected`);
    this.events.emit('connection', { connected: true, reason: null });
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectInitialMs * 2 ** this.reconnectAttempt);
    this.reconnectAttempt = Math.min(this.reconnectAttempt + 1, 30);
    const delay = base / 2 + Math.random() * (base / 2); // "equal jitter": never hammer, never synchronise slots
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect();
    }, delay);
  }
}
