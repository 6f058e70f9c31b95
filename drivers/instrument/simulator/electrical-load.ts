// What a simulated bench powers and measures: a unit in a nest, seen from its supply pins. The DUT
// simulator implements it (drivers/dut/simulator/power.ts); a test can hand in a plain resistor.

export interface ElectricalLoad {
  /** Current drawn from a supply at `supplyVolts` (A); 0 when the unit is not running. */
  currentA(supplyVolts: number): number;
  /** The unit's main rail as a DMM across it reads it (V), at that supply voltage. */
  railVolts(supplyVolts: number): number;
  /** Resistance across the supply input, unit unpowered (Ohm); Infinity when nothing is there. */
  resistanceOhms(): number;
  /** The supply feeding it switched on or off, or changed (V; 0 when off or tripped). */
  supplyChanged?(volts: number): void;
  /** Subscribes to changes of its draw (boot, radio burst, sleep) so the supply re-checks its limit. */
  onDrawChange?(listener: () => void): () => void;
}

/** A plain resistor: for tests and for a fixture's calibration load. */
export class ResistiveLoad implements ElectricalLoad {
  constructor(readonly ohms: number) {}

  currentA(supplyVolts: number): number {
    return Number.isFinite(this.ohms) && this.ohms > 0 ? supplyVolts / this.ohms : 0;
  }

  railVolts(supplyVolts: number): number {
    return supplyVolts;
  }

  resistanceOhms(): number {
    return this.ohms;
  }
}
