// What the station needs from an operator's barcode scanner, whatever it is: a keyboard-wedge or
// HID-POS scanner over USB-HID, a serial scanner, or a simulator. A scanner emits one `scan` per
// complete, debounced, sanitised scan; anything it refuses is a `rejected` that never carries the
// scanned text (a label's Data Matrix holds the unit's mobile secret).
import type { EventBus } from '../../lib/event-bus.js';

export interface ScanEvent {
  scannerId: string;
  /** The scan as printable text (terminator, prefix and suffix removed). May hold a secret field:
   *  split it with scan-fields.ts and log only `redactScan(...)` of it. */
  text: string;
  /** Epoch milliseconds when the scan ended. */
  at: number;
}

export interface ScanRejectedEvent {
  scannerId: string;
  /** Why, in words an operator can act on ("control characters in the scan"); never the text. */
  reason: string;
  /** Characters (or bytes, for input that is not text) the refused scan had. */
  length: number;
}

export interface ScannerStatusEvent {
  connected: boolean;
  /** Why it is not connected (a port that vanished, node-hid missing); absent when connected. */
  error?: string;
}

export interface ScannerEvents {
  scan: ScanEvent;
  rejected: ScanRejectedEvent;
  status: ScannerStatusEvent;
}

export interface Scanner {
  readonly id: string;
  readonly connected: boolean;
  readonly events: EventBus<ScannerEvents>;
  /** Opens the device; a device that is not there yet is retried in the background. */
  start(): Promise<void>;
  /** Closes the device and stops retrying. */
  stop(): Promise<void>;
}
