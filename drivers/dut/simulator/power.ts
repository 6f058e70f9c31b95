// The electrical side of a simulated nest: what the unit in it draws, and where its power comes
// from. A nest is powered by its cable (as before) unless `setExternalPower(true)` puts its unit on
// a bench supply: then it boots when the supply comes up, and goes silent (no answers, no events)
// when it goes down. The unit's current follows its state:
//
//   unpowered 0 · booting ~40 mA · idle ~12 mA · radio TX ~180 mA (RADIO TX <ms>) ·
//   deep sleep (SLEEP, until the next power cycle) ~8 µA, or ~400 µA for a unit with the leak
//   fault (`SLEEPCURRENT` in failureRates).
//
// It is the nest's ElectricalLoad for the simulated bench (drivers/instrument/simulator/bench.ts).
// The firmware model (firmware.ts) asks it whether the unit can run and tells it what the unit does.
import type { ElectricalLoad } from '../../instrument/simulator/electrical-load.js';
import { Random } from './random.js';

export type UnitPowerState = 'unpowered' | 'booting' | 'idle' | 'transmitting' | 'asleep';

/** A unit out of spec on this key leaks in deep sleep. */
export const LEAK_FAULT = 'SLEEPCURRENT';

/** Nominal draw per state (A). */
export const UNIT_CURRENT_A = {
  booting: 0.04,
  idle: 0.012,
  transmitting: 0.18,
  asleep: 8e-6,
  asleepLeaking: 400e-6,
} as const;

/** Below this supply the unit's regulator drops out and it stops (brown-out). */
export const MIN_RUN_VOLTS = 2.8;
/** The unit's 3.3 V rail, and the regulator's dropout below it. */
const RAIL_VOLTS = 3.3;
const DROPOUT_VOLTS = 0.15;
/** Resistance across the supply pins, unpowered: a healthy unit, and one with the leak. */
const INPUT_OHMS = 47_000;
const LEAKY_INPUT_OHMS = 9_100;

export interface PowerHooks {
  /** The supply came up: the unit in the nest boots. */
  powerUp(): void;
  /** The supply went down: the unit stops at once. */
  powerDown(): void;
}

export interface UnitInserted {
  /** The unit's serial in the nest's sequence, and whether it has the leak fault. */
  serial: number;
  leaky: boolean;
  /** False when it waits for its supply to boot (external power off). */
  powered: boolean;
}

export class NestPower implements ElectricalLoad {
  private external = false;
  private supplyVolts = 0;
  private state: UnitPowerState = 'unpowered';
  private leaky = false;
  private present = false;
  private txTimer: NodeJS.Timeout | null = null;
  private readonly rng: Random;
  private readonly drawListeners = new Set<() => void>();
  private readonly insertListeners = new Set<(u: UnitInserted) => void>();
  /** Changes when the unit loses power, falls asleep or is taken out: work it had scheduled is void. */
  epoch = 0;

  constructor(
    private readonly hooks: PowerHooks,
    seed: number,
  ) {
    this.rng = new Random((seed ^ 0x5eed) >>> 0);
  }

  /** True when the unit's power comes from a bench supply, not from its cable. */
  get externallyPowered(): boolean {
    return this.external;
  }

  /** The unit can run: powered by its cable, or its supply is up. */
  get powered(): boolean {
    return !this.external || this.supplyVolts >= MIN_RUN_VOLTS;
  }

  /** It runs and listens: powered and not in deep sleep. */
  get awake(): boolean {
    return this.powered && this.state !== 'asleep';
  }

  get unitState(): UnitPowerState {
    return this.state;
  }

  setExternalPower(on: boolean): void {
    const was = this.powered;
    this.external = on;
    this.powerMayHaveChanged(was);
  }

  // ---- what the firmware tells it ----------------------------------------------------------------

  /** A unit was put in the nest (the simulated operator, or a test). The one before it was taken
   *  out: what it had scheduled (a watchdog reset, a boot) is void, and it no longer transmits. */
  unitInserted(unit: { serial: number; outOfSpec: ReadonlySet<string> }): void {
    this.epoch++;
    this.clearTx();
    this.present = true;
    this.leaky = unit.outOfSpec.has(LEAK_FAULT);
    this.setState(this.powered ? this.state : 'unpowered');
    const event = { serial: unit.serial, leaky: this.leaky, powered: this.powered };
    for (const listener of this.insertListeners) listener(event);
  }

  booting(): void {
    this.setState('booting');
  }

  ready(): void {
    this.setState('idle');
  }

  /** SLEEP: deep sleep until the next power cycle. */
  sleep(): void {
    this.epoch++;
    this.setState('asleep');
  }

  /** RADIO TX <ms>: the radio's current for that long, then idle again. */
  transmit(ms: number): void {
    this.clearTx();
    this.setState('transmitting');
    const epoch = this.epoch;
    this.txTimer = setTimeout(() => {
      this.txTimer = null;
      if (this.epoch === epoch && this.state === 'transmitting') this.setState('idle');
    }, ms);
  }

  onUnitInserted(listener: (u: UnitInserted) => void): () => void {
    this.insertListeners.add(listener);
    return () => this.insertListeners.delete(listener);
  }

  stop(): void {
    this.clearTx();
  }

  // ---- ElectricalLoad ----------------------------------------------------------------------------

  currentA(_supplyVolts: number): number {
    if (!this.present || !this.powered) return 0;
    switch (this.state) {
      case 'unpowered':
        return 0;
      case 'booting':
        return this.noisy(UNIT_CURRENT_A.booting, 0.03);
      case 'idle':
        return this.noisy(UNIT_CURRENT_A.idle, 0.02);
      case 'transmitting':
        return this.noisy(UNIT_CURRENT_A.transmitting, 0.02);
      case 'asleep':
        return this.noisy(this.leaky ? UNIT_CURRENT_A.asleepLeaking : UNIT_CURRENT_A.asleep, 0.03);
    }
  }

  railVolts(supplyVolts: number): number {
    if (!this.present || !this.powered) return 0;
    const supply = this.external ? supplyVolts : 5;
    return Math.max(0, Math.min(RAIL_VOLTS, supply - DROPOUT_VOLTS));
  }

  resistanceOhms(): number {
    if (!this.present) return Infinity;
    return this.leaky ? LEAKY_INPUT_OHMS : INPUT_OHMS;
  }

  supplyChanged(volts: number): void {
    const was = this.powered;
    this.supplyVolts = volts;
    this.powerMayHaveChanged(was);
  }

  onDrawChange(listener: () => void): () => void {
    this.drawListeners.add(listener);
    return () => this.drawListeners.delete(listener);
  }

  // ---- inside --------------------------------------------------------------------------------------

  private powerMayHaveChanged(was: boolean): void {
    const now = this.powered;
    if (was === now) return;
    if (now) {
      this.hooks.powerUp();
      return;
    }
    this.epoch++;
    this.clearTx();
    this.setState('unpowered');
    this.hooks.powerDown();
  }

  private setState(state: UnitPowerState): void {
    if (state !== 'transmitting') this.clearTx();
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.drawListeners) listener();
  }

  private clearTx(): void {
    if (this.txTimer) clearTimeout(this.txTimer);
    this.txTimer = null;
  }

  private noisy(nominal: number, relativeSd: number): number {
    return Math.max(0, this.rng.gaussian(nominal, nominal * relativeSd));
  }
}
