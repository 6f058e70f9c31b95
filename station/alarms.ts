// The station's alarm board, the one owner of alarms: every part raises and clears alarms on the
// bus; the board keeps them, each with an acknowledged flag, and says what changed. Health lists
// the ones not cleared; the dashboard renders the board's entries as the live feed sends them and
// derives nothing itself. An alarm stays listed until it is both cleared (its cause went away) and
// acknowledged (a person saw it): one that cleared before anyone looked stays, shown as cleared,
// until acknowledged.
//
// Alarm management after ISA-18.2 practice:
// - On-delay: a condition is announced only once it has lasted its alarm's on-delay
//   (alarms.onDelayMs, by alarm id or id prefix); one that clears within it raises nothing, so a
//   healthy start (the token pool empty for the 100 ms its first refill takes) shows no alarm.
// - Shelving: an engineer puts an alarm aside, with a reason, until a time. A shelved alarm stays
//   listed (marked shelved) while its cause lasts but counts for nobody's attention; one that
//   clears while shelved leaves the list, and the shelf (kept in SQLite) still covers the same alarm
//   raised again before it expires. When the shelf ends (expiry or an engineer), an alarm still
//   active comes back unacknowledged.
// - History: every announcement, clearing, acknowledgement and shelf is recorded (the recorder:
//   station/store/alarm-history.ts), with who did it.
import type { StationBus } from './events.js';

export interface AlarmShelf {
  /** Who shelved it (the session's role; a person once logins are per person). */
  by: string;
  reason: string;
  /** When it was shelved, and when the shelf ends (ISO times). */
  at: string;
  until: string;
}

export interface AlarmEntry {
  alarmId: string;
  severity: 'warning' | 'critical';
  message: string;
  slot: number | null;
  /** When it was (last) raised: when its condition began (before the on-delay). */
  since: string;
  acknowledged: boolean;
  /** Its cause went away; it stays listed until acknowledged. */
  cleared: boolean;
  /** Put aside by an engineer until a time; null when not. */
  shelved: AlarmShelf | null;
}

/** What changed, and the entry as it is now (null: no longer listed, drop it). */
export type AlarmChange =
  | { t: 'alarm.raised'; d: AlarmEntry }
  | { t: 'alarm.cleared'; d: { alarmId: string; entry: AlarmEntry | null } }
  | { t: 'alarm.acked'; d: { alarmId: string; entry: AlarmEntry | null } }
  | { t: 'alarm.shelved'; d: { alarmId: string; entry: AlarmEntry | null; shelf: AlarmShelf } }
  | { t: 'alarm.unshelved'; d: { alarmId: string; entry: AlarmEntry | null } };

export type AlarmEventKind = 'raised' | 'cleared' | 'acknowledged' | 'shelved' | 'unshelved';

/** One line of the alarm history. */
export interface AlarmEvent {
  at: number;
  alarmId: string;
  event: AlarmEventKind;
  severity: 'warning' | 'critical' | null;
  message: string | null;
  slot: number | null;
  /** Who acknowledged, shelved or unshelved it ("expiry" when a shelf ran out); null otherwise. */
  by: string | null;
  /** The shelf's reason. */
  reason: string | null;
  /** The shelf's end (ms). */
  until: number | null;
}

/** Where the board keeps its history and its shelves (SQLite: station/store/alarm-history.ts). */
export interface AlarmRecorder {
  record(event: AlarmEvent): void;
  shelves(): { alarmId: string; shelf: AlarmShelf }[];
  saveShelf(alarmId: string, shelf: AlarmShelf): void;
  dropShelf(alarmId: string): void;
}

/**
 * Built-in on-delays (ms) by alarm id or id prefix, for ids no key of the configuration's
 * alarms.onDelayMs matches. The token pool is empty at a first start and low after a burst of units
 * until the refill job catches up: announced only when it lasts.
 */
export const DEFAULT_ON_DELAY_MS: Readonly<Record<string, number>> = { 'tokens.empty': 5000, 'tokens.low': 20_000 };

/** The longest an alarm can be shelved (7 days): a shelf is a decision to look again. */
export const MAX_SHELF_MS = 7 * 24 * 3600_000;

export interface AlarmBoardOptions {
  now?: () => number;
  /** On-delays (ms) by alarm id or id prefix ("tokens" covers "tokens.low"; the longest match wins,
   *  and any match here wins over the built-in DEFAULT_ON_DELAY_MS). */
  onDelayMs?: Readonly<Record<string, number>>;
}

interface Pending {
  raise: { alarmId: string; severity: 'warning' | 'critical'; message: string; slot: number | null };
  since: number;
  timer: NodeJS.Timeout;
}

export class AlarmBoard {
  private readonly alarms = new Map<string, AlarmEntry>();
  private readonly listeners = new Set<(change: AlarmChange) => void>();
  private readonly pending = new Map<string, Pending>();
  private readonly shelves = new Map<string, { shelf: AlarmShelf; timer: NodeJS.Timeout | null }>();
  private readonly onDelays: Readonly<Record<string, number>>;
  private readonly now: () => number;
  private recorder: AlarmRecorder | null = null;
  /** History lines from before the recorder was set (the store opens after the board attaches). */
  private unrecorded: AlarmEvent[] = [];
  private offs: (() => void)[] = [];

  constructor(opts: AlarmBoardOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.onDelays = { ...(opts.onDelayMs ?? {}) };
  }

  /** Keeps the board from the bus's alarm.raised / alarm.cleared. */
  attach(bus: StationBus): void {
    this.offs.push(
      bus.on('alarm.raised', (a) => this.tell(this.raise(a))),
      bus.on('alarm.cleared', (a) => this.tell(this.clear(a.alarmId))),
    );
  }

  /** Stops listening and drops every timer (on-delays, shelf ends). */
  detach(): void {
    for (const off of this.offs.splice(0)) off();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    for (const s of this.shelves.values()) if (s.timer) clearTimeout(s.timer);
  }

  /**
   * Where history and shelves are kept, once the store is open: takes the shelves kept there (those
   * already over end now, recorded as ended by expiry) and writes the history recorded before.
   */
  useRecorder(recorder: AlarmRecorder): void {
    this.recorder = recorder;
    for (const e of this.unrecorded.splice(0)) recorder.record(e);
    for (const { alarmId, shelf } of recorder.shelves()) {
      if (Date.parse(shelf.until) <= this.now()) {
        recorder.dropShelf(alarmId);
        this.note({ alarmId, event: 'unshelved', by: 'expiry' });
        continue;
      }
      this.keepShelf(alarmId, shelf);
      const entry = this.alarms.get(alarmId);
      if (entry) entry.shelved = { ...shelf };
    }
  }

  /** Calls `listener` with every change; returns the unsubscribe. */
  onChange(listener: (change: AlarmChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Acknowledges an alarm (a person saw it); throws AlarmError when there is no such alarm. */
  acknowledgeAndTell(alarmId: string, by = 'operator'): void {
    this.tell(this.acknowledge(alarmId, by));
  }

  /** Shelves a listed alarm (see shelve); tells the listeners. */
  shelveAndTell(alarmId: string, shelf: { by: string; reason: string; until: number }): AlarmShelf {
    const change = this.shelve(alarmId, shelf);
    this.tell(change);
    return change.d.shelf;
  }

  /** Ends a shelf before its time; tells the listeners. */
  unshelveAndTell(alarmId: string, by: string): void {
    this.tell(this.unshelve(alarmId, by));
  }

  /** Alarms whose cause is still there (shelved ones included, marked), for health. */
  active(): AlarmEntry[] {
    return this.list().filter((a) => !a.cleared);
  }

  /** The on-delay of an alarm id: the configuration's longest matching id or prefix, else the built-in one's, else 0. */
  onDelayOf(alarmId: string): number {
    return longestMatch(this.onDelays, alarmId) ?? longestMatch(DEFAULT_ON_DELAY_MS, alarmId) ?? 0;
  }

  /** Conditions waiting out their on-delay (not announced yet), for tests and health. */
  pendingIds(): string[] {
    return [...this.pending.keys()];
  }

  private tell(change: AlarmChange | null): void {
    if (change) for (const l of this.listeners) l(change);
  }

  /**
   * A raised alarm, or a changed message; null when nothing the dashboard shows changed (an
   * alarm still within its on-delay included: it is announced when the delay ends, if it lasts).
   */
  raise(a: { alarmId: string; severity: 'warning' | 'critical'; message: string; slot: number | null }): AlarmChange | null {
    const existing = this.alarms.get(a.alarmId);
    if (existing && !existing.cleared) {
      if (existing.severity === a.severity && existing.message === a.message && existing.slot === a.slot) return null;
      Object.assign(existing, { severity: a.severity, message: a.message, slot: a.slot });
      return { t: 'alarm.raised', d: this.copy(existing) };
    }
    const waiting = this.pending.get(a.alarmId);
    if (waiting) {
      waiting.raise = { ...a };
      return null;
    }
    const delay = this.onDelayOf(a.alarmId);
    if (delay > 0) {
      const timer = setTimeout(() => this.endOnDelay(a.alarmId), delay);
      timer.unref();
      this.pending.set(a.alarmId, { raise: { ...a }, since: this.now(), timer });
      return null;
    }
    return this.announce(a, this.now());
  }

  clear(alarmId: string): AlarmChange | null {
    const waiting = this.pending.get(alarmId);
    if (waiting) {
      // Cleared within its on-delay: it was never an alarm.
      clearTimeout(waiting.timer);
      this.pending.delete(alarmId);
      return null;
    }
    const entry = this.alarms.get(alarmId);
    if (!entry || entry.cleared) return null;
    this.note({ alarmId, event: 'cleared', severity: entry.severity, message: entry.message, slot: entry.slot });
    // Nobody needs to acknowledge what they saw, or what an engineer put aside.
    if (entry.acknowledged || entry.shelved) this.alarms.delete(alarmId);
    else entry.cleared = true;
    return { t: 'alarm.cleared', d: { alarmId, entry: this.get(alarmId) } };
  }

  /** Acknowledges an alarm; throws AlarmError naming the problem when there is no such alarm. */
  acknowledge(alarmId: string, by = 'operator'): AlarmChange | null {
    const entry = this.alarms.get(alarmId);
    if (!entry) throw new AlarmError(`no alarm ${JSON.stringify(alarmId.slice(0, 100))} is listed`);
    if (entry.acknowledged) return null;
    this.note({ alarmId, event: 'acknowledged', severity: entry.severity, message: entry.message, slot: entry.slot, by });
    if (entry.cleared) this.alarms.delete(alarmId);
    else entry.acknowledged = true;
    return { t: 'alarm.acked', d: { alarmId, entry: this.get(alarmId) } };
  }

  /**
   * Shelves a listed alarm until `until` (ms), with a reason; throws AlarmError when it is not
   * listed or the end is not in the next 7 days. Shelving again replaces the shelf.
   */
  shelve(alarmId: string, s: { by: string; reason: string; until: number }): Extract<AlarmChange, { t: 'alarm.shelved' }> {
    const entry = this.alarms.get(alarmId);
    if (!entry) throw new AlarmError(`no alarm ${JSON.stringify(alarmId.slice(0, 100))} is listed`);
    const now = this.now();
    if (!(s.until > now) || s.until - now > MAX_SHELF_MS) throw new AlarmError('a shelf must end within the next 7 days');
    const shelf: AlarmShelf = { by: s.by, reason: s.reason, at: new Date(now).toISOString(), until: new Date(s.until).toISOString() };
    this.keepShelf(alarmId, shelf);
    this.recorder?.saveShelf(alarmId, shelf);
    this.note({ alarmId, event: 'shelved', severity: entry.severity, message: entry.message, slot: entry.slot, by: s.by, reason: s.reason, until: s.until });
    entry.shelved = { ...shelf };
    if (entry.cleared) this.alarms.delete(alarmId);
    return { t: 'alarm.shelved', d: { alarmId, entry: this.get(alarmId), shelf: { ...shelf } } };
  }

  /** Ends a shelf (an engineer, or "expiry"); throws AlarmError when the alarm is not shelved. */
  unshelve(alarmId: string, by: string): AlarmChange {
    const kept = this.shelves.get(alarmId);
    if (!kept) throw new AlarmError(`alarm ${JSON.stringify(alarmId.slice(0, 100))} is not shelved`);
    if (kept.timer) clearTimeout(kept.timer);
    this.shelves.delete(alarmId);
    this.recorder?.dropShelf(alarmId);
    const entry = this.alarms.get(alarmId);
    this.note({ alarmId, event: 'unshelved', severity: entry?.severity ?? null, message: entry?.message ?? null, slot: entry?.slot ?? null, by });
    if (entry) {
      entry.shelved = null;
      // Still there when the shelf ends: it asks for attention again.
      if (!entry.cleared) entry.acknowledged = false;
    }
    return { t: 'alarm.unshelved', d: { alarmId, entry: this.get(alarmId) } };
  }

  /** Shelves in force, by alarm id (those of alarms not listed now included). */
  shelved(): { alarmId: string; shelf: AlarmShelf }[] {
    return [...this.shelves.entries()].map(([alarmId, s]) => ({ alarmId, shelf: { ...s.shelf } }));
  }

  get(alarmId: string): AlarmEntry | null {
    const entry = this.alarms.get(alarmId);
    return entry ? this.copy(entry) : null;
  }

  /**
   * Every listed alarm: active ones first (critical first, then those not yet acknowledged, then the
   * oldest), then cleared ones, then shelved ones.
   */
  list(): AlarmEntry[] {
    const group = (a: AlarmEntry): number => (a.shelved ? 2 : a.cleared ? 1 : 0);
    const severity = (a: AlarmEntry): number => (a.severity === 'critical' ? 0 : 1);
    const acked = (a: AlarmEntry): number => (group(a) === 0 && a.acknowledged ? 1 : 0);
    return [...this.alarms.values()].map((a) => this.copy(a)).sort((a, b) => group(a) - group(b) || severity(a) - severity(b) || acked(a) - acked(b) || Date.parse(a.since) - Date.parse(b.since));
  }

  private copy(entry: AlarmEntry): AlarmEntry {
    return { ...entry, shelved: entry.shelved ? { ...entry.shelved } : null };
  }

  private announce(a: { alarmId: string; severity: 'warning' | 'critical'; message: string; slot: number | null }, since: number): AlarmChange {
    const shelf = this.shelves.get(a.alarmId)?.shelf ?? null;
    const entry: AlarmEntry = {
      alarmId: a.alarmId,
      severity: a.severity,
      message: a.message,
      slot: a.slot,
      since: new Date(since).toISOString(),
      acknowledged: false,
      cleared: false,
      shelved: shelf ? { ...shelf } : null,
    };
    this.alarms.set(a.alarmId, entry);
    this.note({ alarmId: a.alarmId, event: 'raised', severity: a.severity, message: a.message, slot: a.slot });
    return { t: 'alarm.raised', d: this.copy(entry) };
  }

  private endOnDelay(alarmId: string): void {
    const waiting = this.pending.get(alarmId);
    if (!waiting) return;
    this.pending.delete(alarmId);
    this.tell(this.announce(waiting.raise, waiting.since));
  }

  private keepShelf(alarmId: string, shelf: AlarmShelf): void {
    const old = this.shelves.get(alarmId);
    if (old?.timer) clearTimeout(old.timer);
    const timer = setTimeout(() => this.tell(this.unshelve(alarmId, 'expiry')), Math.max(0, Date.parse(shelf.until) - this.now()));
    timer.unref();
    this.shelves.set(alarmId, { shelf: { ...shelf }, timer });
  }

  private note(e: Partial<AlarmEvent> & { alarmId: string; event: AlarmEventKind }): void {
    const event: AlarmEvent = { at: this.now(), severity: null, message: null, slot: null, by: null, reason: null, until: null, ...e };
    if (this.recorder) this.recorder.record(event);
    else if (this.unrecorded.length < 1000) this.unrecorded.push(event);
  }
}

/** The value of the longest key of `table` that is `alarmId` or a prefix of it (up to a "."), or null. */
function longestMatch(table: Readonly<Record<string, number>>, alarmId: string): number | null {
  let best = -1;
  let value: number | null = null;
  for (const [key, ms] of Object.entries(table)) {
    if ((alarmId === key || alarmId.startsWith(`${key}.`)) && key.length > best) {
      best = key.length;
      value = ms;
    }
  }
  return value;
}

export class AlarmError extends Error {}
