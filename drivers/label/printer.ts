// A Zebra-compatible label printer on the network: ZPL sent raw over TCP port 9100.
//
// One connection per job (printers drop idle connections, and a fresh one recovers from whatever
// the last job left behind): connect with a timeout; optionally ask the host status (~HS) and
// refuse to send when the printer is out of paper, open or paused; write the job; half-close and
// wait for the printer to close its side, which it does once it has read everything. Every
// failure names the printer and what a person should check. Jobs are sent one at a time.
import net from 'node:net';
import type { Logger } from 'pino';
import { type LabelStock } from './layout.js';
import type { LabelJob, LabelOutput } from './output.js';
import { labelZpl } from './zpl.js';

export type PrinterErrorKind = 'refused' | 'unreachable' | 'timeout' | 'reset' | 'paper-out' | 'head-open' | 'paused' | 'ribbon-out' | 'protocol';

export class PrinterError extends Error {
  constructor(
    readonly kind: PrinterErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'PrinterError';
  }
}

/** The flags of a ~HS answer that stop a label from printing. */
export interface PrinterStatus {
  paperOut: boolean;
  paused: boolean;
  headOpen: boolean;
  ribbonOut: boolean;
  /** Formats received but not yet printed. */
  formatsInBuffer: number;
}

export interface ZplPrinterOptions {
  host: string;
  /** 9100 by default: the raw printing port of Zebra and compatible printers. */
  port?: number;
  stock: LabelStock;
  connectTimeoutMs?: number;
  /** For each read and write, and for the printer to close after a job. */
  ioTimeoutMs?: number;
  /** Query ~HS before each job (default true); turn off for an emulation that does not answer it. */
  checkStatus?: boolean;
  log: Logger;
}

const STX = 0x02;
const ETX = 0x03;

export class ZplPrinter implements LabelOutput {
  readonly kind = 'zpl' as const;
  readonly port: number;
  private readonly connectTimeoutMs: number;
  private readonly ioTimeoutMs: number;
  private readonly checkStatus: boolean;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ZplPrinterOptions) {
    this.port = opts.port ?? 9100;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.ioTimeoutMs = opts.ioTimeoutMs ?? 5000;
    this.checkStatus = opts.checkStatus ?? true;
    this.log = opts.log.child({ part: 'drivers.label', printer: this.name });
  }

  /** host:port, as every message names it. */
  get name(): string {
    return `${this.opts.host}:${this.port}`;
  }

  async print(label: LabelJob): Promise<void> {
    const zpl = labelZpl({ deviceId: label.deviceId, lines: label.lines, qr: label.qr, ...(label.stock ?? this.opts.stock) });
    await this.send(zpl);
    this.log.info({ deviceId: label.deviceId, runId: label.runId, bytes: zpl.length }, 'label printed');
  }

  /** Sends one ZPL job (any number of formats) on a fresh connection. */
  send(zpl: string): Promise<void> {
    return this.serial(() =>
      this.withConnection(async (conn) => {
        if (this.checkStatus) refuseIfNotReady(this.name, await this.queryStatus(conn));
        await conn.write(Buffer.from(zpl, 'latin1'), 'sending the job');
        await conn.finish();
      }),
    );
  }

  /** The printer's host status (~HS), on a connection of its own. */
  status(): Promise<PrinterStatus> {
    return this.serial(() =>
      this.withConnection(async (conn) => {
        const status = await this.queryStatus(conn);
        await conn.finish();
        return status;
      }),
    );
  }

  private async queryStatus(conn: Connection): Promise<PrinterStatus> {
    await conn.write(Buffer.from('~HS\r\n', 'latin1'), 'asking its status (~HS)');
    // Three strings, each framed STX ... ETX CR LF.
    const answer = await conn.readUntil((buf) => countByte(buf, ETX) >= 3, 'the host status query (~HS)');
    return parseHostStatus(answer, this.name);
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async withConnection<T>(use: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await Connection.open(this.opts.host, this.port, this.connectTimeoutMs, this.ioTimeoutMs);
    try {
      return await use(conn);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'printer job failed');
      throw err;
    } finally {
      conn.destroy();
    }
  }
}

function refuseIfNotReady(name: string, s: PrinterStatus): void {
  if (s.paperOut) throw new PrinterError('paper-out', `printer at ${name} is out of paper (labels): load labels, then reprint`);
  if (s.headOpen) throw new PrinterError('head-open', `printer at ${name} has its print head open: close it, then reprint`);
  if (s.ribbonOut) throw new PrinterError('ribbon-out', `printer at ${name} is out of ribbon: load a ribbon, then reprint`);
  if (s.paused) throw new PrinterError('paused', `printer at ${name} is paused: press its pause button to resume, then reprint`);
}

/**
 * The ~HS answer. String 1: "aaa,b,c,dddd,eee,f,..." (b paper out, c paused, eee formats in the
 * buffer); string 2: "mmm,n,o,p,..." (o head open, p ribbon out); string 3: password, RAM.
 */
export function parseHostStatus(answer: Buffer, name = 'printer'): PrinterStatus {
  const strings: string[][] = [];
  let start = -1;
  for (let i = 0; i < answer.length; i++) {
    if (answer[i] === STX) start = i + 1;
    else if (answer[i] === ETX && start >= 0) {
      strings.push(answer.subarray(start, i).toString('latin1').split(','));
      start = -1;
    }
  }
  const [one, two] = strings;
  if (!one || !two || one.length < 5 || two.length < 4) {
    throw new PrinterError('protocol', `printer at ${name} answered the host status query (~HS) with something else: ${JSON.stringify(answer.toString('latin1').slice(0, 80))}`);
  }
  const flag = (v: string | undefined): boolean => v?.trim() === '1';
  return {
    paperOut: flag(one[1]),
    paused: flag(one[2]),
    formatsInBuffer: Number.parseInt(one[4] ?? '0', 10) || 0,
    headOpen: flag(two[2]),
    ribbonOut: flag(two[3]),
  };
}

function countByte(buf: Buffer, byte: number): number {
  let n = 0;
  for (const b of buf) if (b === byte) n++;
  return n;
}

/** One TCP connection to the printer, every step bounded by a timeout and named in its errors. */
class Connection {
  private received = Buffer.alloc(0);
  private failure: PrinterError | null = null;
  private closed = false;
  private wake: (() => void) | null = null;

  private constructor(
    private readonly socket: net.Socket,
    private readonly name: string,
    private readonly ioTimeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake?.();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= socketError(this.name, err);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static open(host: string, port: number, connectTimeoutMs: number, ioTimeoutMs: number): Promise<Connection> {
    const name = `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ host, port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new PrinterError('timeout', `printer at ${name} did not answer in ${connectTimeoutMs} ms (connecting): check that it is on and on the network`));
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Connection(socket, name, ioTimeoutMs));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(socketError(name, err));
      });
    });
  }

  write(data: Buffer, doing: string): Promise<void> {
    return this.bounded(doing, (done, fail) => {
      this.socket.write(data, (err) => (err ? fail(socketError(this.name, err as NodeJS.ErrnoException)) : done()));
      return () => false;
    });
  }

  /** Resolves with everything received once `complete(received)` holds. */
  readUntil(complete: (received: Buffer) => boolean, what: string): Promise<Buffer> {
    return this.bounded(`answering ${what}`, (done) => {
      return () => {
        if (!complete(this.received)) return false;
        const answer = this.received;
        this.received = Buffer.alloc(0);
        done(answer);
        return true;
      };
    });
  }

  /** Half-closes and waits for the printer to close its side: it has read the whole job. */
  finish(): Promise<void> {
    return this.bounded('confirming the job (closing the connection)', (done) => {
      this.socket.end();
      return () => {
        if (!this.closed) return false;
        done();
        return true;
      };
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Runs a step: `start` begins it and returns a check that completes it when it can. The step
   * fails on a socket error, on the printer closing first, or after ioTimeoutMs.
   */
  private bounded<T>(doing: string, start: (done: (v: T) => void, fail: (e: PrinterError) => void) => () => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.wake = null;
        f();
      };
      const done = (v: T): void => finish(() => resolve(v));
      const fail = (e: PrinterError): void => finish(() => reject(e));
      const timer = setTimeout(
        () => fail(new PrinterError('timeout', `printer at ${this.name} did not answer in ${this.ioTimeoutMs} ms (${doing}): it may be busy or hung; check it, then reprint`)),
        this.ioTimeoutMs,
      );
      const check = start(done, fail);
      const poll = (): void => {
        if (settled) return;
        // An error first: a reset is followed by a close, which must not pass for the printer's
        // orderly close after a job.
        if (this.failure) fail(this.failure);
        else if (check()) return;
        else if (this.closed) {
          fail(new PrinterError('reset', `printer at ${this.name} closed the connection while ${doing}: the label was probably not printed; reprint`));
        }
      };
      this.wake = poll;
      poll();
    });
  }
}

function socketError(name: string, err: NodeJS.ErrnoException): PrinterError {
  switch (err.code) {
    case 'ECONNREFUSED':
      return new PrinterError('refused', `printer at ${name} refused the connection: is it on, and is raw printing (port ${name.split(':').pop()}) enabled?`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new PrinterError('reset', `printer at ${name} dropped the connection in the middle of the job (${err.code}): the label was probably not printed; reprint`);
    case 'ETIMEDOUT':
      return new PrinterError('timeout', `printer at ${name} did not answer (ETIMEDOUT): check that it is on and on the network`);
    default:
      return new PrinterError('unreachable', `cannot reach printer at ${name} (${err.code ?? err.message}): check its address and the network`);
  }
}
