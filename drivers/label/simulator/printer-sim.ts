// A simulated Zebra-compatible label printer on TCP (port 9100 by default, 0 for any in tests).
// It reads the byte stream as a printer does: every ^XA ... ^XZ format is a job, captured and
// parsed (the Data Matrix data, the text fields); ~HS is answered with a host status in Zebra's
// three-string format; when the client half-closes, it closes too. Faults on demand: refuse
// connections (nothing listening), hang (accept, then never read nor answer), close mid-job
// (reset the connection as a job arrives, printing nothing), and paper out / head open / paused
// in the ~HS answer.
import net from 'node:net';
import type { Logger } from 'pino';
import { EventBus } from '../../../lib/event-bus.js';
import { parseZplFormat, type ZplFormat } from './zpl-parse.js';

export interface CapturedJob extends ZplFormat {
  /** The data of the first Data Matrix field, or null. */
  dataMatrix: string | null;
  /** The data of every text field, in order. */
  texts: string[];
  receivedAt: number;
}

export type PrinterSimFault = 'hang' | 'close-mid-job';

export interface PrinterSimState {
  paperOut: boolean;
  headOpen: boolean;
  paused: boolean;
  ribbonOut: boolean;
}

export interface PrinterSimEvents {
  job: CapturedJob;
  connection: { remote: string };
}

export interface PrinterSimOptions {
  /** 9100 by default; 0 picks a free port (see address after start()). */
  port?: number;
  host?: string;
  log?: Logger;
}

const STX = '\x02';
const ETX = '\x03';

export class PrinterSimulator {
  readonly events: EventBus<PrinterSimEvents>;
  readonly jobs: CapturedJob[] = [];
  /** What ~HS reports; change it to simulate an open head, no paper, a pause. */
  readonly state: PrinterSimState = { paperOut: false, headOpen: false, paused: false, ribbonOut: false };
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly faults: PrinterSimFault[] = [];
  private boundPort: number | null = null;
  private readonly host: string;

  constructor(private readonly opts: PrinterSimOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.events = new EventBus<PrinterSimEvents>(opts.log);
  }

  get address(): { host: string; port: number } {
    if (this.boundPort === null) throw new Error('the printer simulator is not started');
    return { host: this.host, port: this.boundPort };
  }

  async start(): Promise<{ host: string; port: number }> {
    await this.listen(this.opts.port ?? 9100);
    this.opts.log?.info({ host: this.host, port: this.boundPort }, 'printer simulator listening');
    return this.address;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await this.closeListener();
  }

  /** Each connection from now on meets the next fault in the queue (one fault, one connection). */
  injectFault(fault: PrinterSimFault): void {
    this.faults.push(fault);
  }

  /** Stops listening, so connections are refused, until acceptConnections(). Keeps the port. */
  async refuseConnections(): Promise<void> {
    await this.closeListener();
  }

  async acceptConnections(): Promise<void> {
    if (this.boundPort === null) throw new Error('the printer simulator was never started');
    if (!this.server) await this.listen(this.boundPort);
  }

  /** Resolves with the next job captured that satisfies `match`, or rejects after `timeoutMs`. */
  nextJob(match: (job: CapturedJob) => boolean = () => true, timeoutMs = 5000): Promise<CapturedJob> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no print job arrived at the printer simulator in ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.events.on('job', (job) => {
        if (!match(job)) return;
        clearTimeout(timer);
        off();
        resolve(job);
      });
    });
  }

  /** The ~HS answer for the current state. */
  hostStatus(): string {
    const s = this.state;
    const b = (v: boolean): string => (v ? '1' : '0');
    // String 1: comms settings, paper out, paused, label length, formats in buffer, buffer full,
    // diagnostic mode, partial format, unused, corrupt RAM, under/over temperature.
    const one = `030,${b(s.paperOut)},${b(s.paused)},0406,000,0,0,0,000,0,0,0`;
    // String 2: function settings, unused, head up, ribbon out, thermal transfer, print mode,
    // width mode, label waiting, labels remaining, format while printing, graphics stored.
    const two = `000,0,${b(s.headOpen)},${b(s.ribbonOut)},1,2,6,0,00000000,1,000`;
    // String 3: password, static RAM installed.
    const three = '1234,0';
    return `${STX}${one}${ETX}\r\n${STX}${two}${ETX}\r\n${STX}${three}${ETX}\r\n`;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen(port, this.host, () => {
        server.off('error', reject);
        const a = server.address();
        this.boundPort = a && typeof a === 'object' ? a.port : port;
        this.server = server;
        resolve();
      });
    });
  }

  private closeListener(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // a client that resets is not the simulator's problem
    this.events.emit('connection', { remote: `${socket.remoteAddress}:${socket.remotePort}` });
    const fault = this.faults.shift();
    if (fault === 'hang') {
      // A printer stuck mid-print: the connection is accepted and then nothing is ever read.
      socket.pause();
      return;
    }
    let buffer = '';
    let inFormat = false;
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (!inFormat) {
          const hs = buffer.indexOf('~HS');
          const xa = buffer.indexOf('^XA');
          if (hs >= 0 && (xa < 0 || hs < xa)) {
            socket.write(this.hostStatus(), 'latin1');
            buffer = buffer.slice(hs + 3);
            continue;
          }
          if (xa < 0) {
            buffer = buffer.slice(-2); // a command split across two packets
            return;
          }
          if (fault === 'close-mid-job') {
            // Power lost mid-job: the connection resets and the job is gone.
            socket.resetAndDestroy();
            return;
          }
          buffer = buffer.slice(xa);
          inFormat = true;
        }
        const xz = buffer.indexOf('^XZ');
        if (xz < 0) return;
        this.capture(buffer.slice(0, xz + 3));
        buffer = buffer.slice(xz + 3);
        inFormat = false;
      }
    });
    // allowHalfOpen is off: when the client half-closes, the simulator closes too, as printers do.
  }

  private capture(raw: string): void {
    const format = parseZplFormat(raw);
    const job: CapturedJob = {
      ...format,
      dataMatrix: format.fields.find((f) => f.kind === 'datamatrix')?.data ?? null,
      texts: format.fields.filter((f) => f.kind === 'text').map((f) => f.data),
      receivedAt: Date.now(),
    };
    this.jobs.push(job);
    this.opts.log?.info({ dataMatrix: job.dataMatrix, fields: job.fields.length }, 'printer simulator captured a job');
    this.events.emit('job', job);
  }
}
