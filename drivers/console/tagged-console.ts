// The tagged-line console (docs/protocols.md): the station's own protocol, spoken by factory
// firmware, LED emitters and Imp fixtures. Owns request tags and timeouts, one request in flight,
// and turning answers, events and garbage into results; the port under it (reconnects, a lost
// port noticed whatever moment it dies) is a ReconnectingPort, framing is a LineFramer.
import type { Logger } from 'pino';
import { EventBus } from '../../lib/event-bus.js';
import { escapeForDisplay } from '../../lib/text.js';
import { LineFramer } from '../transport/line-framer.js';
import type { PortOpener } from '../transport/port.js';
import { ReconnectingPort } from '../transport/reconnecting-port.js';
import { RequestError } from '../transport/request-error.js';
import type { DutConsole, DutConsoleEvents } from './console.js';
import { formatRequest, MAX_TAG, parseDutLine } from './tagged-protocol.js';

export interface TaggedConsoleOptions {
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
  reject(err: RequestError): void;
}

export class TaggedConsole implements DutConsole {
  readonly events = new EventBus<DutConsoleEvents>();
  readonly readyProbe = { command: 'PING', ready: /(^| )ready=1( |$)/ };
  readonly label: string;
  private readonly port: ReconnectingPort;
  private readonly what: string;
  private framer: LineFramer;
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private nextTag = 1;

  constructor(private readonly opts: TaggedConsoleOptions) {
    this.label = opts.label;
    this.what = opts.what ?? 'DUT console';
    this.framer = new LineFramer('\n', opts.maxLineBytes);
    this.port = new ReconnectingPort({ label: opts.label, open: opts.open, log: opts.log, reconnect: { initialMs: opts.reconnectInitialMs, maxMs: opts.reconnectMaxMs }, what: this.what });
    this.port.events.on('data', (chunk) => this.onData(chunk));
    this.port.events.on('connection', (c) => {
      if (!c.connected) {
        this.framer.discardPartial();
        this.failPending(new RequestError('disconnected', `${this.what} ${this.label} disconnected: ${c.reason ?? 'port lost'}`));
      }
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
    await this.port.stop();
  }

  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const run = this.chain.then(() => this.send(command, timeoutMs, signal));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private send(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    const shown = this.opts.quote ? this.opts.quote(command) : command;
    if (signal?.aborted) return Promise.reject(new RequestError('aborted', `"${shown}" not sent: the run was interrupted`));
    if (!this.port.connected) return Promise.reject(new RequestError('disconnected', `${this.what} ${this.label} is not connected`));
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
        reject(new RequestError('aborted', `"${shown}" abandoned: the run was interrupted`));
      };
      const timer = setTimeout(() => {
        // Silence may be a port that died without a word: look before calling it the device's fault.
        if (!this.port.checkAlive()) return; // declared lost: the pending request fails as disconnected
        finish();
        const overflow = this.framer.overflowing ? `; the DUT is sending a line longer than ${this.opts.maxLineBytes} bytes with no end` : '';
        reject(new RequestError('timeout', `no answer to "${shown}" within ${timeoutMs} ms${overflow}`));
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
      // A failed write declares the port lost, which fails this request as disconnected.
      this.port.write(formatRequest(tag, command)).catch(() => undefined);
    });
  }

  private onData(chunk: Buffer): void {
    for (const line of this.framer.push(chunk)) {
      if (line.kind === 'overflow') this.reportGarbage(line.kept.toString('latin1'), `line of ${line.length} bytes exceeds the ${this.opts.maxLineBytes}-byte limit`);
      else this.handleLine(line.bytes.toString('latin1'));
    }
  }

  private handleLine(raw: string): void {
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
          pending.reject(new RequestError('rejected', `DUT refused "${pending.command}" with ${line.code}${detail}`, line.code));
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
      pending.reject(new RequestError('garbage', `DUT answered "${pending.command}" with garbage (${reason}): ${escapeForDisplay(line)}`));
    }
  }

  private failPending(err: RequestError): void {
    this.pending?.reject(err);
    this.pending = null;
  }
}
