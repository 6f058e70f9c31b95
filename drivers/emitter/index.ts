// Chooses a slot's BlinkUp emitter from its config: an LED emitter on a serial port, or the
// simulated one on an in-memory cable, shining down an optical link at the simulated DUT.
import type { Logger } from 'pino';
import { MemoryLink } from '../dut/simulator/memory-link.js';
import { serialOpener } from '../serial/open-serial.js';
import type { Emitter } from './emitter.js';
import { SerialLedEmitter } from './serial-led.js';
import { LedEmitterSim } from './simulator/led-emitter-sim.js';
import type { OpticalLink } from './simulator/optical-link.js';

export type EmitterDriverConfig = { kind: 'serial-led'; path: string; baudRate: number } | { kind: 'simulated'; driftPpm: number };

export interface BuiltEmitter {
  emitter: Emitter;
  simulation: { sim: LedEmitterSim; link: MemoryLink } | null;
}

export function createEmitter(opts: {
  slot: number;
  driver: EmitterDriverConfig;
  optics: OpticalLink;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  log: Logger;
}): BuiltEmitter {
  const log = opts.log.child({ part: 'drivers.emitter', slot: opts.slot });
  const timing = { reconnectInitialMs: opts.reconnectInitialMs, reconnectMaxMs: opts.reconnectMaxMs };
  if (opts.driver.kind === 'serial-led') {
    const emitter = new SerialLedEmitter({ label: opts.driver.path, open: serialOpener({ path: opts.driver.path, baudRate: opts.driver.baudRate }), log, ...timing });
    return { emitter, simulation: null };
  }
  const sim = new LedEmitterSim(opts.optics, { driftPpm: opts.driver.driftPpm });
  const link = new MemoryLink(`sim-emitter:${opts.slot}`, {
    attach: (stream) => {
      sim.attach(stream);
      return { detach: () => sim.detach() };
    },
  });
  const emitter = new SerialLedEmitter({ label: link.label, open: link.open, log, ...timing });
  return { emitter, simulation: { sim, link } };
}
