import { describe, expect, it } from 'vitest';
import { acquireAll, InstrumentError, InstrumentLock } from '../../drivers/instrument/index.js';
import { rejectionOf } from '../support/unit-fakes.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('InstrumentLock', () => {
  it('serves waiters in arrival order, handing the lock straight to the next one', async () => {
    const lock = new InstrumentLock('dmm1');
    const order: string[] = [];
    const first = await lock.acquire();
    const waiters = ['a', 'b', 'c'].map((name) => lock.acquire().then((h) => (order.push(name), h)));
    expect(lock.waiting).toBe(3);
    // A newcomer after a release does not barge ahead of the queue.
    first.release();
    const late = lock.acquire().then((h) => (order.push('late'), h));
    for (const w of waiters) {
      const handle = await w;
      expect(handle.waitedMs).toBeGreaterThanOrEqual(0);
      handle.release();
    }
    (await late).release();
    expect(order).toEqual(['a', 'b', 'c', 'late']);
    expect(lock.held).toBe(false);
  });

  it('lets an aborted waiter leave the queue; the others keep their turn', async () => {
    const lock = new InstrumentLock('psu1');
    const holder = await lock.acquire();
    const controller = new AbortController();
    const leaving = lock.acquire(controller.signal);
    const staying = lock.acquire();
    controller.abort();
    const err = (await rejectionOf(leaving)) as InstrumentError;
    expect(err).toBeInstanceOf(InstrumentError);
    expect(err.kind).toBe('aborted');
    expect(err.message).toBe('gave up waiting for psu1: the run was interrupted');
    expect(lock.waiting).toBe(1);
    holder.release();
    const next = await staying;
    expect(lock.held).toBe(true);
    next.release();
    next.release(); // twice does nothing
    expect(lock.held).toBe(false);
    expect(((await rejectionOf(lock.acquire(AbortSignal.abort()))) as InstrumentError).kind).toBe('aborted');
  });

  it('reports how long a waiter queued', async () => {
    const lock = new InstrumentLock('dmm1');
    const holder = await lock.acquire();
    const waiting = lock.acquire();
    await new Promise((r) => setTimeout(r, 25));
    holder.release();
    expect((await waiting).waitedMs).toBeGreaterThanOrEqual(20);
  });
});

describe('acquireAll', () => {
  it('never deadlocks two slots asking for the same two instruments in opposite orders', async () => {
    const psu = new InstrumentLock('psu1');
    const dmm = new InstrumentLock('dmm1');
    const log: string[] = [];
    const slot = async (name: string, locks: InstrumentLock[]): Promise<void> => {
      for (let i = 0; i < 20; i++) {
        const all = await acquireAll(locks);
        expect(psu.held && dmm.held).toBe(true);
        log.push(name);
        await tick();
        all.release();
      }
    };
    const done = Promise.all([slot('A', [psu, dmm]), slot('B', [dmm, psu]), slot('C', [psu, dmm, psu])]);
    const outcome = await Promise.race([done.then(() => 'done'), new Promise((r) => setTimeout(() => r('deadlock'), 2000))]);
    expect(outcome).toBe('done');
    expect(log).toHaveLength(60);
    expect(psu.held || dmm.held).toBe(false);
  });

  it('takes the locks in id order and gives back those taken when aborted while waiting', async () => {
    const a = new InstrumentLock('a-psu');
    const b = new InstrumentLock('b-dmm');
    const other = await b.acquire(); // someone holds the DMM
    const controller = new AbortController();
    const pending = acquireAll([b, a], controller.signal);
    await tick();
    expect(a.held).toBe(true); // a-psu first, then it waits for b-dmm
    controller.abort();
    expect(((await rejectionOf(pending)) as InstrumentError).kind).toBe('aborted');
    expect(a.held).toBe(false);
    other.release();
    expect(b.held).toBe(false);
  });
});
