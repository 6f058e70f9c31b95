// The andon's outputs from the configuration (the station config's `andon.outputs`): one driver
// per output; the job (jobs/andon.ts) keeps each open with an AndonOutput (lamps.ts).
import { HidRelayDriver, type HidRelayOpener } from './hid-relay.js';
import { ModbusLampDriver } from './modbus-tcp.js';
import type { AndonOutputConfig } from './options.js';
import { SerialRelayDriver } from './serial-relay.js';

export function lampDriver(cfg: AndonOutputConfig, hidOpener?: HidRelayOpener): ModbusLampDriver | SerialRelayDriver | HidRelayDriver {
  switch (cfg.kind) {
    case 'modbus-tcp':
      return new ModbusLampDriver({ host: cfg.host, port: cfg.port, unitId: cfg.unitId, coils: cfg.coils, timeoutMs: cfg.timeoutMs });
    case 'serial-relay':
      return new SerialRelayDriver({ path: cfg.path, baudRate: cfg.baudRate, channels: cfg.channels });
    case 'hid-relay':
      return hidOpener ? new HidRelayDriver({ path: cfg.path, channels: cfg.channels }, hidOpener) : new HidRelayDriver({ path: cfg.path, channels: cfg.channels });
  }
}
