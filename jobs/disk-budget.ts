// The disk budget: keeps the data folder within its configured ceiling and its file system above
// a free-space floor. At 80 % of the budget a warning alarm; at 100 % (or below the floor) it first
// gives space back (a WAL checkpoint, then retention and an incremental vacuum: jobs/retention.ts),
// and only if that was not enough does the station fail closed: it refuses new DUTs with a
// critical alarm (runs in flight finish, nothing is dropped or overwritten) and resumes by itself
// once there is room again (retention is tried again every minute meanwhile).
import { readdirSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DiskStatus, StationBus } from '../station/events.js';
import { monotonicMs } from '../lib/clock.js';
import type { FaultReporter } from '../station/fault-latch.js';

export interface DiskBudgetOptions {
  dataDir: string;
  /** Ceiling for the data folder, bytes; null: only the free-space floor applies. */
  budgetBytes: number | null;
  minFreeBytes: number;
  intervalMs: number;
  /** Refuse / accept new DUTs. */
  hold(reason: string): void;
  release(): void;
  /** Gives space back if it can (a WAL checkpoint); called once each time the budget is reached. */
  reclaim?(): void;
  /** Where an error of a check on its timer goes (station/fault-latch.ts); default: logged. */
  reportFault?: FaultReporter;
  /** Frees space when reclaim was not enough: retention and an incremental vacuum (jobs/retention.ts).
   *  The station fails closed only once it has ended (or run RELIEF_GRACE_MS) without freeing enough. */
  relieve?(): Promise<unknown>;
}

const WARN_AT = 0.8;
/** Back under this share of the budget (and the floor with 10 % to spare) before DUTs are taken again. */
const RESUME_BELOW = 0.97;
/** How long DUTs are still taken over the budget while a relief runs, before failing closed anyway. */
const RELIEF_GRACE_MS = 30_000;
/** While full, a relief is tried again this often (the uplink may have delivered more since). */
const RELIEF_EVERY_MS = 60_000;

export class DiskBudgetJob {
  private timer: NodeJS.Timeout | null = null;
  private state: DiskStatus['state'] = 'ok';
  private last: DiskStatus | null = null;
  private offRun: (() => void) | null = null;
  /** Monotonic. */
  private lastCheckAt = -Infinity;
  /** The relief under way, and when it started and the last one ended (performance.now()). */
  private relieving: Promise<void> | null = null;
  private reliefStartedAt = 0;
  private reliefEndedAt = -Infinity;
  private stopped = true;

  constructor(
    private readonly opts: DiskBudgetOptions,
    private readonly bus: StationBus,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.check();
    this.timer = setInterval(() => this.checkOnTimer(), this.opts.intervalMs);
    this.timer.unref();
    // A burst of records can fill a small budget between two intervals: look after verdicts too.
    this.offRun = this.bus.on('run.finished', () => {
      if (monotonicMs() - this.lastCheckAt >= Math.min(1000, this.opts.intervalMs)) this.checkOnTimer();
    });
  }

  /** A check nobody waits for: its error (a reclaim on a failed disk, a folder gone) is reported, not thrown. */
  private checkOnTimer(): void {
    try {
      this.check();
    } catch (err) {
      if (this.opts.reportFault) this.opts.reportFault(err, 'the disk budget check');
      else this.log.error({ err }, 'the disk budget check failed');
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offRun?.();
  }

  status(): DiskStatus {
    return this.last ?? this.measure();
  }

  /** Measures now and acts on it. */
  check(): DiskStatus {
    this.lastCheckAt = monotonicMs();
    let s: DiskStatus;
    try {
      s = this.measure();
    } catch (err) {
      this.log.error({ err, dataDir: this.opts.dataDir }, 'measuring the data folder failed');
      return this.last ?? { usedBytes: 0, budgetBytes: this.opts.budgetBytes, freeBytes: 0, level: null, state: this.state };
    }
    const { budgetBytes, minFreeBytes } = this.opts;
    const over = (m: DiskStatus): boolean => (budgetBytes !== null && m.usedBytes >= budgetBytes) || m.freeBytes < minFreeBytes;
    if (this.state !== 'full' && over(s)) {
      if (!this.relieving) {
        this.opts.reclaim?.();
        s = this.measure();
        if (over(s) && performance.now() - this.reliefEndedAt >= RELIEF_EVERY_MS) this.startRelief(s);
      }
      // Retention is giving space back: DUTs are still taken for a while; its end checks again.
      if (this.relieving && performance.now() - this.reliefStartedAt < RELIEF_GRACE_MS) {
        s.state = this.state;
        this.last = s;
        return s;
      }
    } else if (this.state === 'full' && !this.relieving && performance.now() - this.reliefEndedAt >= RELIEF_EVERY_MS) {
      this.startRelief(s);
    }
    const full =
      this.state === 'full'
        ? (budgetBytes !== null && s.usedBytes >= budgetBytes * RESUME_BELOW) || s.freeBytes < minFreeBytes * 1.1
        : (budgetBytes !== null && s.usedBytes >= budgetBytes) || s.freeBytes < minFreeBytes;
    const next: DiskStatus['state'] = full ? 'full' : s.level !== null && s.level >= WARN_AT ? 'warning' : 'ok';
    s.state = next;
    this.last = s;
    if (next !== this.state) this.transition(this.state, next, s);
    return s;
  }

  /** Starts retention and a vacuum (opts.relieve); when it ends, the folder is measured again. */
  private startRelief(s: DiskStatus): void {
    const relieve = this.opts.relieve;
    if (!relieve || this.relieving) return;
    this.reliefStartedAt = performance.now();
    const before = s.usedBytes;
    this.log.warn(
      { usedBytes: s.usedBytes, budgetBytes: s.budgetBytes, freeBytes: s.freeBytes },
      this.state === 'full' ? 'disk budget still reached: running retention and a vacuum again' : 'disk budget reached: running retention and a vacuum before refusing DUTs',
    );
    this.relieving = Promise.resolve()
      .then(() => relieve())
      .then(
        () => {
          try {
            const after = this.measure();
            this.log.info({ freedBytes: before - after.usedBytes, usedBytes: after.usedBytes, budgetBytes: after.budgetBytes }, 'disk budget: retention and vacuum done');
          } catch {
            // check() below measures again and says why it cannot
          }
        },
        (err: unknown) => this.log.error({ err }, 'disk budget: retention could not give space back'),
      )
      .finally(() => {
        this.relieving = null;
        this.reliefEndedAt = performance.now();
        if (!this.stopped) this.check();
      });
  }

  /** Resolves when the relief under way (if any) has ended and the folder was measured again. */
  async settled(): Promise<DiskStatus> {
    while (this.relieving) await this.relieving;
    return this.status();
  }

  private transition(from: DiskStatus['state'], to: DiskStatus['state'], s: DiskStatus): void {
    this.state = to;
    const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`;
    const where = `data folder ${mb(s.usedBytes)}${s.budgetBytes !== null ? ` of a ${mb(s.budgetBytes)} budget` : ''}, ${mb(s.freeBytes)} free on its disk`;
    if (to === 'full') {
      const retention = this.opts.relieve ? ' (retention and a vacuum did not free enough)' : '';
      const reason = `disk budget reached (${where})${retention}: no new DUTs until space is freed or storage.budgetMb raised`;
      this.opts.hold(reason);
      this.bus.emit('alarm.raised', { alarmId: 'disk.full', severity: 'critical', message: reason, slot: null });
      this.log.error({ usedBytes: s.usedBytes, budgetBytes: s.budgetBytes, freeBytes: s.freeBytes }, 'disk budget reached: refusing new DUTs');
    }
    if (from === 'full') {
      this.opts.release();
      this.bus.emit('alarm.cleared', { alarmId: 'disk.full' });
      this.log.info({ usedBytes: s.usedBytes, freeBytes: s.freeBytes }, 'space is back: taking DUTs again');
    }
    if (to === 'warning') {
      this.bus.emit('alarm.raised', { alarmId: 'disk.warning', severity: 'warning', message: `disk budget at ${Math.round((s.level ?? 0) * 100)} % (${where})`, slot: null });
    } else if (from === 'warning' || (from === 'full' && to === 'ok')) {
      this.bus.emit('alarm.cleared', { alarmId: 'disk.warning' });
    }
  }

  private measure(): DiskStatus {
    const usedBytes = folderBytes(this.opts.dataDir);
    const fs = statfsSync(this.opts.dataDir);
    const freeBytes = Number(fs.bavail) * Number(fs.bsize);
    const level = this.opts.budgetBytes === null ? null : usedBytes / this.opts.budgetBytes;
    return { usedBytes, budgetBytes: this.opts.budgetBytes, freeBytes, level, state: this.state };
  }
}

/** Bytes in a folder's files, recursively (what the station keeps there: database, WAL, exports). */
export function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    try {
      if (entry.isDirectory()) total += folderBytes(p);
      else if (entry.isFile()) total += statSync(p).size;
    } catch {
      // removed while we looked
    }
  }
  return total;
}
