// Sharing an instrument between slots: a first-in, first-out lock per instrument, and taking
// several at once without deadlock.
//
// Rules the station keeps (docs/instruments.md, "Sharing and locks"):
//  - hold an instrument's lock around everything that must not be interleaved with another slot
//    (route the switch, configure the DMM, read it);
//  - take two or more locks only with acquireAll(), which takes them in one global order (by
//    instrument id). Two slots that both need the PSU and the DMM then queue on the first lock of
//    that order and can never each hold one and wait for the other;
//  - never call acquire() for a second lock while holding one.
// Fairness: waiters are served strictly in arrival order; a release hands the lock straight to the
// next waiter, so a newcomer cannot barge in ahead of the queue.
import { InstrumentError } from './instrument-error.js';

export interface LockHandle {
  /** Gives the lock to the next waiter. Calling it again does nothing. */
  release(): void;
  /** How long the caller queued before it got the lock. */
  readonly waitedMs: number;
}

interface Waiter {
  grant(): void;
}

export class InstrumentLock {
  private holder = false;
  private readonly queue: Waiter[] = [];

  constructor(
    /** The instrument id: also the lock's place in acquireAll's order. */
    readonly id: string,
  ) {}

  get held(): boolean {
    return this.holder;
  }

  /** Callers queued behind the holder. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves when the caller holds the lock; rejects `aborted` (and leaves the queue) if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<LockHandle> {
    const asked = performance.now();
    if (signal?.aborted) return Promise.reject(this.gaveUp());
    if (!this.holder && this.queue.length === 0) {
      this.holder = true;
      return Promise.resolve(this.handle(0));
    }
    return new Promise<LockHandle>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.handle(performance.now() - asked));
        },
      };
      const onAbort = (): void => {
        const at = this.queue.indexOf(waiter);
        if (at < 0) return; // already granted
        this.queue.splice(at, 1);
        reject(this.gaveUp());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private handle(waitedMs: number): LockHandle {
    let released = false;
    return {
      waitedMs,
      release: () => {
        if (released) return;
        released = true;
        const next = this.queue.shift();
        if (next) next.grant();
        else this.holder = false;
      },
    };
  }

  private gaveUp(): InstrumentError {
    return new InstrumentError('aborted', `gave up waiting for ${this.id}: the run was interrupted`, { instrumentId: this.id });
  }
}

/**
 * Takes every lock in `locks` (duplicates once) in the global order, by instrument id. Resolves
 * with one handle that releases them all; on abort while waiting, releases those already taken.
 */
export async function acquireAll(locks: readonly InstrumentLock[], signal?: AbortSignal): Promise<LockHandle> {
  const ordered = [...new Set(locks)].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i]?.id === ordered[i - 1]?.id) throw new Error(`two different locks share the instrument id "${ordered[i]?.id}"`);
  }
  const started = performance.now();
  const taken: LockHandle[] = [];
  try {
    for (const lock of ordered) taken.push(await lock.acquire(signal));
  } catch (err) {
    for (const handle of taken.reverse()) handle.release();
    throw err;
  }
  const waitedMs = performance.now() - started;
  let released = false;
  return {
    waitedMs,
    release: () => {
      if (released) return;
      released = true;
      for (const handle of [...taken].reverse()) handle.release();
    },
  };
}
