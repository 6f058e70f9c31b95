// What the line needs from a DUT's test console, whatever carries it (a UART, a USB CDC port,
// the simulator's in-memory link, or a zero-latency direct call in the benchmark).
import type { EventBus } from '../../station/events.js';

export type DutErrorKind = 'timeout' | 'disconnected' | 'rejected' | 'garbage' | 'aborted' | 'stopped';

/** A request that did not get an OK. `message` is written for the operator and quotes the DUT. */
export class DutRequestError extends Error {
  constructor(
    readonly kind: DutErrorKind,
    message: string,
    /** For `rejected`: the DUT's error code (ERR <CODE>). */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'DutRequestError';
  }
}

export interface DutConsoleEvents {
  /** An unsolicited line from the DUT: BOOT, READY, ... */
  event: { name: string; fields: Record<string, string>; payload: string };
  connection: { connected: boolean; reason: string | null };
  /** A line that is not protocol; reported once per line, escaped. */
  garbage: { line: string; reason: string };
}

export interface DutConsole {
  /** Where it is connected, for logs and the UI: a port path or "sim:<slot>". */
  readonly label: string;
  readonly connected: boolean;
  readonly events: EventBus<DutConsoleEvents>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Sends one command and resolves with the payload of its OK. One request in flight at a time. */
  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string>;
}
