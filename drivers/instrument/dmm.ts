// A digital multimeter: DC volts, DC current and resistance, `samples` readings averaged with the
// minimum and maximum kept. The commands come from the model table (models.ts); this file only
// chooses which of them to send:
//  - the configure commands are sent when the function or range changes (and after every
//    reconnect), not before every measurement;
//  - with a model that has a sample count (Keysight 3446xA) and no `intervalMs`, the instrument
//    takes all the readings from one READ? (it paces itself); with `intervalMs`, or a model with
//    no sample count (Rigol DM3058), the driver reads once per sample, `intervalMs` apart.
// An overload (9.9E37) is not a number: the result says `overload` and has no value.
import { InstrumentError } from './instrument-error.js';
import { Instrument, type InstrumentInit } from './instrument.js';
import { fillTemplate, MODELS, type DmmFunction, type DmmModel, type MeasureUnit } from './models.js';
import type { InstrumentState, ScpiExchange } from './scpi-session.js';
import { parseNumberList } from './scpi-values.js';

export interface DmmMeasureRequest {
  function: DmmFunction;
  /** The largest value expected, in the function's unit (A, V, Ohm): the smallest range holding it.
   *  Absent: autorange. */
  range?: number;
  /** Readings to take (default 1, at most 1000). */
  samples?: number;
  /** Time between readings; the driver then paces them (default: as fast as the instrument goes). */
  intervalMs?: number;
  /** Per-command timeout; a read adds the time its readings take. */
  timeoutMs?: number;
}

export interface DmmMeasurement {
  instrumentId: string;
  /** The DMM's serial number (from *IDN?), for traceability. */
  serial: string;
  function: DmmFunction;
  unit: MeasureUnit;
  /** Mean of the readings; null when any reading was an overload. */
  value: number | null;
  min: number | null;
  max: number | null;
  /** How many readings were taken. */
  samples: number;
  /** The readings that were numbers, in order. */
  readings: number[];
  overload: boolean;
  /** The range used: the instrument's own range value, or "auto". */
  range: number | 'auto';
}

export const MAX_SAMPLES = 1000;

export class Dmm extends Instrument {
  readonly kind = 'dmm' as const;
  private readonly spec: DmmModel;
  /** What the instrument is set to, as far as this driver knows (null: unknown, configure again). */
  private configured: string | null = null;
  private sampleCount: number | null = null;

  constructor(init: InstrumentInit) {
    super(init);
    const model = MODELS[init.model];
    if (model.kind !== 'dmm') throw new Error(`${init.id}: model ${init.model} is not a DMM`);
    this.spec = model;
  }

  measure(request: DmmMeasureRequest, signal?: AbortSignal): Promise<DmmMeasurement> {
    const fn = this.spec.functions[request.function];
    if (!fn) return Promise.reject(this.unsupported(`no ${request.function} function`));
    const samples = request.samples ?? 1;
    if (!Number.isInteger(samples) || samples < 1 || samples > MAX_SAMPLES) return Promise.reject(this.invalid(`samples must be 1 to ${MAX_SAMPLES}, not ${samples}`));
    const intervalMs = request.intervalMs ?? 0;
    if (!Number.isFinite(intervalMs) || intervalMs < 0) return Promise.reject(this.invalid(`intervalMs must be 0 or more, not ${intervalMs}`));
    let rangeIndex: number | null = null;
    if (request.range !== undefined) {
      const wanted = Math.abs(request.range);
      rangeIndex = fn.ranges.findIndex((r) => r >= wanted * (1 - 1e-9));
      if (!Number.isFinite(wanted) || rangeIndex < 0) {
        return Promise.reject(this.invalid(`${request.range} ${fn.unit} is beyond the top ${request.function} range (${fn.ranges.at(-1)} ${fn.unit}) of ${this.model}`));
      }
    }
    const range: number | 'auto' = rangeIndex === null ? 'auto' : (fn.ranges[rangeIndex] as number);
    const configure = rangeIndex === null ? fn.configureAuto : fn.configure.map((t) => fillTemplate(t, { range: fn.rangeArgument === 'index' ? rangeIndex : range }));
    const key = `${request.function}|${configure.join(';')}`;
    const timeoutMs = request.timeoutMs ?? this.session.timeoutMs;
    const instrumentCounts = this.spec.sampleCount !== null && intervalMs === 0;

    return this.session.batch(async (x) => {
      try {
        if (this.configured !== key) {
          this.configured = null;
          for (const command of configure) await x.write(command, { timeoutMs });
          this.configured = key;
          // CONFigure puts the sample count back to 1 (Truevolt guide).
          this.sampleCount = this.spec.sampleCount ? 1 : null;
        }
        const values: (number | 'overload')[] = [];
        if (instrumentCounts) {
          await this.setSampleCount(x, samples, timeoutMs);
          values.push(...(await this.read(x, fn.read, samples, timeoutMs + samples * this.spec.readingMs)));
        } else {
          if (this.spec.sampleCount) await this.setSampleCount(x, 1, timeoutMs);
          for (let i = 0; i < samples; i++) {
            if (i > 0 && intervalMs > 0) await x.pause(intervalMs);
            values.push(...(await this.read(x, fn.read, 1, timeoutMs + this.spec.readingMs)));
          }
        }
        return this.result(request.function, fn.unit, range, values);
      } catch (err) {
        this.configured = null;
        throw err;
      }
    }, signal);
  }

  protected override onStateChange(state: InstrumentState): void {
    if (state !== 'ready') {
      this.configured = null;
      this.sampleCount = null;
    }
  }

  private async setSampleCount(x: ScpiExchange, count: number, timeoutMs: number): Promise<void> {
    const spec = this.spec.sampleCount;
    if (!spec || this.sampleCount === count) return;
    this.sampleCount = null;
    await x.write(fillTemplate(spec.command, { count }), { timeoutMs });
    this.sampleCount = count;
  }

  private async read(x: ScpiExchange, command: string, expected: number, timeoutMs: number): Promise<(number | 'overload')[]> {
    const answer = await x.query(command, { timeoutMs });
    const parsed = parseNumberList(answer);
    const bad = parsed.find((p) => p.kind === 'garbage');
    if (bad || parsed.length !== expected) {
      const why = bad ? `"${bad.raw}" is not a number` : `${parsed.length} readings where ${expected} were asked for`;
      throw new InstrumentError('garbage', `${this.id} answered "${command}" with something that is not its reading (${why})`, { instrumentId: this.id, command });
    }
    return parsed.map((p) => (p.kind === 'number' ? p.value : 'overload'));
  }

  private result(fn: DmmFunction, unit: MeasureUnit, range: number | 'auto', values: (number | 'overload')[]): DmmMeasurement {
    const readings = values.filter((v): v is number => v !== 'overload');
    const overload = readings.length !== values.length;
    const sum = readings.reduce((a, b) => a + b, 0);
    return {
      instrumentId: this.id,
      serial: this.serial(),
      function: fn,
      unit,
      value: overload || readings.length === 0 ? null : sum / readings.length,
      min: overload || readings.length === 0 ? null : Math.min(...readings),
      max: overload || readings.length === 0 ? null : Math.max(...readings),
      samples: values.length,
      readings,
      overload,
      range,
    };
  }
}
