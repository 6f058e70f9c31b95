// A simulated test nest with factory firmware in it: what a DUT does on its test UART, unit after
// unit. Boots with a banner, reports its identity (some units cellular, with valid Luhn digits),
// answers test commands with realistic values (units out of spec at configured rates), obeys
// BLESS and FAIL, and then the simulated operator swaps in the next unit (or puts the same one back
// for a retest); a unit that never heard its verdict (asleep, hung) is swapped once the station's
// simulated operator has seen it (verdictShown), and one whose run was interrupted reseated
// (reseat). Faults on demand: a garbage line, a hang until the watchdog resets it, a pulled
// cable. Transport-free: adapters (memory link, serial port, direct call) carry its words.
// Its power (cable or bench supply) and current draw live in power.ts; SLEEP and RADIO TX drive it.
import { luhnCheckDigit } from '../../../lib/luhn.js';
import { monotonicMs } from '../../../lib/clock.js';
import { decodeLight, renderLight } from '../../emitter/light.js';
import type { OpticalLink, Shone } from '../../emitter/simulator/optical-link.js';
import type { SimulatedEnrollmentService } from './enrollment.js';
import { NestPower, type UnitInserted } from './power.js';
import { Random } from './random.js';

export interface UnitIdentity {
  deviceId: string;
  mac: string;
  iccid: string | null;
  imei: string | null;
}

export interface SimUnit extends UnitIdentity {
  /** The device platform it reports at IDENT (platform=, as a Particle device's PLATFORM_ID); null: none. */
  platformId?: number | null;
  blessed: boolean;
  /** Its RTC crystal's error in ppm before trimming, and the trim written to it (RTC TRIM). */
  rtcErrorPpm?: number;
  rtcTrimPpm?: number;
  /** Channels this unit reads out of spec on. */
  outOfSpec: Set<string>;
  serial: number;
}

export interface NestBehaviour {
  deviceIdHexLength: number;
  bootMs: number;
  handlingMs: number;
  cellularRate: number;
  retestRate: number;
  failureRates: Record<string, number>;
  faultRates: { garbage: number; hang: number; unplug: number };
  /** How long a hung unit stays silent before its watchdog resets it. */
  hangMs: number;
  /** How long a pulled cable stays out. */
  unplugMs: number;
  /** A ready unit that hears no command this long is reseated by the simulated operator (the
   *  station showed a verdict the unit never heard, say). */
  idleReseatMs: number;
  /** The device platform units report (platform=); null: they report none. */
  platformId: number | null;
  /** Share of units of another platform (otherPlatformId): a unit that reached the wrong line. */
  otherPlatformRate: number;
  otherPlatformId: number | null;
}

export const DEFAULT_BEHAVIOUR: NestBehaviour = {
  deviceIdHexLength: 16,
  bootMs: 200,
  handlingMs: 1500,
  cellularRate: 0.3,
  retestRate: 0.05,
  failureRates: {},
  faultRates: { garbage: 0, hang: 0, unplug: 0 },
  hangMs: 8000,
  unplugMs: 1500,
  idleReseatMs: 15000,
  platformId: null,
  otherPlatformRate: 0,
  otherPlatformId: null,
};

export type FaultKind = 'garbage' | 'overlong' | 'hang' | 'unplug' | 'bad-light' | 'no-enroll';

/** The DUT's light sensor and the service it enrolls with after a factory BlinkUp. */
export interface NestOptics {
  link: OpticalLink;
  enrollment: SimulatedEnrollmentService;
  /** Light-sensor sampling rate. */
  sampleRateHz: number;
  /** Sensor noise, as a fraction of the LED's amplitude. */
  noiseSd: number;
  /** Time from a decoded frame to the cloud's answer. */
  enrollMs: number;
}

export type CommandOutcome = { kind: 'ok'; payload: string } | { kind: 'err'; code: string; message: string } | { kind: 'garbage'; line: string } | { kind: 'silent' } | { kind: 'unplug' };

/** Test channels: nominal value, spread, the value an out-of-spec unit reads, unit, decimals. */
const CHANNELS: Record<string, { mean: number; sd: number; bad: number; unit: string; decimals: number }> = {
  VBAT: { mean: 3.7, sd: 0.04, bad: 3.21, unit: 'V', decimals: 3 },
  V3V3: { mean: 3.3, sd: 0.012, bad: 3.04, unit: 'V', decimals: 3 },
  RSSI: { mean: -52, sd: 4, bad: -93, unit: 'dBm', decimals: 0 },
  TEMP: { mean: 24.5, sd: 1.5, bad: 71.2, unit: 'C', decimals: 1 },
  LIGHT: { mean: 420, sd: 25, bad: 3, unit: 'lux', decimals: 0 },
  CURRENT: { mean: 12.1, sd: 0.9, bad: 48.5, unit: 'mA', decimals: 2 },
};
const SELFTESTS = new Set(['FLASH', 'RAM', 'RADIO', 'SENSOR']);

const GARBAGE_LINES = ['\x1b[2J\x1b[H\xff\xfe\x00garbled', 'ÿÿÿÿ\x00\x00\x07', '@12 OK v=3.7 \x01\x02', 'Guru Meditation Error: Core 0 panic'];

export interface NestOutput {
  /** An unsolicited event line: BOOT, READY, BLESSED, ... */
  event(name: string, fields: Record<string, string | number>): void;
  /** Raw bytes with no framing (noise on the line). */
  raw(text: string): void;
  /** The cable is pulled for `ms`; the unit reboots when it comes back. */
  unplug(ms: number): void;
}

export class SimulatedNest {
  private unit: SimUnit | null = null;
  private readonly rng: Random;
  private readonly behaviour: NestBehaviour;
  private timers = new Set<NodeJS.Timeout>();
  private hungUntil = 0;
  private ready = false;
  private unitSerial = 0;
  private pendingFaults: FaultKind[] = [];
  private optics: NestOptics | null = null;
  private stopped = true;
  private idleTimer: NodeJS.Timeout | null = null;
  /** The unit's verdict is in and the operator is swapping it (until the next unit is seated). */
  private swapping = false;
  /** Units seated so far (a unit put back for a retest counts again): the current seat's number. */
  unitsSeen = 0;
  /** Where the unit's power comes from and what it draws: the nest's load on a simulated bench. */
  readonly power: NestPower;

  constructor(
    readonly name: string,
    behaviour: Partial<NestBehaviour>,
    seed: number,
    private output: NestOutput,
  ) {
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour, faultRates: { ...DEFAULT_BEHAVIOUR.faultRates, ...behaviour.faultRates } };
    this.rng = new Random(seed);
    this.power = new NestPower({ powerUp: () => this.boot(), powerDown: () => this.powerLost() }, seed);
  }

  /** Powers the unit from a bench supply (wired with the simulated bench) instead of its cable. */
  setExternalPower(on: boolean): void {
    this.power.setExternalPower(on);
  }

  /** A unit was put in the nest; with external power it waits for its supply (the lid closing). */
  onUnitInserted(listener: (unit: UnitInserted) => void): () => void {
    return this.power.onUnitInserted(listener);
  }

  /** True while the unit is hung (answers nothing until its watchdog resets it). */
  get hung(): boolean {
    return this.hungUntil > monotonicMs();
  }

  get currentUnit(): Readonly<SimUnit> | null {
    return this.unit;
  }

  setOutput(output: NestOutput): void {
    this.output = output;
  }

  /** Powers the nest: the first unit boots. */
  start(): void {
    this.stopped = false;
    this.insertUnit(this.newUnit());
  }

  stop(): void {
    this.stopped = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.power.stop();
  }

  /** The next command gets this fault, whatever the configured rates; `bad-light` and
   *  `no-enroll` hit the next BlinkUp instead (the light is garbled; the DUT never answers). */
  injectFault(kind: FaultKind): void {
    if (kind === 'bad-light' || kind === 'no-enroll') this.opticalFaults.push(kind);
    else this.pendingFaults.push(kind);
  }

  private readonly opticalFaults: ('bad-light' | 'no-enroll')[] = [];

  /** Points the unit's light sensor at an emitter; enrollment goes to `optics.enrollment`. */
  attachOptics(optics: NestOptics): void {
    this.optics = optics;
    optics.link.attachSensor(
      (light) => this.onLight(light),
      // Light is arriving: a unit watching a frame is not idle (no reseat before it has enrolled).
      (onAirMs) => this.holdIdleReseat(onAirMs + optics.enrollMs + 1000),
    );
  }

  /**
   * What the light sensor saw, decoded as firmware would: sampled with noise, calibrated on the
   * frame's preamble. A good frame is reported (!BLINKUP result=ok) and enrolled with the token it
   * carried; a bad one is reported as such and nothing is enrolled.
   */
  private onLight(light: Shone): void {
    const optics = this.optics;
    const unit = this.unit;
    if (!optics || !unit || this.stopped || !this.ready || !this.power.awake || this.hungUntil > monotonicMs()) return;
    const fault = this.opticalFaults.shift();
    if (fault === 'no-enroll') return;
    let symbols = light.symbols;
    if (fault === 'bad-light') {
      // Light from a smudged lens: one symbol past the preamble and sync misread, which the
      // frame's check always catches (noise alone sometimes still decodes).
      symbols = Uint8Array.from(symbols);
      const at = 40 + this.rng.int(Math.max(1, symbols.length - 40));
      symbols[at] = symbols[at] ? 0 : 1;
    }
    const samples = renderLight(symbols, {
      symbolRateHz: light.symbolRateHz,
      sampleRateHz: optics.sampleRateHz,
      activeLow: light.activeLow,
      driftPpm: light.driftPpm,
      noiseSd: optics.noiseSd,
      leadInSeconds: 0.05 + this.rng.next() * 0.2,
      tailSeconds: 0.05,
      seed: this.rng.int(2 ** 31),
    });
    const decoded = decodeLight(samples, { sampleRateHz: optics.sampleRateHz, symbolRateHz: light.symbolRateHz });
    if (!decoded.ok) {
      this.output.event('BLINKUP', { result: 'bad-frame' });
      return;
    }
    this.output.event('BLINKUP', { result: 'ok' });
    const payload = decoded.payload;
    this.laterPowered(optics.enrollMs, () => {
      if (this.unit !== unit) return;
      const outcome = optics.enrollment.enroll({ token: payload.token, tokenType: payload.tokenType, alreadyBlessed: unit.blessed });
      if (outcome === 'accepted') this.output.event('ENROLL', { result: 'accepted' });
      else this.output.event('ENROLL', { result: 'rejected', reason: outcome });
    });
  }

  /** Puts a specific unit in the nest (tests): it boots now (once its supply is up, on a bench
   *  supply). Whatever the nest's last unit was doing (asleep, hung) went out with it. */
  insertUnit(unit: SimUnit): void {
    this.unit = unit;
    this.unitsSeen++;
    this.swapping = false;
    this.ready = false;
    this.hungUntil = 0;
    this.power.unitInserted(unit);
    this.boot();
  }

  /**
   * The station showed the verdict of the unit seated as `seat` (`unitsSeen` when its run began):
   * the operator takes it out and seats the next one after handlingMs, as after a FAIL or BLESS the
   * unit heard, whatever state it is in (asleep after SLEEP, hung, powered off). Nothing when it
   * heard its verdict (already being swapped) or has been swapped since. True when taken out.
   */
  verdictShown(seat: number): boolean {
    if (!this.holds(seat)) return false;
    this.unitDone();
    return true;
  }

  /** The operator takes the unit seated as `seat` out and puts it straight back (after an
   *  interrupted run, for a retest): it boots as if new to the nest. True when reseated. */
  reseat(seat: number): boolean {
    if (!this.holds(seat) || !this.unit) return false;
    this.insertUnit(this.unit);
    return true;
  }

  /** The unit seated as `seat` is still in the nest, not on its way out. */
  private holds(seat: number): boolean {
    return !this.stopped && this.unit !== null && !this.swapping && this.unitsSeen === seat;
  }

  newUnit(overrides: Partial<SimUnit> = {}): SimUnit {
    const b = this.behaviour;
    const cellular = this.rng.chance(b.cellularRate);
    const outOfSpec = new Set<string>();
    for (const [channel, rate] of Object.entries(b.failureRates)) if (this.rng.chance(rate)) outOfSpec.add(channel);
    let deviceId = this.rng.hex(b.deviceIdHexLength);
    if (/^0+$/.test(deviceId)) deviceId = `1${deviceId.slice(1)}`;
    const iccidBody = `89${this.rng.digits(this.rng.chance(0.5) ? 16 : 17)}`;
    const imeiBody = `35${this.rng.digits(12)}`;
    // Drawn only when some units are of another platform, so other draws keep their seeded values.
    const otherPlatform = b.otherPlatformRate > 0 && b.otherPlatformId !== null && this.rng.chance(b.otherPlatformRate);
    return {
      platformId: otherPlatform ? b.otherPlatformId : b.platformId,
      deviceId,
      mac: `0c2a69${this.rng.hex(6)}`,
      iccid: cellular ? iccidBody + luhnCheckDigit(iccidBody) : null,
      imei: cellular ? imeiBody + luhnCheckDigit(imeiBody) : null,
      blessed: false,
      outOfSpec,
      serial: ++this.unitSerial,
      ...overrides,
    };
  }

  /** Power-on or watchdog reset: banner, then READY after bootMs. */
  boot(): void {
    if (this.stopped || !this.unit || !this.power.powered) return;
    this.ready = false;
    this.hungUntil = 0;
    this.power.booting();
    this.output.event('BOOT', { fw: 'factory-2.3.1', model: this.unit.iccid ? 'imp006' : 'imp004m' });
    this.laterPowered(this.behaviour.bootMs, () => {
      this.ready = true;
      this.power.ready();
      this.output.event('READY', {});
      this.armIdleReseat();
    });
  }

  private idleHeldUntil = 0;

  private holdIdleReseat(ms: number): void {
    this.idleHeldUntil = monotonicMs() + ms;
    this.armIdleReseat();
  }

  private armIdleReseat(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh(); // cheaper than a new timer on every command
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const held = this.idleHeldUntil - monotonicMs();
      if (held > 0) {
        this.idleTimer = setTimeout(() => {
          this.idleTimer = null;
          this.armIdleReseat();
        }, held);
        return;
      }
      if (!this.stopped && this.ready) this.boot();
    }, this.behaviour.idleReseatMs);
  }

  /** Puts a unit in the nest already booted and ready, with no timers: for the benchmark. */
  insertReadyUnit(unit: SimUnit = this.newUnit()): void {
    this.stopped = false;
    this.unit = unit;
    this.unitsSeen++;
    this.hungUntil = 0;
    this.ready = true;
    this.power.unitInserted(unit);
    this.power.ready();
  }

  /** The cable came back: the unit was power-cycled (unless its power comes from a bench supply). */
  replugged(): void {
    if (!this.power.externallyPowered) this.boot();
  }

  /** Its supply went down: the unit stops where it is, silent until it is powered again. */
  private powerLost(): void {
    this.ready = false;
    this.hungUntil = 0;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Executes one command the way factory firmware would. `silent` means no answer at all. */
  execute(command: string, args: string[]): CommandOutcome {
    const unit = this.unit;
    if (!unit || this.stopped) return { kind: 'silent' };
    if (this.hungUntil > monotonicMs() || !this.power.awake) return { kind: 'silent' };
    if (this.ready) this.armIdleReseat();
    const fault = this.pendingFaults.shift() ?? this.randomFault();
    if (fault === 'garbage') return { kind: 'garbage', line: GARBAGE_LINES[this.rng.int(GARBAGE_LINES.length)] as string };
    if (fault === 'overlong') return { kind: 'garbage', line: `@1 OK v=${'9'.repeat(4000)}` };
    if (fault === 'hang') {
      this.hungUntil = monotonicMs() + this.behaviour.hangMs;
      this.laterPowered(this.behaviour.hangMs, () => this.boot()); // the watchdog fires
      return { kind: 'silent' };
    }
    if (fault === 'unplug') {
      this.output.unplug(this.behaviour.unplugMs);
      return { kind: 'unplug' };
    }
    if (!this.ready && command !== 'PING') return { kind: 'err', code: 'BUSY', message: 'booting' };
    switch (command) {
      case 'PING':
        return { kind: 'ok', payload: `ready=${this.ready ? 1 : 0}` };
      case 'IDENT': {
        let payload = `id=${unit.deviceId} mac=${unit.mac} fw=factory-2.3.1 model=${unit.iccid ? 'imp006' : 'imp004m'} blessed=${unit.blessed ? 1 : 0}`;
        if (unit.iccid) payload += ` iccid=${unit.iccid} imei=${unit.imei}`;
        if (unit.platformId !== undefined && unit.platformId !== null) payload += ` platform=${unit.platformId}`;
        return { kind: 'ok', payload };
      }
      case 'MEAS':
        return this.measure(unit, args[0] ?? '');
      case 'SELFTEST': {
        const which = args[0] ?? '';
        if (!SELFTESTS.has(which)) return { kind: 'err', code: 'BAD_ARG', message: `no self-test ${which || '(none)'}` };
        return { kind: 'ok', payload: `result=${unit.outOfSpec.has(which) ? 'FAIL' : 'PASS'}` };
      }
      case 'LED':
        if (!['RED', 'GREEN', 'BLUE', 'OFF'].includes(args[0] ?? '')) return { kind: 'err', code: 'BAD_ARG', message: 'LED RED|GREEN|BLUE|OFF' };
        return { kind: 'ok', payload: `led=${args[0]}` };
      case 'BLESS': {
        const rework = unit.blessed;
        unit.blessed = true; // production identity committed, factory credentials cleared
        this.unitDone();
        return { kind: 'ok', payload: `blessed=1${rework ? ' rework=1' : ''}` };
      }
      case 'FAIL':
        this.unitDone();
        return { kind: 'ok', payload: 'led=RED' };
      case 'RTC': {
        // The RTC's frequency error: MEAS-like readout and a trim register (a script calibrates it).
        unit.rtcErrorPpm ??= Math.round(this.rng.gaussian(0, 15) * 10) / 10;
        if (args[0] === 'PPM' && args.length === 1) {
          const error = unit.rtcErrorPpm - (unit.rtcTrimPpm ?? 0) + this.rng.gaussian(0, 0.2);
          return { kind: 'ok', payload: `v=${error.toFixed(2)} unit=ppm` };
        }
        const trim = Number(args[1]);
        if (args[0] === 'TRIM' && args.length === 2 && Number.isFinite(trim) && Math.abs(trim) <= 200) {
          unit.rtcTrimPpm = trim;
          return { kind: 'ok', payload: `trim=${trim}` };
        }
        return { kind: 'err', code: 'BAD_ARG', message: 'RTC PPM | RTC TRIM <-200..200>' };
      }
      case 'SLEEP':
        this.power.sleep(); // deep sleep after the answer; only a power cycle wakes it
        return { kind: 'ok', payload: 'sleep=1' };
      case 'RADIO': {
        const ms = Number(args[1]);
        if (args[0] !== 'TX' || args.length !== 2 || !Number.isInteger(ms) || ms < 1 || ms > 60_000) return { kind: 'err', code: 'BAD_ARG', message: 'RADIO TX <1-60000 ms>' };
        this.power.transmit(ms);
        return { kind: 'ok', payload: `tx=${ms}` };
      }
      default:
        return { kind: 'err', code: 'UNKNOWN_COMMAND', message: command };
    }
  }

  private measure(unit: SimUnit, channel: string): CommandOutcome {
    const spec = CHANNELS[channel];
    if (!spec) return { kind: 'err', code: 'BAD_ARG', message: `no channel ${channel || '(none)'}` };
    const value = unit.outOfSpec.has(channel) ? spec.bad + this.rng.gaussian(0, spec.sd / 4) : this.rng.gaussian(spec.mean, spec.sd);
    return { kind: 'ok', payload: `v=${value.toFixed(spec.decimals)} unit=${spec.unit}` };
  }

  private randomFault(): FaultKind | null {
    const f = this.behaviour.faultRates;
    if (this.rng.chance(f.garbage)) return 'garbage';
    if (this.rng.chance(f.hang)) return 'hang';
    if (this.rng.chance(f.unplug)) return 'unplug';
    return null;
  }

  /** The verdict is in (heard by the unit, or seen by the operator on the station): the simulated
   *  operator takes the unit out and puts the next one in (or the same one, for a retest). */
  private unitDone(): void {
    const finished = this.unit;
    this.swapping = true;
    this.ready = false;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.later(this.behaviour.handlingMs, () => {
      if (!finished) return;
      const retest = this.rng.chance(this.behaviour.retestRate);
      this.insertUnit(retest ? finished : this.newUnit());
    });
  }

  /** Work of the running unit: void if it loses power, falls asleep or is taken out meanwhile. */
  private laterPowered(ms: number, fn: () => void): void {
    const epoch = this.power.epoch;
    this.later(ms, () => {
      if (this.power.epoch === epoch) fn();
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }
}
