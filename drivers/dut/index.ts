// A slot's DUT console from its port: the tagged-line console (docs/protocols.md) on a real
// serial port or on a simulator's in-memory cable, whichever opener the composition root hands in.
import type { Logger } from 'pino';
import type { DutConsole } from '../console/console.js';
import { TaggedConsole } from '../console/tagged-console.js';
import type { PortOpener } from '../transport/port.js';
import { serialOpener } from '../transport/serial.js';
import type { DutConsoleSettings, DutDriverConfig } from './options.js';

export { dutDriverSchema, dutConsoleSettingsSchema, type DutDriverConfig, type DutConsoleSettings } from './options.js';

export interface DutPort {
  label: string;
  open: PortOpener;
}

/** The port of a real (not simulated) DUT console from its config. */
export function dutPortOf(driver: Extract<DutDriverConfig, { kind: 'serial' }>): DutPort {
  return { label: driver.path, open: serialOpener({ path: driver.path, baudRate: driver.baudRate }) };
}

export function createDutConsole(opts: { slot: number; port: DutPort; settings: DutConsoleSettings; log: Logger }): DutConsole {
  const log = opts.log.child({ part: 'drivers.dut', slot: opts.slot });
  return new TaggedConsole({ label: opts.port.label, open: opts.port.open, log, ...opts.settings });
}
