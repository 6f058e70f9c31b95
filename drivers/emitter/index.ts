// Builds a slot's BlinkUp emitter driver from what drives it: an LED emitter on a serial port, an
// LED emitter over USB-HID, or an Imp BlinkUp fixture. The port is given (a real serial or HID
// opener from the config, or a simulator's, handed in by the composition root).
import type { Logger } from 'pino';
import { serialOpener } from '../transport/serial.js';
import type { PortOpener } from '../transport/port.js';
import type { Emitter } from './emitter.js';
import { HidLedEmitter, nodeHidOpener, type HidOpener } from './hid-led.js';
import { ImpFixture } from './imp-fixture.js';
import type { EmitterDriverConfig } from './options.js';
import { SerialLedEmitter } from './serial-led.js';

export { emitterDriverSchema, drawsFromTokenPool, type EmitterDriverConfig } from './options.js';

/** What the emitter driver talks to. */
export type EmitterPort =
  | { kind: 'serial-led'; label: string; open: PortOpener }
  | { kind: 'hid-led'; label: string; open: HidOpener }
  | { kind: 'imp-fixture'; label: string; open: PortOpener; minRetriggerMs: number; blinkupTimeoutMs: number };

/** The port of a real (not simulated) emitter from its config. */
export function emitterPortOf(driver: Exclude<EmitterDriverConfig, { kind: 'simulated' }>): EmitterPort {
  switch (driver.kind) {
    case 'serial-led':
      return { kind: 'serial-led', label: driver.path, open: serialOpener({ path: driver.path, baudRate: driver.baudRate }) };
    case 'hid-led':
      return { kind: 'hid-led', label: driver.path, open: nodeHidOpener(driver.path) };
    case 'imp-fixture':
      return {
        kind: 'imp-fixture',
        label: driver.path,
        open: serialOpener({ path: driver.path, baudRate: driver.baudRate }),
        minRetriggerMs: driver.minRetriggerMs,
        blinkupTimeoutMs: driver.blinkupTimeoutMs,
      };
  }
}

export function createEmitter(
  port: EmitterPort,
  opts: {
    slot: number;
    reconnectInitialMs: number;
    reconnectMaxMs: number;
    log: Logger;
    /** A driver that cannot work on this machine (node-hid missing): raise an alarm with this. */
    onUnavailable?: (message: string) => void;
  },
): Emitter | ImpFixture {
  const log = opts.log.child({ part: 'drivers.emitter', slot: opts.slot });
  const timing = { reconnectInitialMs: opts.reconnectInitialMs, reconnectMaxMs: opts.reconnectMaxMs };
  switch (port.kind) {
    case 'serial-led':
      return new SerialLedEmitter({ label: port.label, open: port.open, log, ...timing });
    case 'hid-led':
      return new HidLedEmitter({ label: port.label, open: port.open, log, reconnectMs: opts.reconnectMaxMs, onUnavailable: opts.onUnavailable });
    case 'imp-fixture':
      return new ImpFixture({ label: port.label, open: port.open, log, ...timing, minRetriggerMs: port.minRetriggerMs, blinkupTimeoutMs: port.blinkupTimeoutMs });
  }
}
