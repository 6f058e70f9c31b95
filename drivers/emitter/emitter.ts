// What the line needs from an optical BlinkUp emitter, whatever drives the LED: a microcontroller
// on a serial port, a USB-HID LED driver, or the simulator. The station encodes the frame
// (drivers/emitter/frame.ts); the emitter replays its symbols at the symbol rate and says when done.
import type { EventBus } from '../../lib/event-bus.js';

export interface EmitterEvents {
  connection: { connected: boolean; reason: string | null };
}

export interface EmitOptions {
  symbolRateHz: 60 | 142;
  /** The LED is driven inverted (on = low). */
  activeLow: boolean;
}

export interface EmitResult {
  /** On-air time the emitter reports for the frame. */
  onAirMs: number;
  symbols: number;
}

export type EmitterErrorKind = 'not-responding' | 'rejected' | 'disconnected' | 'aborted';

/** The emitter failed, not the DUT: the slot shows it and the DUT is not failed for it. */
export class EmitterError extends Error {
  constructor(
    readonly kind: EmitterErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'EmitterError';
  }
}

export interface Emitter {
  /** An LED the station drives frame by frame (an Imp fixture, kind "fixture", is its own class). */
  readonly kind: 'led';
  readonly label: string;
  readonly connected: boolean;
  readonly events: EventBus<EmitterEvents>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Replays `symbols` (1 = LED on) and resolves when the last symbol has been shown. */
  emit(symbols: Uint8Array, opts: EmitOptions, signal?: AbortSignal): Promise<EmitResult>;
}

/** Symbols packed 8 to a byte, first symbol in the most significant bit, as hex: the wire form. */
export function packSymbols(symbols: ArrayLike<number>): string {
  const bytes = Buffer.alloc(Math.ceil(symbols.length / 8));
  for (let i = 0; i < symbols.length; i++) if (symbols[i]) bytes[i >> 3] = (bytes[i >> 3] as number) | (0x80 >> (i & 7));
  return bytes.toString('hex');
}

export function unpackSymbols(hex: string, count: number): Uint8Array | null {
  if (!/^[0-9a-f]*$/.test(hex) || hex.length !== Math.ceil(count / 8) * 2) return null;
  const bytes = Buffer.from(hex, 'hex');
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
  return out;
}
