// Simulated bench supplies in three dialects: Keysight E36300 (settings with a channel list (@n)),
// Rigol DP800 (CHn arguments, a separate OCP threshold, YES/NO answers) and Siglent SPD3303X
// (CHn: prefixes, no OCP, a hex status word). Each channel powers the loads wired to it
// (bench.ts). Physics, kept simple: a channel that is on holds its voltage while the loads draw
// no more than its limit; beyond it, with OCP on, it trips (output off, trip flag set, until
// cleared); with OCP off it goes constant-current (the limit flows, the voltage sags in proportion).
// The loads hear their supply voltage change; a load whose draw changes makes the channel check
// again at once (a radio burst past the limit trips it then, not at the next query).
import { Random } from '../../dut/simulator/random.js';
import { MODELS, type PsuModel } from '../models.js';
import type { ElectricalLoad } from './electrical-load.js';
import { booleanParam, numericParam, parseChannelList, ScpiCommandError } from './scpi-parser.js';
import { formatFixed, formatNr3, SimulatedScpiDevice, type DeviceIdentity, type SimCommand } from './scpi-device.js';

export type SimulatedPsuModel = 'keysight-e36312a' | 'keysight-n6700' | 'rigol-dp832' | 'siglent-spd3303x';

interface Channel {
  setVolts: number;
  limitA: number;
  on: boolean;
  ocp: boolean;
  /** The current past which OCP trips: the limit (E36300), or the DP800's own OCP value. */
  ocpLevelA: number;
  tripped: boolean;
  cc: boolean;
  demandA: number;
  /** The voltage the loads were last told. */
  told: number;
}

export interface SimulatedPsuOptions {
  identity: DeviceIdentity;
  seed: number;
}

export class SimulatedPsu extends SimulatedScpiDevice {
  private readonly spec: PsuModel;
  private readonly rng: Random;
  private channels: Channel[] = [];
  private readonly loads = new Map<number, Set<ElectricalLoad>>();
  private selected = 1;
  private evaluating = false;
  private readonly dirty = new Set<number>();

  constructor(model: SimulatedPsuModel, opts: SimulatedPsuOptions) {
    super(model, opts.identity, model === 'keysight-e36312a' || model === 'keysight-n6700' ? 'signed' : model === 'rigol-dp832' ? 'plain' : 'bare', model === 'siglent-spd3303x' ? [] : undefined);
    this.spec = MODELS[model];
    this.rng = new Random(opts.seed);
    this.reset();
  }

  protected reset(): void {
    for (const [i] of this.channels.entries()) this.loads.get(i + 1)?.forEach((l) => l.supplyChanged?.(0));
    this.channels = this.spec.channels.map((c) => ({ setVolts: 0, limitA: c.maxAmps, on: false, ocp: false, ocpLevelA: c.maxAmps, tripped: false, cc: false, demandA: 0, told: 0 }));
    this.selected = 1;
  }

  // ---- the wiring (bench.ts) -------------------------------------------------------------------

  /** Wires a load to channel `ch`; returns the unwiring. */
  attachLoad(ch: number, load: ElectricalLoad): () => void {
    if (!this.channels[ch - 1]) throw new Error(`${this.model} has no channel ${ch}`);
    let set = this.loads.get(ch);
    if (!set) this.loads.set(ch, (set = new Set()));
    set.add(load);
    const off = load.onDrawChange?.(() => this.evaluate(ch));
    load.supplyChanged?.(this.channel(ch).told);
    this.evaluate(ch);
    return () => {
      off?.();
      set.delete(load);
      load.supplyChanged?.(0);
      this.evaluate(ch);
    };
  }

  /** The voltage at the channel's terminals (0 when off or tripped). */
  outputVolts(ch: number): number {
    const c = this.channel(ch);
    if (!c.on || c.tripped) return 0;
    return c.cc && c.demandA > 0 ? (c.setVolts * c.limitA) / c.demandA : c.setVolts;
  }

  /** The current flowing into one load on the channel (its share of the limit in constant current). */
  currentInto(ch: number, load: ElectricalLoad): number {
    const c = this.channel(ch);
    const volts = this.outputVolts(ch);
    if (volts <= 0) return 0;
    const own = load.currentA(c.setVolts);
    return c.cc && c.demandA > 0 ? (own / c.demandA) * c.limitA : own;
  }

  isTripped(ch: number): boolean {
    return this.channel(ch).tripped;
  }

  private channel(ch: number): Channel {
    const c = this.channels[ch - 1];
    if (!c) throw new ScpiCommandError('-222');
    return c;
  }

  /** Re-checks a channel against its loads; re-entrant calls (a load booting on power) loop here. */
  private evaluate(ch: number): void {
    this.dirty.add(ch);
    if (this.evaluating) return;
    this.evaluating = true;
    try {
      for (let guard = 0; this.dirty.size > 0 && guard < 100; guard++) {
        const next = this.dirty.values().next().value as number;
        this.dirty.delete(next);
        this.evaluateNow(next);
      }
    } finally {
      this.evaluating = false;
      this.dirty.clear();
    }
  }

  private evaluateNow(ch: number): void {
    const c = this.channels[ch - 1];
    if (!c) return;
    const loads = [...(this.loads.get(ch) ?? [])];
    c.demandA = c.on && !c.tripped ? loads.reduce((sum, l) => sum + l.currentA(c.setVolts), 0) : 0;
    c.cc = false;
    if (c.on && !c.tripped) {
      if (c.ocp && c.demandA > c.ocpLevelA * (1 + 1e-9)) {
        c.tripped = true;
        c.demandA = 0;
      } else if (c.demandA > c.limitA * (1 + 1e-9)) c.cc = true;
    }
    const volts = this.outputVolts(ch);
    if (volts !== c.told) {
      c.told = volts;
      for (const load of loads) load.supplyChanged?.(volts);
    }
  }

  private measuredVolts(ch: number): number {
    const v = this.outputVolts(ch);
    return v === 0 ? Math.abs(this.rng.gaussian(0, 0.0002)) : v + this.rng.gaussian(0, 0.0005);
  }

  private measuredAmps(ch: number): number {
    const c = this.channel(ch);
    if (this.outputVolts(ch) === 0) return Math.abs(this.rng.gaussian(0, 0.00005));
    this.evaluate(ch);
    const amps = c.cc ? c.limitA : c.demandA;
    return Math.max(0, amps + this.rng.gaussian(0, 0.00005));
  }

  // ---- settings shared by the dialects ------------------------------------------------------------

  private setVolts(ch: number, volts: number): void {
    const c = this.channel(ch);
    const max = this.spec.channels[ch - 1]?.maxVolts ?? 0;
    if (!Number.isFinite(volts) || volts < 0 || volts > max) throw new ScpiCommandError('-222');
    c.setVolts = volts;
    this.evaluate(ch);
  }

  private setLimit(ch: number, amps: number, alsoOcpLevel: boolean): void {
    const c = this.channel(ch);
    const max = this.spec.channels[ch - 1]?.maxAmps ?? 0;
    if (!Number.isFinite(amps) || amps < 0 || amps > max) throw new ScpiCommandError('-222');
    c.limitA = amps;
    if (alsoOcpLevel) c.ocpLevelA = amps;
    this.evaluate(ch);
  }

  private setOutput(ch: number, on: boolean): void {
    const c = this.channel(ch);
    // A tripped channel stays off until its protection is cleared.
    if (on && c.tripped) return;
    c.on = on;
    this.evaluate(ch);
  }

  private clearTrip(ch: number): void {
    const c = this.channel(ch);
    c.tripped = false;
    this.evaluate(ch);
  }

  protected commands(): SimCommand[] {
    switch (this.model) {
      case 'keysight-e36312a':
      case 'keysight-n6700':
        return this.keysightCommands();
      case 'rigol-dp832':
        return this.rigolCommands();
      default:
        return this.siglentCommands();
    }
  }

  // ---- Keysight E36300: values then an optional channel list ---------------------------------------

  private keysightCommands(): SimCommand[] {
    const split = (params: string[]): { values: string[]; channels: number[] } => {
      const last = params.at(-1);
      const list = last !== undefined ? parseChannelList(last) : null;
      const channels = list ?? [this.selected];
      for (const ch of channels) this.channel(ch);
      return { values: list ? params.slice(0, -1) : params, channels };
    };
    const each = (params: string[], fn: (ch: number, values: string[]) => void): void => {
      const { values, channels } = split(params);
      for (const ch of channels) fn(ch, values);
    };
    const ask = (params: string[], fn: (ch: number) => string): string => split(params).channels.map(fn).join(',');
    const max = (ch: number, what: 'maxVolts' | 'maxAmps'): number => this.spec.channels[ch - 1]?.[what] ?? 0;
    return [
      { pattern: '[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]', run: ({ params }) => each(params, (ch, v) => this.setVolts(ch, numericParam(v[0], { MIN: 0, MAX: max(ch, 'maxVolts') }))) },
      { pattern: '[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?', run: ({ params }) => ask(params, (ch) => formatNr3(this.channel(ch).setVolts, 5)) },
      { pattern: '[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]', run: ({ params }) => each(params, (ch, v) => this.setLimit(ch, numericParam(v[0], { MIN: 0, MAX: max(ch, 'maxAmps') }), true)) },
      { pattern: '[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]?', run: ({ params }) => ask(params, (ch) => formatNr3(this.channel(ch).limitA, 5)) },
      {
        pattern: '[SOURce]:CURRent:PROTection:STATe',
        run: ({ params }) =>
          each(params, (ch, v) => {
            this.channel(ch).ocp = booleanParam(v[0]);
            this.evaluate(ch);
          }),
      },
      { pattern: '[SOURce]:CURRent:PROTection:STATe?', run: ({ params }) => ask(params, (ch) => (this.channel(ch).ocp ? '1' : '0')) },
      { pattern: '[SOURce]:CURRent:PROTection:TRIPped?', run: ({ params }) => ask(params, (ch) => (this.channel(ch).tripped ? '1' : '0')) },
      // The questionable status condition register: OC is bit 1 (the N6700's STATus subsystem).
      { pattern: 'STATus:QUEStionable[:CONDition]?', run: ({ params }) => ask(params, (ch) => (this.channel(ch).tripped ? '2' : '0')) },
      { pattern: '[SOURce]:CURRent:PROTection:CLEar', run: ({ params }) => each(params, (ch) => this.clearTrip(ch)) },
      { pattern: 'OUTPut:PROTection:CLEar', run: ({ params }) => each(params, (ch) => this.clearTrip(ch)) },
      { pattern: 'OUTPut[:STATe]', run: ({ params }) => each(params, (ch, v) => this.setOutput(ch, booleanParam(v[0]))) },
      { pattern: 'OUTPut[:STATe]?', run: ({ params }) => ask(params, (ch) => (this.channel(ch).on ? '1' : '0')) },
      { pattern: 'MEASure[:SCALar]:VOLTage[:DC]?', run: ({ params }) => ask(params, (ch) => formatNr3(this.measuredVolts(ch), 5)) },
      { pattern: 'MEASure[:SCALar]:CURRent[:DC]?', run: ({ params }) => ask(params, (ch) => formatNr3(this.measuredAmps(ch), 5)) },
      {
        pattern: 'APPLy',
        run: ({ params }) =>
          each(params, (ch, v) => {
            this.setVolts(ch, numericParam(v[0], { MIN: 0, MAX: max(ch, 'maxVolts') }));
            if (v[1] !== undefined) this.setLimit(ch, numericParam(v[1], { MIN: 0, MAX: max(ch, 'maxAmps') }), true);
          }),
      },
      {
        pattern: 'INSTrument:NSELect',
        run: ({ params }) => {
          const ch = numericParam(params[0]);
          this.channel(ch);
          this.selected = ch;
        },
      },
      { pattern: 'INSTrument:NSELect?', run: () => String(this.selected) },
    ];
  }

  // ---- Rigol DP800: [CHn,] first ---------------------------------------------------------------------

  private rigolCommands(): SimCommand[] {
    /** `CH2` as the first parameter picks the channel; otherwise the selected one. */
    const pick = (params: string[]): { ch: number; rest: string[] } => {
      const m = /^CH(\d)$/i.exec(params[0] ?? '');
      if (m) {
        const ch = Number(m[1]);
        this.channel(ch);
        return { ch, rest: params.slice(1) };
      }
      return { ch: this.selected, rest: params };
    };
    const onOff = (v: boolean): string => (v ? 'ON' : 'OFF');
    return [
      {
        pattern: ':APPLy',
        run: ({ params }) => {
          const { ch, rest } = pick(params);
          const spec = this.spec.channels[ch - 1];
          this.selected = ch;
          if (rest[0] !== undefined) this.setVolts(ch, numericParam(rest[0], { MIN: 0, MAX: spec?.maxVolts }));
          if (rest[1] !== undefined) this.setLimit(ch, numericParam(rest[1], { MIN: 0, MAX: spec?.maxAmps }), false);
        },
      },
      {
        pattern: ':APPLy?',
        run: ({ params }) => {
          const { ch } = pick(params);
          const c = this.channel(ch);
          return `CH${ch},${formatFixed(c.setVolts, 3)},${formatFixed(c.limitA, 4)}`;
        },
      },
      { pattern: '[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]', run: ({ params, suffixes }) => this.setVolts(suffixes[0] ?? this.selected, numericParam(params[0])) },
      { pattern: '[:SOURce#]:CURRent[:LEVel][:IMMediate][:AMPLitude]', run: ({ params, suffixes }) => this.setLimit(suffixes[0] ?? this.selected, numericParam(params[0]), false) },
      {
        pattern: ':OUTPut[:STATe]',
        run: ({ params }) => {
          const { ch, rest } = pick(params);
          this.setOutput(ch, booleanParam(rest[0]));
        },
      },
      { pattern: ':OUTPut[:STATe]?', run: ({ params }) => onOff(this.channel(pick(params).ch).on) },
      {
        pattern: ':OUTPut:OCP[:STATe]',
        run: ({ params }) => {
          const { ch, rest } = pick(params);
          this.channel(ch).ocp = booleanParam(rest[0]);
          this.evaluate(ch);
        },
      },
      { pattern: ':OUTPut:OCP[:STATe]?', run: ({ params }) => onOff(this.channel(pick(params).ch).ocp) },
      {
        pattern: ':OUTPut:OCP:VALue',
        run: ({ params }) => {
          const { ch, rest } = pick(params);
          const max = this.spec.channels[ch - 1]?.maxAmps ?? 0;
          const amps = numericParam(rest[0], { MIN: 0.001, MAX: max });
          if (amps < 0.001 || amps > max) throw new ScpiCommandError('-222');
          this.channel(ch).ocpLevelA = amps;
          this.evaluate(ch);
        },
      },
      { pattern: ':OUTPut:OCP:VALue?', run: ({ params }) => formatFixed(this.channel(pick(params).ch).ocpLevelA, 4) },
      { pattern: ':OUTPut:OCP:QUEStion?', run: ({ params }) => (this.channel(pick(params).ch).tripped ? 'YES' : 'NO') },
      { pattern: ':OUTPut:OCP:CLEar', run: ({ params }) => this.clearTrip(pick(params).ch) },
      { pattern: ':MEASure[:VOLTage][:DC]?', run: ({ params }) => formatFixed(this.measuredVolts(pick(params).ch), 3) },
      { pattern: ':MEASure:CURRent[:DC]?', run: ({ params }) => formatFixed(this.measuredAmps(pick(params).ch), 4) },
      {
        pattern: ':INSTrument:NSELect',
        run: ({ params }) => {
          const ch = numericParam(params[0]);
          this.channel(ch);
          this.selected = ch;
        },
      },
      { pattern: ':INSTrument:NSELect?', run: () => String(this.selected) },
    ];
  }

  // ---- Siglent SPD3303X: CHn: prefixes, OUTPut CHn,ON --------------------------------------------------

  private siglentCommands(): SimCommand[] {
    const which = (param: string | undefined): number => {
      if (param === undefined || param === '') return this.selected;
      const m = /^CH(\d)$/i.exec(param);
      if (!m) throw new ScpiCommandError('-224');
      const ch = Number(m[1]);
      this.channel(ch);
      return ch;
    };
    return [
      { pattern: 'CH#:VOLTage', run: ({ params, suffixes }) => this.setVolts(suffixes[0] ?? 1, numericParam(params[0])) },
      { pattern: 'CH#:VOLTage?', run: ({ suffixes }) => formatFixed(this.channel(suffixes[0] ?? 1).setVolts, 3) },
      { pattern: 'CH#:CURRent', run: ({ params, suffixes }) => this.setLimit(suffixes[0] ?? 1, numericParam(params[0]), true) },
      { pattern: 'CH#:CURRent?', run: ({ suffixes }) => formatFixed(this.channel(suffixes[0] ?? 1).limitA, 3) },
      {
        pattern: 'OUTPut',
        run: ({ params }) => {
          // CH3 (the fixed 2.5/3.3/5 V output) switches too; nothing is wired to it here.
          if (/^CH3$/i.test(params[0] ?? '')) return void booleanParam(params[1]);
          this.setOutput(which(params[0]), booleanParam(params[1]));
        },
      },
      { pattern: 'MEASure:VOLTage?', run: ({ params }) => formatFixed(this.measuredVolts(which(params[0])), 3) },
      { pattern: 'MEASure:CURRent?', run: ({ params }) => formatFixed(this.measuredAmps(which(params[0])), 3) },
      {
        pattern: 'MEASure:POWEr?',
        run: ({ params }) => {
          const ch = which(params[0]);
          return formatFixed(this.measuredVolts(ch) * this.measuredAmps(ch), 3);
        },
      },
      { pattern: 'INSTrument[:SELect]', run: ({ params }) => void (this.selected = which(params[0])) },
      { pattern: 'INSTrument[:SELect]?', run: () => `CH${this.selected}` },
      {
        // Bits: 0/1 CH1/CH2 constant current, 2-3 independent (01), 4/5 CH1/CH2 output on.
        pattern: 'SYSTem:STATus?',
        run: () => {
          const [c1, c2] = this.channels;
          const bits = (c1?.cc ? 1 : 0) | (c2?.cc ? 2 : 0) | 4 | (c1?.on && !c1.tripped ? 0x10 : 0) | (c2?.on && !c2.tripped ? 0x20 : 0);
          return `0x${bits.toString(16).padStart(4, '0')}`;
        },
      },
      { pattern: 'SYSTem:VERSion?', run: () => '1.01.01.02.05' },
    ];
  }
}
