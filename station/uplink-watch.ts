// The uplink, as operators see it, is a status (backlog and the oldest record's age), not an alarm:
// an outage of the cloud costs the line nothing while records queue durably. It becomes an alarm
// (uplink.backlog, a warning) only past thresholds an engineer sets: the oldest queued record older
// than uplink.alarmAfterMs (15 minutes by default), or more than uplink.alarmBacklog records
// queued. The alarm clears once the backlog is back under both. A station with no sink configured
// has no such alarm (the log says so at start).
import type { Logger } from 'pino';
import type { StationBus, UplinkStatus } from './events.js';

export const UPLINK_BACKLOG_ALARM = 'uplink.backlog';

export interface UplinkWatchOptions {
  bus: StationBus;
  /** The uplink's status now (jobs/uplink); null when it has none yet. */
  status: () => UplinkStatus | null;
  /** The oldest queued record's age (ms) that makes it an alarm. */
  alarmAfterMs: number;
  /** The number of queued records that makes it an alarm; undefined: no such threshold. */
  alarmBacklog?: number | undefined;
  /** How often the age is looked at besides each uplink status (it grows with no event at all). */
  intervalMs?: number;
  log: Logger;
}

/** "15 min", "2 h", "90 s": a threshold in words. */
export function spoken(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

export class UplinkWatch {
  private timer: NodeJS.Timeout | null = null;
  private off: (() => void) | null = null;
  private raised: string | null = null;

  constructor(private readonly opts: UplinkWatchOptions) {}

  start(): void {
    this.off = this.opts.bus.on('uplink.status', (s) => this.check(s));
    this.timer = setInterval(() => this.check(this.read()), this.opts.intervalMs ?? 5000);
    this.timer.unref();
    this.check(this.read());
  }

  stop(): void {
    this.off?.();
    this.off = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Raises, keeps or clears the alarm for this status. */
  check(status: UplinkStatus | null): void {
    const why = status ? this.overThreshold(status) : null;
    if (why && why !== this.raised) {
      this.raised = why;
      this.opts.log.warn({ alarmId: UPLINK_BACKLOG_ALARM, queued: status?.queued, oldestQueuedAgeSeconds: status?.oldestQueuedAgeSeconds }, 'uplink backlog past its alarm threshold');
      this.opts.bus.emit('alarm.raised', { alarmId: UPLINK_BACKLOG_ALARM, severity: 'warning', message: why, slot: null });
    } else if (!why && this.raised !== null) {
      this.raised = null;
      this.opts.bus.emit('alarm.cleared', { alarmId: UPLINK_BACKLOG_ALARM });
    }
  }

  private overThreshold(s: UplinkStatus): string | null {
    // No sink at all is a configuration the log names at start, not an outage to call anyone for.
    if (s.state === 'not configured') return null;
    const keepGoing = 'The line goes on and every record is kept; ask an engineer to check the uplink.';
    if (s.oldestQueuedAgeSeconds !== null && s.oldestQueuedAgeSeconds * 1000 >= this.opts.alarmAfterMs) {
      return `Records are not reaching the cloud: some have waited over ${spoken(this.opts.alarmAfterMs)}. ${keepGoing}`;
    }
    if (this.opts.alarmBacklog !== undefined && s.queued >= this.opts.alarmBacklog) {
      return `Records are not reaching the cloud: ${this.opts.alarmBacklog} or more are waiting. ${keepGoing}`;
    }
    return null;
  }

  private read(): UplinkStatus | null {
    try {
      return this.opts.status();
    } catch {
      return null; // the uplink is not started yet
    }
  }
}
