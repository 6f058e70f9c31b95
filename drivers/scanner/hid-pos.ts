// HID-POS scanners: a USB scanner in "HID Point of Sale" mode (usage page 0x8C, Bar Code Scanner)
// sends each scan as data, not keystrokes, in Scanned Data Reports. The report layout here is the
// common one, modeled on the HID POS Usage Tables' Scanned Data Report (Symbology Identifier 1-3,
// Decoded Data, Decoded Data Continued); docs/protocols.md, "Scanners", gives it byte by byte.
// A scan longer than one report comes in several, each but the last flagged "continued"; this
// reassembles them. Pure state, no timers: the driver calls `idle()` when the rest never comes.

export const POS_REPORT_BYTES = 64;
export const POS_SCANNED_DATA_REPORT_ID = 0x02;
/** Data bytes per report: 64 less report ID, length, 3 symbology bytes, 2 reserved, flags. */
export const POS_DATA_BYTES = 56;
export const POS_DATA_OFFSET = 5;
export const POS_FLAGS_OFFSET = 63;
/** Flags bit 0: Decoded Data Continued, more reports of this scan follow. */
export const POS_FLAG_CONTINUED = 0x01;

export type PosOutcome = { kind: 'text'; text: string; symbology: string | null } | { kind: 'bad'; reason: string; length: number };

export interface PosDecoderOptions {
  /** Longest scan, in characters: bytes past 4 × this are counted, not kept. */
  maxLength?: number;
  reportId?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class HidPosDecoder {
  private readonly maxBytes: number;
  private readonly maxLength: number;
  private readonly reportId: number;
  private chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;
  private symbology: string | null = null;
  private started = false;
  private fault: string | null = null;

  constructor(opts: PosDecoderOptions = {}) {
    this.maxLength = opts.maxLength ?? 256;
    this.maxBytes = this.maxLength * 4; // UTF-8: at most 4 bytes a character
    this.reportId = opts.reportId ?? POS_SCANNED_DATA_REPORT_ID;
  }

  get inScan(): boolean {
    return this.started;
  }

  push(report: Uint8Array): PosOutcome | null {
    if (report[0] !== this.reportId) return null; // another report (status, trigger): not a scan
    if (report.length !== POS_REPORT_BYTES) {
      this.started = true;
      this.fault ??= `malformed HID-POS report (${report.length} bytes, expected ${POS_REPORT_BYTES})`;
      return null;
    }
    const n = report[1] as number;
    const continued = ((report[POS_FLAGS_OFFSET] as number) & POS_FLAG_CONTINUED) !== 0;
    if (n > POS_DATA_BYTES) {
      this.fault ??= `malformed HID-POS report (claims ${n} data bytes, at most ${POS_DATA_BYTES} fit)`;
    } else {
      if (!this.started) this.symbology = symbologyOf(report);
      const data = Buffer.from(report.subarray(POS_DATA_OFFSET, POS_DATA_OFFSET + n));
      this.total += n;
      if (this.kept + n <= this.maxBytes) {
        this.chunks.push(data);
        this.kept += n;
      }
    }
    this.started = true;
    if (continued) return null;
    return this.finish();
  }

  /** No report for the idle gap while the last one said "continued": the scan was cut short. */
  idle(): PosOutcome | null {
    if (!this.started) return null;
    const outcome: PosOutcome = { kind: 'bad', reason: this.fault ?? 'scan cut short: a HID-POS report said more data follows, and none came', length: this.total };
    this.reset();
    return outcome;
  }

  private finish(): PosOutcome {
    const total = this.total;
    let outcome: PosOutcome;
    if (this.fault) outcome = { kind: 'bad', reason: this.fault, length: total };
    else if (total > this.maxBytes) outcome = { kind: 'bad', reason: `scan of ${total} bytes is longer than the ${this.maxLength}-character limit`, length: total };
    else {
      try {
        outcome = { kind: 'text', text: utf8.decode(Buffer.concat(this.chunks)), symbology: this.symbology };
      } catch {
        outcome = { kind: 'bad', reason: 'the scan is not UTF-8 text', length: total };
      }
    }
    this.reset();
    return outcome;
  }

  private reset(): void {
    this.chunks = [];
    this.kept = 0;
    this.total = 0;
    this.symbology = null;
    this.started = false;
    this.fault = null;
  }
}

/** The AIM symbology identifier ("]d1": Data Matrix) if the scanner sent one, printable ASCII only. */
function symbologyOf(report: Uint8Array): string | null {
  const bytes = Array.from(report.subarray(2, 5));
  if (bytes.every((b) => b === 0)) return null;
  if (!bytes.every((b) => b >= 0x21 && b <= 0x7e)) return null;
  return String.fromCharCode(...bytes);
}

/** The reports a HID-POS scanner sends for one scan (the simulator's, and the documented layout). */
export function posScanReports(data: Uint8Array, symbology = ']d1', reportId = POS_SCANNED_DATA_REPORT_ID): Buffer[] {
  const reports: Buffer[] = [];
  const sym = Buffer.from(symbology.padEnd(3, '\0').slice(0, 3), 'latin1');
  let at = 0;
  do {
    const chunk = data.subarray(at, at + POS_DATA_BYTES);
    at += chunk.length;
    const r = Buffer.alloc(POS_REPORT_BYTES);
    r[0] = reportId;
    r[1] = chunk.length;
    sym.copy(r, 2);
    Buffer.from(chunk).copy(r, POS_DATA_OFFSET);
    r[POS_FLAGS_OFFSET] = at < data.length ? POS_FLAG_CONTINUED : 0;
    reports.push(r);
  } while (at < data.length);
  return reports;
}
