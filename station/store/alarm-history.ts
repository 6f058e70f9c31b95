// The alarm board's history and its shelves in SQLite (migration 7): the board (station/alarms.ts)
// records each announcement, clearing, acknowledgement and shelf here, and takes its shelves back
// at start. Writes join the store's group commit (NORMAL: an alarm's line need not be fsynced before
// anyone is told); the history keeps its newest HISTORY_KEEP lines.
import type { Statement } from 'better-sqlite3';
import type { AlarmEvent, AlarmEventKind, AlarmRecorder, AlarmShelf } from '../alarms.js';
import type { Store } from './store.js';

/** The history's length: older lines are dropped as new ones come (about 20 MB at most). */
export const HISTORY_KEEP = 100_000;
const TRIM_EVERY = 1000;

interface EventRow {
  seq: number;
  at: number;
  alarm_id: string;
  event: AlarmEventKind;
  severity: 'warning' | 'critical' | null;
  message: string | null;
  slot: number | null;
  actor: string | null;
  reason: string | null;
  until: number | null;
}

/** One history line as the API shows it. */
export interface AlarmHistoryLine {
  seq: number;
  at: string;
  alarmId: string;
  event: AlarmEventKind;
  severity: 'warning' | 'critical' | null;
  message: string | null;
  slot: number | null;
  by: string | null;
  reason: string | null;
  until: string | null;
}

export class AlarmHistory implements AlarmRecorder {
  private readonly stmts: {
    insert: Statement;
    trim: Statement;
    page: Statement;
    pageOf: Statement;
    shelves: Statement;
    saveShelf: Statement;
    dropShelf: Statement;
  };
  private written = 0;

  /** The store must be open. */
  constructor(private readonly store: Store) {
    const db = store.database;
    this.stmts = {
      insert: db.prepare(`INSERT INTO alarm_events (at, alarm_id, event, severity, message, slot, actor, reason, until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      trim: db.prepare(`DELETE FROM alarm_events WHERE seq <= (SELECT max(seq) FROM alarm_events) - ?`),
      page: db.prepare(`SELECT * FROM alarm_events WHERE seq < ? ORDER BY seq DESC LIMIT ?`),
      pageOf: db.prepare(`SELECT * FROM alarm_events WHERE alarm_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`),
      shelves: db.prepare(`SELECT alarm_id, actor, reason, at, until FROM alarm_shelves ORDER BY at`),
      saveShelf: db.prepare(`INSERT OR REPLACE INTO alarm_shelves (alarm_id, actor, reason, at, until) VALUES (?, ?, ?, ?, ?)`),
      dropShelf: db.prepare(`DELETE FROM alarm_shelves WHERE alarm_id = ?`),
    };
  }

  record(e: AlarmEvent): void {
    this.store.later(() => {
      this.stmts.insert.run(e.at, e.alarmId, e.event, e.severity, e.message, e.slot, e.by, e.reason, e.until);
      if (++this.written % TRIM_EVERY === 0) this.stmts.trim.run(HISTORY_KEEP);
    });
  }

  shelves(): { alarmId: string; shelf: AlarmShelf }[] {
    return (this.stmts.shelves.all() as { alarm_id: string; actor: string; reason: string; at: number; until: number }[]).map((r) => ({
      alarmId: r.alarm_id,
      shelf: { by: r.actor, reason: r.reason, at: new Date(r.at).toISOString(), until: new Date(r.until).toISOString() },
    }));
  }

  saveShelf(alarmId: string, shelf: AlarmShelf): void {
    this.store.later(() => this.stmts.saveShelf.run(alarmId, shelf.by, shelf.reason, Date.parse(shelf.at), Date.parse(shelf.until)));
  }

  dropShelf(alarmId: string): void {
    this.store.later(() => this.stmts.dropShelf.run(alarmId));
  }

  /** Newest first: up to `limit` lines before `beforeSeq` (all of them: null), of one alarm or of every one. */
  page(opts: { limit: number; beforeSeq: number | null; alarmId: string | null }): { events: AlarmHistoryLine[]; nextBefore: number | null } {
    this.store.flush(); // what was recorded this turn is part of the answer
    const before = opts.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const rows = (opts.alarmId === null ? this.stmts.page.all(before, opts.limit + 1) : this.stmts.pageOf.all(opts.alarmId, before, opts.limit + 1)) as EventRow[];
    const more = rows.length > opts.limit;
    const shown = rows.slice(0, opts.limit);
    return {
      events: shown.map((r) => ({
        seq: r.seq,
        at: new Date(r.at).toISOString(),
        alarmId: r.alarm_id,
        event: r.event,
        severity: r.severity,
        message: r.message,
        slot: r.slot,
        by: r.actor,
        reason: r.reason,
        until: r.until === null ? null : new Date(r.until).toISOString(),
      })),
      nextBefore: more ? (shown.at(-1) as EventRow).seq : null,
    };
  }
}
