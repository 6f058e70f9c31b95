// Faults of the machine under the store: an I/O error (SQLITE_IOERR_*: EIO, a file system gone),
// a full disk (SQLITE_FULL: ENOSPC), a database file that cannot be opened, has been moved or
// deleted under the station (SQLITE_CANTOPEN, SQLITE_READONLY_DBMOVED) or is corrupt. They are
// seen where they happen: every statement, pragma, exec and transaction of the store's connection
// goes through `watch()`, so a fault is noticed whoever met it (a verdict's commit, the uplink's
// status timer, a health request) and however that caller handles its error. The first fault is
// latched (`current`) and told to the listeners (station/fault-latch.ts fails the station closed);
// the error itself still goes to its caller, so nothing claims a write that did not happen.
import type Database from 'better-sqlite3';

export interface StoreFault {
  /** SQLite's extended code (SQLITE_IOERR_FSYNC, SQLITE_FULL, ...) or the errno (EIO, ENOSPC, ...). */
  code: string;
  message: string;
  /** When it was first seen (ISO 8601, the wall clock). */
  since: string;
}

const SQLITE_FAULT = /^SQLITE_(IOERR|FULL|CANTOPEN|CORRUPT|NOTADB|READONLY)(_|$)/;
/** errno codes of a disk or file system that failed under the data folder. */
const ERRNO_FAULTS = new Set(['EIO', 'ENOSPC', 'EROFS', 'EDQUOT', 'ENXIO']);

/** The code when `err` is a fault of the machine (disk, file system), else null. */
export function storeFaultCode(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  return SQLITE_FAULT.test(code) || ERRNO_FAULTS.has(code) ? code : null;
}

const STATEMENT_CALLS = new Set(['run', 'get', 'all', 'iterate']);
const CHAINING = new Set(['pluck', 'expand', 'raw', 'bind', 'safeIntegers']);
const DATABASE_CALLS = new Set(['exec', 'pragma', 'checkpoint', 'backup', 'serialize']);

export class StoreFaults {
  private first: StoreFault | null = null;
  private readonly listeners = new Set<(fault: StoreFault) => void>();

  /** The first fault seen since the store opened, or null. */
  get current(): StoreFault | null {
    return this.first;
  }

  /** Calls `listener` once with the first fault (at once if there is one already); returns the unsubscribe. */
  onFault(listener: (fault: StoreFault) => void): () => void {
    if (this.first) listener(this.first);
    else this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Latches `err` if it is a fault of the machine; true when it is one. */
  note(err: unknown): boolean {
    const code = storeFaultCode(err);
    if (!code) return false;
    if (this.first) return true;
    this.first = { code, message: ((err as Error).message || code).slice(0, 300), since: new Date().toISOString() };
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const l of listeners) l(this.first);
    return true;
  }

  /** The connection, every call watched (see the header). Costs a closure per call, no SQLite work. */
  watch(db: Database.Database): Database.Database {
    const guard = <A extends unknown[], R>(fn: (...args: A) => R, self: unknown): ((...args: A) => R) => {
      return (...args: A): R => {
        try {
          return fn.apply(self, args);
        } catch (err) {
          this.note(err);
          throw err;
        }
      };
    };
    const watchStatement = (stmt: Database.Statement): Database.Statement => {
      const calls = new Map<string, unknown>(); // one wrapper per method, made on first use
      const proxy: Database.Statement = new Proxy(stmt, {
        get: (target, prop) => {
          const value = Reflect.get(target, prop) as unknown; // getters run on the real statement
          if (typeof value !== 'function' || typeof prop !== 'string') return value;
          let call = calls.get(prop);
          if (call) return call;
          const fn = value as (...a: unknown[]) => unknown;
          if (prop === 'iterate') {
            const iterate = guard(fn, target);
            call = (...a: unknown[]) => watchIterator(iterate(...a) as Iterator<unknown>);
          } else if (STATEMENT_CALLS.has(prop)) call = guard(fn, target);
          else if (CHAINING.has(prop))
            call = (...a: unknown[]) => {
              const out = fn.apply(target, a);
              return out === target ? proxy : out;
            };
          else call = fn.bind(target);
          calls.set(prop, call);
          return call;
        },
      });
      return proxy;
    };
    const watchIterator = (it: Iterator<unknown>): IterableIterator<unknown> => {
      const next = guard(it.next as (...a: unknown[]) => IteratorResult<unknown>, it);
      const wrapped: IterableIterator<unknown> = {
        next: () => next(),
        return: (v?: unknown) => (it.return ? it.return(v) : { done: true, value: v }),
        [Symbol.iterator]: () => wrapped,
      };
      return wrapped;
    };
    const watchTransaction = (txn: Database.Transaction<(...a: unknown[]) => unknown>): Database.Transaction<(...a: unknown[]) => unknown> => {
      const call = guard(txn as (...a: unknown[]) => unknown, undefined) as Database.Transaction<(...a: unknown[]) => unknown>;
      for (const variant of ['deferred', 'immediate', 'exclusive'] as const) Object.defineProperty(call, variant, { value: guard(txn[variant], undefined) });
      Object.defineProperty(call, 'default', { value: call });
      return call;
    };
    const calls = new Map<string, unknown>();
    return new Proxy(db, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        let call = calls.get(prop);
        if (call) return call;
        const fn = value as (...a: unknown[]) => unknown;
        if (prop === 'prepare') {
          const prepare = guard(fn as (...a: unknown[]) => Database.Statement, target);
          call = (...a: unknown[]) => watchStatement(prepare(...a));
        } else if (prop === 'transaction') call = (work: (...a: unknown[]) => unknown) => watchTransaction(target.transaction(work));
        else if (DATABASE_CALLS.has(prop)) call = guard(fn, target);
        else call = fn.bind(target);
        calls.set(prop, call);
        return call;
      },
    });
  }
}
