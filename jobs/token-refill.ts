// Token pool refill: keeps the ledger near its target level from a token source, in the
// background. It runs at start, every interval, and at once when the level drops below low water.
// A failing source is retried with capped exponential backoff and full jitter (so a fleet of
// stations coming back from an outage does not hit the cloud in step) and raises the
// tokens.source alarm through the ledger; the line keeps taking tokens from the pool meanwhile.
import type { Logger } from 'pino';
import type { TokenLedger, TokenLevel } from '../station/tokens/ledger.js';
import { TokenSourceError, type TokenSource } from '../station/tokens/sources.js';

export interface TokenRefillOptions {
  targetLevel: number;
  lowWater: number;
  intervalMs: number;
  /** First retry delay after a failure; doubles per failure up to backoffMaxMs. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** The most tokens asked for in one fetch; a refill loops until the target is reached. */
  maxBatch?: number;
  /** How long stop() waits for a fetch in flight. */
  stopTimeoutMs?: number;
  /** For tests of the backoff: 0 <= random() < 1. */
  random?: () => number;
}

/** Full jitter (a uniform delay up to the capped exponential), as in AWS's backoff write-up. */
export function backoffDelayMs(failures: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.floor(random() * ceiling);
}

export class TokenRefillJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private busy = false;
  /** The source ran dry below target: said once, not at every interval. */
  private drySaid = false;
  private nextAttemptAt = 0;
  private lastError: string | null = null;
  private abort: AbortController | null = null;
  private stopped = true;
  private failures = 0;
  /** While backing off, a low level does not cut the wait short: that would defeat the backoff. */
  private backingOff = false;
  private offLevel: (() => void) | null = null;

  constructor(
    private readonly ledger: TokenLedger,
    private readonly source: TokenSource,
    private readonly log: Logger,
    private readonly opts: TokenRefillOptions,
  ) {}

  /** Starts refilling now, in the background; needs a started ledger. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.offLevel = this.ledger.events.on('level', (level) => this.onLevel(level));
    this.log.info({ source: this.source.label, targetLevel: this.opts.targetLevel, lowWater: this.opts.lowWater, intervalMs: this.opts.intervalMs }, 'token refill started');
    this.schedule(0);
  }

  /** Cancels the next refill and abandons one in flight, waiting for it at most stopTimeoutMs. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.offLevel?.();
    this.offLevel = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort?.abort(new Error('token refill stopped'));
    const inFlight = this.running;
    if (inFlight) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.opts.stopTimeoutMs ?? 5000);
      });
      const outcome = await Promise.race([inFlight.then(() => 'done' as const), limit]);
      clearTimeout(timer);
      if (outcome === 'timeout') this.log.warn({ source: this.source.label }, 'a token fetch in flight did not stop in time; its answer will be ignored');
    }
    this.log.info('token refill stopped');
  }

  /** For health and tests: consecutive failures, when the next attempt is due, the last error. */
  get status(): { failures: number; nextAttemptAt: number | null; lastError: string | null } {
    return { failures: this.failures, nextAttemptAt: this.timer ? this.nextAttemptAt : null, lastError: this.lastError };
  }

  /** Runs one refill now unless one is running (for tests and an operator's "refill now"). */
  refillNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // `busy` is set before refill() starts: its synchronous part changes the level, and the level
    // listener must not start a second refill beside it.
    if (this.busy) return this.running ?? Promise.resolve();
    this.busy = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.refill().finally(() => {
      this.busy = false;
      this.running = null;
    });
    return this.running;
  }

  private onLevel(level: TokenLevel): void {
    if (this.stopped || this.busy || this.backingOff) return;
    if (level.available < this.opts.lowWater) void this.refillNow();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.nextAttemptAt = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refillNow();
    }, delayMs);
    this.timer.unref();
  }

  private async refill(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    try {
      this.ledger.expireDue();
      let added = 0;
      // Loop in batches until the target is met or the source has no more to give.
      for (;;) {
        const need = this.opts.targetLevel - this.ledger.level().available;
        if (need <= 0) break;
        const asked = Math.min(need, this.opts.maxBatch ?? 200);
        const tokens = await this.source.fetch(asked, abort.signal);
        if (this.stopped) return; // the ledger may be closing: an answer after stop() is dropped
        const result = this.ledger.add(tokens, this.source.label);
        added += result.added;
        if (tokens.length > 0 && result.added === 0) {
          // Nothing usable in a non-empty answer: the source is handing out what we cannot take.
          const why = result.refused[0]?.reason ?? 'all were already in the ledger';
          throw new TokenSourceError(`${this.source.label} gave ${tokens.length} tokens and none could be added: ${why}`);
        }
        if (tokens.length < asked) {
          if (!this.drySaid) this.log.warn({ source: this.source.label, asked, got: tokens.length }, 'the token source has no more tokens to give');
          this.drySaid = true;
          break;
        }
        this.drySaid = false;
      }
      if (this.failures > 0) this.log.info({ source: this.source.label, failures: this.failures }, 'token source answering again');
      this.failures = 0;
      this.lastError = null;
      this.backingOff = false;
      this.ledger.sourceRecovered();
      if (added > 0) this.log.info({ added, level: this.ledger.level().available }, 'token pool refilled');
      this.schedule(this.opts.intervalMs);
    } catch (err) {
      if (this.stopped) return;
      this.failures++;
      const message = err instanceof TokenSourceError ? err.message : `${this.source.label}: ${(err as Error).message}`;
      const jittered = backoffDelayMs(this.failures, this.opts.backoffBaseMs ?? 1000, this.opts.backoffMaxMs ?? 60_000, this.opts.random);
      const retryAfter = err instanceof TokenSourceError ? (err.retryAfterMs ?? 0) : 0;
      const delayMs = Math.max(jittered, retryAfter);
      this.lastError = message;
      this.log.warn({ source: this.source.label, failures: this.failures, retryInMs: delayMs, reason: message }, 'token refill failed');
      try {
        this.ledger.sourceFailed(message);
      } catch (alarmErr) {
        this.log.error({ err: alarmErr }, 'raising the token source alarm failed');
      }
      this.backingOff = true;
      this.schedule(delayMs);
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }
}
