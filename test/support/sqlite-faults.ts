// A disk that fails under SQLite, on demand: better-sqlite3's statements (those of transactions
// included: BEGIN, COMMIT, SAVEPOINT are statements too) throw the SqliteError SQLite gives for
// such a fault (SQLITE_IOERR_FSYNC, SQLITE_FULL, SQLITE_CANTOPEN, ...), from the moment a test
// chooses, optionally only for SQL matching a pattern (/^COMMIT/: a power cut at a WAL fsync).
//
// In a test process: `sqliteFaults().failWith('SQLITE_IOERR_FSYNC')`, then `.heal()`.
// In a daemon: start it with NODE_OPTIONS=--import=<dist/test/support/sqlite-faults.js> and
// STATION_TEST_SQLITE_FAULT=<code>[ <sql regex>]; SIGUSR2 turns the fault on (see daemonFaultEnv).
import path from 'node:path';
import Database from 'better-sqlite3';
import { PROJECT_ROOT } from '../../station/paths.js';

const MESSAGES: Record<string, string> = {
  SQLITE_FULL: 'database or disk is full',
  SQLITE_CANTOPEN: 'unable to open database file',
  SQLITE_READONLY_DBMOVED: 'attempt to write a readonly database',
  SQLITE_CORRUPT: 'database disk image is malformed',
};

export class SqliteFaults {
  private fault: { code: string; match: RegExp | null; times: number } | null = null;
  /** Statements that threw the fault, by SQL (the first 60 characters). */
  readonly thrown = new Map<string, number>();

  constructor() {
    const probe = new Database(':memory:');
    const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, unknown>;
    probe.close();
    const maybeThrow = (sql: string): void => this.maybeThrow(sql);
    for (const method of ['run', 'get', 'all', 'iterate']) {
      const original = proto[method] as (this: Database.Statement, ...args: unknown[]) => unknown;
      proto[method] = function (this: Database.Statement, ...args: unknown[]): unknown {
        maybeThrow(this.source);
        return original.apply(this, args);
      };
    }
  }

  /** From now on, every statement (or those whose SQL matches) throws SqliteError `code`; `times`
   *  such throws, then the disk works again (a transient fault). */
  failWith(code: string, match: RegExp | null = null, times = Infinity): void {
    this.fault = { code, match, times };
  }

  heal(): void {
    this.fault = null;
  }

  private maybeThrow(sql: string): void {
    const f = this.fault;
    if (!f || (f.match && !f.match.test(sql))) return;
    if (--f.times <= 0) this.fault = null;
    const key = sql.slice(0, 60);
    this.thrown.set(key, (this.thrown.get(key) ?? 0) + 1);
    throw new Database.SqliteError(MESSAGES[f.code] ?? 'disk I/O error', f.code);
  }
}

let installed: SqliteFaults | null = null;

/** The one patch of better-sqlite3 in this process, installed on first use: before the code under
 *  test prepares its statements (the store's fault watch keeps each statement's methods). */
export function sqliteFaults(): SqliteFaults {
  installed ??= new SqliteFaults();
  return installed;
}

/** The environment that makes a daemon fail its statements with `code` (SQL matching `match`) once sent SIGUSR2. */
export function daemonFaultEnv(code: string, match?: string): NodeJS.ProcessEnv {
  return {
    NODE_OPTIONS: `--import=${path.join(PROJECT_ROOT, 'dist/test/support/sqlite-faults.js')}`,
    STATION_TEST_SQLITE_FAULT: match ? `${code} ${match}` : code,
  };
}

// Preloaded into a daemon (NODE_OPTIONS=--import=...): armed by SIGUSR2.
const fromEnv = process.env.STATION_TEST_SQLITE_FAULT;
if (fromEnv) {
  const [code = 'SQLITE_IOERR', ...rest] = fromEnv.split(' ');
  const match = rest.length > 0 ? new RegExp(rest.join(' ')) : null;
  const faults = sqliteFaults(); // patched now, before the station prepares its first statement
  process.on('SIGUSR2', () => {
    process.stderr.write(`sqlite-faults: every statement${match ? ` matching ${match}` : ''} now throws ${code}\n`);
    faults.failWith(code, match);
  });
}
