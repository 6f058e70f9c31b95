// A simulated serial barcode scanner: writes each scan as the real one does (prefix, data,
// suffix, the line delimiter) to a byte stream: an in-memory cable, or a real serial port or
// pseudo-terminal (`runSerialScannerOnPort`, and the CLI in cli.ts).
import type { Writable } from 'node:stream';
import { SerialPort } from 'serialport';
import type { ScanDelimiter } from '../serial-scanner.js';
import { SAMPLE_SCAN, type ScannerFault, type ScannerSim, type SimScanOptions } from './scanner-sim.js';

const DELIMITERS: Record<ScanDelimiter, string> = { CR: '\r', LF: '\n', CRLF: '\r\n' };

export interface SerialScannerSimOptions {
  delimiter: ScanDelimiter;
  prefix?: string;
  suffix?: string;
}

export class SerialScannerSim implements ScannerSim {
  private stream: Writable | null = null;

  constructor(private readonly opts: SerialScannerSimOptions) {}

  attach(stream: Writable): void {
    this.stream = stream;
  }

  detach(): void {
    this.stream = null;
  }

  get attached(): boolean {
    return this.stream !== null;
  }

  /** The bytes of one scan on the wire. */
  frame(text: string): Buffer {
    return Buffer.from(`${this.opts.prefix ?? ''}${text}${this.opts.suffix ?? ''}${DELIMITERS[this.opts.delimiter]}`, 'utf8');
  }

  async scan(text: string, opts: SimScanOptions = {}): Promise<void> {
    await this.write(this.frame(text));
    if (opts.bounce === 'enter') await this.write(Buffer.from(DELIMITERS[this.opts.delimiter]));
    if (opts.bounce === 'repeat') await this.write(this.frame(text));
  }

  async fault(kind: ScannerFault, text = SAMPLE_SCAN): Promise<void> {
    if (kind === 'doubled') return this.scan(text, { bounce: 'repeat' });
    if (kind === 'truncated') return this.write(Buffer.from(`${this.opts.prefix ?? ''}${text.slice(0, Math.ceil(text.length / 2))}`, 'utf8'));
    // Line noise: bytes that are not UTF-8, an ANSI sequence, a NUL, then the delimiter.
    await this.write(Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x80]), Buffer.from(DELIMITERS[this.opts.delimiter])]));
  }

  /** Raw bytes, as they are. */
  write(bytes: Buffer): Promise<void> {
    const stream = this.stream;
    if (!stream) return Promise.reject(new Error('the simulated serial scanner is not attached to a port'));
    return new Promise<void>((resolve, reject) => {
      stream.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }
}

export interface SerialScannerOnPort {
  sim: SerialScannerSim;
  close(): Promise<void>;
}

/** Runs a simulated scanner on a real serial port or pseudo-terminal. */
export function runSerialScannerOnPort(opts: { path: string; baudRate?: number } & SerialScannerSimOptions): Promise<SerialScannerOnPort> {
  const sim = new SerialScannerSim(opts);
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 9600, autoOpen: false, lock: false });
  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (err) return reject(new Error(`scanner simulator cannot open ${opts.path}: ${err.message}`));
      port.on('error', () => sim.detach());
      port.on('close', () => sim.detach());
      sim.attach(port);
      resolve({
        sim,
        close: () =>
          new Promise<void>((done) => {
            sim.detach();
            if (!port.isOpen) return done();
            port.close(() => done());
          }),
      });
    });
  });
}
