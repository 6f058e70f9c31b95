// The wall clock, watched. Nothing in the station times anything by it (lib/clock.ts), but the
// times it records for people come from it, so people are told when it is wrong:
//  - at start, a wall clock behind the newest record in the store (a dead RTC battery, a machine
//    that booted without its time source) raises the warning alarm `clock.behind`: the station
//    keeps testing (records keep their sequence numbers and their order), but the times it writes
//    are wrong until the clock is set. The alarm clears once the clock has passed that record.
//  - while running, a step of the wall clock (its offset from the monotonic clock jumping) is
//    logged with its size, so a log reader knows why times jump.
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { wallClockOffsetMs } from '../lib/clock.js';
import type { StationBus } from './events.js';

export const CLOCK_BEHIND_ALARM = 'clock.behind';

/** How far behind the newest record the wall clock may be before it counts as behind (a restart
 *  right after a verdict and a small NTP correction are not worth an alarm). */
export const CLOCK_BEHIND_TOLERANCE_MS = 60_000;
/** A change of the wall clock's offset from the monotonic clock larger than this is a step. */
const STEP_LOGGED_MS = 2_000;

/**
 * The wall-clock time of the newest record in the store (ms since the epoch), or null when it has
 * none: the last run begun (by rowid), the last outbox record (by seq) and the device row changed
 * last (indexed): each is one index lookup, however large the store.
 */
export function newestRecordAt(db: Database.Database): number | null {
  const run = db.prepare(`SELECT max(started_at, coalesce(ended_at, started_at)) AS t FROM runs ORDER BY rowid DESC LIMIT 1`).get() as { t: number } | undefined;
  const record = db.prepare(`SELECT created_at AS t FROM outbox ORDER BY seq DESC LIMIT 1`).get() as { t: number } | undefined;
  const device = db.prepare(`SELECT max(updated_at) AS t FROM devices`).get() as { t: number | null } | undefined;
  const times = [run?.t, record?.t, device?.t].filter((t): t is number => typeof t === 'number');
  return times.length > 0 ? Math.max(...times) : null;
}

export class ClockWatch {
  private timer: NodeJS.Timeout | null = null;
  private offset = 0;
  private behindUntil: number | null = null;

  constructor(
    private readonly deps: {
      bus: StationBus;
      log: Logger;
      /** How often the offset is looked at. */
      checkEveryMs?: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  /** Compares the wall clock with the newest record's time (null: an empty store) and starts watching. */
  start(newest: number | null): void {
    const now = this.now();
    if (newest !== null && now < newest - CLOCK_BEHIND_TOLERANCE_MS) {
      this.behindUntil = newest;
      const message =
        `the wall clock (${new Date(now).toISOString()}) is behind the newest record in the store (${new Date(newest).toISOString()}): ` +
        'a dead RTC battery or no time source at boot? Testing goes on and records keep their order, but the times recorded are wrong until the clock is set (NTP, or timedatectl)';
      this.deps.bus.emit('alarm.raised', { alarmId: CLOCK_BEHIND_ALARM, severity: 'warning', message, slot: null });
      this.deps.log.warn({ wallClock: new Date(now).toISOString(), newestRecord: new Date(newest).toISOString() }, 'the wall clock is behind the newest record');
    }
    this.offset = wallClockOffsetMs();
    this.timer = setInterval(() => this.check(), this.deps.checkEveryMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Logs a step of the wall clock; clears `clock.behind` once the clock has passed the newest record. */
  check(): void {
    const offset = wallClockOffsetMs();
    const step = offset - this.offset;
    this.offset = offset;
    if (Math.abs(step) >= STEP_LOGGED_MS) {
      this.deps.log.warn(
        { stepMs: Math.round(step), wallClock: new Date(this.now()).toISOString() },
        `the wall clock was stepped ${step > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(step) / 1000)} s; timeouts and ordering are unaffected`,
      );
    }
    if (this.behindUntil !== null && this.now() >= this.behindUntil) {
      this.behindUntil = null;
      this.deps.bus.emit('alarm.cleared', { alarmId: CLOCK_BEHIND_ALARM });
      this.deps.log.info('the wall clock has passed the newest record: clock.behind cleared');
    }
  }
}
