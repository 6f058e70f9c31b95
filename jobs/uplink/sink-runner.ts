// One sink's side of the uplink (uplink.ts runs one per sink): the batches of its own cursor over
// the outbox, at most `concurrency` in flight, its backoff after failures, its health and alarms.
// Sinks never wait for each other: a sink that is down holds up its own cursor and nothing else.
//
//   outbox rows ──formBatch (durable)──▶ open batch ──send──▶ answer ──settle (durable)──▶ done
//                                            ▲                  │
//                                            └── retry, same ───┘  network error, timeout, 408,
//                                                batchId, same       429/503 (Retry-After), 5xx,
//                                                members             malformed answer, no broker
//
// Waits are timed on the monotonic clock (performance.now()): a wall clock stepped by NTP neither
// stalls nor hurries a retry. Wall-clock times appear only where a person reads them.
import type { Logger } from 'pino';
import { backoffDelayMs } from '../token-refill.js';
import type { StationBus, SinkStatus } from '../../station/events.js';
import type { FaultReporter } from '../../station/fault-latch.js';
import type { BatchInfo, BatchRecord, Outbox } from '../../station/store/outbox.js';
import { batchBody, type OutgoingBatch, type SendOutcome, type SinkAlarm, type SinkCondition, type UplinkSink } from './sinks.js';

export interface RunnerOptions {
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

/** Failures in a row after which a sink counts as offline rather than degraded. */
const OFFLINE_AFTER = 3;

const monotonic = (): number => performance.now();

export class SinkRunner {
  private stopped = true;
  private readonly abort = new AbortController();
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Batches whose last answer left records pending (rejected for now): not before this (monotonic) time. */
  private readonly notBefore = new Map<string, number>();
  private failures = 0;
  private backoffUntil = 0;
  private backoffMs: number | null = null;
  private lastSuccessAt: number | null = null;
  private lastError: string | null = null;
  /** One log line per outage, however many attempts it takes. */
  private outageSaid = false;
  private outageStartedAt: number | null = null;
  private malformedSaid = false;
  /** Alarms raised from answers (kind → message), cleared by the next clean answer. */
  private readonly answerAlarms = new Map<string, SinkAlarm>();
  private condition: SinkCondition = { ready: true, alarm: null };
  private conditionAlarm: string | null = null;
  private delivered = 0;
  /** Batches this process formed and has not sent yet (OutgoingBatch.firstTry). */
  private readonly formedHere = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private offWatch: (() => void) | null = null;
  private readonly batchMaxAgeMs: number;
  /** The oldest waiting record (by its written time) and when (monotonic) it started waiting: its
   *  wall-clock age is judged once, clamped to 0..batchMaxAgeMs, and from then on the monotonic
   *  clock counts, so a wall clock stepped an hour either way neither holds nor hurries a batch. */
  private waitingSince: { oldestAt: number | null; since: number } | null = null;
  private readonly commit: { durable: boolean };

  constructor(
    private readonly outbox: () => Outbox,
    readonly sink: UplinkSink,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly opts: RunnerOptions,
    /** Told when the status may have changed, or dead letters were added. */
    private readonly changed: (what: 'status' | 'dead') => void,
  ) {
    this.batchMaxAgeMs = sink.batching?.maxAgeMs ?? opts.batchMaxAgeMs;
    this.commit = { durable: sink.durableBatches !== false };
  }

  start(): void {
    this.stopped = false;
    this.offWatch = this.sink.watch?.((c) => this.onCondition(c)) ?? null;
    this.sink.start?.();
    this.log.info({ sink: this.sink.id, target: this.sink.label }, 'uplink sink started');
    this.schedule(0);
  }

  /** Stops sending: batches in flight are abandoned (they stay open and go first next time). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offWatch?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    await Promise.allSettled([...this.inFlight.values()]);
    await this.sink.stop?.();
  }

  /** A record was committed: look for work now. */
  wake(): void {
    this.schedule(0);
  }

  status(): SinkStatus {
    const counts = this.outbox().sinkCounts(this.sink.id);
    const critical = [...this.answerAlarms.values()].some((a) => a.severity === 'critical') || this.condition.alarm?.severity === 'critical';
    let state: SinkStatus['state'];
    if (!this.condition.ready) state = this.condition.alarm || this.failures >= OFFLINE_AFTER ? 'offline' : 'degraded';
    else if (this.failures === 0 && !critical) state = 'online';
    else if (this.failures < OFFLINE_AFTER && !critical) state = 'degraded';
    else state = 'offline';
    const now = monotonic();
    return {
      id: this.sink.id,
      kind: this.sink.kind,
      target: this.sink.label,
      state,
      queued: counts.queued,
      oldestQueuedAgeSeconds: counts.oldestQueuedAt === null ? null : Math.max(0, Math.round((Date.now() - counts.oldestQueuedAt) / 1000)),
      deadLetters: counts.deadLetters,
      lastSuccessAt: this.lastSuccessAt === null ? null : new Date(this.lastSuccessAt).toISOString(),
      backoffMs: this.backoffUntil > now ? this.backoffMs : null,
      lastError: this.condition.ready ? this.lastError : (this.condition.alarm?.message ?? this.lastError ?? 'connecting'),
      delivered: this.delivered,
      ...this.sink.extraStatus?.(),
    };
  }

  private onCondition(c: SinkCondition): void {
    const wasReady = this.condition.ready;
    this.condition = c;
    const kind = c.alarm?.kind ?? null;
    if (this.conditionAlarm && this.conditionAlarm !== kind) this.bus.emit('alarm.cleared', { alarmId: this.alarmId(this.conditionAlarm) });
    if (c.alarm) this.bus.emit('alarm.raised', { alarmId: this.alarmId(c.alarm.kind), severity: c.alarm.severity, message: c.alarm.message, slot: null });
    this.conditionAlarm = kind;
    if (c.ready && !wasReady) {
      // Back: whatever the backoff said, try now (a broker back after 30 s need not wait a minute).
      this.backoffUntil = 0;
      this.notBefore.clear();
      this.schedule(0);
    }
    this.changed('status');
  }

  private alarmId(kind: string): string {
    return `uplink.${this.sink.id}.${kind}`;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump();
    }, ms);
  }

  /** An error of the store (or anything unexpected) from a timer: to the fault latch, never thrown. */
  private report(err: unknown, where: string): void {
    if (this.opts.reportFault) this.opts.reportFault(err, where);
    else this.log.error({ err, sink: this.sink.id }, `${where} failed; trying again shortly`);
  }

  /** How long (ms) the oldest waiting record has waited, on the monotonic clock (see waitingSince). */
  private waitedMs(oldestAt: number | null, now: number): number {
    if (this.waitingSince?.oldestAt !== oldestAt) {
      const wallAge = oldestAt === null ? 0 : Date.now() - oldestAt;
      this.waitingSince = { oldestAt, since: now - Math.min(this.batchMaxAgeMs, Math.max(0, wallAge)) };
    }
    return now - this.waitingSince.since;
  }

  /** Starts as many batches as may be in flight; arranges the next look when nothing is ready. */
  private pump(): void {
    if (this.stopped || this.pumping || !this.condition.ready) return;
    this.pumping = true;
    try {
      const now = monotonic();
      if (this.backoffUntil > now) {
        this.schedule(this.backoffUntil - now);
        return;
      }
      const outbox = this.outbox();
      let nextLook: number | null = null;
      while (this.inFlight.size < this.opts.concurrency) {
        const open = outbox.openBatches(this.sink.id).filter((b) => !this.inFlight.has(b.batchId));
        let batch: BatchInfo | undefined = open.find((b) => (this.notBefore.get(b.batchId) ?? 0) <= now);
        if (!batch) {
          const waiting = outbox.unbatched(this.sink.id, this.opts.batchMaxRecords);
          if (waiting.count === 0) break;
          const age = this.waitedMs(waiting.oldestAt, now);
          if (waiting.count < this.opts.batchMaxRecords && age < this.batchMaxAgeMs) {
            nextLook = this.batchMaxAgeMs - age;
            break;
          }
          batch = outbox.formBatch(this.opts.batchMaxRecords, this.sink.id, this.commit) ?? undefined;
          if (!batch) break;
          this.formedHere.add(batch.batchId);
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
      this.report(err, `the uplink (${this.sink.id}) reading or forming a batch`);
      this.changed('status'); // what the dashboard shows may have changed (or cannot be read: reported too)
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
      this.report(err, `the uplink (${this.sink.id}) sending or settling a batch`);
    }
  }

  private async sendBatch(batch: BatchInfo): Promise<void> {
    const outbox = this.outbox();
    const members = outbox.members(batch.batchId);
    if (members.length === 0) {
      outbox.settle(batch.batchId, [], [], null, this.commit);
      return;
    }
    const firstTry = this.formedHere.delete(batch.batchId);
    let outcome: SendOutcome;
    try {
      outcome = await this.sink.send(outgoing(batch.batchId, this.opts.stationId, members, firstTry), this.abort.signal);
    } catch (err) {
      outcome = { kind: 'retry', reason: `the sink failed: ${(err as Error).message}`, retryAfterMs: null };
    }
    if (this.stopped) return;
    try {
      if (outcome.kind === 'retry') this.failed(batch, outcome);
      else this.settled(batch, members, outcome);
    } catch (err) {
      // Settling failed (the store): the batch stays open and is sent again; the sink deduplicates.
      this.report(err, `the uplink (${this.sink.id}) recording what the sink answered for batch ${batch.batchId} (it is sent again)`);
      this.notBefore.set(batch.batchId, monotonic() + this.opts.backoffMaxMs);
    }
  }

  private settled(batch: BatchInfo, members: BatchRecord[], outcome: Exclude<SendOutcome, { kind: 'retry' }>): void {
    const memberIds = new Set(members.map((m) => m.recordId));
    const permanent =
      outcome.kind === 'refused'
        ? members.map((m) => ({ recordId: m.recordId, reason: outcome.reason }))
        : outcome.rejected.filter((r) => r.permanent && memberIds.has(r.recordId)).map((r) => ({ recordId: r.recordId, reason: r.reason }));
    const transient = outcome.kind === 'answered' ? outcome.rejected.filter((r) => !r.permanent && memberIds.has(r.recordId)) : [];
    const accepted = outcome.kind === 'answered' ? outcome.accepted.filter((id) => memberIds.has(id)) : [];
    const note = transient.length > 0 ? `${transient.length} records rejected for now: ${transient[0]?.reason ?? ''}`.slice(0, 300) : null;
    const result = this.outbox().settle(batch.batchId, accepted, permanent, note, this.commit);
    this.delivered += result.uploaded;
    this.succeeded(outcome.kind === 'answered' ? (outcome.alarm ?? null) : null);
    if (permanent.length > 0) {
      this.log.warn({ sink: this.sink.id, batchId: batch.batchId, records: permanent.length, reason: permanent[0]?.reason }, 'the sink rejected records for good; they are kept as dead letters');
      this.changed('dead');
    }
    if (result.done) this.notBefore.delete(batch.batchId);
    else {
      // Some members were neither accepted nor rejected for good: send the batch again later,
      // without holding up the batches behind it.
      const attempts = batch.attempts + 1;
      this.notBefore.set(batch.batchId, monotonic() + backoffDelayMs(attempts, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random) + this.opts.backoffInitialMs);
      this.log.debug({ sink: this.sink.id, batchId: batch.batchId, pending: result.pending, reason: note }, 'batch partly settled; the rest is sent again later');
    }
    this.log.debug({ sink: this.sink.id, batchId: batch.batchId, uploaded: result.uploaded, deadLettered: result.deadLettered, pending: result.pending }, 'batch settled');
    this.changed('status');
  }

  private failed(batch: BatchInfo, outcome: Extract<SendOutcome, { kind: 'retry' }>): void {
    try {
      this.outbox().noteAttempt(batch.batchId, outcome.reason.slice(0, 300), this.commit);
    } catch (err) {
      this.report(err, `the uplink (${this.sink.id}) noting a failed attempt`);
    }
    this.failures++;
    const jittered = backoffDelayMs(this.failures, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random);
    const delay = Math.max(jittered, outcome.retryAfterMs ?? 0);
    const now = monotonic();
    // Another batch in flight may already have pushed the wait further out.
    if (now + delay > this.backoffUntil) {
      this.backoffUntil = now + delay;
      this.backoffMs = delay;
    }
    this.lastError = outcome.reason;
    if (!this.outageSaid) {
      this.outageSaid = true;
      this.outageStartedAt = now;
      this.log.warn(
        { sink: this.sink.id, target: this.sink.label, batchId: batch.batchId, reason: outcome.reason, retryInMs: delay },
        'uplink failing; records keep queuing and are sent when it answers',
      );
    } else {
      this.log.debug({ sink: this.sink.id, batchId: batch.batchId, reason: outcome.reason, failures: this.failures, retryInMs: delay }, 'uplink attempt failed');
    }
    if (outcome.malformed && !this.malformedSaid) {
      this.malformedSaid = true;
      this.log.warn({ sink: this.sink.id, batchId: batch.batchId, firstBytes: outcome.malformed }, 'the ingest answered outside the contract; nothing was marked uploaded');
    }
    if (outcome.alarm) this.raiseAnswerAlarm(outcome.alarm);
    this.changed('status');
  }

  private succeeded(alarm: SinkAlarm | null): void {
    if (this.failures > 0 && this.outageStartedAt !== null) {
      this.log.info({ sink: this.sink.id, failures: this.failures, outageSeconds: Math.round((monotonic() - this.outageStartedAt) / 1000) }, 'uplink answering again; draining the backlog');
    }
    this.failures = 0;
    this.backoffUntil = 0;
    this.backoffMs = null;
    this.lastSuccessAt = Date.now();
    this.lastError = alarm?.message ?? null;
    this.outageSaid = false;
    this.outageStartedAt = null;
    this.malformedSaid = false;
    for (const kind of [...this.answerAlarms.keys()]) {
      if (kind === alarm?.kind) continue;
      this.answerAlarms.delete(kind);
      this.bus.emit('alarm.cleared', { alarmId: this.alarmId(kind) });
    }
    if (alarm) this.raiseAnswerAlarm(alarm);
  }

  private raiseAnswerAlarm(alarm: SinkAlarm): void {
    const before = this.answerAlarms.get(alarm.kind);
    if (before && before.message === alarm.message && before.severity === alarm.severity) return;
    this.answerAlarms.set(alarm.kind, alarm);
    this.bus.emit('alarm.raised', { alarmId: this.alarmId(alarm.kind), severity: alarm.severity, message: alarm.message, slot: null });
  }
}

/** A batch as a sink receives it; the HTTP body is built only for a sink that reads it. */
function outgoing(batchId: string, stationId: string, records: BatchRecord[], firstTry: boolean): OutgoingBatch {
  let body: string | null = null;
  return {
    batchId,
    records,
    get body(): string {
      body ??= batchBody(batchId, stationId, records);
      return body;
    },
    recordIds: records.map((m) => m.recordId),
    firstSeq: records[0]?.seq ?? 0,
    lastSeq: records.at(-1)?.seq ?? 0,
    firstTry,
  };
}
