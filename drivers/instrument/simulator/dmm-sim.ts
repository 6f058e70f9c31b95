// Simulated DMMs that speak their models' command sets: the Keysight Truevolt dialect (CONFigure,
// SAMPle:COUNt, READ?, MEASure?) and the Rigol DM3058 one (:FUNCtion, :MEASure with range
// indexes). A reading is what the probe (the bench's wiring) shows at the inputs when the reading
// ends, with a few counts of noise, on the range set or chosen by autorange; beyond 120 % of the
// range, or an open circuit on resistance, it is the overload value 9.9E37. Each reading takes
// `readingMs` (the integration time), during which the DMM counts as busy.
import { Random } from '../../dut/simulator/random.js';
import { MODELS, type DmmFunction, type DmmModel } from '../models.js';
import { booleanParam, numericParam, ScpiCommandError } from './scpi-parser.js';
import { formatNr3, SimulatedScpiDevice, type DeviceIdentity, type SimCommand } from './scpi-device.js';

/** The DMM's inputs, as they are now. */
export interface DmmProbe {
  currentA(): number;
  volts(): number;
  ohms(): number;
}

export const OPEN_INPUTS: DmmProbe = { currentA: () => 0, volts: () => 0, ohms: () => Infinity };

export type SimulatedDmmModel = 'keysight-34461a' | 'rigol-dm3058';

export interface SimulatedDmmOptions {
  identity: DeviceIdentity;
  /** Integration time of one reading. */
  readingMs: number;
  seed: number;
  probe?: DmmProbe;
}

const OVERLOAD = 9.9e37;
/** Readings beyond this share of the range are an overload (Truevolt: 120 %). */
const OVERRANGE = 1.2;

export class SimulatedDmm extends SimulatedScpiDevice {
  probe: DmmProbe;
  readingMs: number;
  /** Time spent integrating, for utilisation figures. */
  busyMs = 0;
  readingsTaken = 0;
  private readonly spec: DmmModel;
  private readonly rng: Random;
  private readonly countsPerRange: number;
  private fn: DmmFunction = 'voltage-dc';
  /** Range index per function; null: autorange. */
  private readonly range: Record<DmmFunction, number | null> = { 'voltage-dc': null, 'current-dc': null, resistance: null };
  private sampleCount = 1;

  constructor(model: SimulatedDmmModel, opts: SimulatedDmmOptions) {
    super(model, opts.identity, model === 'keysight-34461a' ? 'signed' : 'plain');
    this.spec = MODELS[model];
    this.probe = opts.probe ?? OPEN_INPUTS;
    this.readingMs = opts.readingMs;
    this.rng = new Random(opts.seed);
    // 6½ digits (±1,200,000 counts on a range) and 5½ digits (±240,000).
    this.countsPerRange = model === 'keysight-34461a' ? 1_000_000 : 200_000;
  }

  protected reset(): void {
    this.fn = 'voltage-dc';
    this.range['voltage-dc'] = null;
    this.range['current-dc'] = null;
    this.range.resistance = null;
    this.sampleCount = 1;
  }

  protected commands(): SimCommand[] {
    return this.model === 'keysight-34461a' ? this.keysightCommands() : this.rigolCommands();
  }

  private keysightCommands(): SimCommand[] {
    const configure = (fn: DmmFunction) => (params: string[]) => {
      this.fn = fn;
      this.range[fn] = this.rangeByValue(fn, params[0]);
      this.sampleCount = 1;
    };
    const measure = (fn: DmmFunction) => async (params: string[]) => {
      configure(fn)(params);
      return this.takeReadings(1);
    };
    return [
      { pattern: 'CONFigure[:VOLTage]:DC', run: ({ params }) => configure('voltage-dc')(params) },
      { pattern: 'CONFigure:CURRent[:DC]', run: ({ params }) => configure('current-dc')(params) },
      { pattern: 'CONFigure:RESistance', run: ({ params }) => configure('resistance')(params) },
      {
        pattern: 'CONFigure?',
        run: () =>
          `"${{ 'voltage-dc': 'VOLT', 'current-dc': 'CURR', resistance: 'RES' }[this.fn]} ${this.range[this.fn] === null ? 'AUTO' : formatNr3(this.rangeValue(this.fn, this.range[this.fn] as number))}"`,
      },
      { pattern: 'MEASure[:VOLTage]:DC?', run: ({ params }) => measure('voltage-dc')(params) },
      { pattern: 'MEASure:CURRent[:DC]?', run: ({ params }) => measure('current-dc')(params) },
      { pattern: 'MEASure:RESistance?', run: ({ params }) => measure('resistance')(params) },
      {
        pattern: 'SAMPle:COUNt',
        run: ({ params }) => {
          const n = numericParam(params[0], { MIN: 1, MAX: 1_000_000, DEF: 1 });
          if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new ScpiCommandError('-222');
          this.sampleCount = n;
        },
      },
      { pattern: 'SAMPle:COUNt?', run: () => `+${this.sampleCount}` },
      { pattern: 'READ?', run: () => this.takeReadings(this.sampleCount) },
    ];
  }

  private rigolCommands(): SimCommand[] {
    const setRange = (fn: DmmFunction) => (params: string[]) => {
      const top = (this.spec.functions[fn]?.ranges.length ?? 1) - 1;
      const index = numericParam(params[0], { MIN: 0, MAX: top });
      if (!Number.isInteger(index) || index < 0 || index > top) throw new ScpiCommandError('-222');
      this.fn = fn;
      this.range[fn] = index;
    };
    const read = (fn: DmmFunction) => () => this.takeReadings(1, fn);
    return [
      { pattern: ':FUNCtion:VOLTage:DC', run: () => void (this.fn = 'voltage-dc') },
      { pattern: ':FUNCtion:CURRent:DC', run: () => void (this.fn = 'current-dc') },
      { pattern: ':FUNCtion:RESistance', run: () => void (this.fn = 'resistance') },
      { pattern: ':FUNCtion?', run: () => ({ 'voltage-dc': 'DCV', 'current-dc': 'DCI', resistance: '2WR' })[this.fn] },
      { pattern: ':MEASure:VOLTage:DC', run: ({ params }) => setRange('voltage-dc')(params) },
      { pattern: ':MEASure:CURRent:DC', run: ({ params }) => setRange('current-dc')(params) },
      { pattern: ':MEASure:RESistance', run: ({ params }) => setRange('resistance')(params) },
      { pattern: ':MEASure:VOLTage:DC?', run: read('voltage-dc') },
      { pattern: ':MEASure:CURRent:DC?', run: read('current-dc') },
      { pattern: ':MEASure:RESistance?', run: read('resistance') },
      {
        pattern: ':MEASure',
        run: ({ params }) => {
          const word = (params[0] ?? '').toUpperCase();
          if (word === 'AUTO') this.range[this.fn] = null;
          else if (word !== 'MANU' && word !== 'MANUAL') throw new ScpiCommandError(word ? '-224' : '-109');
        },
      },
      { pattern: ':MEASure:AUTO?', run: () => (this.range[this.fn] === null ? '1' : '0') },
      { pattern: ':MEASure?', run: () => this.takeReadings(1) },
      { pattern: ':SYSTem:BEEPer:STATe', run: ({ params }) => void booleanParam(params[0]) },
    ];
  }

  /** The range index for a CONFigure range parameter (AUTO/DEF/none: autorange). */
  private rangeByValue(fn: DmmFunction, param: string | undefined): number | null {
    const ranges = this.spec.functions[fn]?.ranges ?? [];
    if (param === undefined || /^(AUTO|DEF|DEFAULT)$/i.test(param)) return null;
    const value = Math.abs(numericParam(param, { MIN: ranges[0], MAX: ranges.at(-1) }));
    const index = ranges.findIndex((r) => r >= value * (1 - 1e-9));
    if (index < 0) throw new ScpiCommandError('-222');
    return index;
  }

  private rangeValue(fn: DmmFunction, index: number): number {
    return this.spec.functions[fn]?.ranges[index] ?? 0;
  }

  /** `count` readings of `fn` (default: the present function), each taking `readingMs`. */
  private async takeReadings(count: number, fn: DmmFunction = this.fn): Promise<string> {
    const started = performance.now();
    const values: string[] = [];
    try {
      for (let i = 0; i < count; i++) {
        if (this.readingMs > 0) await new Promise((r) => setTimeout(r, this.readingMs));
        values.push(this.format(this.reading(fn)));
        this.readingsTaken++;
      }
    } finally {
      this.busyMs += performance.now() - started;
    }
    return values.join(',');
  }

  private reading(fn: DmmFunction): number {
    const raw = fn === 'current-dc' ? this.probe.currentA() : fn === 'voltage-dc' ? this.probe.volts() : this.probe.ohms();
    if (!Number.isFinite(raw)) return OVERLOAD;
    const ranges = this.spec.functions[fn]?.ranges ?? [];
    const fixed = this.range[fn];
    const range = fixed === null ? ranges.find((r) => Math.abs(raw) <= r * OVERRANGE) : ranges[fixed];
    if (range === undefined || Math.abs(raw) > range * OVERRANGE) return OVERLOAD;
    const count = range / this.countsPerRange;
    // A few counts of noise, and the reading quantised to the display's resolution.
    return Math.round((raw + this.rng.gaussian(0, 2 * count)) / count) * count;
  }

  private format(value: number): string {
    if (this.model === 'keysight-34461a') return formatNr3(value);
    const text = value
      .toExponential(8)
      .toUpperCase()
      .replace(/E([+-])(\d)$/, 'E$10$2');
    return text;
  }
}
