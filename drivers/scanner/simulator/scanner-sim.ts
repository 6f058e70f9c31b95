// What every scanner simulator offers a test or the simulated station: a scan typed the way the
// real scanner sends it, its auto-Enter bounce, and faults on demand.

export type ScannerFault =
  /** Bytes no scanner should send (a bad report, invalid UTF-8, an escape sequence), then an end of scan. */
  | 'garbage'
  /** The first half of a scan and no terminator: the driver's idle gap must refuse it. */
  | 'truncated'
  /** The whole scan sent twice back to back (a scanner re-reading the label): one scan. */
  | 'doubled';

export const SCANNER_FAULTS: readonly ScannerFault[] = ['garbage', 'truncated', 'doubled'];

export interface SimScanOptions {
  /** The auto-Enter bounce after the scan: a second Enter (an empty scan), or the scan repeated. */
  bounce?: 'enter' | 'repeat';
}

export interface ScannerSim {
  /** Sends `text` as one scan, exactly as the real scanner would; resolves when it is all sent. */
  scan(text: string, opts?: SimScanOptions): Promise<void>;
  /** Sends a fault; `text` is the scan it spoils (a sample label when absent). */
  fault(kind: ScannerFault, text?: string): Promise<void>;
}

export const SAMPLE_SCAN = 'SN00000001';
