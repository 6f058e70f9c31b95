// The schema version of a station database, and upgrades. Three rules every opener follows (the
// store at start, `npm run restore`):
//  - a database made by a newer station (its user_version above the newest migration this code
//    knows) is refused before anything writes to it: the file is read, never opened for writing,
//    so an operator who rolled the software back by mistake loses nothing;
//  - every pending migration runs in ONE transaction with the user_version update: an upgrade
//    from version k either reaches today's version or leaves the file at k (an older station can
//    still open it), never half-way;
//  - a file that is not a station database is named as such, never "migrated" into one.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { LayoutRepair } from './layout-repairs.js';
import type { Migration } from './migrations.js';

/** The tables every station database has had since version 1: what makes a file one of ours. */
export const STATION_TABLES = ['sequences', 'devices', 'runs', 'step_results', 'measurements', 'outbox', 'token_ledger', 'token_events'] as const;

export class SchemaError extends Error {
  constructor(
    readonly kind: 'newer' | 'not-sqlite' | 'not-station' | 'migration',
    message: string,
  ) {
    super(message);
    this.name = 'SchemaError';
  }
}

export function newestVersion(migrations: readonly Migration[]): number {
  return migrations.at(-1)?.version ?? 0;
}

/** The refusal of a database from a newer station: what it is, what this one knows, what to do. */
export function newerSchemaError(file: string, found: number, known: number): SchemaError {
  return new SchemaError(
    'newer',
    `database ${file} was made by a newer version of BlinkUp Station (schema ${found}); this one knows up to ${known}. ` +
      `Nothing was changed: run the newer station on it, or restore a backup made by this version`,
  );
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
/** Where SQLite keeps PRAGMA user_version in the file header (4 bytes, big-endian). */
const USER_VERSION_OFFSET = 60;
const HEADER_BYTES = 100;

/**
 * The schema version in a database file's header, read without opening it through SQLite (which
 * would create -wal and -shm files beside it): null when there is no file or it is empty (a new
 * database). When a non-empty WAL is beside it, the header may be stale (the WAL holds newer
 * pages), so the caller asks SQLite instead: `walPending` says so.
 */
export function headerSchemaVersion(file: string): { version: number; walPending: boolean } | null {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (size === 0) return null;
  const header = Buffer.alloc(HEADER_BYTES);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  if (size < HEADER_BYTES || !header.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    throw new SchemaError('not-sqlite', `${file} is not a SQLite database (no SQLite header); it is not a BlinkUp Station database`);
  }
  let walPending = false;
  try {
    walPending = statSync(`${file}-wal`).size > 0;
  } catch {
    // no WAL: the header is the truth
  }
  return { version: header.readUInt32BE(USER_VERSION_OFFSET), walPending };
}

/**
 * Refuses, before anything opens it for writing, a database this station must not touch: one made
 * by a newer station, and a SQLite file of another program (version 0 with tables in it). A
 * read-write open would already change such a file: WAL mode rewrites its header, and a pending
 * WAL is checkpointed into it on close. Only a version-0 file, or one with a WAL pending (a crash),
 * is opened, read-only (which never checkpoints); the others are judged by their header alone.
 */
export function refuseForeignFile(file: string, migrations: readonly Migration[]): void {
  const found = headerSchemaVersion(file);
  if (!found) return;
  const known = newestVersion(migrations);
  if (!found.walPending && found.version > known) throw newerSchemaError(file, found.version, known);
  if (!found.walPending && found.version > 0) return;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  let version: number;
  let objects: number;
  try {
    version = db.pragma('user_version', { simple: true }) as number;
    objects = (db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number }).n;
  } finally {
    db.close();
  }
  if (version > known) throw newerSchemaError(file, version, known);
  if (version === 0 && objects > 0) throw notStationError(file);
}

const notStationError = (file: string): SchemaError => new SchemaError('not-station', `database ${file} has tables but no schema version: it is not a BlinkUp Station database`);

/** The station's tables missing from an open database (none: it is one of ours, at some version). */
export function missingStationTables(db: Database.Database): string[] {
  const have = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name));
  return STATION_TABLES.filter((t) => !have.has(t));
}

export interface MigrateOptions {
  /** Repairs of layouts left by migrations edited in place (layout-repairs.ts); none by default. */
  repairs?: readonly LayoutRepair[];
  /** Told of each repair made (after the upgrade's transaction committed). */
  onRepair?: (repair: LayoutRepair) => void;
}

/**
 * Brings an open database to the newest of `migrations`: the repairs it needs and every pending
 * migration, in order, in one transaction with the user_version update. Returns the migrations
 * applied (none: it was current). A newer database throws before anything is written; a failing
 * migration throws after the transaction has rolled back, naming the migration, with the file as
 * it was.
 */
export function migrateSchema(db: Database.Database, migrations: readonly Migration[], file: string, opts: MigrateOptions = {}): Migration[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const known = newestVersion(migrations);
  if (current > known) throw newerSchemaError(file, current, known);
  const pending = migrations.filter((m) => m.version > current);
  const repairs = opts.repairs ?? [];
  if (pending.length === 0) {
    if (current === 0 || !repairs.some((r) => r.when === 'after' && r.needed(db, current))) return [];
  } else if (current > 0) {
    const missing = missingStationTables(db);
    if (missing.length > 0) {
      throw new SchemaError('not-station', `database ${file} says schema version ${current} but has no ${missing.join(', ')} table: it is not a BlinkUp Station database`);
    }
  } else if ((db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get() as { n: number }).n > 0) {
    throw notStationError(file); // version 0 with tables in it: another program's database, not a new one
  }
  let step = 'the schema version update';
  const repaired: LayoutRepair[] = [];
  const repair = (when: LayoutRepair['when'], version: number): void => {
    for (const r of repairs.filter((x) => x.when === when && x.needed(db, version))) {
      step = `the repair "${r.name}"`;
      r.apply(db);
      repaired.push(r);
    }
  };
  try {
    db.transaction(() => {
      if (current > 0) repair('before', current);
      for (const m of pending) {
        step = `migration ${m.version} (${m.name})`;
        db.exec(m.sql);
      }
      repair('after', known);
      step = 'the schema version update';
      if (pending.length > 0) db.pragma(`user_version = ${known}`);
    })();
  } catch (err) {
    throw new SchemaError(
      'migration',
      `upgrading database ${file} from schema ${current} to ${known} failed in ${step}: ${(err as Error).message}. ` + `Nothing was changed: the database is still at schema ${current}`,
    );
  }
  for (const r of repaired) opts.onRepair?.(r);
  return pending;
}
