// Serial scanners (RS-232, or USB in virtual COM port mode): each scan is a line of bytes ending in
// the scanner's configured suffix (CR, LF or CRLF), optionally with a prefix and a suffix of its
// own around the data. The port (opening, noticing a loss, reconnecting) is a ReconnectingPort
// like every serial device's; lines are cut behind a length cap by the shared LineFramer; a line
// that never ends is refused after the idle gap.
import type { Logger } from 'pino';
import { LineFramer } from '../transport/line-framer.js';
import type { PortOpener } from '../transport/port.js';
import { ReconnectingPort } from '../transport/reconnecting-port.js';
import { FilteredScanner, type FilterSettings, type ReconnectSettings } from './scanner-base.js';

export type ScanDelimiter = 'CR' | 'LF' | 'CRLF';

const DELIMITER_BYTES: Record<ScanDelimiter, Buffer> = { CR: Buffer.from('\r'), LF: Buffer.from('\n'), CRLF: Buffer.from('\r\n') };

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
  private readonly port: ReconnectingPort;
  private readonly framer: LineFramer;
  private readonly maxLength: number;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: SerialScannerOptions) {
    super(opts.id, opts.log, opts.filter ?? {}, opts.reconnect);
    this.maxLength = opts.filter?.maxLength ?? 256;
    const framing = (opts.prefix?.length ?? 0) + (opts.suffix?.length ?? 0);
    this.framer = new LineFramer(DELIMITER_BYTES[opts.delimiter], this.maxLength * 4 + framing); // UTF-8: 4 bytes a character at most
    this.port = new ReconnectingPort({
      label: opts.label,
      open: opts.open,
      log: opts.log,
      reconnect: { initialMs: opts.reconnect.reconnectInitialMs, maxMs: opts.reconnect.reconnectMaxMs },
      what: 'scanner',
    });
    this.port.events.on('data', (chunk) => this.onData(chunk));
    this.port.events.on('connection', ({ connected, reason }) => {
      if (connected) return this.markConnected();
      this.clearIdle();
      const partial = this.framer.discardPartial();
      if (partial > 0) this.refuse('scan cut short: the scanner port closed', partial);
      if (!this.stopping) this.markDisconnected(`scanner port ${opts.label} lost: ${reason ?? 'port closed'}`);
    });
  }

  /** The port keeps itself open (and reconnects); the base's own reconnect timer is not used. */
  protected async connect(): Promise<void> {
    await this.port.start();
    if (!this.port.connected && !this.stopping) this.markDisconnected(`cannot open the scanner port ${this.opts.label}`);
  }

  protected async close(): Promise<void> {
    this.clearIdle();
    this.markStopped();
    this.framer.discardPartial();
    await this.port.stop();
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
}

/** A configured prefix or suffix, with control characters shown (they are config, not scan text). */
function visible(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
