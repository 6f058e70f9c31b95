// What the line needs from a DUT's test console, whatever protocol it speaks (the station's tagged
// lines, AT commands, a firmware shell) and whatever carries it (a UART, a USB CDC port, the
// simulator's in-memory cable, or a zero-latency direct call in the benchmark).
import type { EventBus } from '../../lib/event-bus.js';

export interface DutConsoleEvents {
  /** An unsolicited line from the DUT: BOOT, READY, an AT unsolicited result code ... */
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
  /**
   * How to ask a unit already sitting in the nest whether it is up (after a station restart, or a
   * console that connects to a booted unit): a command, and the answer that means ready.
   */
  readonly readyProbe: { command: string; ready: RegExp };
  /**
   * Sends one command and resolves with its answer: the payload of a tagged OK, an AT command's
   * information lines, a shell command's output (docs/protocols.md). One request in flight at a
   * time; rejects with a RequestError (drivers/transport/request-error.ts).
   */
  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string>;
}
