// One SCPI conversation with one instrument, over whatever carries it (a raw TCP socket on port
// 5025, a serial port, the simulator's in-memory cable): a ReconnectingPort for the link and a
// LineFramer for the answers. It owns what every model shares:
//
//  - one command in flight at a time (callers queue; a measurement's several commands run as one
//    batch that nobody can interleave with), each with its own timeout;
//  - at every (re)connect: *IDN? checked against the model (a different instrument at that address
//    makes the state `wrong-instrument`, and the session keeps looking in case the right one is
//    plugged in), then *CLS and the error queue drained, before anything else is sent;
//  - after every command with no answer, SYST:ERR? until `0,"No error"`: an entry fails the command
//    with the instrument's own text;
//  - staying in step: SCPI answers carry no tag, so after a timeout or garbage the session sends
//    *IDN? and drops every line up to the known identity before the next command (a late answer is
//    never taken for the answer to the next question). A query the instrument refused gets no
//    answer at all, so a timed-out query looks in the error queue before calling it silence.
import type { Logger } from 'pino';
import type { BackoffSettings } from '../../lib/backoff.js';
import { Backoff } from '../../lib/backoff.js';
import { EventBus } from '../../lib/event-bus.js';
import { escapeForDisplay } from '../../lib/text.js';
import { LineFramer } from '../transport/line-framer.js';
import type { PortOpener } from '../transport/port.js';
import { ReconnectingPort } from '../transport/reconnecting-port.js';
import { InstrumentError } from './instrument-error.js';
import type { IdentityRule } from './models.js';
import { isPrintableAscii, parseErrorEntry, parseIdentity, type InstrumentIdentity } from './scpi-values.js';
import { monotonicMs } from '../../lib/clock.js';

export type InstrumentState = 'connecting' | 'ready' | 'wrong-instrument' | 'offline';
export type Terminator = 'LF' | 'CR' | 'CRLF';

export const TERMINATORS: Record<Terminator, string> = { LF: '\n', CR: '\r', CRLF: '\r\n' };

export interface SessionEvents {
  /** The state changed, or the reason for it did. */
  state: { state: InstrumentState; reason: string | null; previous: InstrumentState };
  /** *IDN? checked at a (re)connect; `changed` when another unit of the model is now there. */
  identity: { identity: InstrumentIdentity; changed: boolean };
}

export interface ScpiSessionOptions {
  /** The instrument id from the config, in every message. */
  id: string;
  /** What it is, for logs: "DMM", "power supply". */
  what: string;
  /** Where it is: host:port, a device path, sim:<id>. */
  label: string;
  open: PortOpener;
  log: Logger;
  terminator: Terminator;
  /** Per-command timeout unless a command says otherwise. */
  timeoutMs: number;
  reconnect: BackoffSettings;
  identity: IdentityRule;
  clearOnConnect: string[];
  errorQuery: string;
  minCommandGapMs?: number;
  /** Longest answer line kept (default 256 KiB: a READ? of 1000 readings is 16 KB). */
  maxLineBytes?: number;
}

export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The session's commands inside one batch: nobody else's command runs between two of these. */
export interface ScpiExchange {
  query(command: string, opts?: { timeoutMs?: number }): Promise<string>;
  write(command: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** Waits `ms` (pacing between readings); rejects when the caller gives up. */
  pause(ms: number): Promise<void>;
}

interface Pending {
  command: string;
  accept: ((line: string) => boolean) | null;
  resolve(line: string): void;
  reject(err: InstrumentError): void;
}

/** More entries than any instrument's queue holds (Keysight keeps 20): the queue never empties. */
const MAX_ERROR_ENTRIES = 40;

export class ScpiSession {
  readonly events: EventBus<SessionEvents>;
  private readonly port: ReconnectingPort;
  private readonly framer: LineFramer;
  private readonly log: Logger;
  private readonly terminator: string;
  private readonly recheckBackoff: Backoff;
  private pending: Pending | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private currentState: InstrumentState = 'offline';
  private reason: string | null = 'not started';
  private verified: InstrumentIdentity | null = null;
  private epoch = 0;
  private needsResync = false;
  /** Monotonic (lib/clock.ts). */
  private lastSendAt = -Infinity;
  private recheck: NodeJS.Timeout | null = null;
  private stopping = true;

  constructor(private readonly opts: ScpiSessionOptions) {
    this.log = opts.log;
    this.events = new EventBus<SessionEvents>(opts.log);
    this.terminator = TERMINATORS[opts.terminator];
    // Answers end at LF (one CR before it is dropped), or at CR for instruments set to CR.
    this.framer = new LineFramer(opts.terminator === 'CR' ? '\r' : '\n', opts.maxLineBytes ?? 256 * 1024);
    this.recheckBackoff = new Backoff(opts.reconnect);
    const open: PortOpener = async () => {
      try {
        return await opts.open();
      } catch (err) {
        if (!this.stopping) this.setState('offline', `cannot open ${opts.label}: ${(err as Error).message}`);
        throw err;
      }
    };
    this.port = new ReconnectingPort({ label: opts.label, open, log: opts.log, reconnect: opts.reconnect, what: opts.what });
    this.port.events.on('data', (chunk) => this.onData(chunk));
    this.port.events.on('connection', (c) => this.onConnection(c.connected, c.reason));
  }

  get id(): string {
    return this.opts.id;
  }

  get label(): string {
    return this.opts.label;
  }

  get state(): InstrumentState {
    return this.currentState;
  }

  get stateReason(): string | null {
    return this.reason;
  }

  /** The identity the instrument gave at the last good connect check (null before one). */
  get identity(): InstrumentIdentity | null {
    return this.verified;
  }

  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.setState('connecting', null);
    await this.port.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelRecheck();
    this.failPending(this.error('stopped', null, `${this.opts.id} stopped`));
    await this.port.stop();
    this.setState('offline', 'stopped');
  }

  /** Resolves once the state is `ready`; rejects after `timeoutMs` naming the state and its reason. */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.currentState === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(this.notUsable(null));
      }, timeoutMs);
      const off = this.events.on('state', (s) => {
        if (s.state !== 'ready') return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** Sends a query and resolves with its answer line. */
  query(command: string, opts: CommandOptions = {}): Promise<string> {
    return this.batch((x) => x.query(command, opts), opts.signal);
  }

  /** Sends a command with no answer, then drains the error queue; an entry fails it. */
  write(command: string, opts: CommandOptions = {}): Promise<void> {
    return this.batch((x) => x.write(command, opts), opts.signal);
  }

  /**
   * Runs several commands with the session to itself. An aborted caller is answered at once; the
   * command on the wire still runs to its end (or timeout) so the session stays in step, and no
   * further command of the batch is sent.
   */
  batch<T>(run: (x: ScpiExchange) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(this.aborted('not sent'));
    const work = this.chain.then(() => {
      if (signal?.aborted) throw this.aborted('not sent');
      const epoch = this.epoch;
      this.ensureUsable(null, epoch);
      const exchange: ScpiExchange = {
        query: (command, o) => {
          if (signal?.aborted) return Promise.reject(this.aborted(`"${command}" not sent`));
          return this.doQuery(command, o?.timeoutMs ?? this.opts.timeoutMs, epoch);
        },
        write: (command, o) => {
          if (signal?.aborted) return Promise.reject(this.aborted(`"${command}" not sent`));
          return this.doWrite(command, o?.timeoutMs ?? this.opts.timeoutMs, epoch);
        },
        pause: (ms) => pause(ms, signal, () => this.aborted('interrupted')),
      };
      return run(exchange);
    });
    this.chain = work.catch(() => undefined);
    if (!signal) return work;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.aborted('abandoned'));
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  // ---- commands ---------------------------------------------------------------------------------

  private async doQuery(command: string, timeoutMs: number, epoch: number): Promise<string> {
    this.ensureUsable(command, epoch);
    if (this.needsResync) await this.resync(epoch);
    try {
      return await this.transact(command, { timeoutMs, reply: true });
    } catch (err) {
      if (!(err instanceof InstrumentError) || (err.kind !== 'timeout' && err.kind !== 'garbage')) throw err;
      this.needsResync = true;
      if (err.kind === 'timeout') {
        const refused = await this.recover(epoch).catch(() => null);
        if (refused && refused.length > 0) throw this.refused(command, refused);
      }
      throw err;
    }
  }

  private async doWrite(command: string, timeoutMs: number, epoch: number): Promise<void> {
    this.ensureUsable(command, epoch);
    if (this.needsResync) await this.resync(epoch);
    await this.transact(command, { timeoutMs, reply: false });
    const errors = await this.drainErrors(epoch, timeoutMs, command);
    if (errors.length > 0) throw this.refused(command, errors);
  }

  /** After a timeout: back in step, then whatever the instrument queued as errors. */
  private async recover(epoch: number): Promise<string[]> {
    await this.resync(epoch);
    return this.drainErrors(epoch, this.opts.timeoutMs, null);
  }

  /** *IDN?, dropping every line before the known identity (late answers to abandoned commands). */
  private async resync(epoch: number): Promise<void> {
    const identityLine = this.verified?.raw;
    if (!identityLine) throw this.error('disconnected', null, `${this.opts.id} has not identified itself yet`);
    try {
      await this.transact('*IDN?', { timeoutMs: this.opts.timeoutMs, reply: true, accept: (line) => line === identityLine });
      if (epoch === this.epoch) this.needsResync = false;
    } catch (err) {
      const reason = `lost step with the instrument (${(err as Error).message}); reconnecting`;
      this.log.warn({ instrument: this.opts.id, reason }, 'instrument out of step');
      this.port.lose(reason);
      throw this.error('disconnected', null, `${this.opts.id} ${reason}`);
    }
  }

  /** SYST:ERR? until code 0; returns the entries as the instrument wrote them. */
  private async drainErrors(epoch: number, timeoutMs: number, after: string | null): Promise<string[]> {
    const entries: string[] = [];
    for (let i = 0; i < MAX_ERROR_ENTRIES; i++) {
      if (epoch !== this.epoch) throw this.error('disconnected', after, `${this.opts.id} reconnected while reading its error queue`);
      const line = await this.transact(this.opts.errorQuery, { timeoutMs, reply: true });
      const entry = parseErrorEntry(line);
      if (!entry) {
        this.needsResync = true;
        throw this.error('garbage', this.opts.errorQuery, `${this.opts.id} answered "${this.opts.errorQuery}" with ${escapeForDisplay(line)}, not an error queue entry`);
      }
      if (entry.code === 0) return entries;
      entries.push(line.trim());
    }
    throw this.error('garbage', this.opts.errorQuery, `${this.opts.id}: its error queue did not empty after ${MAX_ERROR_ENTRIES} entries (last: ${entries.at(-1) ?? ''})`);
  }

  /**
   * One line out and, when `reply`, one line back (the first line `accept` takes, with `accept`).
   * The only place that touches the wire.
   */
  private async transact(command: string, o: { timeoutMs: number; reply: boolean; accept?: (line: string) => boolean }): Promise<string> {
    const gap = this.opts.minCommandGapMs ?? 0;
    if (gap > 0) {
      const wait = this.lastSendAt + gap - monotonicMs();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    if (!this.port.connected) throw this.error('disconnected', command, `${this.opts.id} (${this.opts.what} at ${this.opts.label}) is not connected`);
    if (this.pending) throw new Error(`${this.opts.id}: "${command}" sent while "${this.pending.command}" is in flight`);
    const line = Buffer.from(`${command}${this.terminator}`, 'latin1');
    this.lastSendAt = monotonicMs();
    if (!o.reply) {
      try {
        await this.port.write(line);
      } catch (err) {
        throw this.error('disconnected', command, `${this.opts.id} (${this.opts.what} at ${this.opts.label}) lost while sending "${command}": ${(err as Error).message}`);
      }
      return '';
    }
    return new Promise<string>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        if (this.pending === pending) this.pending = null;
      };
      const timer = setTimeout(() => {
        // Silence may be a port that died without a word: look before blaming the instrument.
        if (!this.port.checkAlive()) return; // declared lost: the pending command fails as disconnected
        finish();
        this.needsResync = true; // its answer may still come
        const overflow = this.framer.overflowing ? `; it is sending a line longer than ${this.framer.maxBytes} bytes with no end` : '';
        reject(this.error('timeout', command, `${this.opts.id}: no answer to "${command}" within ${o.timeoutMs} ms (${this.opts.what} at ${this.opts.label})${overflow}`));
      }, o.timeoutMs);
      const pending: Pending = {
        command,
        accept: o.accept ?? null,
        resolve: (answer) => {
          finish();
          resolve(answer);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      };
      this.pending = pending;
      // A failed write declares the port lost, which fails the pending command as disconnected.
      this.port.write(line).catch(() => undefined);
    });
  }

  // ---- the wire ---------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    for (const framed of this.framer.push(chunk)) {
      if (framed.kind === 'overflow') {
        this.onGarbage(framed.kept.toString('latin1'), `line of ${framed.length} bytes exceeds the ${this.framer.maxBytes}-byte limit`);
        continue;
      }
      let text = framed.bytes.toString('latin1');
      if (this.opts.terminator !== 'CR' && text.endsWith('\r')) text = text.slice(0, -1);
      if (text.length === 0) continue;
      if (!isPrintableAscii(text)) {
        this.onGarbage(text, 'control or non-ASCII characters');
        continue;
      }
      const pending = this.pending;
      if (!pending) {
        this.log.debug({ instrument: this.opts.id, line: escapeForDisplay(text) }, 'late or unsolicited answer dropped');
        continue;
      }
      if (pending.accept && !pending.accept(text)) {
        this.log.debug({ instrument: this.opts.id, line: escapeForDisplay(text) }, 'late answer dropped while getting back in step');
        continue;
      }
      pending.resolve(text);
    }
  }

  private onGarbage(line: string, reason: string): void {
    this.needsResync = true;
    const pending = this.pending;
    if (!pending) {
      this.log.warn({ instrument: this.opts.id, reason, line: escapeForDisplay(line) }, 'garbage from the instrument');
      return;
    }
    pending.reject(this.error('garbage', pending.command, `${this.opts.id} answered "${pending.command}" with garbage (${reason}): ${escapeForDisplay(line)}`));
  }

  private onConnection(connected: boolean, reason: string | null): void {
    this.epoch++;
    this.framer.discardPartial();
    if (connected) {
      void this.connectCheck(this.epoch);
      return;
    }
    this.cancelRecheck();
    this.failPending(
      this.error(
        'disconnected',
        this.pending?.command ?? null,
        `${this.opts.id} (${this.opts.what} at ${this.opts.label}) disconnected${this.pending ? ` during "${this.pending.command}"` : ''}: ${reason ?? 'port lost'}`,
      ),
    );
    if (!this.stopping && this.currentState !== 'wrong-instrument') this.setState('offline', reason ?? 'port lost');
  }

  /** *IDN? against the model, then the instrument's status cleared, before anything else goes out. */
  private async connectCheck(epoch: number): Promise<void> {
    const rule = this.opts.identity;
    try {
      // The first line that looks like an identity: a stale answer left on a serial line is not one.
      const idn = await this.transact('*IDN?', { timeoutMs: this.opts.timeoutMs, reply: true, accept: (line) => line.includes(',') && parseIdentity(line) !== null });
      if (epoch !== this.epoch) return;
      const identity = parseIdentity(idn) as InstrumentIdentity;
      if (!rule.manufacturer.test(identity.manufacturer) || !rule.model.test(identity.model)) {
        this.setState('wrong-instrument', `expected ${rule.describe}, answered "${idn}"`);
        this.log.error({ instrument: this.opts.id, port: this.opts.label, answered: idn, expected: rule.describe }, 'wrong instrument at this address; it will be checked again');
        this.scheduleRecheck(`re-checking for ${rule.describe}`);
        return;
      }
      for (const command of this.opts.clearOnConnect) await this.transact(command, { timeoutMs: this.opts.timeoutMs, reply: false });
      const cleared = await this.drainErrors(epoch, this.opts.timeoutMs, null);
      if (epoch !== this.epoch) return;
      if (cleared.length > 0) this.log.info({ instrument: this.opts.id, cleared }, 'errors left in the instrument queue were cleared at connect');
      const previous = this.verified;
      this.verified = identity;
      this.needsResync = false;
      this.recheckBackoff.reset();
      const changed = previous !== null && (previous.serial !== identity.serial || previous.model !== identity.model);
      if (changed) this.log.warn({ instrument: this.opts.id, was: previous.serial, now: identity.serial }, 'a different unit of the model is now at this address');
      this.events.emit('identity', { identity, changed });
      this.setState('ready', null);
    } catch (err) {
      if (epoch !== this.epoch || this.stopping) return;
      const reason = `no good answer to the connect check: ${(err as Error).message}`;
      this.setState('offline', reason);
      this.scheduleRecheck(reason);
    }
  }

  /** Drops the port after a backoff wait so the reconnect looks again. */
  private scheduleRecheck(reason: string): void {
    this.cancelRecheck();
    this.recheck = setTimeout(() => {
      this.recheck = null;
      this.port.lose(reason);
    }, this.recheckBackoff.next());
  }

  private cancelRecheck(): void {
    if (this.recheck) clearTimeout(this.recheck);
    this.recheck = null;
  }

  // ---- state and errors ---------------------------------------------------------------------------

  private setState(state: InstrumentState, reason: string | null): void {
    if (state === this.currentState && reason === this.reason) return;
    const previous = this.currentState;
    this.currentState = state;
    this.reason = reason;
    if (state !== previous) this.log.info({ instrument: this.opts.id, state, reason }, `${this.opts.what} ${this.opts.id} ${state}`);
    this.events.emit('state', { state, reason, previous });
  }

  private ensureUsable(command: string | null, epoch: number): void {
    if (epoch !== this.epoch) throw this.error('disconnected', command, `${this.opts.id} reconnected in the middle of a measurement${command ? ` (before "${command}")` : ''}`);
    if (this.currentState !== 'ready') throw this.notUsable(command);
  }

  private notUsable(command: string | null): InstrumentError {
    if (this.stopping && this.reason === 'stopped') return this.error('stopped', command, `${this.opts.id} stopped`);
    const why = this.reason ? `: ${this.reason}` : '';
    if (this.currentState === 'wrong-instrument') return this.error('wrong-instrument', command, `${this.opts.id} at ${this.opts.label} is the wrong instrument${why}`);
    return this.error('disconnected', command, `${this.opts.id} (${this.opts.what} at ${this.opts.label}) is ${this.currentState}${why}`);
  }

  private refused(command: string, entries: string[]): InstrumentError {
    const first = parseErrorEntry(entries[0] ?? '');
    const more = entries.length > 1 ? ` (then ${entries.slice(1).join('; ')})` : '';
    return new InstrumentError('instrument-error', `${this.opts.id} refused "${command}": ${entries[0]}${more}`, {
      instrumentId: this.opts.id,
      command,
      instrumentErrors: entries,
      code: first?.code ?? null,
    });
  }

  private aborted(what: string): InstrumentError {
    return this.error('aborted', null, `${this.opts.id}: command ${what}: the run was interrupted`);
  }

  private error(kind: InstrumentError['kind'], command: string | null, message: string): InstrumentError {
    return new InstrumentError(kind, message, { instrumentId: this.opts.id, command });
  }

  private failPending(err: InstrumentError): void {
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
  }
}

/** Waits `ms`, or rejects with `aborted()` as soon as `signal` aborts. */
export function pause(ms: number, signal: AbortSignal | undefined, aborted: () => Error): Promise<void> {
  if (signal?.aborted) return Promise.reject(aborted());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
