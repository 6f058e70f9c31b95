// A slot's DUT console from its port and protocol: the tagged lines (docs/protocols.md), AT
// commands or a firmware shell, on a real serial port or on a simulator's in-memory cable,
// whichever opener the composition root hands in.
import type { Logger } from 'pino';
import type { DutConsole } from '../console/console.js';
import { createDutConsole as consoleFor, type DutProtocolOptions } from '../console/index.js';
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

export function createDutConsole(opts: { slot: number; port: DutPort; protocol?: DutProtocolOptions | undefined; settings: DutConsoleSettings; log: Logger }): DutConsole {
  const log = opts.log.child({ part: 'drivers.dut', slot: opts.slot });
  return consoleFor({ protocol: opts.protocol, label: opts.port.label, open: opts.port.open, log, ...opts.settings });
}
