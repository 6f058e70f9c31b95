// The light path between a simulated emitter and a simulated DUT's light sensor: the emitter
// shines a frame, the sensor of the DUT in the same nest sees it. What the sensor makes of the
// light (sampling, noise, decoding) is the DUT's business, as with real hardware.

export interface Shone {
  symbols: Uint8Array;
  symbolRateHz: number;
  activeLow: boolean;
  /** The emitter's clock error: its real symbol rate is nominal × (1 + driftPpm / 1e6). */
  driftPpm: number;
}

export class OpticalLink {
  private sensor: ((light: Shone) => void) | null = null;
  private starting: ((onAirMs: number) => void) | null = null;

  /** The DUT's light sensor, pointed at the emitter: `onStart` as the light begins, `onLight`
   *  with the whole frame once it has been shown. */
  attachSensor(onLight: (light: Shone) => void, onStart?: (onAirMs: number) => void): void {
    this.sensor = onLight;
    this.starting = onStart ?? null;
  }

  /** The emitter starts a frame that will take `onAirMs`. */
  begin(onAirMs: number): void {
    this.starting?.(onAirMs);
  }

  shine(light: Shone): void {
    this.sensor?.(light);
  }
}
