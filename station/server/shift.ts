// The dashboard's shift figures: when the current shift started (line.shiftStarts, local time),
// and, since then, units tested, passed and failed (distinct Device IDs: a retest or rework is
// never counted twice), first-pass and final yield, units per hour, and a 10-minute chart.
// Loaded from the store at start and at each shift change, then kept up to date from verdicts.
import { verdictsSince } from '../store/ui-queries.js';
import type { Store } from '../store/store.js';

export interface Counters {
  shiftStartedAt: string;
  /** Distinct devices with a blessed or failed verdict this shift. */
  tested: number;
  /** Of those, blessed at least once this shift. */
  passed: number;
  /** Of those, not blessed this shift. */
  failed: number;
  /** Devices whose first verdict this shift was a blessing, over tested; null before the first. */
  firstPassYield: number | null;
  /** passed over tested; null before the first. */
  finalYield: number | null;
  /** Verdicts in the last hour (of this shift), per hour, over at least 5 minutes; one decimal. */
  unitsPerHour: number;
}

export interface ChartBucket {
  /** Start of the 10-minute bucket, ms since the epoch. */
  t: number;
  /** Verdicts (blessed or failed) in the bucket. */
  units: number;
  passed: number;
}

export const BUCKET_MS = 10 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
/** unitsPerHour is the current rate: the verdicts of the last 5 minutes, scaled to an hour. */
export const RATE_WINDOW_MS = 5 * 60 * 1000;
/** Early in a shift the window is shorter; at least a minute, so the first units do not spike it. */
const MIN_SPAN_MS = 60 * 1000;

/** The start of the shift `now` falls in: the latest configured HH:MM (local time) at or before it. */
export function shiftStartAt(now: number, shiftStarts: readonly string[]): number {
  let best = -Infinity;
  for (const dayOffset of [0, -1]) {
    for (const hhmm of shiftStarts) {
      const [h, m] = hhmm.split(':').map(Number) as [number, number];
      const d = new Date(now);
      d.setDate(d.getDate() + dayOffset);
      d.setHours(h, m, 0, 0);
      const t = d.getTime();
      if (t <= now && t > best) best = t;
    }
  }
  return best;
}

export class ShiftCounters {
  private startedAt = 0;
  private readonly devices = new Map<string, { firstBlessed: boolean; blessed: boolean }>();
  private passedCount = 0;
  private firstPassCount = 0;
  private recent: number[] = [];
  private readonly buckets = new Map<number, ChartBucket>();

  constructor(
    private readonly store: Store,
    private readonly shiftStarts: readonly string[],
    private readonly now: () => number = Date.now,
  ) {}

  /** (Re)loads the current shift from the store. */
  load(): void {
    this.startedAt = shiftStartAt(this.now(), this.shiftStarts);
    this.devices.clear();
    this.buckets.clear();
    this.recent = [];
    this.passedCount = 0;
    this.firstPassCount = 0;
    for (const v of verdictsSince(this.store, this.startedAt)) this.apply(v.deviceId, v.blessed, v.endedAt);
  }

  get shiftStartedAtMs(): number {
    return this.startedAt;
  }

  /** True when the shift changed since the last load (the caller reloads and tells the clients). */
  shiftChanged(): boolean {
    return shiftStartAt(this.now(), this.shiftStarts) !== this.startedAt;
  }

  /** Counts one verdict; returns the chart bucket it landed in. */
  record(deviceId: string, blessed: boolean, at = this.now()): ChartBucket {
    return this.apply(deviceId, blessed, at);
  }

  private apply(deviceId: string, blessed: boolean, at: number): ChartBucket {
    const seen = this.devices.get(deviceId);
    if (!seen) {
      this.devices.set(deviceId, { firstBlessed: blessed, blessed });
      if (blessed) {
        this.passedCount++;
        this.firstPassCount++;
      }
    } else if (blessed && !seen.blessed) {
      seen.blessed = true;
      this.passedCount++;
    }
    this.recent.push(at);
    const t = this.startedAt + Math.floor((at - this.startedAt) / BUCKET_MS) * BUCKET_MS;
    let bucket = this.buckets.get(t);
    if (!bucket) {
      bucket = { t, units: 0, passed: 0 };
      this.buckets.set(t, bucket);
    }
    bucket.units++;
    if (blessed) bucket.passed++;
    return { ...bucket };
  }

  counters(): Counters {
    const now = this.now();
    const windowStart = Math.max(now - RATE_WINDOW_MS, this.startedAt);
    while (this.recent.length > 0 && (this.recent[0] as number) < windowStart) this.recent.shift();
    const spanMs = Math.max(now - windowStart, MIN_SPAN_MS);
    const tested = this.devices.size;
    return {
      shiftStartedAt: new Date(this.startedAt).toISOString(),
      tested,
      passed: this.passedCount,
      failed: tested - this.passedCount,
      firstPassYield: tested > 0 ? this.firstPassCount / tested : null,
      finalYield: tested > 0 ? this.passedCount / tested : null,
      unitsPerHour: Math.round((this.recent.length * HOUR_MS * 10) / spanMs) / 10,
    };
  }

  chart(): ChartBucket[] {
    return [...this.buckets.values()].sort((a, b) => a.t - b.t).map((b) => ({ ...b }));
  }
}
