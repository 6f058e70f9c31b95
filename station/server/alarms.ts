// The dashboard's alarm board: alarms as the operator sees them, each with an acknowledged flag.
// An alarm stays listed until it is both cleared (its cause went away) and acknowledged (a person
// saw it): one that cleared before anyone looked stays, shown as cleared, until acknowledged.

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

export type AlarmChange =
  | { t: 'alarm.raised'; d: AlarmEntry }
  | { t: 'alarm.cleared'; d: { alarmId: string } }
  | { t: 'alarm.acked'; d: { alarmId: string } };

export class AlarmBoard {
  private readonly alarms = new Map<string, AlarmEntry>();

  constructor(private readonly now: () => number = Date.now) {}

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
    return { t: 'alarm.cleared', d: { alarmId } };
  }

  /** Acknowledges an alarm; throws AlarmError naming the problem when there is no such alarm. */
  acknowledge(alarmId: string): AlarmChange | null {
    const entry = this.alarms.get(alarmId);
    if (!entry) throw new AlarmError(`no alarm ${JSON.stringify(alarmId.slice(0, 100))} is listed`);
    if (entry.acknowledged) return null;
    if (entry.cleared) this.alarms.delete(alarmId);
    else entry.acknowledged = true;
    return { t: 'alarm.acked', d: { alarmId } };
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
