// Chooses a slot's BlinkUp emitter from its config: an LED emitter on a serial port, or the
// simulated one on an in-memory cable, shining down an optical link at the simulated DUT.
import type { Logger } from 'pino';
import { MemoryLink } from '../transport/memory-link.js';
import { serialOpener } from '../transport/serial.js';
import type { SimulatedEnrollmentService } from '../dut/simulator/enrollment.js';
import type { Emitter } from './emitter.js';
import { HidLedEmitter, nodeHidOpener } from './hid-led.js';
import { ImpFixture } from './imp-fixture.js';
import { HidEmitterSim } from './simulator/hid-emitter-sim.js';
import { SerialLedEmitter } from './serial-led.js';
import { ImpFixtureSim } from './simulator/imp-fixture-sim.js';
import { LedEmitterSim } from './simulator/led-emitter-sim.js';
import type { OpticalLink } from './simulator/optical-link.js';

export type EmitterDriverConfig =
  | { kind: 'serial-led'; path: string; baudRate: number }
  | { kind: 'hid-led'; path: string }
  | { kind: 'imp-fixture'; path: string; baudRate: number; minRetriggerMs: number; blinkupTimeoutMs: number }
  | { kind: 'simulated'; model: 'led' | 'hid-led' | 'imp-fixture'; driftPpm: number };

export interface BuiltEmitter {
  emitter: Emitter | ImpFixture;
  simulation: { sim: LedEmitterSim | ImpFixtureSim | HidEmitterSim; link: MemoryLink | null } | null;
}

export function createEmitter(opts: {
  slot: number;
  driver: EmitterDriverConfig;
  optics: OpticalLink;
  /** For a simulated Imp fixture: its own cloud, and the factory network it sends. */
  fixtureCloud?: { cloud: SimulatedEnrollmentService; ssid: string; password: string; symbolRateHz: 60 | 142 };
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  log: Logger;
  /** A driver that cannot work on this machine (node-hid missing): raise an alarm with this. */
  onUnavailable?: (message: string) => void;
}): BuiltEmitter {
  const log = opts.log.child({ part: 'drivers.emitter', slot: opts.slot });
  const timing = { reconnectInitialMs: opts.reconnectInitialMs, reconnectMaxMs: opts.reconnectMaxMs };
  if (opts.driver.kind === 'serial-led') {
    const emitter = new SerialLedEmitter({ label: opts.driver.path, open: serialOpener({ path: opts.driver.path, baudRate: opts.driver.baudRate }), log, ...timing });
    return { emitter, simulation: null };
  }
  if (opts.driver.kind === 'hid-led') {
    const emitter = new HidLedEmitter({ label: opts.driver.path, open: nodeHidOpener(opts.driver.path), log, reconnectMs: opts.reconnectMaxMs, onUnavailable: opts.onUnavailable });
    return { emitter, simulation: null };
  }
  if (opts.driver.kind === 'simulated' && opts.driver.model === 'hid-led') {
    const sim = new HidEmitterSim(opts.optics, opts.driver.driftPpm);
    const emitter = new HidLedEmitter({ label: `sim-hid:${opts.slot}`, open: async () => sim, log, reconnectMs: opts.reconnectMaxMs });
    return { emitter, simulation: { sim, link: null } };
  }
  if (opts.driver.kind === 'imp-fixture') {
    const d = opts.driver;
    const fixture = new ImpFixture({ label: d.path, open: serialOpener({ path: d.path, baudRate: d.baudRate }), log, ...timing, minRetriggerMs: d.minRetriggerMs, blinkupTimeoutMs: d.blinkupTimeoutMs });
    return { emitter: fixture, simulation: null };
  }
  if (opts.driver.model === 'imp-fixture') {
    const fc = opts.fixtureCloud;
    if (!fc) throw new Error(`slot ${opts.slot}: a simulated Imp fixture needs the simulated enrollment service and the blinkup settings`);
    const sim = new ImpFixtureSim(opts.optics, fc.cloud, { ssid: fc.ssid, password: fc.password, symbolRateHz: fc.symbolRateHz, minIntervalMs: 1000, driftPpm: opts.driver.driftPpm });
    const link = new MemoryLink(`sim-fixture:${opts.slot}`, {
      attach: (stream) => {
        sim.attach(stream);
        return { detach: () => sim.detach() };
      },
    });
    const fixture = new ImpFixture({ label: link.label, open: link.open, log, ...timing, minRetriggerMs: 1000, blinkupTimeoutMs: 60_000 });
    return { emitter: fixture, simulation: { sim, link } };
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
