// The station's alarm board, the one owner of alarms: every part raises and clears alarms on the
// bus; the board keeps them, each with an acknowledged flag, and says what changed. Health lists
// the ones not cleared; the dashboard renders the board's entries as the live feed sends them and
// derives nothing itself. An alarm stays listed until it is both cleared (its cause went away) and
// acknowledged (a person saw it): one that cleared before anyone looked stays, shown as cleared,
// until acknowledged.
import type { StationBus } from './events.js';

export interface AlarmEntry {
  alarmId: string;
  severity: 'warning' | 'critical';
  message: string;
  slot: number | null;
  /** When it was (last) raised. */
  since: string;
  acknowledged: boolean;
  /** Its cause went away; it stays listed until acknowledged. */
  cleared: boolean;
}

/** What changed, and the entry as it is now (null: no longer listed, drop it). */
export type AlarmChange =
  { t: 'alarm.raised'; d: AlarmEntry } | { t: 'alarm.cleared'; d: { alarmId: string; entry: AlarmEntry | null } } | { t: 'alarm.acked'; d: { alarmId: string; entry: AlarmEntry | null } };

export class AlarmBoard {
  private readonly alarms = new Map<string, AlarmEntry>();
  private readonly listeners = new Set<(change: AlarmChange) => void>();
  private offs: (() => void)[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Keeps the board from the bus's alarm.raised / alarm.cleared. */
  attach(bus: StationBus): void {
    this.offs.push(
      bus.on('alarm.raised', (a) => this.tell(this.raise(a))),
      bus.on('alarm.cleared', (a) => this.tell(this.clear(a.alarmId))),
    );
  }

  detach(): void {
    for (const off of this.offs.splice(0)) off();
  }

  /** Calls `listener` with every change; returns the unsubscribe. */
  onChange(listener: (change: AlarmChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Acknowledges an alarm (a person saw it); throws AlarmError when there is no such alarm. */
  acknowledgeAndTell(alarmId: string): void {
    this.tell(this.acknowledge(alarmId));
  }

  /** Alarms whose cause is still there, for health. */
  active(): AlarmEntry[] {
    return this.list().filter((a) => !a.cleared);
  }

  private tell(change: AlarmChange | null): void {
    if (change) for (const l of this.listeners) l(change);
  }

  /** A raised alarm, or a changed message; null when nothing the dashboard shows changed. */
  raise(a: { alarmId: string; severity: 'warning' | 'critical'; message: string; slot: number | null }): AlarmChange | null {
    const existing = this.alarms.get(a.alarmId);
    if (existing && !existing.cleared && existing.severity === a.severity && existing.message === a.message && existing.slot === a.slot) return null;
    const entry: AlarmEntry =
      existing && !existing.cleared
        ? { ...existing, severity: a.severity, message: a.message, slot: a.slot }
        : { alarmId: a.alarmId, severity: a.severity, message: a.message, slot: a.slot, since: new Date(this.now()).toISOString(), acknowledged: false, cleared: false };
    this.alarms.set(a.alarmId, entry);
    return { t: 'alarm.raised', d: { ...entry } };
  }

  clear(alarmId: string): AlarmChange | null {
    const entry = this.alarms.get(alarmId);
    if (!entry || entry.cleared) return null;
    if (entry.acknowledged) this.alarms.delete(alarmId);
    else entry.cleared = true;
    return { t: 'alarm.cleared', d: { alarmId, entry: this.get(alarmId) } };
  }

  /** Acknowledges an alarm; throws AlarmError naming the problem when there is no such alarm. */
  acknowledge(alarmId: string): AlarmChange | null {
    const entry = this.alarms.get(alarmId);
    if (!entry) throw new AlarmError(`no alarm ${JSON.stringify(alarmId.slice(0, 100))} is listed`);
    if (entry.acknowledged) return null;
    if (entry.cleared) this.alarms.delete(alarmId);
    else entry.acknowledged = true;
    return { t: 'alarm.acked', d: { alarmId, entry: this.get(alarmId) } };
  }

  get(alarmId: string): AlarmEntry | null {
    const entry = this.alarms.get(alarmId);
    return entry ? { ...entry } : null;
  }

  list(): AlarmEntry[] {
    return [...this.alarms.values()].map((a) => ({ ...a }));
  }
}

export class AlarmError extends Error {}
