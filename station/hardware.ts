// Part of the composition root: builds every driver the line uses from the configuration. A real
// device gets its real opener (a serial port, a hidraw node); a "simulated" entry gets the
// simulated world's opener for the same driver. The drivers and the line never know which.
import type { Logger } from 'pino';
import { createDutConsole, dutPortOf } from '../drivers/dut/index.js';
import { createEmitter, emitterPortOf } from '../drivers/emitter/index.js';
import { createScanner, filterSettingsOf, scannerPortOf } from '../drivers/scanner/index.js';
import type { StationConfig } from './config/load.js';
import type { StationBus } from './events.js';
import type { SlotHardware } from './line/line.js';
import type { DeskScanner } from './line/scan-desk.js';
import type { SimulatedWorld } from './simulation/world.js';

export function buildSlotHardware(cfg: StationConfig, world: SimulatedWorld, bus: StationBus, log: Logger): SlotHardware[] {
  return cfg.slots.map((slotCfg, index) => {
    const port = slotCfg.dut.kind === 'simulated' ? world.dutPort(index) : dutPortOf(slotCfg.dut);
    const console = createDutConsole({ slot: index, port, protocol: slotCfg.dut.protocol, settings: cfg.dut, log });
    const e = slotCfg.emitter;
    const emitter = e
      ? createEmitter(e.kind === 'simulated' ? world.emitterPort(index, e.model, e.driftPpm) : emitterPortOf(e), {
          slot: index,
          reconnectInitialMs: cfg.dut.reconnectInitialMs,
          reconnectMaxMs: cfg.dut.reconnectMaxMs,
          log,
          onUnavailable: (message) => bus.emit('alarm.raised', { alarmId: `drivers.hid.${index}`, severity: 'critical', message, slot: index }),
        })
      : null;
    return { console, emitter };
  });
}

export function buildScanners(cfg: StationConfig, world: SimulatedWorld, bus: StationBus, log: Logger): DeskScanner[] {
  return cfg.scanners.map((sc) => {
    const slot = sc.slot !== undefined ? sc.slot - 1 : null;
    const port = sc.driver.kind === 'simulated' ? world.scannerPort(sc.id, slot, sc.driver.model) : scannerPortOf(sc.id, sc.driver);
    const scanner = createScanner({
      id: sc.id,
      port,
      log,
      filter: filterSettingsOf(sc),
      ...(sc.idleGapMs !== undefined ? { idleGapMs: sc.idleGapMs } : {}),
      onUnavailable: (message) => bus.emit('alarm.raised', { alarmId: `drivers.scanner.${sc.id}`, severity: 'warning', message, slot }),
    });
    return { id: sc.id, slot, scanner };
  });
}
