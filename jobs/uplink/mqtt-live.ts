// The station's live state on its MQTT topics (mqtt-topics.ts, docs/mqtt.md), from the event bus:
//  - `state`: `{"state":"online", version, sequenceHash, ...}`, retained, published on every connect
//    and when the active sequence changes; the connection's Last Will (stationWill) sets it to
//    `offline` when the station dies, and a clean stop publishes `offline` itself (a clean
//    DISCONNECT discards the Will);
//  - `slots/<n>/state`: each slot's state, retained, on change, at most 4 a second per slot (the
//    latest state wins; a slot's last state is never dropped, only coalesced);
//  - `alarms`: the active alarms and the change that caused the message, retained, QoS 1;
//  - `metrics`: shift counts, yield, backlog, token pool, every 10 s, retained.
// Retained topics are what a fleet view reads first, so on every (re)connect all of them are
// published again: a broker that lost its retained store (restarted without persistence) gets them
// back at once.
import type { Logger } from 'pino';
import type { MqttConnection, MqttMessage } from '../../drivers/mqtt/connection.js';
import type { AlarmEntry } from '../../station/alarms.js';
import type { SlotSnapshot, StationBus, UplinkStatus } from '../../station/events.js';
import type { Counters } from '../../station/server/shift.js';
import type { StationTopics } from './mqtt-topics.js';

export interface LiveSource {
  bus: StationBus;
  stationId: string;
  version: string;
  slots(): SlotSnapshot[];
  sequence(): { name: string; hash: string };
  /** Alarms whose cause is still there (the alarm board's). */
  alarms(): AlarmEntry[];
  /** The figures of the `metrics` topic. */
  metrics(): object;
}

export interface LiveOptions {
  metricsEveryMs?: number;
  /** The shortest time between two publishes of one slot's state. */
  slotMinIntervalMs?: number;
  /** The wait for the broker to acknowledge `offline` on a clean stop. */
  stopWaitMs?: number;
}

/** The Last Will of the station's connection: `state` set to offline, retained. */
export function stationWill(topics: StationTopics, stationId: string, version: string): MqttMessage {
  return { topic: topics.state, payload: JSON.stringify({ state: 'offline', reason: 'connection lost', stationId, version }), qos: 1, retain: true };
}

/** What the `metrics` topic carries (docs/mqtt.md), from the station's parts: the shift's counters
 *  (the dashboard's), the uplink's backlog, the token pool and the slots. The fleet view
 *  (docs/fleet.md) reads its yield and backlog from here. */
export function stationMetrics(p: {
  shift: Counters;
  uplink: Pick<UplinkStatus, 'queued' | 'oldestQueuedAgeSeconds' | 'deadLetters'> & { sinks: Pick<UplinkStatus['sinks'][number], 'id' | 'state' | 'queued'>[] };
  tokensAvailable: number | null;
  slots: readonly Pick<SlotSnapshot, 'state' | 'connected'>[];
}): object {
  const { uplink, slots } = p;
  return {
    shift: p.shift,
    uplink: {
      queued: uplink.queued,
      oldestQueuedAgeSeconds: uplink.oldestQueuedAgeSeconds,
      deadLetters: uplink.deadLetters,
      sinks: uplink.sinks.map((s) => ({ id: s.id, state: s.state, queued: s.queued })),
    },
    tokensAvailable: p.tokensAvailable,
    slots: { total: slots.length, busy: slots.filter((s) => ['identifying', 'blinkup', 'testing', 'blessing'].includes(s.state)).length, connected: slots.filter((s) => s.connected).length },
  };
}

interface SlotEntry {
  latest: string;
  sent: string | null;
  lastAt: number;
  timer: NodeJS.Timeout | null;
}

export class MqttLivePublisher {
  private readonly slots = new Map<number, SlotEntry>();
  private offs: (() => void)[] = [];
  private metricsTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  private readonly slotMinIntervalMs: number;

  constructor(
    private readonly conn: MqttConnection,
    private readonly topics: StationTopics,
    private readonly source: LiveSource,
    private readonly log: Logger,
    private readonly opts: LiveOptions = {},
  ) {
    this.slotMinIntervalMs = opts.slotMinIntervalMs ?? 250;
  }

  start(): void {
    this.stopped = false;
    const { bus } = this.source;
    this.offs.push(
      this.conn.events.on('up', () => this.publishAll()),
      bus.on('slot.state', (s) => this.onSlot(s)),
      bus.on('alarm.raised', (a) => this.publishAlarms({ event: 'raised', alarmId: a.alarmId })),
      bus.on('alarm.cleared', (a) => this.publishAlarms({ event: 'cleared', alarmId: a.alarmId })),
      bus.on('sequence.changed', () => this.publishState()),
    );
    for (const s of this.source.slots()) this.remember(s);
    this.metricsTimer = setInterval(() => this.publishMetrics(), this.opts.metricsEveryMs ?? 10_000);
    this.metricsTimer.unref();
    if (this.conn.isUp) this.publishAll();
  }

  /** Publishes `offline` (the station is stopping, not lost) and stops listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
    if (this.metricsTimer) clearInterval(this.metricsTimer);
    this.metricsTimer = null;
    for (const e of this.slots.values()) if (e.timer) clearTimeout(e.timer);
    if (!this.conn.isUp) return;
    // The slots' last states (the line stopped first: interrupted runs, refused slots), held back by
    // the 4-a-second limit, go out now; then `offline`.
    for (const [slot, e] of this.slots) {
      if (e.latest !== e.sent) void this.conn.publish({ topic: this.topics.slot(slot), payload: e.latest, qos: 1, retain: true });
    }
    const offline = this.conn.publish({
      topic: this.topics.state,
      payload: JSON.stringify({ state: 'offline', reason: 'stopped', stationId: this.source.stationId, version: this.source.version }),
      qos: 1,
      retain: true,
    });
    let cap: NodeJS.Timeout | null = null;
    await Promise.race([offline, new Promise((r) => (cap = setTimeout(r, this.opts.stopWaitMs ?? 1500)))]);
    if (cap) clearTimeout(cap);
  }

  private publishAll(): void {
    if (this.stopped) return;
    this.publishState();
    for (const s of this.source.slots()) this.remember(s);
    for (const [slot, e] of this.slots) {
      e.sent = null;
      e.lastAt = 0;
      this.flushSlot(slot);
    }
    this.publishAlarms(null);
    this.publishMetrics();
  }

  private publish(topic: string, payload: object, what: string): Promise<boolean> {
    return this.conn.publish({ topic, payload: JSON.stringify(payload), qos: 1, retain: true }).then((r) => {
      if (!r.ok) this.log.debug({ topic, what, reason: r.reason }, 'a live topic was not published; it is published again on the next connect');
      return r.ok;
    });
  }

  private publishState(): void {
    if (this.stopped || !this.conn.isUp) return;
    const seq = this.source.sequence();
    void this.publish(
      this.topics.state,
      { state: 'online', stationId: this.source.stationId, version: this.source.version, sequence: seq.name, sequenceHash: seq.hash, since: new Date().toISOString() },
      'state',
    );
  }

  private remember(s: SlotSnapshot): SlotEntry {
    const latest = JSON.stringify({
      slot: s.slot,
      name: s.name,
      state: s.state,
      connected: s.connected,
      deviceId: s.deviceId,
      runId: s.runId,
      step: s.step,
      reason: s.reason,
      detail: s.detail,
      since: new Date(s.since).toISOString(),
    });
    let e = this.slots.get(s.slot);
    if (!e) {
      e = { latest, sent: null, lastAt: 0, timer: null };
      this.slots.set(s.slot, e);
    } else e.latest = latest;
    return e;
  }

  private onSlot(s: SlotSnapshot): void {
    this.remember(s);
    this.flushSlot(s.slot);
  }

  /** Publishes a slot's latest state unless it was published less than slotMinIntervalMs ago (then
   *  once that time is up, whatever the state is by then). */
  private flushSlot(slot: number): void {
    const e = this.slots.get(slot);
    if (!e || e.timer || this.stopped || !this.conn.isUp || e.latest === e.sent) return;
    const wait = e.lastAt + this.slotMinIntervalMs - performance.now();
    if (wait > 0) {
      e.timer = setTimeout(() => {
        e.timer = null;
        this.flushSlot(slot);
      }, wait);
      return;
    }
    e.lastAt = performance.now();
    const payload = e.latest;
    e.sent = payload;
    void this.conn.publish({ topic: this.topics.slot(slot), payload, qos: 1, retain: true }).then((r) => {
      if (!r.ok && e.sent === payload) e.sent = null;
    });
  }

  private publishAlarms(change: { event: 'raised' | 'cleared'; alarmId: string } | null): void {
    if (this.stopped || !this.conn.isUp) return;
    const active = this.source.alarms().map((a) => ({ alarmId: a.alarmId, severity: a.severity, message: a.message, slot: a.slot, since: a.since, acknowledged: a.acknowledged }));
    void this.publish(this.topics.alarms, { at: new Date().toISOString(), active, change }, 'alarms');
  }

  private publishMetrics(): void {
    if (this.stopped || !this.conn.isUp) return;
    let metrics: object;
    try {
      metrics = this.source.metrics();
    } catch (err) {
      this.log.warn({ err }, 'the metrics for MQTT could not be read');
      return;
    }
    void this.publish(this.topics.metrics, { at: new Date().toISOString(), ...metrics }, 'metrics');
  }
}
