// The token refill job: fills the pool to target at start and below low water, backs off with
// capped, fully jittered delays while its source fails (one alarm per outage), lets the line use
// the pool meanwhile, and stops within its bound even with a fetch hanging.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelayMs, TokenRefillJob } from '../../jobs/token-refill.js';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { TokenLedger, type IssuedToken } from '../../station/tokens/ledger.js';
import { TokenSourceError, type TokenSource } from '../../station/tokens/sources.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const HOUR = 3_600_000;
const dirs = new TempDirs();
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  dirs.cleanup();
});

function openLedger(opts: { lowWater: number; targetLevel: number }) {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const vault = new TokenVault({ dataDir, env: {}, log: silentLogger() });
  vault.start();
  const bus = new StationBus();
  const alarms: string[] = [];
  bus.on('alarm.raised', (a) => alarms.push(`raised ${a.alarmId}`));
  bus.on('alarm.cleared', (a) => alarms.push(`cleared ${a.alarmId}`));
  const ledger = new TokenLedger(store, vault, bus, silentLogger(), opts);
  ledger.start();
  cleanups.push(() => {
    ledger.stop();
    vault.stop();
    store.close();
  });
  return { ledger, alarms };
}

let serial = 0;
function issue(n: number): IssuedToken[] {
  return Array.from({ length: n }, () => ({ tokenId: `tok-${++serial}`, token: `ft_${randomBytes(12).toString('hex')}`, type: 'factory', expiresAt: Date.now() + HOUR }));
}

/** A scripted source: `failNext` failures, then tokens; records every count asked for. */
class ScriptedSource implements TokenSource {
  readonly label = 'scripted';
  readonly asked: number[] = [];
  failNext = 0;
  down = false;
  hang = false;
  honourAbort = true;
  aborted = 0;

  async fetch(count: number, signal?: AbortSignal): Promise<IssuedToken[]> {
    this.asked.push(count);
    if (this.hang) {
      return new Promise<IssuedToken[]>((_resolve, reject) => {
        if (this.honourAbort)
          signal?.addEventListener('abort', () => {
            this.aborted++;
            reject(new TokenSourceError('aborted'));
          });
      });
    }
    if (this.down || this.failNext > 0) {
      this.failNext = Math.max(0, this.failNext - 1);
      throw new TokenSourceError('POST https://cloud.test answered HTTP 503');
    }
    return issue(count);
  }
}

function job(ledger: TokenLedger, source: TokenSource, extra: Partial<ConstructorParameters<typeof TokenRefillJob>[3]> = {}): TokenRefillJob {
  const j = new TokenRefillJob(ledger, source, silentLogger(), { targetLevel: 5, lowWater: 2, intervalMs: 60_000, backoffBaseMs: 2, backoffMaxMs: 20, ...extra });
  cleanups.push(() => j.stop());
  return j;
}

describe('backoffDelayMs', () => {
  it('draws uniformly up to a doubling ceiling, capped', () => {
    expect(backoffDelayMs(1, 1000, 60_000, () => 0)).toBe(0);
    expect(backoffDelayMs(1, 1000, 60_000, () => 0.999999)).toBe(999);
    expect(backoffDelayMs(2, 1000, 60_000, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(4, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(backoffDelayMs(10, 1000, 60_000, () => 0.999999)).toBe(59_999);
    expect(backoffDelayMs(500, 1000, 60_000, () => 0.5)).toBe(30_000);
  });
});

describe('TokenRefillJob', () => {
  it('fills the pool to target at start, in batches, without being asked', async () => {
    const { ledger } = openLedger({ lowWater: 2, targetLevel: 7 });
    const source = new ScriptedSource();
    job(ledger, source, { targetLevel: 7, maxBatch: 3 }).start();
    await waitFor('the pool at target', () => ledger.level().available === 7);
    expect(source.asked).toEqual([3, 3, 1]);
  });

  it('refills at once when the level drops below low water, not before', async () => {
    const { ledger } = openLedger({ lowWater: 2, targetLevel: 5 });
    const source = new ScriptedSource();
    job(ledger, source).start();
    await waitFor('the first fill', () => ledger.level().available === 5);
    // A refill asks its source synchronously when it starts, so these checks need no waiting.
    for (const run of ['r1', 'r2', 'r3']) ledger.reserve(run); // 2 left: at low water
    expect(source.asked).toEqual([5]);
    ledger.reserve('r4'); // 1 left: below
    await waitFor('the low-water refill', () => ledger.level().available === 5);
    expect(source.asked).toEqual([5, 4]);
  });

  it('backs off while the source fails, raises tokens.source once, and clears it when it answers', async () => {
    const { ledger, alarms } = openLedger({ lowWater: 2, targetLevel: 5 });
    const source = new ScriptedSource();
    source.failNext = 4;
    const draws: number[] = [];
    job(ledger, source, {
      random: () => {
        draws.push(1);
        return 0.5;
      },
    }).start();
    await waitFor('the pool filled after the outage', () => ledger.level().available === 5);
    expect(source.asked).toEqual([5, 5, 5, 5, 5]);
    expect(draws).toHaveLength(4); // one jittered delay per failure
    expect(alarms.filter((a) => a.endsWith('tokens.source'))).toEqual(['raised tokens.source', 'cleared tokens.source']);
  });

  it('keeps the line running from the pool while the source is down, until the pool is empty', async () => {
    const { ledger, alarms } = openLedger({ lowWater: 2, targetLevel: 3 });
    ledger.add(issue(3), 'seed');
    const source = new ScriptedSource();
    source.down = true;
    job(ledger, source, { targetLevel: 3 }).start();
    for (let i = 0; i < 3; i++) {
      const lease = ledger.reserve(`run-${i}`);
      expect(lease, `run ${i} got no token`).not.toBeNull();
      expect(ledger.markSent(lease!.tokenId, `run-${i}`)).toMatch(/^ft_/);
      ledger.consume(lease!.tokenId, `run-${i}`);
    }
    expect(ledger.reserve('run-3')).toBeNull();
    await waitFor('the source alarm', () => alarms.includes('raised tokens.source'));
    expect(alarms).toContain('raised tokens.empty');
    expect(alarms.filter((a) => a === 'raised tokens.source')).toHaveLength(1);
    await waitFor('several failed attempts', () => source.asked.length >= 3);
    expect(alarms.filter((a) => a === 'raised tokens.source')).toHaveLength(1);
    source.down = false;
    await waitFor('the pool refilled when the source returns', () => ledger.level().available === 3);
    expect(alarms).toContain('cleared tokens.empty');
  });

  it('waits at least as long as the source asks (Retry-After) before trying again', async () => {
    const { ledger } = openLedger({ lowWater: 2, targetLevel: 5 });
    const source: TokenSource & { calls: number } = {
      label: 'busy cloud',
      calls: 0,
      async fetch() {
        this.calls++;
        throw new TokenSourceError('HTTP 429', 3_600_000);
      },
    };
    const j = job(ledger, source, { backoffBaseMs: 1, backoffMaxMs: 1 });
    const before = Date.now();
    j.start();
    const status = await waitFor('the first failure', () => (j.status.failures >= 1 ? j.status : null));
    expect(status.lastError).toBe('HTTP 429');
    expect(status.nextAttemptAt).toBeGreaterThanOrEqual(before + 3_600_000);
    // a low level does not cut a requested wait short either (the pool is empty, below low water)
    ledger.reserve('run-x');
    expect(source.calls).toBe(1);
  });

  it('stops within its bound, abandoning a fetch in flight, and stores nothing that arrives after', async () => {
    const { ledger } = openLedger({ lowWater: 2, targetLevel: 5 });
    const source = new ScriptedSource();
    source.hang = true;
    const j = job(ledger, source);
    j.start();
    await waitFor('the fetch in flight', () => source.asked.length === 1);
    await j.stop();
    expect(source.aborted).toBe(1);

    const stubborn = new ScriptedSource();
    stubborn.hang = true;
    stubborn.honourAbort = false;
    const j2 = job(ledger, stubborn, { stopTimeoutMs: 50 });
    j2.start();
    await waitFor('the stubborn fetch in flight', () => stubborn.asked.length === 1);
    await j2.stop(); // resolves although the fetch never settles
    expect(ledger.level().available).toBe(0);
  });
});
