// Chooses the DUT console for a slot from its config: a real serial port, or the built-in
// simulator on an in-memory cable carrying the same protocol bytes.
import type { Logger } from 'pino';
import type { DutDriverConfig, SimulationConfig } from '../../station/config/schema.js';
import { serialOpener } from '../transport/serial.js';
import type { DutConsole } from '../console/console.js';
import { SimulatedNest } from './simulator/firmware.js';
import { MemoryLink } from '../transport/memory-link.js';
import { NestStreamAdapter } from './simulator/stream-adapter.js';
import { TaggedConsole } from '../console/tagged-console.js';

export interface DutConsoleSettings {
  maxLineBytes: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

export interface BuiltDut {
  console: DutConsole;
  /** Present for simulated slots: the nest behind the cable, and the cable (for faults). */
  simulation: { nest: SimulatedNest; link: MemoryLink } | null;
}

export function createDutConsole(opts: {
  slot: number;
  driver: DutDriverConfig;
  settings: DutConsoleSettings;
  simulation: SimulationConfig;
  deviceIdHexLength: number;
  seed: number;
  log: Logger;
}): BuiltDut {
  const log = opts.log.child({ part: 'drivers.dut', slot: opts.slot });
  if (opts.driver.kind === 'serial') {
    const console = new TaggedConsole({
      label: opts.driver.path,
      open: serialOpener({ path: opts.driver.path, baudRate: opts.driver.baudRate }),
      log,
      ...opts.settings,
    });
    return { console, simulation: null };
  }
  const sim = opts.simulation;
  const nest = new SimulatedNest(
    `sim:${opts.slot}`,
    {
      deviceIdHexLength: opts.deviceIdHexLength,
      bootMs: sim.bootMs,
      handlingMs: sim.handlingMs,
      cellularRate: sim.cellularRate,
      retestRate: sim.retestRate,
      failureRates: sim.failureRates,
      faultRates: sim.faultRates,
    },
    opts.seed,
    { event: () => undefined, raw: () => undefined, unplug: () => undefined },
  );
  const link = new MemoryLink(`sim:${opts.slot}`, {
    attach: (stream, unplug) => new NestStreamAdapter(nest, stream, { latencyMs: sim.commandLatencyMs, onUnplug: unplug }),
    // Powered through the same cable: the unit boots once the port is back.
    replugged: () => nest.replugged(),
  });
  const console = new TaggedConsole({ label: link.label, open: link.open, log, ...opts.settings });
  return { console, simulation: { nest, link } };
}
