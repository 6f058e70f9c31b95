// The token ledger: a factory token reaches at most one DUT, every transition is recorded, a
// crash never puts a sent token back in the pool, and the token text is nowhere but the one
// return value of markSent (the canary test looks for it in logs, the database file and the WAL).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenRefillJob } from '../../jobs/token-refill.js';
import { StationBus } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { MIGRATIONS, type Migration } from '../../station/store/migrations.js';
import { Store } from '../../station/store/store.js';
import { shortIdOf, TokenLedger, TokenLedgerError, type IssuedToken, type TokenLedgerOptions } from '../../station/tokens/ledger.js';
import { CloudTokenSource, FileTokenSource } from '../../station/tokens/sources.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { waitFor } from '../support/wait.js';
import { TempDirs, captureStream } from '../support/unit-fakes.js';

const HOUR = 3_600_000;
const dirs = new TempDirs();
const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  dirs.cleanup();
});

type Alarm = { kind: 'raised'; alarmId: string; severity: string; message: string } | { kind: 'cleared'; alarmId: string };

interface Station {
  dataDir: string;
  store: Store;
  vault: TokenVault;
  bus: StationBus;
  ledger: TokenLedger;
  alarms: Alarm[];
  /** Closes the ledger, vault and store (as a stop or a crash would leave them). */
  close(): void;
}

/** A real Store in `dataDir`, a vault keyed from the folder, and a started ledger. */
function openStation(dataDir = dirs.make(), opts: Partial<TokenLedgerOptions> = {}, log: Logger = silentLogger()): Station {
  const store = new Store(dataDir, log);
  store.open();
  const vault = new TokenVault({ dataDir, env: {}, log });
  vault.start();
  const bus = new StationBus(log);
  const alarms: Alarm[] = [];
  bus.on('alarm.raised', (a) => alarms.push({ kind: 'raised', alarmId: a.alarmId, severity: a.severity, message: a.message }));
  bus.on('alarm.cleared', (a) => alarms.push({ kind: 'cleared', alarmId: a.alarmId }));
  const ledger = new TokenLedger(store, vault, bus, log, { lowWater: 2, targetLevel: 5, ...opts });
  ledger.start();
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    ledger.stop();
    vault.stop();
    store.close();
  };
  cleanups.push(close);
  return { dataDir, store, vault, bus, ledger, alarms, close };
}

let serial = 0;
function issued(n: number, extra: Partial<IssuedToken> = {}): IssuedToken[] {
  return Array.from({ length: n }, () => ({
    tokenId: `tok-${++serial}`,
    token: `ft_${randomBytes(18).toString('base64url')}`,
    type: 'factory',
    expiresAt: Date.now() + HOUR,
    ...extra,
  }));
}

/** A separate read-only connection: what is really committed in the file. */
function reader(store: Store): Database.Database {
  const db = new Database(store.dbPath, { readonly: true });
  cleanups.push(() => {
    db.close();
  });
  return db;
}

function stateOf(store: Store, tokenId: string): string | undefined {
  return (reader(store).prepare('SELECT state FROM token_ledger WHERE token_id = ?').get(tokenId) as { state: string } | undefined)?.state;
}

function ledgerError(fn: () => unknown): TokenLedgerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenLedgerError);
    return err as TokenLedgerError;
  }
  throw new Error('expected a TokenLedgerError');
}

describe('TokenLedger: adding tokens', () => {
  it('stores new tokens sealed, and counts them available', () => {
    const s = openStation();
    const tokens = issued(3);
    expect(s.ledger.add(tokens, 'test')).toEqual({ added: 3, duplicates: 0, refused: [] });
    expect(s.ledger.level()).toMatchObject({ available: 3, reserved: 0, sent: 0, lowWater: 2, target: 5 });
    const rows = reader(s.store).prepare('SELECT token_id, ciphertext, type, state FROM token_ledger ORDER BY token_id').all() as { ciphertext: Buffer; state: string }[];
    expect(rows).toHaveLength(3);
    for (const [i, row] of rows.entries()) {
      expect(row.state).toBe('available');
      expect(row.ciphertext.includes(Buffer.from((tokens[i] as IssuedToken).token))).toBe(false);
    }
  });

  it('deduplicates by tokenId and refuses the same token text under another tokenId', () => {
    const s = openStation();
    const [a] = issued(1) as [IssuedToken];
    s.ledger.add([a], 'test');
    expect(s.ledger.add([{ ...a }], 'test')).toEqual({ added: 0, duplicates: 1, refused: [] });
    const twin = { ...a, tokenId: 'tok-twin' };
    const result = s.ledger.add([twin], 'test');
    expect(result.added).toBe(0);
    expect(result.refused).toEqual([{ tokenId: 'tok-twin', reason: `the same token is already in the ledger as ${a.tokenId}` }]);
    expect(s.ledger.level().available).toBe(1);
  });

  it('refuses tokens of another type unless the station is configured for it, and expired or malformed ones', () => {
    const s = openStation();
    const [dev] = issued(1, { type: 'developer' }) as [IssuedToken];
    const [old] = issued(1, { expiresAt: Date.now() - 1000 }) as [IssuedToken];
    const [nearlyOld] = issued(1, { expiresAt: Date.now() + 5000 }) as [IssuedToken];
    const [spaced] = issued(1, { token: 'has a space' }) as [IssuedToken];
    const result = s.ledger.add([dev, old, nearlyOld, spaced, { tokenId: 'bad id!', token: 'x', type: 'factory', expiresAt: Date.now() + HOUR }], 'test');
    expect(result.added).toBe(0);
    expect(result.refused.map((r) => r.tokenId)).toEqual([dev.tokenId, old.tokenId, nearlyOld.tokenId, spaced.tokenId, '(item 4)']);
    expect(result.refused[0]?.reason).toMatch(/type "developer" is not one this station sends \(factory\)/);
    expect(result.refused[1]?.reason).toMatch(/too soon to use/);
    expect(result.refused[3]?.reason).toMatch(/printable ASCII/);
    expect(JSON.stringify(result)).not.toContain('has a space');

    const devStation = openStation(dirs.make(), { acceptedTypes: ['factory', 'developer'] });
    expect(devStation.ledger.add(issued(1, { type: 'developer' }), 'test').added).toBe(1);
  });
});

describe('TokenLedger: reserve, send, consume', () => {
  it('reserves the available token that expires first and leases it without its text', () => {
    const s = openStation();
    const now = Date.now();
    const [late, early, middle] = [...issued(1, { expiresAt: now + 3 * HOUR }), ...issued(1, { expiresAt: now + HOUR }), ...issued(1, { expiresAt: now + 2 * HOUR })] as IssuedToken[];
    s.ledger.add([late!, early!, middle!], 'test');
    const lease = s.ledger.reserve('run-1');
    expect(lease).toEqual({ tokenId: early!.tokenId, shortId: shortIdOf(early!.tokenId), type: 'factory', expiresAt: early!.expiresAt });
    expect(lease?.shortId).toMatch(/^[0-9a-f]{8}$/);
    expect(JSON.stringify(lease)).not.toContain(early!.token);
    expect(s.ledger.reserve('run-2')?.tokenId).toBe(middle!.tokenId);
    expect(stateOf(s.store, early!.tokenId)).toBe('reserved');
  });

  it('hands out the text once, durably marked sent, and only to the run that reserved it', () => {
    const s = openStation();
    const [t] = issued(1) as [IssuedToken];
    s.ledger.add([t], 'test');
    const lease = s.ledger.reserve('run-1')!;
    expect(ledgerError(() => s.ledger.markSent(lease.tokenId, 'run-2')).kind).toBe('wrong-run');
    expect(s.ledger.markSent(lease.tokenId, 'run-1')).toBe(t.token);
    // committed in the file (seen from another connection), not just in this process
    expect(stateOf(s.store, t.tokenId)).toBe('sent');
    const again = ledgerError(() => s.ledger.markSent(lease.tokenId, 'run-1'));
    expect(again.kind).toBe('wrong-state');
    expect(again.message).toContain(`token ${t.tokenId} is sent`);
    expect(again.message).not.toContain(t.token);
    expect(ledgerError(() => s.ledger.release(lease.tokenId, 'run-1')).kind).toBe('wrong-state');
    expect(ledgerError(() => s.ledger.consume(lease.tokenId, 'run-2')).kind).toBe('wrong-run');
    s.ledger.consume(lease.tokenId, 'run-1');
    s.ledger.consume(lease.tokenId, 'run-1'); // a retried call: already done
    expect(stateOf(s.store, t.tokenId)).toBe('consumed');
    expect(ledgerError(() => s.ledger.markSent('tok-nope', 'run-1')).kind).toBe('unknown-token');
  });

  it('never reserves a token again once it is sent, consumed, rejected or expired', () => {
    let clock = Date.now();
    const s = openStation(dirs.make(), { now: () => clock, minRemainingMs: 0 });
    // four that expire in an hour (to be sent, consumed, rejected, and left to expire), one later
    const [spare] = issued(1, { expiresAt: clock + 2 * HOUR }) as [IssuedToken];
    s.ledger.add([...issued(4, { expiresAt: clock + HOUR }), spare], 'test');
    const a = s.ledger.reserve('run-a')!;
    s.ledger.markSent(a.tokenId, 'run-a');
    const b = s.ledger.reserve('run-b')!;
    s.ledger.markSent(b.tokenId, 'run-b');
    s.ledger.consume(b.tokenId, 'run-b');
    const c = s.ledger.reserve('run-c')!;
    s.ledger.markSent(c.tokenId, 'run-c');
    s.ledger.reject(c.tokenId, 'run-c', 'invalid-token');
    clock += HOUR + 1;
    expect(s.ledger.expireDue()).toBe(1);
    const seen = new Set([a.tokenId, b.tokenId, c.tokenId]);
    const d = s.ledger.reserve('run-d');
    expect(d?.tokenId).toBe(spare.tokenId);
    s.ledger.release(d!.tokenId, 'run-d');
    const order: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = s.ledger.reserve(`run-e${i}`);
      order.push(lease?.tokenId);
      if (lease) s.ledger.release(lease.tokenId, `run-e${i}`);
    }
    expect(order.every((id) => id === spare.tokenId)).toBe(true);
    for (const id of seen) expect(order).not.toContain(id);
    expect(s.ledger.level()).toMatchObject({ available: 1, sent: 1, consumed: 1, rejected: 1, expired: 1 });
  });

  it('never gives the same token to two runs, however many reserve at once', async () => {
    const s = openStation(dirs.make(), { lowWater: 0 });
    s.ledger.add(issued(40), 'test');
    const leases = await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        return { runId: `run-${i}`, lease: s.ledger.reserve(`run-${i}`) };
      }),
    );
    const granted = leases.filter((l) => l.lease !== null);
    expect(granted).toHaveLength(40);
    expect(new Set(granted.map((l) => l.lease!.tokenId)).size).toBe(40);
    const rows = reader(s.store).prepare(`SELECT token_id, run_id FROM token_ledger WHERE state = 'reserved'`).all() as { token_id: string; run_id: string }[];
    expect(rows).toHaveLength(40);
    for (const l of granted) expect(rows.find((r) => r.token_id === l.lease!.tokenId)?.run_id).toBe(l.runId);
  });

  it('keeps the one-DUT rule through any order of operations, restarts included (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), run: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constantFrom('send' as const, 'consume' as const, 'reject' as const, 'release' as const), run: fc.integer({ min: 0, max: 3 }), pick: fc.nat() }),
      fc.record({ kind: fc.constant('restart' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 5, maxLength: 30 }), (ops) => {
        const dataDir = dirs.make();
        let s = openStation(dataDir, { lowWater: 0 });
        const tokens = issued(4);
        s.ledger.add(tokens, 'test');
        const textById = new Map(tokens.map((t) => [t.tokenId, t.token]));
        const sentTo = new Map<string, string>(); // tokenId -> the run it was sent to
        try {
          for (const o of ops) {
            if (o.kind === 'restart') {
              s.close();
              s = openStation(dataDir, { lowWater: 0 });
              continue;
            }
            const runId = `run-${o.run}`;
            if (o.kind === 'reserve') {
              s.ledger.reserve(runId);
              continue;
            }
            const target = (tokens[o.pick % tokens.length] as IssuedToken).tokenId;
            try {
              if (o.kind === 'send') {
                const text = s.ledger.markSent(target, runId);
                expect(text).toBe(textById.get(target));
                expect(sentTo.has(target), `token ${target} sent a second time`).toBe(false);
                sentTo.set(target, runId);
              } else if (o.kind === 'consume') s.ledger.consume(target, runId);
              else if (o.kind === 'reject') s.ledger.reject(target, runId, 'invalid-token');
              else s.ledger.release(target, runId);
            } catch (err) {
              if (!(err instanceof TokenLedgerError)) throw err;
            }
          }
          const now = s.ledger.list({ limit: 100 });
          for (const [tokenId, runId] of sentTo) {
            const t = now.find((x) => x.tokenId === tokenId);
            expect(['sent', 'consumed', 'rejected']).toContain(t?.state);
            expect(t?.runId).toBe(runId);
          }
          const level = s.ledger.level();
          expect(level.available + level.reserved + level.sent + level.consumed + level.rejected + level.expired).toBe(tokens.length);
        } finally {
          s.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});

describe('TokenLedger: restart', () => {
  it('upgrades a database made before migration 2 and works on it', () => {
    const dataDir = dirs.make();
    const v1 = new Database(path.join(dataDir, 'station.db'));
    v1.exec((MIGRATIONS[0] as Migration).sql);
    v1.pragma('user_version = 1');
    v1.close();
    const s = openStation(dataDir);
    expect(reader(s.store).pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    s.ledger.add(issued(1), 'test');
    const lease = s.ledger.reserve('run-1')!;
    expect(s.ledger.markSent(lease.tokenId, 'run-1')).toMatch(/^ft_/);
  });

  it('releases tokens a crash left reserved and keeps sent tokens sent', () => {
    const dataDir = dirs.make();
    const first = openStation(dataDir);
    const [a, b] = issued(2) as [IssuedToken, IssuedToken];
    first.ledger.add([a, b], 'test');
    const reservedOnly = first.ledger.reserve('run-1')!;
    const sent = first.ledger.reserve('run-2')!;
    expect(first.ledger.markSent(sent.tokenId, 'run-2')).toBe(sent.tokenId === a.tokenId ? a.token : b.token);
    first.close();

    const second = openStation(dataDir);
    expect(second.ledger.level()).toMatchObject({ available: 1, reserved: 0, sent: 1 });
    const history = second.ledger.history(reservedOnly.tokenId);
    expect(history.map((e) => e.state)).toEqual(['available', 'reserved', 'released']);
    expect(history[2]?.note).toMatch(/restarted before this token was sent/);
    expect(second.ledger.reserve('run-3')?.tokenId).toBe(reservedOnly.tokenId);
    expect(second.ledger.reserve('run-4')).toBeNull();
    // the sent token still belongs to its run: its verdict can still be recorded
    second.ledger.consume(sent.tokenId, 'run-2');
    expect(second.ledger.level()).toMatchObject({ consumed: 1, reserved: 1, available: 0 });
  });

  it("releases a finished run's unsent tokens with releaseRun, leaving its sent ones", () => {
    const s = openStation();
    s.ledger.add(issued(3), 'test');
    const one = s.ledger.reserve('run-1')!;
    s.ledger.reserve('run-1');
    s.ledger.markSent(one.tokenId, 'run-1');
    s.ledger.reserve('run-2');
    expect(s.ledger.releaseRun('run-1')).toBe(1);
    expect(s.ledger.level()).toMatchObject({ available: 1, reserved: 1, sent: 1 });
  });
});

describe('TokenLedger: expiry', () => {
  it('expires tokens as their time runs out, never reserves them, and refuses to send one reserved too long', () => {
    let clock = Date.now();
    const s = openStation(dirs.make(), { now: () => clock, minRemainingMs: 60_000 });
    const [soon, later] = [...issued(1, { expiresAt: clock + 5 * 60_000 }), ...issued(1, { expiresAt: clock + HOUR })] as IssuedToken[];
    s.ledger.add([soon!, later!], 'test');
    clock += 4 * 60_000 + 1; // under a minute left on `soon`: too late to start an enrollment
    expect(s.ledger.level().available).toBe(1);
    expect(s.ledger.expireDue()).toBe(1);
    expect(s.ledger.history(soon!.tokenId).at(-1)).toMatchObject({ state: 'expired', runId: null });
    const lease = s.ledger.reserve('run-1')!;
    expect(lease.tokenId).toBe(later!.tokenId);
    clock = later!.expiresAt;
    const err = ledgerError(() => s.ledger.markSent(lease.tokenId, 'run-1'));
    expect(err.kind).toBe('expired');
    expect(stateOf(s.store, later!.tokenId)).toBe('expired');
    expect(s.ledger.reserve('run-2')).toBeNull();
    expect(s.ledger.level()).toMatchObject({ available: 0, expired: 2 });
  });
});

describe('TokenLedger: events', () => {
  it('records a token_events row for every transition, with the run and the reason', () => {
    const s = openStation();
    const [a, b, c] = issued(3) as [IssuedToken, IssuedToken, IssuedToken];
    s.ledger.add([a], 'cloud https://example.test');
    const la = s.ledger.reserve('run-1')!;
    s.ledger.markSent(la.tokenId, 'run-1');
    s.ledger.consume(la.tokenId, 'run-1');
    expect(s.ledger.history(a.tokenId).map((e) => [e.state, e.runId])).toEqual([
      ['available', null],
      ['reserved', 'run-1'],
      ['sent', 'run-1'],
      ['consumed', 'run-1'],
    ]);
    expect(s.ledger.history(a.tokenId)[0]?.note).toBe('added from cloud https://example.test');

    s.ledger.add([b, c], 'test');
    const lb = s.ledger.reserve('run-2')!;
    s.ledger.release(lb.tokenId, 'run-2');
    const lb2 = s.ledger.reserve('run-3')!;
    s.ledger.markSent(lb2.tokenId, 'run-3');
    s.ledger.reject(lb2.tokenId, 'run-3', 'expired-token');
    const events = reader(s.store).prepare('SELECT token_id, state, run_id, note FROM token_events ORDER BY id').all() as {
      token_id: string;
      state: string;
      run_id: string | null;
      note: string | null;
    }[];
    expect(events.filter((e) => e.token_id === lb.tokenId).map((e) => e.state)).toEqual(
      lb.tokenId === lb2.tokenId ? ['available', 'reserved', 'released', 'reserved', 'sent', 'rejected'] : ['available', 'reserved', 'released'],
    );
    expect(events.find((e) => e.state === 'rejected')).toMatchObject({ run_id: 'run-3', note: 'expired-token' });
    expect(events).toHaveLength(4 + 2 + 5);
  });
});

describe('TokenLedger: alarms', () => {
  it('raises tokens.low and tokens.empty once per episode and clears them when the pool recovers', () => {
    const s = openStation(dirs.make(), { lowWater: 2, targetLevel: 4 });
    // an empty pool at start: both, once
    expect(s.alarms).toEqual([
      { kind: 'raised', alarmId: 'tokens.empty', severity: 'critical', message: expect.stringMatching(/no factory tokens available/) },
      { kind: 'raised', alarmId: 'tokens.low', severity: 'warning', message: expect.stringMatching(/0 available, low water 2/) },
    ]);
    s.ledger.level();
    s.ledger.reserve('run-0');
    expect(s.alarms).toHaveLength(2);
    s.ledger.add(issued(3), 'test');
    expect(s.alarms.slice(2)).toEqual([
      { kind: 'cleared', alarmId: 'tokens.empty' },
      { kind: 'cleared', alarmId: 'tokens.low' },
    ]);
    s.ledger.reserve('run-1'); // 2 left: at low water, not below
    expect(s.alarms).toHaveLength(4);
    s.ledger.reserve('run-2'); // 1 left
    s.ledger.reserve('run-3'); // 0
    for (let i = 0; i < 5; i++) s.ledger.reserve(`run-x${i}`);
    expect(s.alarms.slice(4).map((a) => `${a.kind} ${a.alarmId}`)).toEqual(['raised tokens.low', 'raised tokens.empty']);
    s.ledger.add(issued(1), 'test');
    expect(s.alarms.slice(6).map((a) => `${a.kind} ${a.alarmId}`)).toEqual(['cleared tokens.empty']);
    s.ledger.add(issued(2), 'test');
    expect(s.alarms.slice(7).map((a) => `${a.kind} ${a.alarmId}`)).toEqual(['cleared tokens.low']);
  });

  it('raises tokens.source once per outage however many failures, and clears it once', () => {
    const s = openStation(dirs.make(), { lowWater: 0 });
    s.alarms.length = 0;
    s.ledger.sourceFailed('POST https://cloud.test answered HTTP 503');
    s.ledger.sourceFailed('POST https://cloud.test answered HTTP 503');
    s.ledger.sourceFailed('no answer within 10000 ms');
    s.ledger.sourceRecovered();
    s.ledger.sourceRecovered();
    expect(s.alarms).toEqual([
      {
        kind: 'raised',
        alarmId: 'tokens.source',
        severity: 'warning',
        message: expect.stringMatching(/^factory token source failing: POST https:\/\/cloud.test answered HTTP 503; the pool still holds 0 tokens$/),
      },
      { kind: 'cleared', alarmId: 'tokens.source' },
    ]);
  });

  it('raises nothing when alarms are off (a station with no token source)', () => {
    const s = openStation(dirs.make(), { alarms: false });
    s.ledger.reserve('run-1');
    s.ledger.sourceFailed('x');
    expect(s.alarms).toEqual([]);
  });
});

describe('TokenLedger: ciphertext integrity', () => {
  it('refuses to send a token whose ciphertext was copied from another row, and takes it out of the pool', () => {
    const s = openStation(dirs.make(), { lowWater: 0 });
    const [a, b] = issued(2, { expiresAt: Date.now() + HOUR }) as [IssuedToken, IssuedToken];
    s.ledger.add([a], 'test');
    s.ledger.add([{ ...b, expiresAt: a.expiresAt + 1000 }], 'test');
    // Someone with write access to the file swaps ciphertexts: each row would decrypt to the other's token.
    s.store.database.prepare(`UPDATE token_ledger SET ciphertext = (SELECT ciphertext FROM token_ledger WHERE token_id = ?) WHERE token_id = ?`).run(a.tokenId, b.tokenId);
    const first = s.ledger.reserve('run-1')!;
    expect(s.ledger.markSent(first.tokenId, 'run-1')).toBe(a.token);
    const second = s.ledger.reserve('run-2')!;
    expect(second.tokenId).toBe(b.tokenId);
    const err = ledgerError(() => s.ledger.markSent(second.tokenId, 'run-2'));
    expect(err.kind).toBe('undecryptable');
    expect(err.message).toMatch(/copied from another row/);
    expect(err.message).not.toContain(a.token);
    expect(stateOf(s.store, b.tokenId)).toBe('rejected');
  });

  it('leaves a pool sealed under another key alone instead of handing out tokens it cannot decrypt', () => {
    const dataDir = dirs.make();
    const first = openStation(dataDir);
    first.ledger.add(issued(2), 'test');
    first.close();
    const key = randomBytes(32).toString('base64');
    const store = new Store(dataDir, silentLogger());
    store.open();
    const vault = new TokenVault({ dataDir, env: { STATION_TOKEN_KEY: key }, log: silentLogger() });
    vault.start();
    const ledger = new TokenLedger(store, vault, new StationBus(), silentLogger(), { lowWater: 0, targetLevel: 5 });
    ledger.start();
    cleanups.push(() => {
      ledger.stop();
      store.close();
    });
    expect(ledger.level().available).toBe(0);
    expect(ledger.reserve('run-1')).toBeNull();
  });
});

// ---- the canary --------------------------------------------------------------------------------

/** Every way the text could show up written down: raw, base64 (both alphabets), URL-encoded, hex. */
function encodings(secret: string): string[] {
  const buf = Buffer.from(secret, 'utf8');
  return [secret, buf.toString('base64'), buf.toString('base64url'), encodeURIComponent(secret), buf.toString('hex')];
}

function hits(haystack: string | Buffer, secret: string): string[] {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  return encodings(secret).filter((e) => text.includes(e));
}

describe('canary: the token text is nowhere but markSent', () => {
  it('never reaches the logs at trace, the database file, its WAL, levels, listings or errors', async () => {
    const canary = `CANARY-${randomBytes(16).toString('hex')}`;
    const rejectedCanary = `CANARY-${randomBytes(16).toString('hex')}`;
    const badCanary = `CANARY-${randomBytes(16).toString('hex')}`;
    const fileCanary = `CANARY-${randomBytes(16).toString('hex')}`;
    const all = [canary, rejectedCanary, badCanary, fileCanary];
    // the search itself must be able to find what it looks for
    expect(hits(`x${Buffer.from(canary).toString('base64')}x`, canary).length).toBeGreaterThan(0);
    expect(hits(encodeURIComponent(`a ${canary}`), canary).length).toBeGreaterThan(0);

    const out = captureStream();
    const { log } = createLogger({ level: 'trace', destination: out.stream as never });
    const s = openStation(dirs.make(), { lowWater: 1, targetLevel: 2 }, log);

    // The cloud: one malformed answer carrying a canary (a developer token), then the good ones.
    let answer = 0;
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        answer++;
        const expiresAt = new Date(Date.now() + HOUR).toISOString();
        const tokens =
          answer === 1
            ? [{ tokenId: 'tok-bad', token: badCanary, type: 'developer', expiresAt }]
            : [
                { tokenId: 'tok-canary', token: canary, type: 'factory', expiresAt },
                { tokenId: 'tok-canary-2', token: rejectedCanary, type: 'factory', expiresAt: new Date(Date.now() + 2 * HOUR).toISOString() },
              ];
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ tokens }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cloud = new CloudTokenSource({ url, apiKey: 'key-1', hmacSecret: 'hmac-1', stationId: 'st-1', log });
    const job = new TokenRefillJob(s.ledger, cloud, log, { targetLevel: 2, lowWater: 1, intervalMs: 60_000, backoffBaseMs: 1, backoffMaxMs: 5 });
    cleanups.push(() => job.stop());
    job.start();
    await waitFor('the pool to be refilled after one refused answer', () => s.ledger.level().available === 2);
    await job.stop();

    // A token file with a malformed line carrying a canary (no tokenId).
    const file = `${s.dataDir}/tokens.ndjson`;
    writeFileSync(file, `${JSON.stringify({ token: fileCanary, type: 'factory', expiresAt: Date.now() + HOUR })}\n{not json ${fileCanary}\n`);
    expect(await new FileTokenSource({ file, log, isKnown: (id) => s.ledger.knows(id) }).fetch(10)).toEqual([]);

    const errors: string[] = [];
    const lease = s.ledger.reserve('run-1')!;
    expect(lease.tokenId).toBe('tok-canary');
    expect(s.ledger.markSent(lease.tokenId, 'run-1')).toBe(canary);
    for (const bad of [() => s.ledger.markSent(lease.tokenId, 'run-1'), () => s.ledger.release(lease.tokenId, 'run-1'), () => s.ledger.consume(lease.tokenId, 'run-2')]) {
      try {
        bad();
      } catch (err) {
        errors.push(String(err), (err as Error).stack ?? '');
      }
    }
    s.ledger.consume(lease.tokenId, 'run-1');
    const second = s.ledger.reserve('run-2')!;
    s.ledger.release(second.tokenId, 'run-2');
    const third = s.ledger.reserve('run-3')!;
    expect(s.ledger.markSent(third.tokenId, 'run-3')).toBe(rejectedCanary);
    s.ledger.reject(third.tokenId, 'run-3', 'invalid-token');

    const outputs = JSON.stringify([s.ledger.level(), s.ledger.list({ limit: 1000 }), s.ledger.history('tok-canary'), s.ledger.history('tok-canary-2'), s.alarms, errors]);
    s.store.flush();
    const dbBytes = readFileSync(s.store.dbPath);
    const walPath = `${s.store.dbPath}-wal`;
    expect(existsSync(walPath)).toBe(true);
    const walBytes = readFileSync(walPath);
    const logText = out.text();

    // the run really went through, with logging at trace
    expect(logText).toContain('token marked sent');
    expect(logText).toContain('tok-canary');
    expect(logText).toMatch(/type \\"developer\\"/); // the refused answer was logged, without its token
    expect(logText).toContain('line 2'); // the file's bad line was logged by number
    expect(s.alarms.some((a) => a.kind === 'raised' && a.alarmId === 'tokens.source')).toBe(true);
    expect(walBytes.length + dbBytes.length).toBeGreaterThan(0);

    for (const secret of all) {
      expect(hits(logText, secret), `log contains ${secret}`).toEqual([]);
      expect(hits(dbBytes, secret), 'station.db contains the token').toEqual([]);
      expect(hits(walBytes, secret), 'station.db-wal contains the token').toEqual([]);
      expect(hits(outputs, secret), 'ledger outputs contain the token').toEqual([]);
    }

    // and after a clean close (WAL checkpointed into the file)
    s.close();
    const closedBytes = readFileSync(s.store.dbPath);
    for (const secret of all) expect(hits(closedBytes, secret)).toEqual([]);
  });
});
