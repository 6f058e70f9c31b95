// Repairs for databases made by builds whose migrations were later edited in place. Before the
// upgrade fixtures (test/fixtures/db) existed, three shipped migrations were changed after some
// build had run them, so a database's user_version alone does not say its layout:
//
//   migration 1 at 1f645f6: devices_mac, devices_iccid and runs_status indexes, no runs_open, and an
//     outbox_pending index on (uploaded_at, seq) under the name migration 3 gives its own (so
//     migration 3 failed on such a file: "index outbox_pending already exists");
//   migration 3 before e4b8c94: no outbox_run index (a device's uploadedAt became a scan);
//   migration 6 at 6e05f67 and ccf0712: no calibration_overrides table, no sequences.scripts
//     (the station could not start on such a file).
//
// Each repair reads whether a database needs it, and runs in the upgrade's transaction (schema.ts),
// so it is all or nothing with the migrations. Each creates what today's migrations would have
// (the same SQL text, so the layout is the same as a new database's) and drops only indexes.
// Never edit a shipped migration again: add the next one (the fixtures' test catches an edit).
import type Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export interface LayoutRepair {
  /** What it repairs, for the log. */
  name: string;
  /** Before the pending migrations (something in the way of one) or after them (something missing). */
  when: 'before' | 'after';
  /** Whether this database needs it; `version` is its schema version at that moment. Reads only. */
  needed(db: Database.Database, version: number): boolean;
  apply(db: Database.Database): void;
}

const objectSql = (db: Database.Database, type: 'index' | 'table', name: string): string | null =>
  (db.prepare(`SELECT sql FROM sqlite_master WHERE type = ? AND name = ?`).get(type, name) as { sql: string | null } | undefined)?.sql ?? null;
const exists = (db: Database.Database, type: 'index' | 'table', name: string): boolean => db.prepare(`SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?`).get(type, name) !== undefined;
const hasColumn = (db: Database.Database, table: string, column: string): boolean => db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) !== undefined;

/** A statement as today's migration `version` writes it (so sqlite_master holds the same text). */
function statementOf(version: number, start: string): string {
  const sql = MIGRATIONS.find((m) => m.version === version)?.sql ?? '';
  const at = sql.indexOf(start);
  const end = sql.indexOf(';', at);
  if (at < 0 || end < 0) throw new Error(`migration ${version} has no statement starting "${start}"`);
  return sql.slice(at, end + 1);
}

const FIRST_LAYOUT_INDEXES = ['devices_mac', 'devices_iccid', 'runs_status'];

export const LAYOUT_REPAIRS: LayoutRepair[] = [
  {
    name: 'migration 1 as first written (1f645f6): its outbox_pending index, on (uploaded_at, seq), is dropped for migration 3 to create its own',
    when: 'before',
    needed: (db, version) => version < 3 && (objectSql(db, 'index', 'outbox_pending') ?? '').includes('uploaded_at, seq'),
    apply: (db) => db.exec('DROP INDEX outbox_pending'),
  },
  {
    name: 'migration 1 as first written (1f645f6): the indexes 62c17c1 dropped (a page per commit each) are dropped, runs_open is created',
    when: 'after',
    needed: (db) => FIRST_LAYOUT_INDEXES.some((i) => exists(db, 'index', i)) || (exists(db, 'table', 'runs') && !exists(db, 'index', 'runs_open')),
    apply: (db) => {
      for (const i of FIRST_LAYOUT_INDEXES) db.exec(`DROP INDEX IF EXISTS ${i}`);
      if (!exists(db, 'index', 'runs_open')) db.exec(statementOf(1, 'CREATE INDEX runs_open'));
    },
  },
  {
    name: 'migration 3 before e4b8c94: the outbox_run index is created',
    when: 'after',
    needed: (db, version) => version >= 3 && !exists(db, 'index', 'outbox_run'),
    apply: (db) => db.exec(statementOf(3, 'CREATE INDEX outbox_run')),
  },
  {
    name: 'migration 6 before ccf0712: the calibration_overrides table is created',
    when: 'after',
    needed: (db, version) => version >= 6 && !exists(db, 'table', 'calibration_overrides'),
    apply: (db) => db.exec(statementOf(6, 'CREATE TABLE calibration_overrides')),
  },
  {
    name: 'migration 6 before 6bdff77: the sequences.scripts column is added',
    when: 'after',
    needed: (db, version) => version >= 6 && !hasColumn(db, 'sequences', 'scripts'),
    apply: (db) => db.exec(statementOf(6, 'ALTER TABLE sequences ADD COLUMN scripts')),
  },
];
