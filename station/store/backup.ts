// Backups and restores of the station's database (`npm run backup`, `npm run restore`).
//
// A backup runs beside a working station and never stops its line: it takes no lock (the data
// folder's lock is the station's), opens the database read-only on a connection of its own, and
// copies it with SQLite's online backup API in one step, so the copy is one consistent snapshot of
// every transaction committed before that step began (a WAL reader: the station's writes go on
// meanwhile; only its WAL checkpoints wait behind the read). The copy is written under a temporary
// name beside the destination, switched to a self-contained file (journal_mode DELETE, no -wal),
// checked (PRAGMA integrity_check), fsynced and only then renamed into place, its folder fsynced: a
// destination never holds half a backup, and a failed backup leaves nothing behind.
//
// A restore replaces the database of a stopped station: it takes the data folder's lock (a running
// station holds it: refused), copies the file in under a temporary name and checks it there (a
// SQLite file, a station database, not from a newer station, intact), keeps the database it
// replaces as station.db.before-restore-<time> (with its WAL, if a crash left one), removes the
// stale -wal and -shm, and renames the copy into place, the folder fsynced. Until that rename,
// station.db is the old database, whole: a restore that fails or is cut short changes nothing.
//
// The token key (token.key) is not in a backup: see docs/backup.md.
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  accessSync,
  constants,
} from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DataDirLock, DataDirLockedError } from './lock.js';
import { MIGRATIONS } from './migrations.js';
import { headerSchemaVersion, missingStationTables, newerSchemaError, newestVersion, SchemaError } from './schema.js';

/** The database's name in the data folder (as the Store names it). */
export const DB_FILE = 'station.db';
/** What a backup or restore keeps free beyond the file itself (SQLite's journal, the file system's own needs). */
const MARGIN_BYTES = 4 * 1048576;
/** Names `npm run backup -- FOLDER` gives its files (UTC): what `--keep` counts and removes. */
const BACKUP_NAME = /^station-\d{8}-\d{6}\.db$/;

export class BackupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupError';
  }
}

export interface DatabaseSummary {
  schemaVersion: number;
  devices: number;
  blessed: number;
  runs: number;
  records: number;
  /** Token key ids the sealed rows (tokens, label secrets) need: without that key they stay sealed. */
  keyIds: string[];
}

export interface BackupResult extends DatabaseSummary {
  file: string;
  bytes: number;
  ms: number;
  replaced: boolean;
  removedOld: string[];
}

export interface RestoreResult extends DatabaseSummary {
  dbPath: string;
  /** Where the database it replaced was kept (null: there was none). */
  previous: string | null;
  newestKnown: number;
}

const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;
/** integrity_check's first row, on one line and short (it can list thousands of pages). */
const oneLine = (text: string): string => {
  const line = text.replace(/\s*\n\s*/g, '; ');
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
};
const stamp = (d: Date): string => d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeWithSideFiles(file: string): void {
  for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}

function freeBytes(dir: string): number {
  const fs = statfsSync(dir);
  return Number(fs.bavail) * Number(fs.bsize);
}

/** What the file system said, as a person can act on it. */
function writeProblem(err: unknown, where: string, needed: number): string {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'ENOSPC' || code === 'SQLITE_FULL') return `no space left on the file system of ${where} (the copy needs about ${mb(needed)}; ${mb(freeBytes(where))} free now)`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') return `cannot write in ${where} (${code}): not writable by this user`;
  if (code === 'EROFS') return `cannot write in ${where}: its file system is read-only`;
  if (code.startsWith('SQLITE_IOERR')) return `the file system refused a write in ${where} (${code}: ${(err as Error).message}): a failing disk, or a file-size limit`;
  return `${(err as Error).message}${code ? ` (${code})` : ''}`;
}

function summarize(db: Database.Database): DatabaseSummary {
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
  const hasColumn = (table: string, column: string): boolean => db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) !== undefined;
  const keyIds = new Set<string>();
  for (const [table, where] of [
    ['token_ledger', `state IN ('available','reserved')`],
    ['device_secrets', '1'],
  ] as const) {
    if (!hasColumn(table, 'key_id')) continue;
    for (const r of db.prepare(`SELECT DISTINCT key_id FROM ${table} WHERE key_id IS NOT NULL AND ${where}`).all() as { key_id: string }[]) keyIds.add(r.key_id);
  }
  return {
    schemaVersion: db.pragma('user_version', { simple: true }) as number,
    devices: count(`SELECT count(*) AS n FROM devices`),
    blessed: count(`SELECT count(*) AS n FROM devices WHERE status = 'blessed'`),
    runs: count(`SELECT count(*) AS n FROM runs`),
    records: count(`SELECT count(*) AS n FROM outbox`),
    keyIds: [...keyIds].sort(),
  };
}

/** Where `dest` puts the backup: into a folder as station-<UTC time>.db, or the file named. */
export function backupTarget(dest: string, now = new Date()): { file: string; intoFolder: boolean } {
  const resolved = path.resolve(dest);
  let isDir = dest.endsWith('/') || dest.endsWith(path.sep);
  try {
    isDir ||= statSync(resolved).isDirectory();
  } catch {
    // not there yet: a file name (its folder must exist)
  }
  return isDir ? { file: path.join(resolved, `station-${stamp(now)}.db`), intoFolder: true } : { file: resolved, intoFolder: false };
}

/**
 * Copies the data folder's database to `dest` (a file, or a folder for a time-named file) while a
 * station may be running on it. `keep`: with a folder, keep only the newest `keep` backups in it.
 */
export async function backupDatabase(opts: {
  dataDir: string;
  dest: string;
  keep?: number | null;
  now?: Date;
  /** Runs after the checks (space included), before the first page is copied: a test's seam. */
  beforeCopy?: () => void;
}): Promise<BackupResult> {
  const t0 = Date.now();
  const dbPath = path.join(opts.dataDir, DB_FILE);
  if (!existsSync(dbPath)) throw new BackupError(`there is no database to back up: ${dbPath} does not exist (is ${opts.dataDir} the station's data folder? --config or --data)`);
  const { file, intoFolder } = backupTarget(opts.dest, opts.now);
  const dir = path.dirname(file);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new BackupError(`cannot write the backup: the folder ${dir} does not exist`);
  }
  if (!dirStat.isDirectory()) throw new BackupError(`cannot write the backup: ${dir} is not a folder`);
  if (existsSync(file) && realpathSync(file) === realpathSync(dbPath)) throw new BackupError(`the backup cannot replace the station's own database ${dbPath}`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new BackupError(`cannot write the backup: ${writeProblem(err, dir, 0)}`);
  }

  const src = new Database(dbPath, { readonly: true, fileMustExist: true });
  const temp = path.join(dir, `.${path.basename(file)}.partial-${process.pid}`);
  let summary: DatabaseSummary;
  let needed = 0;
  try {
    src.pragma('busy_timeout = 5000');
    const found = src.pragma('user_version', { simple: true }) as number;
    if (found > newestVersion(MIGRATIONS)) throw new BackupError(newerSchemaError(dbPath, found, newestVersion(MIGRATIONS)).message);
    // The copy is the database as of now, WAL included: its pages times the page size.
    needed = (src.pragma('page_count', { simple: true }) as number) * (src.pragma('page_size', { simple: true }) as number);
    const free = freeBytes(dir);
    if (free < needed + MARGIN_BYTES) {
      throw new BackupError(
        `not enough space for the backup in ${dir}: the database is ${mb(needed)} and ${mb(free)} is free there (needs ${mb(needed + MARGIN_BYTES)} with a margin); nothing was written`,
      );
    }
    removeWithSideFiles(temp);
    try {
      opts.beforeCopy?.();
      // One step copies every page: one consistent snapshot, never restarted by the station's writes.
      await src.backup(temp, { progress: () => 0x7fffffff });
      const copy = new Database(temp);
      try {
        copy.pragma('journal_mode = DELETE'); // one self-contained file: no -wal, opens read-only anywhere
        const integrity = copy.pragma('integrity_check', { simple: true }) as string;
        if (integrity !== 'ok')
          throw new BackupError(`the copy failed its integrity check (${oneLine(integrity)}); nothing was kept: is the station's database itself damaged? Run PRAGMA integrity_check on it`);
        summary = summarize(copy);
      } finally {
        copy.close();
      }
      chmodSync(temp, 0o600); // device records: for the station's user only, as the data folder
      fsyncPath(temp);
    } catch (err) {
      removeWithSideFiles(temp);
      if (err instanceof BackupError) throw err;
      throw new BackupError(`the backup to ${file} failed, nothing was kept: ${writeProblem(err, dir, needed)}`);
    }
  } finally {
    src.close();
  }

  const replaced = existsSync(file);
  try {
    renameSync(temp, file);
    fsyncPath(dir);
  } catch (err) {
    removeWithSideFiles(temp);
    throw new BackupError(`the backup to ${file} failed at its rename, nothing was kept: ${writeProblem(err, dir, needed)}`);
  }
  const removedOld: string[] = [];
  if (intoFolder && opts.keep != null) {
    const ours = readdirSync(dir)
      .filter((n) => BACKUP_NAME.test(n))
      .sort();
    for (const old of ours.slice(0, Math.max(0, ours.length - opts.keep))) {
      rmSync(path.join(dir, old), { force: true });
      removedOld.push(path.join(dir, old));
    }
  }
  return { ...summary, file, bytes: statSync(file).size, ms: Date.now() - t0, replaced, removedOld };
}

/** Checks that `file` (a copy of our own) is a station database this station can run on. */
function checkRestorable(file: string, shownAs: string): DatabaseSummary {
  let header;
  try {
    header = headerSchemaVersion(file);
  } catch (err) {
    if (err instanceof SchemaError) throw new BackupError(`refused: ${shownAs} is not a SQLite database, so not a BlinkUp Station database; nothing was changed`);
    throw err;
  }
  if (!header) throw new BackupError(`refused: ${shownAs} is empty, not a BlinkUp Station database; nothing was changed`);
  const known = newestVersion(MIGRATIONS);
  if (header.version > known) throw new BackupError(`refused: ${newerSchemaError(shownAs, header.version, known).message}`);
  const db = new Database(file, { fileMustExist: true });
  try {
    const missing = missingStationTables(db);
    if (header.version === 0 || missing.length > 0) {
      throw new BackupError(
        `refused: ${shownAs} is a SQLite database but not a BlinkUp Station database (${header.version === 0 ? 'no schema version' : `no ${missing.join(', ')} table`}); nothing was changed`,
      );
    }
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    if (integrity !== 'ok') throw new BackupError(`refused: ${shownAs} is damaged (integrity check: ${oneLine(integrity)}); nothing was changed`);
    return summarize(db);
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(`refused: ${shownAs} cannot be read as a station database (${oneLine((err as Error).message)}); nothing was changed`);
  } finally {
    db.close();
  }
}

/** Keeps `file` (and its -wal) under `keptAs` without a moment where `file` is missing: a hard link, or a copy. */
function keepUnder(file: string, keptAs: string): void {
  try {
    linkSync(file, keptAs);
  } catch (err) {
    if (!['EPERM', 'EXDEV', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    copyFileSync(file, keptAs, constants.COPYFILE_EXCL);
    fsyncPath(keptAs);
  }
}

/** Replaces the database of a stopped station with the backup `src`; refused while a station runs. */
export function restoreDatabase(opts: { dataDir: string; src: string; now?: Date }): RestoreResult {
  const src = path.resolve(opts.src);
  let srcStat;
  try {
    srcStat = statSync(src);
  } catch {
    throw new BackupError(`refused: ${src} does not exist; nothing was changed`);
  }
  if (!srcStat.isFile()) throw new BackupError(`refused: ${src} is not a file; nothing was changed`);
  let walBeside = 0;
  try {
    walBeside = statSync(`${src}-wal`).size;
  } catch {
    // none: a backup, or a database closed cleanly
  }
  if (walBeside > 0) {
    throw new BackupError(`refused: ${src} has a write-ahead log beside it (${src}-wal): it is a live database, or one a crash left; restore a file made by \`npm run backup\`; nothing was changed`);
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const dbPath = path.join(opts.dataDir, DB_FILE);
  if (existsSync(dbPath) && realpathSync(dbPath) === realpathSync(src)) throw new BackupError(`refused: ${src} is the station's database itself; nothing was changed`);

  const lock = new DataDirLock(opts.dataDir);
  try {
    lock.acquire();
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      throw new BackupError(`refused: a station is running on ${opts.dataDir} (pid ${err.ownerPid}); stop it first (systemctl stop blinkup-station), then restore; nothing was changed`);
    }
    throw err;
  }
  const temp = path.join(opts.dataDir, `.${DB_FILE}.restore-${process.pid}`);
  try {
    const free = freeBytes(opts.dataDir);
    if (free < srcStat.size + MARGIN_BYTES) {
      throw new BackupError(`refused: not enough space in ${opts.dataDir} for the restored database (${mb(srcStat.size)}, ${mb(free)} free); nothing was changed`);
    }
    removeWithSideFiles(temp);
    let summary: DatabaseSummary;
    try {
      copyFileSync(src, temp);
      chmodSync(temp, 0o600);
      summary = checkRestorable(temp, src);
      fsyncPath(temp);
    } catch (err) {
      removeWithSideFiles(temp);
      if (err instanceof BackupError) throw err;
      throw new BackupError(`the restore failed, nothing was changed: ${writeProblem(err, opts.dataDir, srcStat.size)}`);
    }

    let previous: string | null = null;
    if (existsSync(dbPath)) {
      // Fold a WAL a crash left into the old database first, so what is kept is one file; a
      // database too damaged to open is kept with its WAL beside it instead.
      try {
        const old = new Database(dbPath, { fileMustExist: true });
        try {
          old.pragma('wal_checkpoint(TRUNCATE)');
        } finally {
          old.close();
        }
      } catch {
        // kept as it is, WAL and all (below)
      }
      const base = `${dbPath}.before-restore-${stamp(opts.now ?? new Date())}`;
      previous = base;
      for (let n = 2; existsSync(previous); n++) previous = `${base}-${n}`; // two restores in one second
      keepUnder(dbPath, previous);
      if (existsSync(`${dbPath}-wal`)) keepUnder(`${dbPath}-wal`, `${previous}-wal`);
      fsyncPath(opts.dataDir);
      // The old WAL must never meet the new file: SQLite would replay it onto the restored pages.
      rmSync(`${dbPath}-wal`, { force: true });
      rmSync(`${dbPath}-shm`, { force: true });
      fsyncPath(opts.dataDir);
    }
    renameSync(temp, dbPath);
    fsyncPath(opts.dataDir);
    return { ...summary, dbPath, previous, newestKnown: newestVersion(MIGRATIONS) };
  } finally {
    removeWithSideFiles(temp);
    lock.release();
  }
}
