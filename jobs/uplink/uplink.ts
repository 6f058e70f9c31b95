// The uplink job: drains the outbox to every configured sink (the cloud's HTTP ingest, a folder, an
// MQTT broker), exactly once in effect, each sink on its own cursor (sink-runner.ts) so a sink that
// is down holds up nothing but itself.
//
// A batch's members and batchId are fixed in SQLite before its first send, so a retry after any
// failure (or after a crash) sends the same records under the same Idempotency-Key, and every
// record carries the recordId written with its verdict: a sink deduplicates, nothing is lost.
// Failures back off with capped exponential delays and full jitter; the line never waits for this.
//
// What the station shows as the uplink: its "queued" is the union over the sinks (records some sink
// still owes, station/store/outbox.ts), its state the worst sink's, and each sink's own figures in
// `sinks`. Dead letters are one alarm for all sinks (`uplink.dead-letters`); each sink's own
// problems are alarms of its own (`uplink.<sink id>.<kind>`).
import type { Logger } from 'pino';
import type { SinkStatus, StationBus, UplinkStatus } from '../../station/events.js';
import type { Store } from '../../station/store/store.js';
import type { DeadLetter, Outbox } from '../../station/store/outbox.js';
import { SinkRunner, type RunnerOptions } from './sink-runner.js';
import type { UplinkSink } from './sinks.js';

export type UplinkOptions = RunnerOptions;

const STATUS_EVERY_MS = 250;
const REFRESH_EVERY_MS = 5000;

export class UplinkJob {
  private stopped = true;
  private readonly runners: SinkRunner[];
  private deadAlarm = false;
  private statusTimer: NodeJS.Timeout | null = null;
  /** The status told again every REFRESH_EVERY_MS however quiet the line is: the queue's age moves,
   *  and a store that failed while nothing was sent is seen (and reported) here. */
  private refreshTimer: NodeJS.Timeout | null = null;
  private statusFailed = false;
  private offRun: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    sinks: readonly UplinkSink[] | UplinkSink | null,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly opts: UplinkOptions,
  ) {
    const list = sinks === null ? [] : Array.isArray(sinks) ? [...(sinks as readonly UplinkSink[])] : [sinks as UplinkSink];
    const ids = new Set<string>();
    for (const s of list) {
      if (ids.has(s.id)) throw new Error(`two uplink sinks have the id "${s.id}": give each its own name`);
      ids.add(s.id);
    }
    this.runners = list.map(
      (s) =>
        new SinkRunner(
          () => this.outbox,
          s,
          bus,
          log,
          opts,
          (what) => (what === 'dead' ? this.onDead() : this.emitStatus()),
        ),
    );
  }

  /** The store's outbox (station/store/outbox.ts), once the store is open. */
  get outbox(): Outbox {
    return this.store.outbox;
  }

  get configured(): boolean {
    return this.runners.length > 0;
  }

  get sinks(): UplinkSink[] {
    return this.runners.map((r) => r.sink);
  }

  start(): void {
    this.stopped = false;
    // The configured sinks are the active ones: a sink seen first now starts at the first record
    // still waiting; one removed from the configuration no longer holds records back.
    this.outbox.registerSinks(this.runners.map((r) => r.sink.id));
    this.offRun = this.bus.on('run.finished', (r) => {
      if (r.recordId) for (const runner of this.runners) runner.wake();
    });
    if (this.runners.length === 0) this.log.warn('the uplink is not configured (uplink.sinks, or uplink.url and uplink.apiKey, or uplink.sink "file"); records keep queuing in the outbox');
    else this.log.info({ sinks: this.runners.map((r) => `${r.sink.id}: ${r.sink.label}`) }, 'uplink started');
    for (const runner of this.runners) runner.start();
    this.refreshDeadAlarm();
    this.emitStatus();
    this.refreshTimer = setInterval(() => this.emitStatus(), REFRESH_EVERY_MS);
    this.refreshTimer.unref();
  }

  /** Stops sending: batches in flight are abandoned (they stay open and go first next time). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.offRun?.();
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = null;
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    await Promise.allSettled(this.runners.map((r) => r.stop()));
  }

  status(): UplinkStatus {
    const counts = this.outbox.counts();
    const sinks: SinkStatus[] = this.runners.map((r) => r.status());
    let state: UplinkStatus['state'];
    if (sinks.length === 0) state = 'not configured';
    else if (sinks.every((s) => s.state === 'online')) state = 'online';
    else if (sinks.every((s) => s.state === 'offline')) state = 'offline';
    else state = 'degraded';
    const several = sinks.length > 1;
    const erring = sinks.find((s) => s.lastError !== null);
    const backoffs = sinks.map((s) => s.backoffMs).filter((b): b is number => b !== null);
    const successes = sinks.map((s) => s.lastSuccessAt);
    return {
      state,
      sink: sinks.length === 0 ? null : sinks.map((s) => s.kind).join('+'),
      queued: counts.queued,
      oldestQueuedAgeSeconds: counts.oldestQueuedAt === null ? null : Math.max(0, Math.round((Date.now() - counts.oldestQueuedAt) / 1000)),
      deadLetters: counts.deadLetters,
      lastSuccessAt: successes.length === 0 || successes.some((s) => s === null) ? null : ([...(successes as string[])].sort()[0] ?? null),
      backoffMs: backoffs.length > 0 ? Math.max(...backoffs) : null,
      lastError: erring ? (several ? `${erring.id}: ${erring.lastError}` : erring.lastError) : null,
      sinks,
    };
  }

  /** Records a sink refused for good (of one sink, or all), newest first (the engineer console). */
  deadLetters(limit: number, sinkId: string | null = null): DeadLetter[] {
    return this.outbox.deadLetters(limit, sinkId);
  }

  /** Dead letters sent again (after the sink was fixed); they join the sink's next batch. */
  requeueDeadLetters(recordIds: readonly string[], sinkId: string | null = null): number {
    const n = this.outbox.requeue(recordIds, sinkId);
    if (n > 0) {
      this.log.info({ records: n, sink: sinkId ?? 'every sink holding them' }, 'dead letters queued again');
      this.refreshDeadAlarm();
      this.emitStatus();
      for (const runner of this.runners) runner.wake();
    }
    return n;
  }

  /** An error of the store from a timer: to the fault latch (station/fault-latch.ts), never thrown. */
  private report(err: unknown, where: string): void {
    if (this.opts.reportFault) this.opts.reportFault(err, where);
    else this.log.error({ err }, `${where} failed`);
  }

  private onDead(): void {
    this.refreshDeadAlarm();
    this.emitStatus();
  }

  private refreshDeadAlarm(): void {
    let dead: number;
    let bySink: SinkStatus[] = [];
    try {
      dead = this.outbox.counts().deadLetters;
      if (dead > 0 && this.runners.length > 1) bySink = this.runners.map((r) => r.status()).filter((s) => s.deadLetters > 0);
    } catch (err) {
      this.report(err, 'the uplink counting the dead letters');
      return;
    }
    if (dead > 0) {
      this.deadAlarm = true;
      const which = bySink.length > 0 ? ` (${bySink.map((s) => `${s.id}: ${s.deadLetters}`).join(', ')})` : '';
      this.bus.emit('alarm.raised', {
        alarmId: 'uplink.dead-letters',
        severity: 'warning',
        message: `${dead} record${dead === 1 ? '' : 's'} rejected for good (dead letters)${which}: see GET /api/uplink/dead-letters`,
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
    this.sendStatus();
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      if (!this.stopped) this.sendStatus();
    }, STATUS_EVERY_MS);
  }

  private sendStatus(): void {
    let status: UplinkStatus;
    try {
      status = this.status();
    } catch (err) {
      // The store failed to count (an I/O error): say so once, send nothing stale.
      if (!this.statusFailed) this.report(err, 'the uplink status refresh');
      this.statusFailed = true;
      return;
    }
    this.statusFailed = false;
    this.bus.emit('uplink.status', status);
  }
}
