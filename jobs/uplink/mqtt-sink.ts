// The MQTT sink: each record of a batch is published to `units/<deviceId>/result` (mqtt-topics.ts)
// at QoS 1, not retained: the cloud record as JSON, its recordId also as the MQTT 5 user property
// `recordId`. A record counts as delivered to this sink only on its PUBACK with a reason code below
// 0x80; anything else keeps it queued (a broker that drops the connection, an ACL that says "Not
// authorized") and it is published again later with the same recordId, so a consumer deduplicates
// by it. A record too large for the broker (its CONNACK's Maximum Packet Size) is never sent: it
// becomes this sink's dead letter, with the sizes in its reason.
//
// The broker connection (drivers/mqtt/connection.ts) is shared with the live topics (mqtt-live.ts);
// this sink opens and closes it with the uplink, and tells the uplink when it is up or why not.
// With `"sparkplug": true` it also reports the Sparkplug B edge node's own connection
// (sparkplug-node.ts) in its health entry, and raises the warning `uplink.<id>.sparkplug` when that
// connection has been down for sparkplugAlarmAfterMs while this one is up (a broker that takes the
// UNS client but not the edge node's: SCADA sees the station dead while results still flow).
import type { ConnectionProblem, MqttConnection, PublishResult } from '../../drivers/mqtt/connection.js';
import type { BatchRecord } from '../../station/store/outbox.js';
import type { SinkStatus } from '../../station/events.js';
import type { StationTopics } from './mqtt-topics.js';
import type { OutgoingBatch, SendOutcome, SinkAlarm, SinkCondition, UplinkSink } from './sinks.js';
import { sparkplugStatus, type SparkplugLink } from './sparkplug-node.js';

export interface MqttSinkOptions {
  id: string;
  qos: 1 | 2;
  /** The wait for a batch's acknowledgements; what has not been acknowledged by then is sent again later. */
  ackTimeoutMs: number;
  /** A broker that cannot be reached (or dropped the connection) for this long raises an alarm. */
  alarmAfterMs?: number;
  /** The Sparkplug B edge node's connection to the same broker (`"sparkplug": true`), or null. */
  sparkplug?: SparkplugLink | null;
  /** The edge node disconnected this long while the UNS connection is up raises a warning (default 30 s). */
  sparkplugAlarmAfterMs?: number;
}

/** The causes that are a configuration problem at once, not a broker restarting. */
const CRITICAL = new Set<ConnectionProblem['cause']>(['login', 'tls', 'taken-over']);
/** Causes that are an alarm as soon as they happen (each already took a timeout to find out). */
const AT_ONCE = new Set<ConnectionProblem['cause']>(['login', 'tls', 'taken-over', 'no-answer', 'refused']);

/** The record as published: the outbox record with its seq first, as in an HTTP batch. */
export function resultPayload(r: BatchRecord): string {
  return `{"seq":${r.seq},${r.payload.slice(1)}`;
}

export class MqttSink implements UplinkSink {
  readonly kind = 'mqtt';
  readonly id: string;
  readonly batching = { maxAgeMs: 0 };
  // A batch is only bookkeeping here: a record published twice (its batch lost to a power cut)
  // carries its recordId, so forming and settling need not wait for an fsync.
  readonly durableBatches = false;

  constructor(
    private readonly conn: MqttConnection,
    private readonly topics: StationTopics,
    private readonly opts: MqttSinkOptions,
  ) {
    this.id = opts.id;
  }

  get label(): string {
    return `${this.conn.target} ${this.topics.base}`;
  }

  start(): void {
    this.conn.start();
  }

  stop(): Promise<void> {
    return this.conn.stop();
  }

  extraStatus(): Pick<SinkStatus, 'sparkplug'> {
    return this.opts.sparkplug ? { sparkplug: sparkplugStatus(this.opts.sparkplug) } : {};
  }

  watch(listener: (condition: SinkCondition) => void): () => void {
    let timer: NodeJS.Timeout | null = null;
    let downSince: number | null = null;
    const sparkplug = this.opts.sparkplug?.connection ?? null;
    const sparkplugAfterMs = this.opts.sparkplugAlarmAfterMs ?? 30_000;
    /** Monotonic: since when the edge node has been down while the UNS connection is up. */
    let sparkplugDownSince: number | null = null;
    /** The Sparkplug alarm, or null; while it is not due yet, `tell` is scheduled for when it is. */
    const sparkplugAlarm = (): SinkAlarm | null => {
      if (!sparkplug || !this.conn.isUp || sparkplug.isUp) {
        sparkplugDownSince = null;
        return null;
      }
      sparkplugDownSince ??= performance.now();
      const wait = sparkplugAfterMs - (performance.now() - sparkplugDownSince);
      if (wait > 0) {
        timer = setTimeout(tell, wait);
        return null;
      }
      const why = sparkplug.problem?.message ?? `not connected to ${sparkplug.target} yet`;
      return {
        kind: 'sparkplug',
        severity: 'warning',
        message: `MQTT sink "${this.id}": the Sparkplug B edge node has been disconnected for over ${sparkplugAfterMs >= 1000 ? `${Math.round(sparkplugAfterMs / 1000)} s` : `${sparkplugAfterMs} ms`} while the UNS connection is up (${why}); SCADA sees the station offline, unit results still flow`,
      };
    };
    const tell = (): void => {
      if (timer) clearTimeout(timer);
      timer = null;
      const problem = this.conn.problem;
      if (this.conn.isUp || !problem) {
        downSince = null;
        listener({ ready: this.conn.isUp, alarm: sparkplugAlarm() });
        return;
      }
      sparkplugDownSince = null;
      downSince ??= performance.now();
      const wait = (this.opts.alarmAfterMs ?? 10_000) - (performance.now() - downSince);
      if (AT_ONCE.has(problem.cause) || wait <= 0) {
        listener({ ready: false, alarm: this.connectionAlarm(problem) });
        return;
      }
      // A broker restarting is back within seconds: an alarm only if it is not.
      listener({ ready: false, alarm: null });
      timer = setTimeout(tell, wait);
    };
    const offUp = this.conn.events.on('up', tell);
    const offDown = this.conn.events.on('down', tell);
    const offSparkplug = sparkplug ? [sparkplug.events.on('up', tell), sparkplug.events.on('down', tell)] : [];
    tell();
    return () => {
      offUp();
      offDown();
      for (const off of offSparkplug) off();
      if (timer) clearTimeout(timer);
    };
  }

  private connectionAlarm(problem: ConnectionProblem): SinkAlarm {
    return { kind: 'connection', severity: CRITICAL.has(problem.cause) ? 'critical' : 'warning', message: `MQTT sink "${this.id}": ${problem.message}; records keep queuing` };
  }

  async send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome> {
    if (!this.conn.isUp) return { kind: 'retry', reason: this.conn.problem?.message ?? `not connected to ${this.conn.target}`, retryAfterMs: null };
    const records = batch.records;
    const results = new Array<PublishResult | undefined>(records.length);
    await new Promise<void>((resolve) => {
      let next = 0;
      let inFlight = 0;
      let finished = false;
      const timer = setTimeout(done, this.opts.ackTimeoutMs);
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      // Only as many publishes as the connection's window are handed over at once: the rest of the
      // batch waits here as the outbox rows it already is, not as thousands of pending messages.
      const launch = (): void => {
        const window = this.conn.window();
        while (!finished && inFlight < window && next < records.length) {
          const i = next++;
          const r = records[i] as BatchRecord;
          inFlight++;
          void this.conn.publish({ topic: this.topics.result(r.deviceId), payload: resultPayload(r), qos: this.opts.qos, retain: false, userProperties: { recordId: r.recordId } }).then((res) => {
            results[i] = res;
            inFlight--;
            if (next >= records.length && inFlight === 0) done();
            else launch();
          });
        }
      };
      if (records.length === 0) done();
      else launch();
    });
    const accepted: string[] = [];
    const rejected: { recordId: string; permanent: boolean; reason: string }[] = [];
    let denied: { topic: string; reason: string } | null = null;
    records.forEach((r, i) => {
      const res = results[i];
      if (res === undefined) rejected.push({ recordId: r.recordId, permanent: false, reason: `no acknowledgement from ${this.conn.target} within ${this.opts.ackTimeoutMs} ms` });
      else if (res.ok) accepted.push(r.recordId);
      else if (res.kind === 'too-large') rejected.push({ recordId: r.recordId, permanent: true, reason: `too large for the broker ${this.conn.target}: ${res.reason}` });
      else {
        if (res.kind === 'refused') denied ??= { topic: this.topics.result(r.deviceId), reason: res.reason };
        rejected.push({ recordId: r.recordId, permanent: false, reason: res.kind === 'refused' ? `the broker refused the PUBLISH: ${res.reason}` : res.reason });
      }
    });
    const refusal = denied as { topic: string; reason: string } | null;
    const alarm: SinkAlarm | undefined = refusal
      ? {
          kind: 'denied',
          severity: 'critical',
          message: `the broker ${this.conn.target} refuses unit results on ${refusal.topic}: ${refusal.reason}; check its ACL for the station's user. Records keep queuing`,
        }
      : undefined;
    if (accepted.length === 0 && rejected.every((r) => !r.permanent)) {
      return { kind: 'retry', reason: rejected[0]?.reason ?? 'nothing acknowledged', retryAfterMs: null, ...(alarm ? { alarm } : {}) };
    }
    return { kind: 'answered', accepted, rejected, ...(alarm ? { alarm } : {}) };
  }
}
