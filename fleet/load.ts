// `npm run fleet-load`: simulated stations publishing to a broker with the station's own MQTT code
// (docs/fleet.md), for the fleet view's tests, its bench and a demo:
//   npm run fleet-load -- --broker mqtt://host:1883 --stations 50 [--slots 4] [--unit-every 20s]
//     [--prefix uns] [--enterprise acme] [--first 0] [--pass-rate 0.9]
// FLEET_MQTT_USERNAME / FLEET_MQTT_PASSWORD give a login.
//
// Each simulated station is what a real one has on the broker, and nothing hand-written: its own
// MqttConnection (drivers/mqtt/connection.ts) with its client id and its Last Will (stationWill),
// the live publisher (MqttLivePublisher: state, slots, alarms, metrics, with the station's own
// coalescing and payloads, fed through a StationBus as the line feeds it), and the MQTT sink
// (MqttSink) publishing each verdict's cloud record built by the outbox's recordPayload. Only the
// line is simulated: each slot runs a unit every --unit-every (identifying, testing through its
// steps, blessing, pass or fail, idle), its phase spread at random.
//
// Station i (from --first) is `st0001`…, ten stations a line, 25 lines a site:
// `<prefix>/<enterprise>/site<k>/assembly/line<j>/st<nnnn>`.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pino, { type Logger } from 'pino';
import { MqttConnection } from '../drivers/mqtt/connection.js';
import { MqttLivePublisher, stationMetrics, stationWill, type LiveSource } from '../jobs/uplink/mqtt-live.js';
import { MqttSink } from '../jobs/uplink/mqtt-sink.js';
import { StationTopics } from '../jobs/uplink/mqtt-topics.js';
import type { OutgoingBatch } from '../jobs/uplink/sinks.js';
import { StationBus, type SlotSnapshot, type SlotStateName } from '../station/events.js';
import { recordPayload, type BatchRecord } from '../station/store/outbox.js';
import { uuidv7 } from '../station/store/ids.js';

export interface LoadOptions {
  broker: string;
  prefix?: string;
  enterprise?: string;
  stations: number;
  /** The index of the first station (several generators side by side: 0, 100, ...). */
  first?: number;
  slots?: number;
  /** One unit a slot every this many ms. */
  unitEveryMs?: number;
  /** Steps of a unit (each a `slot.state`, as the real line's step changes). */
  steps?: number;
  passRate?: number;
  username?: string;
  password?: string;
  log?: Logger;
}

type Alarm = ReturnType<LiveSource['alarms']>[number];
type Counters = Parameters<typeof stationMetrics>[0]['shift'];

const VERSION = '0.1.0-fleet-load';
const SEQUENCE = { name: 'fleet-load', hash: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0' };

/** Station i's place in the namespace. */
export function stationPlace(i: number): { site: string; area: string; line: string; stationId: string } {
  return { site: `site${1 + Math.floor(i / 250)}`, area: 'assembly', line: `line${1 + Math.floor((i % 250) / 10)}`, stationId: `st${String(i + 1).padStart(4, '0')}` };
}

export class SimStation {
  readonly topics: StationTopics;
  readonly conn: MqttConnection;
  readonly stationId: string;
  private readonly bus: StationBus;
  private readonly live: MqttLivePublisher;
  private readonly sink: MqttSink;
  private readonly slotState: SlotSnapshot[];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly alarmList: Alarm[] = [];
  private readonly pending: BatchRecord[] = [];
  private sending = false;
  private seq = 0;
  private stopped = false;
  private readonly startedAt = Date.now();
  private tested = 0;
  private passed = 0;
  private readonly recent: number[] = [];

  constructor(
    readonly index: number,
    private readonly o: Required<Omit<LoadOptions, 'username' | 'password' | 'log' | 'first'>> & Pick<LoadOptions, 'username' | 'password'> & { log: Logger },
  ) {
    const place = stationPlace(index);
    this.stationId = place.stationId;
    this.topics = new StationTopics({ topicPrefix: o.prefix, enterprise: o.enterprise, ...place });
    const log = o.log.child({ station: place.stationId });
    this.bus = new StationBus(log);
    this.conn = new MqttConnection({
      url: o.broker,
      clientId: `station-${place.stationId}`,
      username: o.username,
      password: o.password,
      sessionExpirySec: 300,
      keepaliveSec: 30,
      connectTimeoutMs: 10_000,
      will: () => stationWill(this.topics, place.stationId, VERSION),
      reconnect: { initialMs: 250, maxMs: 5000 },
      log,
    });
    const now = Date.now();
    this.slotState = Array.from({ length: o.slots }, (_, slot) => ({
      slot,
      name: `Nest ${slot + 1}`,
      state: 'idle' as SlotStateName,
      connected: true,
      runId: null,
      deviceId: null,
      step: null,
      reason: null,
      detail: null,
      since: now,
    }));
    this.live = new MqttLivePublisher(
      this.conn,
      this.topics,
      {
        bus: this.bus,
        stationId: place.stationId,
        version: VERSION,
        slots: () => this.slotState.map((s) => ({ ...s })),
        sequence: () => SEQUENCE,
        alarms: () => this.alarmList.slice(),
        metrics: () => this.metrics(),
      },
      log,
    );
    this.sink = new MqttSink(this.conn, this.topics, { id: 'mqtt', qos: 1, ackTimeoutMs: 10_000 });
    this.conn.events.on('up', () => void this.sendPending());
  }

  start(): void {
    this.live.start();
    this.sink.start();
    // Each slot starts somewhere in its first cycle, so the fleet's units are spread in time.
    for (const s of this.slotState) this.later(Math.random() * this.o.unitEveryMs, () => this.runUnit(s.slot));
  }

  /** A clean stop: `offline` (stopped) published, then DISCONNECT. */
  async stop(): Promise<void> {
    this.halt();
    await this.live.stop();
    await this.sink.stop();
  }

  /** Dies: the connection dropped without DISCONNECT, so the broker publishes the Last Will. */
  kill(): void {
    this.halt();
    void this.live.stop();
    this.conn.abandon();
  }

  private halt(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  raiseAlarm(alarmId: string, severity: 'warning' | 'critical', message: string): void {
    this.alarmList.push({ alarmId, severity, message, slot: null, since: new Date().toISOString(), acknowledged: false, cleared: false, shelved: null });
    this.bus.emit('alarm.raised', { alarmId, severity, message, slot: null });
  }

  /** Ends the unit on a slot now with this verdict (the test's known unit); the slot goes on cycling. */
  verdict(slot: number, deviceId: string, status: 'blessed' | 'failed'): void {
    this.finish(slot, deviceId, status, Date.now() - 1000);
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  private set(slot: number, patch: Partial<SlotSnapshot>): void {
    const s = this.slotState[slot] as SlotSnapshot;
    Object.assign(s, patch, { since: Date.now() });
    this.bus.emit('slot.state', { ...s });
  }

  /** One unit on a slot: a cycle of unitEveryMs, each change at least 300 ms after the one before
   *  (the station publishes a slot at most 4 times a second). */
  private runUnit(slot: number): void {
    const c = this.o.unitEveryMs;
    const deviceId = randomBytes(8).toString('hex');
    const startedAt = Date.now();
    const gap = (f: number): number => Math.max(300, c * f);
    this.set(slot, { state: 'identifying', deviceId, runId: uuidv7(), step: null, reason: null });
    let at = gap(0.05);
    // A short cycle (a test's) has fewer steps: never two changes of a slot within 300 ms.
    const steps = Math.max(1, Math.min(this.o.steps, Math.floor((c * 0.65) / 300)));
    this.later(at, () => this.set(slot, { state: 'testing', step: { index: 1, count: steps, name: 'Step 1' } }));
    const stepGap = Math.max(300, (c * 0.65) / steps);
    for (let i = 2; i <= steps; i++) {
      at += stepGap;
      this.later(at, () => this.set(slot, { step: { index: i, count: steps, name: `Step ${i}` } }));
    }
    at += stepGap;
    this.later(at, () => this.set(slot, { state: 'blessing', step: null }));
    at += gap(0.05);
    this.later(at, () => this.finish(slot, deviceId, Math.random() < this.o.passRate ? 'blessed' : 'failed', startedAt));
    at += gap(0.1);
    this.later(at, () => this.set(slot, { state: 'idle', deviceId: null, runId: null, reason: null }));
    this.later(Math.max(at + 300, c), () => this.runUnit(slot));
  }

  private finish(slot: number, deviceId: string, status: 'blessed' | 'failed', startedAt: number): void {
    const endedAt = Date.now();
    const failStep = status === 'failed' ? 'Battery voltage' : null;
    const reason = status === 'failed' ? '3.199 V below low 3.4 V' : null;
    const runId = this.slotState[slot]?.runId ?? uuidv7();
    this.set(slot, { state: status === 'blessed' ? 'pass' : 'fail', deviceId, step: null, reason });
    this.tested++;
    if (status === 'blessed') this.passed++;
    this.recent.push(endedAt);
    const recordId = uuidv7(endedAt);
    const payload = recordPayload(recordId, {
      stationId: this.stationId,
      identity: { deviceId, mac: randomBytes(6).toString('hex'), iccid: null, imei: null },
      verdict: status,
      mode: 'production',
      runId,
      attempt: 1,
      rework: false,
      sequenceHash: SEQUENCE.hash,
      variant: null,
      failStep,
      reason,
      startedAt,
      endedAt,
    });
    this.pending.push({ seq: ++this.seq, recordId, deviceId, payload });
    void this.sendPending();
  }

  /** The records not acknowledged yet, through the MQTT sink, as the uplink hands it batches. */
  private async sendPending(): Promise<void> {
    if (this.sending || this.pending.length === 0 || !this.conn.isUp) return;
    this.sending = true;
    try {
      while (this.pending.length > 0 && this.conn.isUp) {
        const records = this.pending.slice(0, 100);
        const batch: OutgoingBatch = {
          batchId: uuidv7(),
          records,
          body: '',
          recordIds: records.map((r) => r.recordId),
          firstSeq: (records[0] as BatchRecord).seq,
          lastSeq: (records[records.length - 1] as BatchRecord).seq,
        };
        const outcome = await this.sink.send(batch, new AbortController().signal);
        const done = new Set(outcome.kind === 'answered' ? outcome.accepted : []);
        if (done.size === 0) break;
        for (let i = this.pending.length - 1; i >= 0; i--) if (done.has((this.pending[i] as BatchRecord).recordId)) this.pending.splice(i, 1);
      }
    } finally {
      this.sending = false;
    }
  }

  private metrics(): object {
    const now = Date.now();
    while (this.recent.length > 0 && (this.recent[0] as number) < now - 3_600_000) this.recent.shift();
    const span = Math.max(now - Math.max(this.startedAt, now - 3_600_000), 300_000);
    const shift: Counters = {
      shiftStartedAt: new Date(this.startedAt).toISOString(),
      tested: this.tested,
      passed: this.passed,
      failed: this.tested - this.passed,
      firstPassYield: this.tested > 0 ? this.passed / this.tested : null,
      finalYield: this.tested > 0 ? this.passed / this.tested : null,
      unitsPerHour: Math.round((this.recent.length * 3_600_000 * 10) / span) / 10,
    };
    const queued = this.pending.length;
    const oldest = this.pending[0] ? (now - Date.parse((JSON.parse(this.pending[0].payload) as { endedAt: string }).endedAt)) / 1000 : null;
    const state = this.conn.isUp ? 'online' : 'offline';
    return stationMetrics({
      shift,
      uplink: { queued, oldestQueuedAgeSeconds: oldest, deadLetters: 0, sinks: [{ id: 'mqtt', state, queued }] },
      tokensAvailable: null,
      slots: this.slotState,
    });
  }
}

export class FleetLoad {
  readonly stations: SimStation[] = [];

  constructor(private readonly opts: LoadOptions) {
    const log = opts.log ?? pino({ level: 'silent' });
    const first = opts.first ?? 0;
    const o = {
      broker: opts.broker,
      prefix: opts.prefix ?? 'uns',
      enterprise: opts.enterprise ?? 'acme',
      stations: opts.stations,
      slots: opts.slots ?? 4,
      unitEveryMs: opts.unitEveryMs ?? 20_000,
      steps: opts.steps ?? 16,
      passRate: opts.passRate ?? 0.9,
      username: opts.username,
      password: opts.password,
      log,
    };
    for (let i = 0; i < opts.stations; i++) this.stations.push(new SimStation(first + i, o));
  }

  /** Starts every station (a few at a time, not a connect storm); resolves when all are connected. */
  async start(): Promise<void> {
    const ups = this.stations.map((s) => new Promise<void>((resolve) => s.conn.events.on('up', () => resolve())));
    for (let i = 0; i < this.stations.length; i++) {
      (this.stations[i] as SimStation).start();
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(ups);
  }

  async stop(): Promise<void> {
    await Promise.all(this.stations.map((s) => s.stop()));
  }
}

function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration (20s, 500ms, 1m)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

async function main(): Promise<void> {
  const USAGE = 'usage: npm run fleet-load -- --broker mqtt://host:port --stations N [--slots 4] [--unit-every 20s] [--prefix uns] [--enterprise acme] [--first 0] [--pass-rate 0.9]\n';
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        broker: { type: 'string' },
        stations: { type: 'string', default: '50' },
        slots: { type: 'string', default: '4' },
        'unit-every': { type: 'string', default: '20s' },
        prefix: { type: 'string', default: 'uns' },
        enterprise: { type: 'string', default: 'acme' },
        first: { type: 'string', default: '0' },
        'pass-rate': { type: 'string', default: '0.9' },
      },
    }));
    if (!values.broker) throw new Error('--broker is required');
    for (const k of ['stations', 'slots', 'first'] as const) if (!/^\d+$/.test(values[k] as string)) throw new Error(`--${k}: "${values[k]}" is not a whole number`);
    if (Number(values.stations) < 1 || Number(values.slots) < 1 || Number(values.slots) > 64) throw new Error('--stations must be at least 1, --slots 1 to 64');
    const passRate = Number(values['pass-rate']);
    if (!(passRate >= 0 && passRate <= 1)) throw new Error(`--pass-rate: "${values['pass-rate']}" is not from 0 to 1`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  let unitEveryMs: number;
  try {
    unitEveryMs = duration(values['unit-every'] as string);
  } catch (err) {
    process.stderr.write(`--unit-every: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const log = pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { part: 'fleet-load' } });
  const load = new FleetLoad({
    broker: values.broker as string,
    stations: Number(values.stations),
    slots: Number(values.slots),
    first: Number(values.first),
    unitEveryMs,
    prefix: values.prefix as string,
    enterprise: values.enterprise as string,
    passRate: Number(values['pass-rate']),
    username: process.env.FLEET_MQTT_USERNAME || undefined,
    password: process.env.FLEET_MQTT_PASSWORD || undefined,
    log,
  });
  await load.start();
  process.stdout.write(`fleet-load: ${load.stations.length} stations publishing to ${new URL(values.broker as string).host}\n`);
  const stop = (): void => {
    load.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
