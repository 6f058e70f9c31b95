// A simulated fixture bench: the simulated instruments of a station (supplies, DMMs, switch units,
// generic SCPI boxes) by instrument id, each reachable over an in-memory cable that carries the
// real SCPI bytes, and the wiring between them and the units in the nests ("loads"):
//
//   bench.wire(nest.power, { supply: { psu: 'psu1', channel: 1 }, dmm: 'dmm1', via: { switch: 'mux1', channel: 1 } })
//
// puts the nest's unit on channel 1 of psu1 (it boots when the channel turns on, goes silent when
// it turns off, and trips the channel's OCP when it draws past the limit), and lets dmm1 measure it
// while mux1's channel 1 is closed. A DMM reads the sum of the currents of the loads routed to it,
// the rail voltage of the first, and the loads' resistances in parallel (nothing routed: 0 A, 0 V,
// an open circuit, which reads as an overload). createInstrument() takes the bench as its
// `simulation` and gets its openers from connect().
import type { InstrumentSimulation } from '../index.js';
import type { ModelName } from '../models.js';
import type { Terminator } from '../scpi-session.js';
import { MemoryLink } from '../../transport/memory-link.js';
import type { PortOpener } from '../../transport/port.js';
import { createSimulatedInstrument, type SimulatedInstrument } from './devices.js';
import { SimulatedDmm, type DmmProbe } from './dmm-sim.js';
import type { ElectricalLoad } from './electrical-load.js';
import { SimulatedPsu } from './psu-sim.js';
import { SimulatedSwitch } from './switch-sim.js';

export interface BenchOptions {
  /** Seeds serial numbers and noise (default 1), so a simulated shift can be replayed. */
  seed?: number;
  /** Integration time of one DMM reading (default 20 ms: 1 PLC at 50 Hz). */
  dmmReadingMs?: number;
}

export interface LoadWiring {
  /** The supply channel that powers the load. */
  supply?: { psu: string; channel: number };
  /** The DMM that can measure it... */
  dmm?: string;
  /** ...through this switch channel (absent: wired straight to the DMM). */
  via?: { switch: string; channel: number };
}

interface Wired {
  load: ElectricalLoad;
  wiring: LoadWiring;
  unwire: () => void;
}

/** How long a simulated instrument's cable stays out after its `hang-up` fault. */
const HANG_UP_MS = 1000;

export class SimulatedBench implements InstrumentSimulation {
  private readonly devices = new Map<string, SimulatedInstrument>();
  private readonly links = new Map<string, MemoryLink>();
  private readonly wired: Wired[] = [];
  private readonly seed: number;
  private readonly dmmReadingMs: number;

  constructor(opts: BenchOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.dmmReadingMs = opts.dmmReadingMs ?? 20;
  }

  /** Puts a simulated instrument on the bench under `id` (replacing any there: a swapped unit). */
  add(id: string, model: ModelName, opts: { serial?: string; readingMs?: number } = {}): SimulatedInstrument {
    const device = createSimulatedInstrument(model, {
      seed: this.seed * 7919 + hash(id),
      serial: opts.serial,
      readingMs: opts.readingMs ?? this.dmmReadingMs,
      probe: this.probeFor(id),
    });
    this.devices.set(id, device);
    return device;
  }

  /** The in-memory cable to instrument `id`; its simulated instrument is made on first use. */
  connect(instrument: { id: string; model: ModelName; latencyMs: number; terminator: Terminator }): { open: PortOpener; label: string } {
    if (!this.devices.has(instrument.id)) this.add(instrument.id, instrument.model);
    let link = this.links.get(instrument.id);
    if (!link) {
      link = new MemoryLink(`sim:${instrument.id}`, {
        // Whatever is on the bench under the id when the cable is plugged in answers.
        attach: (stream, unplug) => this.device(instrument.id).attach(stream, { terminator: instrument.terminator, latencyMs: instrument.latencyMs, hangUp: () => unplug(HANG_UP_MS) }),
      });
      this.links.set(instrument.id, link);
    }
    return { open: link.open, label: link.label };
  }

  device(id: string): SimulatedInstrument {
    const device = this.devices.get(id);
    if (!device) throw new Error(`no simulated instrument "${id}" on the bench`);
    return device;
  }

  dmm(id: string): SimulatedDmm {
    const device = this.device(id);
    if (!(device instanceof SimulatedDmm)) throw new Error(`simulated instrument "${id}" is a ${device.model}, not a DMM`);
    return device;
  }

  psu(id: string): SimulatedPsu {
    const device = this.device(id);
    if (!(device instanceof SimulatedPsu)) throw new Error(`simulated instrument "${id}" is a ${device.model}, not a power supply`);
    return device;
  }

  switchUnit(id: string): SimulatedSwitch {
    const device = this.device(id);
    if (!(device instanceof SimulatedSwitch)) throw new Error(`simulated instrument "${id}" is a ${device.model}, not a switch`);
    return device;
  }

  /** The cable to instrument `id` (to pull it: `link(id).unplug(ms)`); null before connect(). */
  link(id: string): MemoryLink | null {
    return this.links.get(id) ?? null;
  }

  /** Wires a load (a nest's unit) to the bench; returns the unwiring. The supply must be on the bench. */
  wire(load: ElectricalLoad, wiring: LoadWiring): () => void {
    const detach = wiring.supply ? this.psu(wiring.supply.psu).attachLoad(wiring.supply.channel, load) : () => undefined;
    const entry: Wired = {
      load,
      wiring,
      unwire: () => {
        const at = this.wired.indexOf(entry);
        if (at < 0) return;
        this.wired.splice(at, 1);
        detach();
      },
    };
    this.wired.push(entry);
    return entry.unwire;
  }

  /** Unwires every load. */
  stop(): void {
    for (const entry of [...this.wired]) entry.unwire();
  }

  /** What DMM `dmmId`'s inputs see now, through the wiring and the switches' closed channels. */
  private probeFor(dmmId: string): DmmProbe {
    const routed = (): Wired[] =>
      this.wired.filter((w) => {
        if (w.wiring.dmm !== dmmId) return false;
        if (!w.wiring.via) return true;
        const unit = this.devices.get(w.wiring.via.switch);
        return unit instanceof SimulatedSwitch && unit.isClosed(w.wiring.via.channel);
      });
    const supplyVolts = (w: Wired): number => {
      const supply = w.wiring.supply;
      const psu = supply ? this.devices.get(supply.psu) : undefined;
      return supply && psu instanceof SimulatedPsu ? psu.outputVolts(supply.channel) : 0;
    };
    const current = (w: Wired): number => {
      const supply = w.wiring.supply;
      if (!supply) return w.load.currentA(0); // powered by its cable
      const psu = this.devices.get(supply.psu);
      return psu instanceof SimulatedPsu ? psu.currentInto(supply.channel, w.load) : 0;
    };
    return {
      currentA: () => routed().reduce((sum, w) => sum + current(w), 0),
      volts: () => {
        const first = routed()[0];
        return first ? first.load.railVolts(supplyVolts(first)) : 0;
      },
      ohms: () => {
        const conductance = routed().reduce((sum, w) => sum + 1 / w.load.resistanceOhms(), 0);
        return conductance > 0 ? 1 / conductance : Infinity;
      },
    };
  }
}

/** A small stable hash of an id, for per-instrument seeds. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h % 1_000_003;
}
