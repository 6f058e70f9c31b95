// What the untagged DUT consoles (AT commands, a firmware shell) share: a command line goes out,
// the answer is whatever comes back until the protocol says it has ended. Owns the port (a
// ReconnectingPort: reconnects, a lost port noticed whatever moment it dies), one request in
// flight at a time, its timeout and abort, garbage failing the request in flight, and a lost port
// failing it as `disconnected`. The protocol subclass reads the bytes and decides when an answer
// is complete, refused or interrupted.
//
// Without tags, an answer cannot name its request: one that comes after its request timed out
// would be read as the answer to the next. Each protocol has its own guard (the AT console's
// `echo: "on"`, the shell's prompt and echo); see docs/protocols.md.
import type { Logger } from 'pino';
import { EventBus } from '../../lib/event-bus.js';
import { escapeForDisplay } from '../../lib/text.js';
import type { PortOpener } from '../transport/port.js';
import { ReconnectingPort } from '../transport/reconnecting-port.js';
import { RequestError } from '../transport/request-error.js';
import type { DutConsole, DutConsoleEvents } from './console.js';

export interface LineConsoleOptions {
  /** Where it is connected, for logs and messages: a port path or "sim:<slot>". */
  label: string;
  open: PortOpener;
  log: Logger;
  /** The longest line taken from the DUT, in bytes before its line end. */
  maxLineBytes: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

/**
 * Whether the DUT echoes command lines: an echo is skipped when it comes ("auto"); the echo is
 * required and the answer starts after it ("on"); no line is taken for an echo ("off").
 */
export type EchoMode = 'auto' | 'on' | 'off';

/** A request in flight: the command as sent, and what the protocol has gathered of its answer. */
export interface Pending<S> {
  readonly command: string;
  readonly timeoutMs: number;
  readonly state: S;
  resolve(answer: string): void;
  reject(err: RequestError): void;
}

/** A command line the station writes: printable text, no line end (the console adds its own). */
const SENDABLE = /^[^\x00-\x1f\x7f-\x9f]+$/;

export abstract class CommandConsole<S> implements DutConsole {
  readonly events: EventBus<DutConsoleEvents>;
  readonly label: string;
  abstract readonly readyProbe: { command: string; ready: RegExp };
  protected readonly port: ReconnectingPort;
  protected readonly log: Logger;
  protected pending: Pending<S> | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    protected readonly base: LineConsoleOptions,
    /** What is on the other end, for logs and messages. */
    protected readonly what: string,
  ) {
    this.label = base.label;
    this.log = base.log;
    this.events = new EventBus<DutConsoleEvents>(base.log);
    this.port = new ReconnectingPort({ label: base.label, open: base.open, log: base.log, reconnect: { initialMs: base.reconnectInitialMs, maxMs: base.reconnectMaxMs }, what });
    this.port.events.on('data', (chunk) => this.onData(chunk));
    this.port.events.on('connection', (c) => {
      this.resetFraming();
      if (!c.connected) this.failPending(new RequestError('disconnected', `${this.what} ${this.label} disconnected: ${c.reason ?? 'port lost'}`));
      this.events.emit('connection', c);
    });
  }

  get connected(): boolean {
    return this.port.connected;
  }

  start(): Promise<void> {
    return this.port.start();
  }

  async stop(): Promise<void> {
    this.failPending(new RequestError('stopped', `${this.what} ${this.label} stopped`));
    this.resetFraming();
    await this.port.stop();
  }

  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const run = this.chain.then(() => this.send(command, timeoutMs, signal));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Bytes from the port, in whatever chunks they came. */
  protected abstract onData(chunk: Buffer): void;
  /** The port opened, was lost or stopped: forget any half-received line and timers. */
  protected abstract resetFraming(): void;
  /** What the protocol gathers while a command's answer comes in. */
  protected abstract newAnswer(command: string): S;
  /** The bytes that send a command line. */
  protected abstract encode(command: string): string;
  /** Why there was no answer, for the operator: what was waited for and what was seen. */
  protected abstract timeoutReason(pending: Pending<S>): string;
  /** Just before a command is written (no request is pending then). */
  protected beforeWrite(): void {
    // nothing by default
  }

  /** A line that is not protocol: reported, and the request in flight fails with it. */
  protected reportGarbage(line: string, reason: string): void {
    this.events.emit('garbage', { line, reason });
    const pending = this.pending;
    if (pending) pending.reject(new RequestError('garbage', `DUT answered "${pending.command}" with garbage (${reason}): ${escapeForDisplay(line)}`));
  }

  protected failPending(err: RequestError): void {
    this.pending?.reject(err);
    this.pending = null;
  }

  private send(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) return Promise.reject(new RequestError('aborted', `"${command}" not sent: the run was interrupted`));
    if (!this.port.connected) return Promise.reject(new RequestError('disconnected', `${this.what} ${this.label} is not connected`));
    if (!SENDABLE.test(command)) {
      return Promise.reject(new RequestError('rejected', `${escapeForDisplay(command)} not sent: a command is one line of printable text`, 'BAD_COMMAND'));
    }
    return new Promise<string>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (this.pending === pending) this.pending = null;
      };
      const onAbort = (): void => {
        finish();
        reject(new RequestError('aborted', `"${command}" abandoned: the run was interrupted`));
      };
      const pending: Pending<S> = {
        command,
        timeoutMs,
        state: this.newAnswer(command),
        resolve: (answer) => {
          finish();
          resolve(answer);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        // Silence may be a port that died without a word: look before calling it the device's fault.
        if (!this.port.checkAlive()) return; // declared lost: the pending request fails as disconnected
        pending.reject(new RequestError('timeout', this.timeoutReason(pending)));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.beforeWrite();
      this.pending = pending;
      // A failed write declares the port lost, which fails this request as disconnected.
      this.port.write(this.encode(command)).catch(() => undefined);
    });
  }
}
