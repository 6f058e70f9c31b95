// Makes the simulated instrument for a model, with the identity a real unit of it gives *IDN?
// (manufacturer and model as the real one writes them, a serial number drawn from the seed, a
// firmware string in the model's own format).
import type { ModelName } from '../models.js';
import { SimulatedDmm, type DmmProbe } from './dmm-sim.js';
import { SimulatedGenericInstrument } from './generic-sim.js';
import { SimulatedPsu } from './psu-sim.js';
import type { DeviceIdentity } from './scpi-device.js';
import { SimulatedSwitch } from './switch-sim.js';

export type SimulatedInstrument = SimulatedDmm | SimulatedPsu | SimulatedSwitch | SimulatedGenericInstrument;

const IDENTITIES: Record<ModelName, (digits: string) => DeviceIdentity> = {
  'keysight-34461a': (d) => ({ manufacturer: 'Keysight Technologies', model: '34461A', serial: `MY57${d}`, firmware: 'A.03.01-03.15-03.01-00.52-04-02' }),
  'rigol-dm3058': (d) => ({ manufacturer: 'Rigol Technologies', model: 'DM3058', serial: `DM3A1${d}`, firmware: '01.01.00.02.02.00' }),
  'keysight-e36312a': (d) => ({ manufacturer: 'Keysight Technologies', model: 'E36312A', serial: `MY59${d}`, firmware: '2.1.3-1.0.4-1.12' }),
  'keysight-n6700': (d) => ({ manufacturer: 'Keysight Technologies', model: 'N6700C', serial: `MY56${d}`, firmware: 'D.04.01.3162' }),
  'rigol-dp832': (d) => ({ manufacturer: 'RIGOL TECHNOLOGIES', model: 'DP832', serial: `DP8C1${d}`, firmware: '00.01.16' }),
  'siglent-spd3303x': (d) => ({ manufacturer: 'Siglent Technologies', model: 'SPD3303X', serial: `SPD3XIDQ${d}`, firmware: '1.01.01.02.05,V3.0' }),
  'scpi-switch': (d) => ({ manufacturer: 'BlinkUp Simulation', model: 'SCPI-SWITCH', serial: `SW${d}`, firmware: '1.0' }),
  scpi: (d) => ({ manufacturer: 'BlinkUp Simulation', model: 'SCPI-INSTRUMENT', serial: `SI${d}`, firmware: '1.0' }),
};

export interface SimulatedInstrumentOptions {
  seed: number;
  /** Overrides the serial number drawn from the seed. */
  serial?: string;
  /** DMMs: integration time of one reading (default 20 ms, 1 PLC at 50 Hz). */
  readingMs?: number;
  /** DMMs: what the inputs see (default: nothing connected). */
  probe?: DmmProbe;
}

export function simulatedIdentity(model: ModelName, seed: number, serial?: string): DeviceIdentity {
  const identity = IDENTITIES[model](String(100_000 + (Math.abs(Math.trunc(seed)) % 900_000)));
  return serial ? { ...identity, serial } : identity;
}

export function createSimulatedInstrument(model: ModelName, opts: SimulatedInstrumentOptions): SimulatedInstrument {
  const identity = simulatedIdentity(model, opts.seed, opts.serial);
  switch (model) {
    case 'keysight-34461a':
    case 'rigol-dm3058':
      return new SimulatedDmm(model, { identity, readingMs: opts.readingMs ?? 20, seed: opts.seed, probe: opts.probe });
    case 'keysight-e36312a':
    case 'keysight-n6700':
    case 'rigol-dp832':
    case 'siglent-spd3303x':
      return new SimulatedPsu(model, { identity, seed: opts.seed });
    case 'scpi-switch':
      return new SimulatedSwitch(identity);
    case 'scpi':
      return new SimulatedGenericInstrument(identity);
  }
}
