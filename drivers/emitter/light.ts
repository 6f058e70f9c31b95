// The light channel between the emitter's LED and the DUT's light sensor (docs/blinkup-frame.md,
// "Decoding light"). renderLight says what a sensor sampling at sampleRateHz would read while an
// emitter replays a frame: ambient light, the LED (possibly driven active-low), the emitter's
// clock error, sensor noise, an arbitrary moment the capture starts. decodeLight is the DUT side,
// written the way firmware on a light-sensor input would do it: find the calibration preamble,
// measure the two light levels and the emitter's real symbol period from it, slice symbols at mid
// symbol while a phase-locked loop follows every edge, learn the polarity from the sync word, and
// hand the symbols to the frame decoder, whose CRC decides. It never throws on bad input.
import { Random } from '../dut/simulator/random.js';
import { MAX_DECODABLE_FRAME_SYMBOLS, PREAMBLE_SYMBOLS, SYNC_SYMBOLS, decodeFrameSymbols, type DecodeResult } from './frame.js';

export interface LightChannel {
  symbolRateHz: number;
  sampleRateHz: number;
  /** The LED lights on symbol 0 (drive inverted). It is dark before and after the frame either way. */
  activeLow?: boolean;
  /** Light the sensor reads with the LED off (arbitrary units). Default 0.2. */
  ambient?: number;
  /** What the LED adds when on. Default 1. */
  amplitude?: number;
  /** Gaussian sensor noise per sample, as a fraction of the amplitude. Default 0. */
  noiseSd?: number;
  /** The emitter's clock error: its real symbol rate is symbolRateHz × (1 + driftPpm / 1e6). */
  driftPpm?: number;
  /** Dark time captured before the frame starts. Default 0.25 s. */
  leadInSeconds?: number;
  /** Dark time captured after the frame ends. Default 0.1 s. */
  tailSeconds?: number;
  seed?: number;
}

/** A capture longer than this is refused rather than scanned (10 minutes at 2 kHz, say). */
export const MAX_CAPTURE_SAMPLES = 2_000_000;
/** Fewer samples per symbol than this cannot place a mid-symbol window away from both edges. */
export const MIN_SAMPLES_PER_SYMBOL = 3;
/** Emitter clock error the decoder accepts (crystal or RC oscillators are far inside this). */
export const MAX_CLOCK_ERROR = 0.06;

/**
 * What the sensor reads: one value per sample, each the light integrated over its sampling
 * interval (so a sample that straddles an edge reads in between), plus Gaussian noise.
 */
export function renderLight(symbols: ArrayLike<number>, ch: LightChannel): Float32Array {
  const { symbolRateHz, sampleRateHz } = ch;
  const driftPpm = ch.driftPpm ?? 0;
  const leadInSeconds = ch.leadInSeconds ?? 0.25;
  const tailSeconds = ch.tailSeconds ?? 0.1;
  const ambient = ch.ambient ?? 0.2;
  const amplitude = ch.amplitude ?? 1;
  const noiseSd = (ch.noiseSd ?? 0) * amplitude;
  for (const [name, value] of Object.entries({ symbolRateHz, sampleRateHz })) {
    if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`light channel ${name} must be a positive number, not ${value}`);
  }
  if (!(Math.abs(driftPpm) < 500_000)) throw new RangeError(`light channel driftPpm must be within ±500000, not ${driftPpm}`);
  if (!(leadInSeconds >= 0) || !(tailSeconds >= 0)) throw new RangeError(`light channel lead-in and tail must be zero or more seconds, not ${leadInSeconds} / ${tailSeconds}`);
  if (!Number.isFinite(ambient) || !Number.isFinite(amplitude) || !(noiseSd >= 0)) throw new RangeError('light channel ambient, amplitude and noiseSd must be finite (noiseSd ≥ 0)');

  const n = symbols.length;
  const emitting = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const s = symbols[k];
    if (s !== 0 && s !== 1) throw new RangeError(`symbol ${k} is ${String(s)}; symbols are 0 or 1`);
    emitting[k] = (s === 1) !== (ch.activeLow ?? false) ? 1 : 0;
  }
  const onBefore = new Float64Array(n + 1); // symbols with the LED on, before symbol k
  for (let k = 0; k < n; k++) onBefore[k + 1] = (onBefore[k] as number) + (emitting[k] as number);

  const symbolSeconds = 1 / (symbolRateHz * (1 + driftPpm / 1e6));
  const sampleCount = Math.ceil((leadInSeconds + n * symbolSeconds + tailSeconds) * sampleRateHz);
  if (sampleCount > MAX_CAPTURE_SAMPLES) throw new RangeError(`a capture of ${sampleCount} samples is more than ${MAX_CAPTURE_SAMPLES}: shorten the lead-in or tail, or lower the sample rate`);

  /** LED-on time from the start of the capture to t, in symbol periods. */
  const onSymbolsUntil = (t: number): number => {
    const u = (t - leadInSeconds) / symbolSeconds;
    if (u <= 0) return 0;
    if (u >= n) return onBefore[n] as number;
    const k = Math.floor(u);
    return (onBefore[k] as number) + (emitting[k] as number) * (u - k);
  };
  const rng = new Random(ch.seed ?? 1);
  const out = new Float32Array(sampleCount);
  const samplesPerSymbol = symbolSeconds * sampleRateHz; // symbol periods → samples
  let before = onSymbolsUntil(0);
  for (let i = 0; i < sampleCount; i++) {
    const after = onSymbolsUntil((i + 1) / sampleRateHz);
    const onFraction = (after - before) * samplesPerSymbol;
    before = after;
    out[i] = ambient + amplitude * onFraction + (noiseSd > 0 ? rng.gaussian(0, noiseSd) : 0);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** The calibration preamble as seen: at least this many edges one symbol apart. */
const MIN_PREAMBLE_EDGES = 8;
/** Most preamble-like stretches tried in one capture: bounds the work on garbage. */
const MAX_PREAMBLE_CANDIDATES = 16;
/** Phase-locked loop gains, per edge: phase (fraction of the error taken) and period. Poles at
 *  0.8 and 0.9 for an edge every symbol: settles in a few edges; the period stays within ±6%. */
const PLL_PHASE_GAIN = 0.3;
const PLL_PERIOD_GAIN = 0.02;
/** How fast the two light levels follow slow changes in ambient light (per symbol). */
const LEVEL_TRACKING = 1 / 16;
/** Mid-symbol window, as fractions of a symbol: away from both edges. */
const WINDOW_START = 0.15;
const WINDOW_END = 0.85;

/** Sample i covers [i, i + 1) in sample time; its value stands for time i + 0.5. */
class Capture {
  constructor(
    readonly raw: Float64Array,
    readonly smooth: Float64Array,
  ) {}

  get length(): number {
    return this.raw.length;
  }

  /** Mean of the raw samples whose centres lie in [from, to]; the nearest sample if none does. */
  windowMean(from: number, to: number): number {
    let first = Math.max(0, Math.ceil(from - 0.5));
    let last = Math.min(this.raw.length - 1, Math.floor(to - 0.5));
    if (last < first) first = last = Math.min(this.raw.length - 1, Math.max(0, Math.round((from + to) / 2 - 0.5)));
    let sum = 0;
    for (let i = first; i <= last; i++) sum += this.raw[i] as number;
    return sum / (last - first + 1);
  }

  /** The crossing of `level` by the smoothed signal nearest to `expected`, within ±reach. */
  crossingNear(expected: number, reach: number, level: number, rising: boolean): number | null {
    const first = Math.max(0, Math.floor(expected - reach - 0.5));
    const last = Math.min(this.smooth.length - 2, Math.ceil(expected + reach - 0.5));
    let best: number | null = null;
    for (let i = first; i <= last; i++) {
      const a = (this.smooth[i] as number) - level;
      const b = (this.smooth[i + 1] as number) - level;
      if (rising ? a <= 0 && b > 0 : a >= 0 && b < 0) {
        const t = i + 0.5 + a / (a - b);
        if (best === null || Math.abs(t - expected) < Math.abs(best - expected)) best = t;
      }
    }
    return best;
  }
}

/** Centred moving average: takes the edge of noise off without moving the edges. */
function movingAverage(x: Float64Array, halfWidth: number): Float64Array {
  if (halfWidth <= 0) return x;
  const out = new Float64Array(x.length);
  const prefix = new Float64Array(x.length + 1);
  for (let i = 0; i < x.length; i++) prefix[i + 1] = (prefix[i] as number) + (x[i] as number);
  for (let i = 0; i < x.length; i++) {
    const lo = Math.max(0, i - halfWidth);
    const hi = Math.min(x.length, i + halfWidth + 1);
    out[i] = ((prefix[hi] as number) - (prefix[lo] as number)) / (hi - lo);
  }
  return out;
}

/** Dark and bright as two clusters of the whole capture (1-D k-means): coarse, for finding edges. */
function coarseLevels(x: Float64Array): { dark: number; bright: number } {
  let dark = Infinity;
  let bright = -Infinity;
  for (const v of x) {
    if (v < dark) dark = v;
    if (v > bright) bright = v;
  }
  for (let iteration = 0; iteration < 12 && bright > dark; iteration++) {
    const mid = (dark + bright) / 2;
    let darkSum = 0;
    let darkCount = 0;
    let brightSum = 0;
    let brightCount = 0;
    for (const v of x) {
      if (v > mid) {
        brightSum += v;
        brightCount++;
      } else {
        darkSum += v;
        darkCount++;
      }
    }
    if (darkCount === 0 || brightCount === 0) break;
    dark = darkSum / darkCount;
    bright = brightSum / brightCount;
  }
  return { dark, bright };
}

interface Edge {
  t: number;
  rising: boolean;
}

/** Edges of the smoothed signal, with hysteresis so noise near the middle does not chatter. */
function findEdges(capture: Capture, dark: number, bright: number): Edge[] {
  const s = capture.smooth;
  const mid = (dark + bright) / 2;
  const band = 0.25 * (bright - dark);
  const edges: Edge[] = [];
  let high = (s[0] as number) > mid;
  let lastEdgeIndex = 0;
  for (let i = 1; i < s.length; i++) {
    const v = s[i] as number;
    if (high ? v < mid - band : v > mid + band) {
      high = !high;
      // Back to the last sample on the other side of the middle, and interpolate between.
      let j = i - 1;
      while (j > lastEdgeIndex && (high ? (s[j] as number) > mid : (s[j] as number) < mid)) j--;
      const a = (s[j] as number) - mid;
      const b = (s[j + 1] as number) - mid;
      edges.push({ t: j + 0.5 + (a === b ? 0.5 : a / (a - b)), rising: high });
      lastEdgeIndex = i;
    }
  }
  return edges;
}

interface PreambleEdge extends Edge {
  /** Symbols since the first edge of the stretch. */
  k: number;
}

/**
 * Stretches of at least MIN_PREAMBLE_EDGES edges one nominal symbol apart: preamble candidates.
 * A gap of three symbols continues the stretch: noise can hide one short dip (an edge pair).
 */
function preambleCandidates(edges: Edge[], samplesPerSymbol: number): PreambleEdge[][] {
  const candidates: PreambleEdge[][] = [];
  let run: PreambleEdge[] = [];
  for (const edge of edges) {
    const last = run[run.length - 1];
    const gap = last ? (edge.t - last.t) / samplesPerSymbol : 0;
    // ±0.4: noise can move one edge by a third of a symbol at 7 samples per symbol; the fit
    // below drops such an edge, but it must not split the preamble.
    if (last && Math.abs(gap - 1) < 0.4) run.push({ ...edge, k: last.k + 1 });
    else if (last && Math.abs(gap - 3) < 0.4) run.push({ ...edge, k: last.k + 3 });
    else {
      if (run.length >= MIN_PREAMBLE_EDGES) candidates.push(run);
      if (candidates.length >= MAX_PREAMBLE_CANDIDATES) return candidates;
      run = [{ ...edge, k: 0 }];
    }
  }
  if (run.length >= MIN_PREAMBLE_EDGES) candidates.push(run);
  return candidates.slice(0, MAX_PREAMBLE_CANDIDATES);
}

/** Least-squares line through (k, t): the time of symbol boundary 0 and the symbol period. */
function fitLine(points: { k: number; t: number }[]): { phase: number; period: number } {
  const n = points.length;
  const kMean = points.reduce((a, p) => a + p.k, 0) / n;
  const tMean = points.reduce((a, p) => a + p.t, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.k - kMean) * (p.t - tMean);
    den += (p.k - kMean) ** 2;
  }
  const period = den > 0 ? num / den : NaN;
  return { phase: tMean - period * kMean, period };
}

const fmt = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toFixed(digits) : String(v));

/** One preamble candidate: calibrate, slice with the PLL, decode in the polarity the sync says. */
function decodeFromPreamble(capture: Capture, run: PreambleEdge[], samplesPerSymbol: number, sampleRateHz: number): DecodeResult & { syncFound: boolean } {
  const where = `at ${fmt(run[0]!.t / sampleRateHz)} s`;
  // Clock: edges k symbols after the first, fitted, outliers (noise edges) dropped, refitted.
  // k counts symbols gap by gap; rounding the elapsed time instead would slip a symbol under a few
  // per cent of clock error.
  let points = run.map((e) => ({ k: e.k, t: e.t }));
  let fit = fitLine(points);
  const kept = points.filter((p) => Math.abs(p.t - (fit.phase + fit.period * p.k)) < 0.25 * samplesPerSymbol);
  if (kept.length >= MIN_PREAMBLE_EDGES / 2 && kept.length < points.length) {
    points = kept;
    fit = fitLine(points);
  }
  const clockError = fit.period / samplesPerSymbol - 1;
  if (!(Math.abs(clockError) <= MAX_CLOCK_ERROR)) {
    return { ok: false, syncFound: false, reason: `preamble ${where}: symbol period ${fmt(fit.period, 2)} samples is ${fmt(clockError * 100, 1)}% off nominal (at most ±${MAX_CLOCK_ERROR * 100}%)` };
  }

  // Levels: the mid-symbol mean of every preamble symbol, split by the edge that started it.
  let brightSum = 0;
  let brightCount = 0;
  let darkSum = 0;
  let darkCount = 0;
  for (const edge of run) {
    if (edge.k >= PREAMBLE_SYMBOLS) break;
    const start = fit.phase + fit.period * edge.k;
    const v = capture.windowMean(start + WINDOW_START * fit.period, start + WINDOW_END * fit.period);
    if (edge.rising) {
      brightSum += v;
      brightCount++;
    } else {
      darkSum += v;
      darkCount++;
    }
  }
  let bright = brightSum / brightCount;
  let dark = darkSum / darkCount;
  if (!(bright > dark)) return { ok: false, syncFound: false, reason: `preamble ${where}: no contrast between the calibrated light levels` };
  const calibration = `preamble ${where}, ${fmt(sampleRateHz / fit.period, 2)} Hz, levels ${fmt(dark)}/${fmt(bright)}`;

  // Symbols from the first preamble edge on; the PLL pulls phase and period to every edge. As far
  // as the longest frame a header can describe, so that the frame decoder can judge any frame.
  const maxSymbols = MAX_DECODABLE_FRAME_SYMBOLS + 8;
  const bits = new Uint8Array(maxSymbols);
  let count = 0;
  let start = fit.phase;
  let period = fit.period;
  let previous = -1;
  while (count < maxSymbols && start + WINDOW_START * period < capture.length - 0.5) {
    const v = capture.windowMean(start + WINDOW_START * period, start + WINDOW_END * period);
    const mid = (dark + bright) / 2;
    const bit = v > mid ? 1 : 0;
    if (previous >= 0 && bit !== previous) {
      const edge = capture.crossingNear(start, period / 2, mid, bit === 1);
      if (edge !== null) {
        const error = edge - start;
        start += PLL_PHASE_GAIN * error;
        period = Math.min(fit.period * (1 + MAX_CLOCK_ERROR), Math.max(fit.period * (1 - MAX_CLOCK_ERROR), period + PLL_PERIOD_GAIN * error));
      }
    }
    if (bit) bright += LEVEL_TRACKING * (v - bright);
    else dark += LEVEL_TRACKING * (v - dark);
    bits[count++] = bit;
    previous = bit;
    start += period;
  }
  const symbols = bits.subarray(0, count);

  // Polarity from the sync word: it must follow the preamble edges just found, in one sense or the other.
  const searchEnd = PREAMBLE_SYMBOLS + SYNC_SYMBOLS;
  const high = decodeFrameSymbols(symbols, { inverted: false, searchEnd });
  if (high.ok) return high;
  const low = decodeFrameSymbols(symbols, { inverted: true, searchEnd });
  if (low.ok) return low;
  const failed = high.syncFound ? high : low.syncFound ? low : null;
  if (!failed) return { ok: false, syncFound: false, reason: `${calibration}: no sync word after it in either polarity` };
  return { ok: false, syncFound: true, reason: `${calibration}, ${failed === low ? 'active-low' : 'active-high'}: ${failed.reason}` };
}

/** Decodes a BlinkUp frame from light-sensor samples. Never throws; ok:false says why. */
export function decodeLight(samples: ArrayLike<number>, opts: { sampleRateHz: number; symbolRateHz: number }): DecodeResult {
  const sampleRateHz = opts?.sampleRateHz;
  const symbolRateHz = opts?.symbolRateHz;
  if (!(sampleRateHz > 0 && symbolRateHz > 0) || !Number.isFinite(sampleRateHz) || !Number.isFinite(symbolRateHz)) {
    return { ok: false, reason: `sample and symbol rates must be positive numbers of Hz, not ${String(sampleRateHz)} / ${String(symbolRateHz)}` };
  }
  const samplesPerSymbol = sampleRateHz / symbolRateHz;
  if (samplesPerSymbol < MIN_SAMPLES_PER_SYMBOL) {
    return {
      ok: false,
      reason: `${sampleRateHz} Hz sampling gives ${fmt(samplesPerSymbol, 2)} samples per symbol at ${symbolRateHz} Hz; at least ${MIN_SAMPLES_PER_SYMBOL} are needed (${MIN_SAMPLES_PER_SYMBOL * symbolRateHz} Hz)`,
    };
  }
  const length = typeof samples?.length === 'number' && Number.isSafeInteger(samples.length) && samples.length >= 0 ? samples.length : -1;
  if (length < 0) return { ok: false, reason: 'samples must be an array of numbers' };
  if (length > MAX_CAPTURE_SAMPLES) return { ok: false, reason: `a capture of ${length} samples is more than ${MAX_CAPTURE_SAMPLES}` };
  const raw = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const v = samples[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) return { ok: false, reason: `sample ${i} is ${String(v)}, not a finite number` };
    raw[i] = v;
  }
  const minSamples = (PREAMBLE_SYMBOLS + SYNC_SYMBOLS) * samplesPerSymbol;
  if (length < minSamples) return { ok: false, reason: `${length} samples is shorter than a preamble and sync word (${Math.ceil(minSamples)} samples)` };

  const capture = new Capture(raw, movingAverage(raw, Math.floor(samplesPerSymbol / 3)));
  const { dark, bright } = coarseLevels(capture.smooth);
  if (!(bright > dark)) return { ok: false, reason: `no light modulation in ${length} samples: the capture is flat` };
  const candidates = preambleCandidates(findEdges(capture, dark, bright), samplesPerSymbol);
  if (candidates.length === 0) {
    return { ok: false, reason: `no calibration preamble in ${length} samples (${fmt(length / sampleRateHz, 2)} s): no ${MIN_PREAMBLE_EDGES} edges one symbol apart at ${symbolRateHz} Hz` };
  }
  let firstFailure: DecodeResult & { syncFound: boolean } = { ok: false, syncFound: false, reason: 'no preamble decoded' };
  for (const [i, run] of candidates.entries()) {
    const result = decodeFromPreamble(capture, run, samplesPerSymbol, sampleRateHz);
    if (result.ok) return { ok: true, payload: result.payload };
    // The first stretch that led to a sync word says most about what went wrong.
    if (i === 0 || (result.syncFound && !firstFailure.syncFound)) firstFailure = result;
  }
  return { ok: false, reason: firstFailure.ok ? 'no frame' : firstFailure.reason };
}
