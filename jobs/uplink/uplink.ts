// The uplink job: drains the outbox to the cloud (or a folder) in batches, exactly once in effect.
//
//   outbox rows ──formBatch (durable)──▶ open batch ──send──▶ answer ──settle (durable)──▶ done
//                                            ▲                  │
//                                            └── retry, same ───┘  network error, timeout, 408,
//                                                batchId, same       429/503 (Retry-After), 5xx,
//                                                body                malformed answer
//
// A batch's members and batchId are fixed in SQLite before its first send, so a retry after any
// failure (or after a crash) sends the same records under the same Idempotency-Key, and every
// record carries the recordId written with its verdict: the cloud deduplicates, nothing is lost.
// Failures back off with capped exponential delays and full jitter; the line never waits for this.
//
// Every wait here (backoff, a batch's age, a partly settled batch's next try) is on the monotonic
// clock (lib/clock.ts): a wall clock stepped an hour either way sends no batch early or late, and
// batches go in the order they were formed. Wall-clock times are only what people are shown.
import type { Logger } from 'pino';
import { monotonicMs } from '../../lib/clock.js';
import { backoffDelayMs } from '../token-refill.js';
import type { StationBus, UplinkStatus } from '../../station/events.js';
import type { FaultReporter } from '../../station/fault-latch.js';
import type { Store } from '../../station/store/store.js';
import type { BatchInfo, Outbox } from '../../station/store/outbox.js';
import { batchBody, type SendOutcome, type UplinkSink } from './sinks.js';

export interface UplinkOptions {
  stationId: string;
  /** Records in one batch at most. */
  batchMaxRecords: number;
  /** A partial batch is sent once its oldest record has waited this long. */
  batchMaxAgeMs: number;
  /** Batches in flight at once. */
  concurrency: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** For tests of the backoff: 0 <= random() < 1. */
  random?: () => number;
  /** Where errors of its timers go (station/fault-latch.ts: a store fault fails the station closed); default: logged. */
  reportFault?: FaultReporter;
}

/** Failures in a row after which the uplink counts as offline rather than degraded. */
const OFFLINE_AFTER = 3;
const STATUS_EVERY_MS = 250;

export class UplinkJob {
  private stopped = true;
  private readonly abort = new AbortController();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Batches whose last answer left records pending (rejected for now): not before this time (monotonic). */
  private readonly notBefore = new Map<string, number>();
  /** When (monotonic) each recent record was told of (run.finished), oldest first: a batch's age
   *  is its first record's. At most batchMaxRecords are kept: an older record waiting means a full
   *  batch waits, and a full batch goes whatever its age. */
  private readonly arrivals: { seq: number; at: number }[] = [];
  /** A waiting record this process was not told of (written before a restart, a dead letter sent
   *  again): when it was first seen and how old it was then, judged once. */
  private unknownFirst: { seq: number; since: number } | null = null;
  private failures = 0;
  /** Monotonic: no attempt before this. */
  private backoffUntil = 0;
  private backoffMs: number | null = null;
  /** Wall clock: shown to people. */
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  /** One log line per outage, however many attempts it takes. */
  private outageSaid = false;
  /** Monotonic: for the outage's length in the log. */
  private outageStartedAt: number | null = null;
  private malformedSaid = false;
  private credentialsAlarm = false;
  private deadAlarm = false;
  private timer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private pumping = false;
  private offRun: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly sink: UplinkSink | null,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly opts: UplinkOptions,
  ) {}

  /** The store's outbox (station/store/outbox.ts), once the store is open. */
  get outbox(): Outbox {
    return this.store.outbox;
  }

  get configured(): boolean {
    return this.sink !== null;
  }

  start(): void {
    this.stopped = false;
    this.offRun = this.bus.on('run.finished', (r) => {
      if (!r.recordId) return;
      if (r.seq !== null) this.noteArrival(r.seq);
      this.schedule(0);
    });
    if (!this.sink) this.log.warn('the uplink is not configured (uplink.url and uplink.apiKey, or uplink.sink "file"); records keep queuing in the outbox');
    else this.log.info({ sink: this.sink.label }, 'uplink started');
    this.refreshDeadAlarm();
    this.emitStatus();
    this.schedule(0);
  }

  /** Stops sending: batches in flight are abandoned (they stay open and go first next time). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offRun?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.timer = null;
    this.statusTimer = null;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight.values()]);
  }

  status(): UplinkStatus {
    const counts = this.outbox.counts();
    let state: UplinkStatus['state'];
    if (!this.sink) state = 'not configured';
    else if (this.failures === 0) state = 'online';
    else if (this.failures < OFFLINE_AFTER && !this.credentialsAlarm) state = 'degraded';
    else state = 'offline';
    return {
      state,
      sink: this.sink?.kind ?? null,
      queued: counts.queued,
      oldestQueuedAgeSeconds: counts.oldestQueuedAt === null ? null : Math.max(0, Math.round((Date.now() - counts.oldestQueuedAt) / 1000)),
      deadLetters: counts.deadLetters,
      lastSuccessAt: this.lastSuccessAt === null ? null : new Date(this.lastSuccessAt).toISOString(),
      backoffMs: this.backoffUntil > monotonicMs() ? this.backoffMs : null,
      lastError: this.lastError,
    };
  }

  /** Dead letters sent again (after the cloud was fixed); they join the next batch. */
  /** Records the cloud refused for good, newest first (the engineer console). */
  deadLetters(limit: number): object[] {
    return this.outbox.deadLetters(limit);
  }

  requeueDeadLetters(recordIds: readonly string[]): number {
    const n = this.outbox.requeue(recordIds);
    if (n > 0) {
      this.log.info({ records: n }, 'dead letters queued again');
      this.refreshDeadAlarm();
      this.emitStatus();
      this.schedule(0);
    }
    return n;
  }

  private noteArrival(seq: number): void {
    this.arrivals.push({ seq, at: monotonicMs() });
    if (this.arrivals.length > this.opts.batchMaxRecords) this.arrivals.splice(0, this.arrivals.length - this.opts.batchMaxRecords);
  }

  /**
   * How long (ms) the first waiting record has waited, on the monotonic clock. A record this
   * process was not told of is judged once, by the wall clock (clamped to 0..batchMaxAgeMs), and
   * from then on by the monotonic clock: a later step of the wall clock does not move it.
   */
  private waitedMs(firstSeq: number, oldestAt: number | null, now: number): number {
    while (this.arrivals.length > 0 && (this.arrivals[0] as { seq: number }).seq < firstSeq) this.arrivals.shift();
    const first = this.arrivals[0];
    if (first?.seq === firstSeq) return now - first.at;
    if (this.unknownFirst?.seq !== firstSeq) {
      const wallAge = oldestAt === null ? 0 : Date.now() - oldestAt;
      this.unknownFirst = { seq: firstSeq, since: now - Math.min(this.opts.batchMaxAgeMs, Math.max(0, wallAge)) };
    }
    return now - this.unknownFirst.since;
  }

  private schedule(ms: number): void {
    if (this.stopped || !this.sink) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, ms);
  }

  /** Starts as many batches as may be in flight; arranges the next look when nothing is ready. */
  private pump(): void {
    if (this.stopped || !this.sink || this.pumping) return;
    this.pumping = true;
    try {
      const now = monotonicMs();
      if (this.backoffUntil > now) {
        this.schedule(this.backoffUntil - now);
        return;
      }
      let nextLook: number | null = null;
      while (this.inFlight.size < this.opts.concurrency) {
        const open = this.outbox.openBatches().filter((b) => !this.inFlight.has(b.batchId));
        let batch: BatchInfo | undefined = open.find((b) => (this.notBefore.get(b.batchId) ?? 0) <= now);
        if (!batch) {
          const waiting = this.outbox.unbatched(this.opts.batchMaxRecords);
          if (waiting.count === 0 || waiting.firstSeq === null) break;
          const age = this.waitedMs(waiting.firstSeq, waiting.oldestAt, now);
          if (waiting.count < this.opts.batchMaxRecords && age < this.opts.batchMaxAgeMs) {
            nextLook = this.opts.batchMaxAgeMs - age;
            break;
          }
          batch = this.outbox.formBatch(this.opts.batchMaxRecords, this.sink.kind) ?? undefined;
          if (!batch) break;
        }
        const b = batch;
        const work = this.send(b).finally(() => {
          this.inFlight.delete(b.batchId);
          this.schedule(0);
        });
        this.inFlight.set(b.batchId, work);
      }
      const later = [...this.notBefore.values()].map((t) => t - now).filter((t) => t > 0);
      const wait = Math.min(nextLook ?? Infinity, ...later);
      if (this.inFlight.size === 0 && Number.isFinite(wait)) this.schedule(wait);
    } catch (err) {
      // The store failed (disk full, say): nothing was sent; look again later.
      this.report(err, 'the uplink reading or forming a batch');
      this.emitStatus(); // what the dashboard shows may have changed (or cannot be read: reported too)
      this.schedule(1000);
    } finally {
      this.pumping = false;
    }
  }

  /** Sends one batch and settles it; an error of the store on the way is reported, never thrown
   *  (the batch stays open and is sent again). */
  private async send(batch: BatchInfo): Promise<void> {
    try {
      await this.sendBatch(batch);
    } catch (err) {
      this.report(err, 'the uplink sending or settling a batch');
    }
  }

  private async sendBatch(batch: BatchInfo): Promise<void> {
    const sink = this.sink as UplinkSink;
    const members = this.outbox.members(batch.batchId);
    if (members.length === 0) {
      this.outbox.settle(batch.batchId, [], [], null);
      return;
    }
    const body = batchBody(batch.batchId, this.opts.stationId, members);
    let outcome: SendOutcome;
    try {
      outcome = await sink.send({ batchId: batch.batchId, body, recordIds: members.map((m) => m.recordId), firstSeq: members[0]?.seq ?? 0, lastSeq: members.at(-1)?.seq ?? 0 }, this.abort.signal);
    } catch (err) {
      outcome = { kind: 'retry', reason: `the sink failed: ${(err as Error).message}`, retryAfterMs: null };
    }
    if (this.stopped) return;
    if (outcome.kind === 'retry') {
      this.failed(batch, outcome);
      return;
    }
    const memberIds = new Set(members.map((m) => m.recordId));
    const permanent =
      outcome.kind === 'refused'
        ? members.map((m) => ({ recordId: m.recordId, reason: outcome.reason }))
        : outcome.rejected.filter((r) => r.permanent && memberIds.has(r.recordId)).map((r) => ({ recordId: r.recordId, reason: r.reason }));
    const transient = outcome.kind === 'answered' ? outcome.rejected.filter((r) => !r.permanent && memberIds.has(r.recordId)) : [];
    const accepted = outcome.kind === 'answered' ? outcome.accepted.filter((id) => memberIds.has(id)) : [];
    const note = transient.length > 0 ? `${transient.length} records rejected for now: ${transient[0]?.reason ?? ''}`.slice(0, 300) : null;
    const result = this.outbox.settle(batch.batchId, accepted, permanent, note);
    this.succeeded();
    if (permanent.length > 0) {
      this.log.warn({ batchId: batch.batchId, records: permanent.length, reason: permanent[0]?.reason }, 'the cloud rejected records for good; they are kept as dead letters');
      this.refreshDeadAlarm();
    }
    if (result.done) this.notBefore.delete(batch.batchId);
    else {
      // Some members were neither accepted nor rejected for good: send the batch again later,
      // without holding up the batches behind it.
      const attempts = batch.attempts + 1;
      this.notBefore.set(batch.batchId, monotonicMs() + backoffDelayMs(attempts, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random) + this.opts.backoffInitialMs);
      this.log.debug({ batchId: batch.batchId, pending: result.pending, reason: note }, 'batch partly settled; the rest is sent again later');
    }
    this.log.debug({ batchId: batch.batchId, uploaded: result.uploaded, deadLettered: result.deadLettered, pending: result.pending }, 'batch settled');
    this.emitStatus();
  }

  private failed(batch: BatchInfo, outcome: Extract<SendOutcome, { kind: 'retry' }>): void {
    try {
      this.outbox.noteAttempt(batch.batchId, outcome.reason.slice(0, 300));
    } catch (err) {
      this.log.error({ err }, 'noting a failed upload attempt failed');
    }
    this.failures++;
    const jittered = backoffDelayMs(this.failures, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random);
    const delay = Math.max(jittered, outcome.retryAfterMs ?? 0);
    // Another batch in flight may already have pushed the wait further out.
    const now = monotonicMs();
    if (now + delay > this.backoffUntil) {
      this.backoffUntil = now + delay;
      this.backoffMs = delay;
    }
    this.lastError = outcome.reason;
    if (!this.outageSaid) {
      this.outageSaid = true;
      this.outageStartedAt = monotonicMs();
      this.log.warn({ batchId: batch.batchId, sink: this.sink?.label, reason: outcome.reason, retryInMs: delay }, 'uplink failing; records keep queuing and are sent when it answers');
    } else {
      this.log.debug({ batchId: batch.batchId, reason: outcome.reason, failures: this.failures, retryInMs: delay }, 'uplink attempt failed');
    }
    if (outcome.malformed && !this.malformedSaid) {
      this.malformedSaid = true;
      this.log.warn({ batchId: batch.batchId, firstBytes: outcome.malformed }, 'the ingest answered outside the contract; nothing was marked uploaded');
    }
    if (outcome.credentials && !this.credentialsAlarm) {
      this.credentialsAlarm = true;
      this.bus.emit('alarm.raised', { alarmId: 'uplink.credentials', severity: 'critical', message: outcome.reason, slot: null });
    }
    this.emitStatus();
  }

  private succeeded(): void {
    if (this.failures > 0 && this.outageStartedAt !== null) {
      this.log.info({ failures: this.failures, outageSeconds: Math.round((monotonicMs() - this.outageStartedAt) / 1000) }, 'uplink answering again; draining the backlog');
    }
    this.failures = 0;
    this.backoffUntil = 0;
    this.backoffMs = null;
    this.lastSuccessAt = Date.now();
    this.lastError = null;
    this.outageSaid = false;
    this.outageStartedAt = null;
    this.malformedSaid = false;
    if (this.credentialsAlarm) {
      this.credentialsAlarm = false;
      this.bus.emit('alarm.cleared', { alarmId: 'uplink.credentials' });
    }
  }

  private refreshDeadAlarm(): void {
    const dead = this.outbox.counts().deadLetters;
    if (dead > 0) {
      this.deadAlarm = true;
      this.bus.emit('alarm.raised', {
        alarmId: 'uplink.dead-letters',
        severity: 'warning',
        message: `${dead} record${dead === 1 ? '' : 's'} rejected by the cloud for good (dead letters): see GET /api/uplink/dead-letters`,
        slot: null,
      });
    } else if (this.deadAlarm) {
      this.deadAlarm = false;
      this.bus.emit('alarm.cleared', { alarmId: 'uplink.dead-letters' });
    }
  }

  /** At most one 'uplink.status' event every STATUS_EVERY_MS, carrying the latest state. */
  private emitStatus(): void {
    if (this.statusTimer || this.stopped) return;
    this.tellStatus();
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      if (!this.stopped) this.tellStatus();
    }, STATUS_EVERY_MS);
  }

  /** The status counts the outbox: a store that fails here (the disk gone) is reported, and the
   *  timer that asked lives on (it once took the daemon down: issue 17). */
  private tellStatus(): void {
    let status: UplinkStatus;
    try {
      status = this.status();
    } catch (err) {
      this.report(err, 'the uplink status refresh');
      return;
    }
    this.bus.emit('uplink.status', status);
  }

  private report(err: unknown, where: string): void {
    if (this.opts.reportFault) this.opts.reportFault(err, where);
    else this.log.error({ err }, `${where} failed`);
  }
}
