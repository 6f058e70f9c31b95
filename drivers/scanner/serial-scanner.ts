// Serial scanners (RS-232, or USB in virtual COM port mode): each scan is a line of bytes ending in
// the scanner's configured suffix (CR, LF or CRLF), optionally with a prefix and a suffix of its
// own around the data. The driver opens the port through serialport (drivers/serial), cuts lines
// behind a length cap, refuses a line that never ends (the idle gap), and reconnects with capped
// exponential backoff when the port vanishes, as the DUT console does.
import type { Logger } from 'pino';
import type { OpenedPort, PortOpener } from '../dut/stream-console.js';
import { FilteredScanner, type FilterSettings, type ReconnectSettings } from './scanner-base.js';

export type ScanDelimiter = 'CR' | 'LF' | 'CRLF';

const DELIMITER_BYTES: Record<ScanDelimiter, Buffer> = { CR: Buffer.from('\r'), LF: Buffer.from('\n'), CRLF: Buffer.from('\r\n') };

export type FramedLine = { kind: 'line'; bytes: Buffer } | { kind: 'overflow'; length: number };

/** Cuts a byte stream into lines at the delimiter; bytes past `maxBytes` are counted, not kept. */
export class ScanLineFramer {
  private readonly delimiter: Buffer;
  private buffer = Buffer.alloc(0);
  private dropped = 0;

  constructor(
    delimiter: ScanDelimiter,
    private readonly maxBytes: number,
  ) {
    this.delimiter = DELIMITER_BYTES[delimiter];
  }

  /** Bytes of a line begun and not ended. */
  get pending(): number {
    return this.buffer.length + this.dropped;
  }

  push(chunk: Buffer): FramedLine[] {
    const lines: FramedLine[] = [];
    let data = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const end = data.indexOf(this.delimiter);
      if (end < 0) break;
      lines.push(this.lineOf(data.subarray(0, end)));
      data = data.subarray(end + this.delimiter.length);
    }
    // Keep at most the cap (plus a delimiter's first byte, which may complete in the next chunk).
    const keep = this.maxBytes + this.delimiter.length - 1;
    if (data.length > keep) {
      this.dropped += data.length - keep;
      data = data.subarray(data.length - keep); // the tail, where the delimiter will appear
    }
    this.buffer = Buffer.from(data);
    return lines;
  }

  /** Drops a line begun and not ended; returns its length (0: none). */
  discardPartial(): number {
    const length = this.pending;
    this.buffer = Buffer.alloc(0);
    this.dropped = 0;
    return length;
  }

  private lineOf(bytes: Buffer): FramedLine {
    const length = bytes.length + this.dropped;
    this.dropped = 0;
    if (length > this.maxBytes) return { kind: 'overflow', length };
    return { kind: 'line', bytes: Buffer.from(bytes) };
  }
}

export interface SerialScannerOptions {
  id: string;
  /** The port, for messages. */
  label: string;
  open: PortOpener;
  log: Logger;
  delimiter: ScanDelimiter;
  /** Text the scanner puts before / after each scan's data (its "preamble" / "postamble"). */
  prefix?: string;
  suffix?: string;
  filter?: FilterSettings;
  reconnect: ReconnectSettings;
  /** A line begun and not ended within this long is cut short (default 300 ms). */
  idleGapMs?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class SerialScanner extends FilteredScanner {
  private port: OpenedPort | null = null;
  private readonly framer: ScanLineFramer;
  private readonly maxLength: number;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: SerialScannerOptions) {
    super(opts.id, opts.log, opts.filter ?? {}, opts.reconnect);
    this.maxLength = opts.filter?.maxLength ?? 256;
    const framing = (opts.prefix?.length ?? 0) + (opts.suffix?.length ?? 0);
    this.framer = new ScanLineFramer(opts.delimiter, this.maxLength * 4 + framing); // UTF-8: 4 bytes a character at most
  }

  protected async close(): Promise<void> {
    this.clearIdle();
    this.markStopped();
    this.framer.discardPartial();
    const port = this.port;
    this.port = null;
    if (port) await port.close().catch((err: Error) => this.log.warn({ scanner: this.id, err: err.message }, 'closing the scanner port failed'));
  }

  private onData(chunk: Buffer): void {
    for (const line of this.framer.push(chunk)) {
      if (line.kind === 'overflow') this.refuse(`scan of ${line.length} bytes is longer than the ${this.maxLength}-character limit`, line.length);
      else this.onLine(line.bytes);
    }
    this.clearIdle();
    if (this.framer.pending > 0) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        const length = this.framer.discardPartial();
        if (length > 0) this.refuse(`scan cut short: no ${this.opts.delimiter} after the last byte (the idle gap passed)`, length);
      }, this.opts.idleGapMs ?? 300);
    }
  }

  private onLine(bytes: Buffer): void {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.refuse('the scan is not UTF-8 text', bytes.length);
      return;
    }
    const { prefix, suffix } = this.opts;
    if (text === '') return this.deliver(text); // an empty line: the filter drops it as a double Enter
    if (prefix) {
      if (!text.startsWith(prefix)) return this.refuse(`scan without the scanner's prefix "${visible(prefix)}"`, text.length);
      text = text.slice(prefix.length);
    }
    if (suffix) {
      if (!text.endsWith(suffix)) return this.refuse(`scan without the scanner's suffix "${visible(suffix)}"`, text.length);
      text = text.slice(0, text.length - suffix.length);
    }
    this.deliver(text);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  protected async connect(): Promise<void> {
    if (this.stopping || this.port) return;
    let opened: OpenedPort;
    try {
      opened = await this.opts.open();
    } catch (err) {
      this.markDisconnected((err as Error).message);
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await opened.close().catch(() => undefined);
      return;
    }
    this.port = opened;
    let lost = false;
    const onLost = (reason: string): void => {
      if (lost) return;
      lost = true;
      if (this.port !== opened) return;
      this.port = null;
      this.clearIdle();
      const partial = this.framer.discardPartial();
      if (partial > 0) this.refuse('scan cut short: the scanner port closed', partial);
      void opened.close().catch(() => undefined);
      this.markDisconnected(`scanner port ${this.opts.label} lost: ${reason}`);
      this.scheduleReconnect();
    };
    opened.stream.on('data', (chunk: Buffer) => {
      if (this.port === opened) this.onData(chunk);
    });
    opened.stream.on('error', (err: Error) => onLost(err.message));
    opened.stream.on('close', () => onLost('port closed'));
    opened.stream.on('end', () => onLost('port ended'));
    this.markConnected();
  }
}

/** A configured prefix or suffix, with control characters shown (they are config, not scan text). */
function visible(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
