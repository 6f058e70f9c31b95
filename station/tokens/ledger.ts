// The factory token ledger: the station's pool of single-use enrollment tokens and the life of
// each one (SPEC §1 step 2). The rule it exists to keep: a token is never sent to two DUTs. So
//  - a token leaves the pool only by reserve(), for one run, and only that run may send it;
//  - markSent() is durable (fsynced) before it hands out the text, and so before any light leaves
//    the emitter: a crash after that point can never put the token back in the pool;
//  - sent, consumed, rejected and expired are final; only a reserved, never-sent token is ever
//    released back (by its run, or at start-up after a crash).
// Every change is one durable transaction that also appends a token_events row. The token text is
// stored sealed by the vault and appears in no log line, error, listing or level.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { z } from 'zod';
import { EventBus } from '../../lib/event-bus.js';
import type { StationBus } from '../events.js';
import type { Store } from '../store/store.js';
import { TokenVaultError, type TokenVault } from './vault.js';

/** A token as a source issues it. `token` is the secret; everything else is safe to show. */
export interface IssuedToken {
  tokenId: string;
  token: string;
  type: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** What a run holds: everything about its token except the token. */
export interface TokenLease {
  tokenId: string;
  /** First 8 hex characters of a hash of the tokenId: for screens and logs. */
  shortId: string;
  type: string;
  expiresAt: number;
}

export type TokenState = 'available' | 'reserved' | 'sent' | 'consumed' | 'rejected' | 'expired';

export interface TokenLevel {
  available: number;
  reserved: number;
  sent: number;
  consumed: number;
  rejected: number;
  expired: number;
  lowWater: number;
  target: number;
}

export interface TokenSummary {
  tokenId: string;
  shortId: string;
  type: string;
  state: TokenState;
  runId: string | null;
  expiresAt: number;
  updatedAt: number;
}

export interface TokenEvent {
  tokenId: string;
  /** The ledger state entered, or 'released' for a return to the pool. */
  state: TokenState | 'released';
  runId: string | null;
  at: number;
  note: string | null;
}

export interface AddResult {
  added: number;
  /** Already in the ledger (same tokenId, or the same token text under another tokenId). */
  duplicates: number;
  /** Refused, with why (never the token text). */
  refused: { tokenId: string; reason: string }[];
}

export interface TokenLedgerOptions {
  /** Below this many available tokens the tokens.low alarm is raised. */
  lowWater: number;
  /** The level the refill job aims for (reported in level()). */
  targetLevel: number;
  /** Token types this station sends; enrollment of a DUT needs 'factory' (seed 000). */
  acceptedTypes?: string[];
  /** A token with less life left than this is treated as expired: an enrollment takes time. */
  minRemainingMs?: number;
  /** How often start() sweeps for expired tokens. */
  expiryCheckMs?: number;
  /** Off where the station has no token source and does no BlinkUp. */
  alarms?: boolean;
  /** The clock (tests move it to exercise expiry). */
  now?: () => number;
}

export class TokenLedgerError extends Error {
  constructor(
    readonly kind: 'unknown-token' | 'wrong-run' | 'wrong-state' | 'expired' | 'undecryptable',
    message: string,
  ) {
    super(message);
    this.name = 'TokenLedgerError';
  }
}

export interface TokenLedgerEvents {
  /** After every change to the pool. */
  level: TokenLevel;
}

type AlarmId = 'tokens.low' | 'tokens.empty' | 'tokens.source';

interface LedgerRow {
  token_id: string;
  ciphertext: Buffer;
  type: string;
  expires_at: number;
  state: TokenState;
  run_id: string | null;
  key_id: string | null;
}

const TOKEN_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

const issuedTokenSchema = z.strictObject({
  tokenId: z.string().regex(TOKEN_ID, 'must be 1-128 letters, digits, "_", ".", ":" or "-"'),
  // Printable ASCII, no spaces: what a BlinkUp frame carries. (zod's messages never echo the value.)
  token: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  type: z.string().min(1).max(32),
  expiresAt: z.number().int().positive(),
});

const NOTE_MAX = 300;

export function shortIdOf(tokenId: string): string {
  return createHash('sha256').update(`blinkup-token:${tokenId}`).digest('hex').slice(0, 8);
}

export class TokenLedger {
  /** Level changes, for the refill job. */
  readonly events: EventBus<TokenLedgerEvents>;
  private readonly acceptedTypes: ReadonlySet<string>;
  private readonly minRemainingMs: number;
  private readonly now: () => number;
  private readonly activeAlarms = new Set<AlarmId>();
  private stmts: ReturnType<TokenLedger['prepare']> | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private keyId = '';

  constructor(
    private readonly store: Store,
    private readonly vault: TokenVault,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly opts: TokenLedgerOptions,
  ) {
    this.events = new EventBus<TokenLedgerEvents>(log);
    this.acceptedTypes = new Set(opts.acceptedTypes ?? ['factory']);
    this.minRemainingMs = opts.minRemainingMs ?? 60_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Needs an open store and a started vault. Releases tokens a crash left reserved (never sent,
   * so never seen by a DUT); tokens left sent stay sent. Then expires what is due and raises the
   * level alarms that apply.
   */
  start(): void {
    if (this.stmts) return;
    this.stmts = this.prepare(this.store.database);
    this.keyId = this.vault.keyId;
    const now = this.now();
    const released = this.store.durably(() => {
      const rows = this.stmts!.reservedRows.all() as LedgerRow[];
      for (const row of rows) this.transition(row, 'available', 'released', row.run_id, now, 'the station restarted before this token was sent');
      return rows.length;
    });
    if (released > 0) this.log.warn({ released }, 'tokens reserved by runs a restart interrupted (never sent) are back in the pool');
    const sent = (this.stmts.countState.get('sent') as { n: number }).n;
    const foreign = (this.stmts.foreignKeyCount.get(this.keyId) as { n: number }).n;
    if (foreign > 0) {
      this.log.error(
        { tokens: foreign, keyId: this.keyId },
        'tokens in the pool were sealed with another token key and cannot be used; restore the original STATION_TOKEN_KEY or token.key to use them',
      );
    }
    this.expireDue();
    const expiryCheckMs = this.opts.expiryCheckMs ?? 30_000;
    this.expiryTimer = setInterval(() => {
      try {
        this.expireDue();
      } catch (err) {
        this.log.error({ err }, 'sweeping expired tokens failed; trying again next interval');
      }
    }, expiryCheckMs);
    this.expiryTimer.unref();
    this.log.info({ ...this.level(), sentBeforeRestart: sent }, 'token ledger started');
    this.afterChange();
  }

  stop(): void {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.expiryTimer = null;
    this.stmts = null;
  }

  /** True when a token with this id was ever in the ledger (sources use it to skip what is taken). */
  knows(tokenId: string): boolean {
    return this.requireStarted().tokenById.get(tokenId) !== undefined;
  }

  /**
   * Puts issued tokens in the pool, durably. Deduplicated by tokenId and by token text; a token of
   * a type this station does not send, an invalid one, or one already (nearly) expired is refused.
   */
  add(tokens: readonly IssuedToken[], source: string): AddResult {
    const s = this.requireStarted();
    const now = this.now();
    const result: AddResult = { added: 0, duplicates: 0, refused: [] };
    const prepared: { t: IssuedToken; sealed: Buffer; digest: Buffer }[] = [];
    for (const [i, t] of tokens.entries()) {
      const parsed = issuedTokenSchema.safeParse(t);
      // An invalid tokenId is not echoed: it could be anything, even the token text.
      const tokenId = typeof t?.tokenId === 'string' && TOKEN_ID.test(t.tokenId) ? t.tokenId : `(item ${i})`;
      if (!parsed.success) {
        const why = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'token'} ${issue.message}`).join('; ');
        result.refused.push({ tokenId, reason: `invalid: ${why}` });
        continue;
      }
      if (!this.acceptedTypes.has(t.type)) {
        result.refused.push({ tokenId, reason: `type "${t.type}" is not one this station sends (${[...this.acceptedTypes].join(', ')})` });
        continue;
      }
      if (t.expiresAt <= now + this.minRemainingMs) {
        result.refused.push({ tokenId, reason: `expires at ${new Date(t.expiresAt).toISOString()}, too soon to use (station clock ${new Date(now).toISOString()})` });
        continue;
      }
      prepared.push({ t, sealed: this.vault.seal(t.tokenId, t.token), digest: this.vault.digest(t.token) });
    }
    const note = `added from ${source}`.slice(0, NOTE_MAX);
    this.store.durably(() => {
      for (const { t, sealed, digest } of prepared) {
        if (s.tokenById.get(t.tokenId) !== undefined) {
          result.duplicates++;
          continue;
        }
        const twin = s.tokenByDigest.get(digest) as { token_id: string } | undefined;
        if (twin) {
          result.duplicates++;
          result.refused.push({ tokenId: t.tokenId, reason: `the same token is already in the ledger as ${twin.token_id}` });
          continue;
        }
        s.insertToken.run({ tokenId: t.tokenId, ciphertext: sealed, type: t.type, expiresAt: t.expiresAt, now, keyId: this.keyId, digest });
        s.insertEvent.run(t.tokenId, 'available', null, now, note);
        result.added++;
      }
    });
    if (result.added > 0 || result.refused.length > 0) {
      this.log.info({ source, added: result.added, duplicates: result.duplicates, refused: result.refused.length }, 'tokens added to the pool');
    }
    for (const r of result.refused) this.log.warn({ source, tokenId: r.tokenId, reason: r.reason }, 'token refused');
    if (result.added > 0) this.afterChange();
    return result;
  }

  /**
   * Takes the available token that expires first (so none is wasted by expiring in the pool) for
   * `runId`. Null when the pool is empty. Durable on return.
   */
  reserve(runId: string): TokenLease | null {
    const s = this.requireStarted();
    const now = this.now();
    const row = this.store.durably(() => {
      const r = s.oldestAvailable.get(now + this.minRemainingMs, this.keyId) as LedgerRow | undefined;
      if (r) this.transition(r, 'reserved', 'reserved', runId, now, null);
      return r;
    });
    if (!row) {
      this.log.debug({ runId }, 'no factory token available to reserve');
      this.afterChange();
      return null;
    }
    const lease: TokenLease = { tokenId: row.token_id, shortId: shortIdOf(row.token_id), type: row.type, expiresAt: row.expires_at };
    this.log.debug({ runId, tokenId: lease.tokenId, shortId: lease.shortId }, 'token reserved');
    this.afterChange();
    return lease;
  }

  /**
   * Marks the token sent by `runId` and returns its text for this one send. The mark is fsynced
   * before this returns, i.e. before the caller can put the text on the emitter: after a crash the
   * token is sent (maybe seen), never back in the pool. A second call for the same token throws.
   */
  markSent(tokenId: string, runId: string): string {
    const s = this.requireStarted();
    const now = this.now();
    const outcome = this.store.durably((): { text: string } | { error: TokenLedgerError } => {
      const row = this.requireRow(s, tokenId);
      this.requireHeldBy(row, runId, ['reserved'], 'mark it sent');
      // Reserved with time to spare; only a token really past its expiry is stopped here.
      if (row.expires_at <= now) {
        this.transition(row, 'expired', 'expired', runId, now, 'expired before it was sent');
        return { error: new TokenLedgerError('expired', `token ${tokenId} expired (at ${new Date(row.expires_at).toISOString()}) before run ${runId} sent it; reserve another`) };
      }
      let text: string;
      try {
        text = this.vault.unseal(tokenId, row.ciphertext);
      } catch (err) {
        if (!(err instanceof TokenVaultError)) throw err;
        // Unusable under this key, or tampered with: out of the pool for good, with the reason.
        this.transition(row, 'rejected', 'rejected', runId, now, `cannot decrypt: ${err.message}`.slice(0, NOTE_MAX));
        return { error: new TokenLedgerError('undecryptable', `token ${tokenId} cannot be sent: ${err.message}`) };
      }
      this.transition(row, 'sent', 'sent', runId, now, null);
      return { text };
    });
    this.afterChange();
    if ('error' in outcome) {
      this.log.error({ runId, tokenId, err: outcome.error.message }, 'token could not be sent');
      throw outcome.error;
    }
    this.log.debug({ runId, tokenId, shortId: shortIdOf(tokenId) }, 'token marked sent');
    return outcome.text;
  }

  /** The DUT enrolled with the token: it is used up. */
  consume(tokenId: string, runId: string): void {
    this.finish(tokenId, runId, 'consumed', ['sent'], null);
  }

  /**
   * The token was rejected (invalid, expired, wrong type), or its send went wrong in a way that may
   * have shown it to a DUT. Never used again. Also accepted for a reserved, unsent token the run
   * will not use.
   */
  reject(tokenId: string, runId: string, reason: string): void {
    this.finish(tokenId, runId, 'rejected', ['sent', 'reserved'], reason.slice(0, NOTE_MAX));
  }

  /** A reserved token its run never sent goes back to the pool. */
  release(tokenId: string, runId: string): void {
    const s = this.requireStarted();
    const now = this.now();
    this.store.durably(() => {
      const row = this.requireRow(s, tokenId);
      this.requireHeldBy(row, runId, ['reserved'], 'release it');
      this.transition(row, 'available', 'released', runId, now, null);
    });
    this.log.debug({ runId, tokenId }, 'token released to the pool');
    this.afterChange();
  }

  /** Releases every token `runId` still holds unsent (a run ending by any path); returns how many. */
  releaseRun(runId: string): number {
    const s = this.requireStarted();
    const now = this.now();
    const n = this.store.durably(() => {
      const rows = s.reservedByRun.all(runId) as LedgerRow[];
      for (const row of rows) this.transition(row, 'available', 'released', runId, now, 'the run ended without sending it');
      return rows.length;
    });
    if (n > 0) {
      this.log.debug({ runId, released: n }, 'tokens of a finished run released to the pool');
      this.afterChange();
    }
    return n;
  }

  /** Marks available tokens past (or too near) their expiry as expired; returns how many. */
  expireDue(): number {
    const s = this.requireStarted();
    const now = this.now();
    const n = this.store.durably(() => {
      const rows = s.dueAvailable.all(now + this.minRemainingMs) as LedgerRow[];
      for (const row of rows) this.transition(row, 'expired', 'expired', null, now, `expires at ${new Date(row.expires_at).toISOString()}`);
      return rows.length;
    });
    if (n > 0) {
      this.log.info({ expired: n }, 'tokens expired in the pool');
      this.afterChange();
    }
    return n;
  }

  /** Counts by state. `available` counts only tokens a run could reserve now. */
  level(): TokenLevel {
    const s = this.requireStarted();
    const rows = s.countByState.all() as { state: TokenState; n: number }[];
    const by = Object.fromEntries(rows.map((r) => [r.state, r.n])) as Partial<Record<TokenState, number>>;
    const available = (s.countReservable.get(this.now() + this.minRemainingMs, this.keyId) as { n: number }).n;
    return {
      available,
      reserved: by.reserved ?? 0,
      sent: by.sent ?? 0,
      consumed: by.consumed ?? 0,
      rejected: by.rejected ?? 0,
      expired: by.expired ?? 0,
      lowWater: this.opts.lowWater,
      target: this.opts.targetLevel,
    };
  }

  /** Tokens, newest change first, without their text: for the engineer console and support. */
  list(opts: { state?: TokenState; runId?: string; limit?: number } = {}): TokenSummary[] {
    const s = this.requireStarted();
    const rows = s.list.all({ state: opts.state ?? null, runId: opts.runId ?? null, limit: Math.min(Math.max(opts.limit ?? 100, 1), 1000) }) as {
      token_id: string;
      type: string;
      state: TokenState;
      run_id: string | null;
      expires_at: number;
      updated_at: number;
    }[];
    return rows.map((r) => ({
      tokenId: r.token_id,
      shortId: shortIdOf(r.token_id),
      type: r.type,
      state: r.state,
      runId: r.run_id,
      expiresAt: r.expires_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Every recorded transition of one token, oldest first. */
  history(tokenId: string): TokenEvent[] {
    const s = this.requireStarted();
    const rows = s.eventsOf.all(tokenId) as { token_id: string; state: TokenEvent['state']; run_id: string | null; at: number; note: string | null }[];
    return rows.map((r) => ({ tokenId: r.token_id, state: r.state, runId: r.run_id, at: r.at, note: r.note }));
  }

  /** The token source failed (the refill job reports it): one alarm per outage. */
  sourceFailed(message: string): void {
    const available = this.level().available;
    this.raise('tokens.source', 'warning', `factory token source failing: ${message}; the pool still holds ${available} tokens`);
  }

  /** The token source answered again. */
  sourceRecovered(): void {
    this.clear('tokens.source');
  }

  // ---- internals -----------------------------------------------------------------------------

  private finish(tokenId: string, runId: string, to: 'consumed' | 'rejected', from: TokenState[], note: string | null): void {
    const s = this.requireStarted();
    const now = this.now();
    const changed = this.store.durably(() => {
      const row = this.requireRow(s, tokenId);
      // Said twice by the same run (a retried call): already done, nothing to record.
      if (row.state === to && row.run_id === runId) return false;
      this.requireHeldBy(row, runId, from, to === 'consumed' ? 'consume it' : 'reject it');
      this.transition(row, to, to, runId, now, note);
      return true;
    });
    if (!changed) return;
    this.log.debug({ runId, tokenId, state: to, note }, `token ${to}`);
    this.afterChange();
  }

  private transition(row: LedgerRow, state: TokenState, event: TokenEvent['state'], runId: string | null, now: number, note: string | null): void {
    const s = this.requireStarted();
    s.setState.run(state, state === 'available' ? null : runId, now, row.token_id);
    s.insertEvent.run(row.token_id, event, runId, now, note);
  }

  private requireRow(s: NonNullable<TokenLedger['stmts']>, tokenId: string): LedgerRow {
    const row = s.tokenById.get(tokenId) as LedgerRow | undefined;
    if (!row) throw new TokenLedgerError('unknown-token', `token ${tokenId} is not in the ledger`);
    return row;
  }

  private requireHeldBy(row: LedgerRow, runId: string, states: TokenState[], action: string): void {
    if (!states.includes(row.state)) {
      throw new TokenLedgerError('wrong-state', `run ${runId} cannot ${action}: token ${row.token_id} is ${row.state}${row.run_id ? ` (run ${row.run_id})` : ''}, not ${states.join(' or ')}`);
    }
    if (row.run_id !== runId) {
      throw new TokenLedgerError('wrong-run', `run ${runId} cannot ${action}: token ${row.token_id} is ${row.state} for run ${row.run_id}`);
    }
  }

  /** Level listeners and the low/empty alarms, after anything that may have moved the level. */
  private afterChange(): void {
    const level = this.level();
    if (this.opts.alarms !== false) {
      if (level.available === 0) {
        this.raise('tokens.empty', 'critical', 'no factory tokens available: factory BlinkUp cannot run until the pool is refilled');
      } else {
        this.clear('tokens.empty');
      }
      if (level.available < this.opts.lowWater) {
        this.raise('tokens.low', 'warning', `factory token pool is low: ${level.available} available, low water ${this.opts.lowWater}, target ${this.opts.targetLevel}`);
      } else {
        this.clear('tokens.low');
      }
    }
    this.events.emit('level', level);
  }

  private raise(alarmId: AlarmId, severity: 'warning' | 'critical', message: string): void {
    if (this.opts.alarms === false || this.activeAlarms.has(alarmId)) return;
    this.activeAlarms.add(alarmId);
    this.log.warn({ alarmId, severity }, message);
    this.bus.emit('alarm.raised', { alarmId, severity, message, slot: null });
  }

  private clear(alarmId: AlarmId): void {
    if (!this.activeAlarms.delete(alarmId)) return;
    this.log.info({ alarmId }, 'token alarm cleared');
    this.bus.emit('alarm.cleared', { alarmId });
  }

  private requireStarted(): NonNullable<TokenLedger['stmts']> {
    if (!this.stmts) throw new Error('the token ledger is not started (start() it after the store is open and the vault started)');
    return this.stmts;
  }

  private prepare(db: Database.Database) {
    const cols = 'token_id, ciphertext, type, expires_at, state, run_id, key_id';
    return {
      tokenById: db.prepare(`SELECT ${cols} FROM token_ledger WHERE token_id = ?`),
      tokenByDigest: db.prepare(`SELECT token_id FROM token_ledger WHERE digest = ?`),
      insertToken: db.prepare(
        `INSERT INTO token_ledger (token_id, ciphertext, type, expires_at, state, run_id, updated_at, key_id, digest)
         VALUES (@tokenId, @ciphertext, @type, @expiresAt, 'available', NULL, @now, @keyId, @digest)`,
      ),
      setState: db.prepare(`UPDATE token_ledger SET state = ?, run_id = ?, updated_at = ? WHERE token_id = ?`),
      insertEvent: db.prepare(`INSERT INTO token_events (token_id, state, run_id, at, note) VALUES (?, ?, ?, ?, ?)`),
      // token_ledger_state (state, expires_at) serves both: the first row is the one expiring first.
      oldestAvailable: db.prepare(`SELECT ${cols} FROM token_ledger WHERE state = 'available' AND expires_at > ? AND key_id = ? ORDER BY expires_at, token_id LIMIT 1`),
      dueAvailable: db.prepare(`SELECT ${cols} FROM token_ledger WHERE state = 'available' AND expires_at <= ?`),
      reservedRows: db.prepare(`SELECT ${cols} FROM token_ledger WHERE state = 'reserved'`),
      reservedByRun: db.prepare(`SELECT ${cols} FROM token_ledger WHERE state = 'reserved' AND run_id = ?`),
      countByState: db.prepare(`SELECT state, count(*) AS n FROM token_ledger GROUP BY state`),
      countState: db.prepare(`SELECT count(*) AS n FROM token_ledger WHERE state = ?`),
      countReservable: db.prepare(`SELECT count(*) AS n FROM token_ledger WHERE state = 'available' AND expires_at > ? AND key_id = ?`),
      foreignKeyCount: db.prepare(`SELECT count(*) AS n FROM token_ledger WHERE state = 'available' AND key_id IS NOT ?`),
      list: db.prepare(
        `SELECT token_id, type, state, run_id, expires_at, updated_at FROM token_ledger
         WHERE (@state IS NULL OR state = @state) AND (@runId IS NULL OR run_id = @runId)
         ORDER BY updated_at DESC, token_id LIMIT @limit`,
      ),
      eventsOf: db.prepare(`SELECT token_id, state, run_id, at, note FROM token_events WHERE token_id = ? ORDER BY id`),
    };
  }
}
