// The data folder holds device records, sealed secrets and the token key: only the station's user
// may read it. The folder is made 0700 and the database 0600 (SQLite gives its -wal and -shm files
// the database's mode); a folder or file left looser by an older version or by hand is tightened
// at start, and the log says so once.
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export const DATA_DIR_MODE = 0o700;
export const DATA_FILE_MODE = 0o600;

/** Creates the data folder (0700) if missing; tightens it if looser. */
export function secureDataDir(dataDir: string, log: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  if (process.platform !== 'win32') tighten(dataDir, DATA_DIR_MODE, log); // on Windows the folder's ACL protects it
}

/** Creates the database file (0600) if missing; tightens it and its -wal and -shm if looser. Under the lock. */
export function secureDatabaseFiles(dbFile: string, log: Logger): void {
  if (process.platform === 'win32') return;
  // An empty file is an empty database: made here, it has our mode before SQLite ever opens it.
  closeSync(openSync(dbFile, 'a', DATA_FILE_MODE));
  for (const file of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) tighten(file, DATA_FILE_MODE, log);
}

function tighten(file: string, mode: number, log: Logger): void {
  let current: number;
  try {
    current = statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((current & ~mode) === 0) return;
  chmodSync(file, mode);
  log.warn({ file: path.resolve(file), was: current.toString(8).padStart(3, '0'), now: mode.toString(8) }, 'the data folder was readable by other users: its permissions were tightened');
}
