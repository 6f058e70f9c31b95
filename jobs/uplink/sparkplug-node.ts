// The station as a Sparkplug B 3.0 edge node (docs/mqtt.md#sparkplug-b), beside the unified
// namespace of the same MQTT sink (`"sparkplug": true`). Sparkplug carries the station's live state
// for SCADA; unit results stay on the UNS topics, where each record is acknowledged (Sparkplug's
// messages are QoS 0: no per-record acknowledgement).
//
//  - Its own connection (client id `<clientId>-spb`): Sparkplug wants Clean Start with no session
//    kept and the NDEATH as the Last Will, while the UNS connection keeps a persistent session and
//    a Will of its own.
//  - bdSeq: each CONNECT registers an NDEATH whose bdSeq is one more than the previous CONNECT's
//    (0-255, wrapping), kept in the data folder so a restart never reuses one; the NBIRTH of that
//    connection (and any rebirth) carries the same bdSeq.
//  - Edge node `<station id>` in group `<sparkplugGroupId>`; one device per slot, `slot-<n>`.
//  - On every connect: NBIRTH (seq 0), then a DBIRTH for each slot whose console is connected; then
//    NDATA / DDATA with the metrics that changed, at most 4 a second per slot (once a second for the
//    node); DDEATH when a slot's console goes away, DBIRTH when it is back. Every message but NDEATH
//    carries `seq`, one more than the previous message of this node, 255 followed by 0.
//  - NCMD `Node Control/Rebirth` = true: a new NBIRTH and DBIRTHs, same bdSeq. Other NCMD metrics
//    are ignored with one log line; an NCMD that is not a Sparkplug payload is ignored, logged once.
//  - A clean stop publishes the NDEATH, then disconnects with MQTT 5's "Disconnect with Will
//    Message" (the spec's rule for a DISCONNECT), so a host sees it either way.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { MqttConnection, type MqttConnectionOptions } from '../../drivers/mqtt/connection.js';
import { decodeSparkplug, encodeSparkplug, ndeathMessage, nextSeq, SparkplugTopics, type SparkplugDataType, type SparkplugMetric, type SparkplugValue } from '../../drivers/mqtt/sparkplug.js';
import type { Verdict } from '../../station/model.js';
import type { SlotSnapshot, SparkplugStatus, StationBus } from '../../station/events.js';

/** MQTT 5 DISCONNECT reason code "Disconnect with Will Message". */
const DISCONNECT_WITH_WILL = 0x04;
export const REBIRTH = 'Node Control/Rebirth';

/** What the node reports, read when a metric is published. */
export interface SparkplugSource {
  bus: StationBus;
  version: string;
  slots(): SlotSnapshot[];
  sequence(): { name: string; hash: string };
  /** The shift's counts (the dashboard's). */
  counters(): { tested: number; passed: number; failed: number; firstPassYield: number | null };
  uplink(): { queued: number; deadLetters: number };
  /** Alarms whose cause is still there. */
  alarms(): { severity: 'warning' | 'critical' }[];
}

export interface SparkplugOptions {
  /** The shortest time between two DDATA of one slot (default 250 ms: 4 a second). */
  slotMinIntervalMs?: number;
  /** The shortest time between two NDATA (default 1000 ms). */
  nodeMinIntervalMs?: number;
  /** How often the node's figures are looked at for an NDATA (default 10 s). */
  refreshEveryMs?: number;
  /** The wait for the broker to acknowledge the NDEATH on a clean stop. */
  stopWaitMs?: number;
}

/**
 * The bdSeq of each CONNECT: one more than the last one used (0 for the first ever), 255 followed
 * by 0, written to a file before the CONNECT goes out so a restart never registers the same one.
 */
export class BdSeqCounter {
  private last: number | null;
  /** The bdSeq of the latest CONNECT (the one the NBIRTH must carry); null before the first. */
  current: number | null = null;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.last = BdSeqCounter.read(file);
  }

  static read(file: string): number | null {
    try {
      const v = (JSON.parse(readFileSync(file, 'utf8')) as { bdSeq?: unknown }).bdSeq;
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255 ? v : null;
    } catch {
      return null;
    }
  }

  /** The bdSeq for a new CONNECT. */
  next(): number {
    const n = this.last === null ? 0 : (this.last + 1) % 256;
    this.last = n;
    this.current = n;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ bdSeq: n, at: new Date().toISOString() })}\n`);
      renameSync(tmp, this.file);
    } catch (err) {
      // Kept in memory: only a restart before it is written again could reuse this bdSeq.
      this.log.warn({ file: this.file, err: (err as Error).message }, 'the Sparkplug bdSeq could not be saved');
    }
    return n;
  }
}

/** What the node saw of its connection, for health (sparkplugStatus): written by the node, read by its MQTT sink. */
export class SparkplugLinkState {
  /** The bdSeq of the current (or last) connection: the CONNECT's, taken when it is up. */
  bdSeq: number | null = null;
  lastBirthAt: number | null = null;
  /** Wall clock, ms; null while connected. */
  downSince: number | null = null;
  lastError: string | null = null;
}

/** The Sparkplug edge node's connection and names, built with the sink (jobs/uplink/index.ts). */
export interface SparkplugLink {
  sinkId: string;
  connection: MqttConnection;
  topics: SparkplugTopics;
  bdSeq: BdSeqCounter;
  state: SparkplugLinkState;
}

/** The edge node's connection as health shows it (under its MQTT sink). */
export function sparkplugStatus(link: SparkplugLink): SparkplugStatus {
  const { state } = link;
  const connected = link.connection.isUp;
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    connected,
    bdSeq: state.bdSeq,
    lastBirthAt: iso(state.lastBirthAt),
    disconnectedSince: connected ? null : iso(state.downSince),
    lastError: state.lastError,
  };
}

/** The group id when the configuration names none: the ISA-95 levels, `<enterprise>-<site>-<area>-<line>`. */
export function defaultGroupId(levels: { enterprise: string; site: string; area: string; line: string }): string {
  return [levels.enterprise, levels.site, levels.area, levels.line].join('-').replace(/[+/#\u0000]/g, '_');
}

/**
 * The edge node's own connection to the sink's broker: the UNS connection's options with the
 * client id `<clientId>-spb`, Clean Start and no session kept, the NDEATH (with the next bdSeq) as
 * the Will of each CONNECT.
 */
export function createSparkplugLink(opts: {
  sinkId: string;
  groupId: string;
  edgeNodeId: string;
  dataDir: string;
  connection: Omit<MqttConnectionOptions, 'will' | 'cleanStart' | 'sessionExpirySec'>;
}): SparkplugLink {
  const topics = new SparkplugTopics(opts.groupId, opts.edgeNodeId);
  const log = opts.connection.log;
  const bdSeq = new BdSeqCounter(path.join(opts.dataDir, `sparkplug-${opts.sinkId}.json`), log);
  const connection = new MqttConnection({
    ...opts.connection,
    clientId: `${opts.connection.clientId}-spb`,
    cleanStart: true,
    sessionExpirySec: 0,
    will: () => ndeathMessage(topics, bdSeq.next()),
  });
  return { sinkId: opts.sinkId, connection, topics, bdSeq, state: new SparkplugLinkState() };
}

interface MetricDef<T> {
  name: string;
  /** Unique across the node's metrics and all its devices'; none for Node Control/Rebirth. */
  alias?: number;
  type: SparkplugDataType;
  value: (from: T) => SparkplugValue;
}

interface SlotStats {
  tested: number;
  passed: number;
  failed: number;
  lastVerdict: Verdict | null;
}

interface NodeView {
  source: SparkplugSource;
}

interface SlotView {
  snapshot: SlotSnapshot;
  stats: SlotStats;
}

/** The node's metrics; aliases 1-99. */
const NODE_METRICS: MetricDef<NodeView>[] = [
  { name: 'Properties/Version', alias: 2, type: 'String', value: ({ source }) => source.version },
  { name: 'Station/State', alias: 3, type: 'String', value: ({ source }) => (source.alarms().some((a) => a.severity === 'critical') ? 'alarm' : 'running') },
  { name: 'Station/Active Alarms', alias: 4, type: 'UInt32', value: ({ source }) => source.alarms().length },
  { name: 'Sequence/Name', alias: 5, type: 'String', value: ({ source }) => source.sequence().name },
  { name: 'Sequence/Hash', alias: 6, type: 'String', value: ({ source }) => source.sequence().hash },
  { name: 'Shift/Tested', alias: 7, type: 'UInt64', value: ({ source }) => source.counters().tested },
  { name: 'Shift/Passed', alias: 8, type: 'UInt64', value: ({ source }) => source.counters().passed },
  { name: 'Shift/Failed', alias: 9, type: 'UInt64', value: ({ source }) => source.counters().failed },
  { name: 'Shift/First Pass Yield', alias: 10, type: 'Double', value: ({ source }) => source.counters().firstPassYield },
  { name: 'Uplink/Backlog', alias: 11, type: 'UInt64', value: ({ source }) => source.uplink().queued },
  { name: 'Uplink/Dead Letters', alias: 12, type: 'UInt64', value: ({ source }) => source.uplink().deadLetters },
];
const BDSEQ_ALIAS = 1;

/** A slot's metrics; slot n's aliases are 100 × (n + 1) + the index here. */
const SLOT_METRICS: MetricDef<SlotView>[] = [
  { name: 'Properties/Name', type: 'String', value: ({ snapshot }) => snapshot.name },
  { name: 'State', type: 'String', value: ({ snapshot }) => snapshot.state },
  { name: 'Device ID', type: 'String', value: ({ snapshot }) => snapshot.deviceId },
  { name: 'Run ID', type: 'String', value: ({ snapshot }) => snapshot.runId },
  { name: 'Step', type: 'String', value: ({ snapshot }) => (snapshot.step ? `${snapshot.step.index + 1}/${snapshot.step.count} ${snapshot.step.name}` : null) },
  { name: 'Last Verdict', type: 'String', value: ({ stats }) => stats.lastVerdict },
  { name: 'Tested', type: 'UInt64', value: ({ stats }) => stats.tested },
  { name: 'Passed', type: 'UInt64', value: ({ stats }) => stats.passed },
  { name: 'Failed', type: 'UInt64', value: ({ stats }) => stats.failed },
  { name: 'Yield', type: 'Double', value: ({ stats }) => (stats.tested === 0 ? null : stats.passed / stats.tested) },
];

export function slotAlias(slot: number, index: number): number {
  return 100 * (slot + 1) + index;
}

export function slotDeviceId(slot: number): string {
  return `slot-${slot}`;
}

interface DeviceEntry {
  snapshot: SlotSnapshot;
  stats: SlotStats;
  /** DBIRTH published in this session (and no DDEATH since). */
  born: boolean;
  sent: SparkplugValue[];
  lastAt: number;
  timer: NodeJS.Timeout | null;
}

export class SparkplugNode {
  private readonly devices = new Map<number, DeviceEntry>();
  private offs: (() => void)[] = [];
  private stopped = true;
  /** NBIRTH published on the current connection. */
  private born = false;
  private seq = 0;
  private nodeSent: SparkplugValue[] = [];
  private nodeLastAt = 0;
  private nodeTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  /** A bad NCMD was logged; the next ones are not until a good one arrives. */
  private badNcmdLogged = false;
  private readonly slotMinIntervalMs: number;
  private readonly nodeMinIntervalMs: number;

  constructor(
    private readonly link: SparkplugLink,
    private readonly source: SparkplugSource,
    private readonly log: Logger,
    private readonly opts: SparkplugOptions = {},
  ) {
    this.slotMinIntervalMs = opts.slotMinIntervalMs ?? 250;
    this.nodeMinIntervalMs = opts.nodeMinIntervalMs ?? 1000;
  }

  get connection(): MqttConnection {
    return this.link.connection;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const conn = this.link.connection;
    const { bus } = this.source;
    for (const s of this.source.slots()) this.entry(s.slot).snapshot = s;
    if (!conn.isUp) this.link.state.downSince ??= Date.now();
    this.offs.push(
      conn.events.on('up', () => {
        this.link.state.bdSeq = this.link.bdSeq.current;
        this.link.state.downSince = null;
        this.birth('connect');
      }),
      conn.events.on('down', ({ problem }) => {
        this.link.state.downSince ??= Date.now();
        this.link.state.lastError = problem.message;
        this.onDown();
      }),
      conn.events.on('message', (m) => this.onMessage(m.topic, m.payload)),
      bus.on('slot.state', (s) => this.onSlot(s)),
      bus.on('run.finished', (r) => this.onVerdict(r.slot, r.verdict)),
      bus.on('sequence.changed', () => this.nodeChanged()),
      bus.on('alarm.raised', () => this.nodeChanged()),
      bus.on('alarm.cleared', () => this.nodeChanged()),
      bus.on('uplink.status', () => this.nodeChanged()),
    );
    this.refreshTimer = setInterval(() => this.nodeChanged(), this.opts.refreshEveryMs ?? 10_000);
    this.refreshTimer.unref();
    // QoS 1, as the spec asks (tck-id-message-flow-edge-node-ncmd-subscribe); again on every connect.
    conn.subscribe(this.link.topics.node('NCMD'), 1);
    conn.start();
  }

  /** Publishes the NDEATH and disconnects (with the Will, on MQTT 5): a clean stop. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const off of this.offs.splice(0)) off();
    this.clearTimers();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
    const conn = this.link.connection;
    if (conn.isUp && this.link.bdSeq.current !== null) {
      const death = conn.publish(ndeathMessage(this.link.topics, this.link.bdSeq.current));
      let cap: NodeJS.Timeout | null = null;
      await Promise.race([death, new Promise((r) => (cap = setTimeout(r, this.opts.stopWaitMs ?? 1000)))]);
      if (cap) clearTimeout(cap);
    }
    this.born = false;
    await conn.stop(900, DISCONNECT_WITH_WILL);
  }

  private entry(slot: number): DeviceEntry {
    let e = this.devices.get(slot);
    if (!e) {
      e = {
        snapshot: { slot, name: `Slot ${slot + 1}`, state: 'offline', connected: false, runId: null, deviceId: null, step: null, reason: null, detail: null, since: Date.now() },
        stats: { tested: 0, passed: 0, failed: 0, lastVerdict: null },
        born: false,
        sent: [],
        lastAt: 0,
        timer: null,
      };
      this.devices.set(slot, e);
    }
    return e;
  }

  private clearTimers(): void {
    if (this.nodeTimer) clearTimeout(this.nodeTimer);
    this.nodeTimer = null;
    for (const e of this.devices.values()) {
      if (e.timer) clearTimeout(e.timer);
      e.timer = null;
    }
  }

  private onDown(): void {
    // The session is over: the next connection starts with a new NBIRTH and DBIRTHs.
    this.born = false;
    this.clearTimers();
    for (const e of this.devices.values()) e.born = false;
  }

  /** One message of this node: `seq` is one more than the last one's (tck-id-payloads-sequence-num-incrementing). */
  private send(topic: string, metrics: SparkplugMetric[], now: number): void {
    const payload = encodeSparkplug({ timestamp: now, seq: this.seq, metrics });
    this.seq = nextSeq(this.seq);
    void this.link.connection.publish({ topic, payload, qos: 0, retain: false }).then((r) => {
      if (!r.ok) this.log.debug({ topic, reason: r.reason }, 'a Sparkplug message was not published; the next connection births again');
    });
  }

  /** NBIRTH (seq 0) and a DBIRTH for each slot whose console is connected; DATA waits for none of them. */
  private birth(why: 'connect' | 'rebirth'): void {
    const conn = this.link.connection;
    if (this.stopped || !conn.isUp) return;
    this.clearTimers();
    const now = Date.now();
    const bdSeq = this.link.bdSeq.current ?? 0;
    this.nodeSent = this.nodeValues();
    const metrics: SparkplugMetric[] = [
      { name: 'bdSeq', alias: BDSEQ_ALIAS, type: 'UInt64', value: bdSeq, timestamp: now },
      { name: REBIRTH, type: 'Boolean', value: false, timestamp: now },
      ...NODE_METRICS.map((m, i) => ({ name: m.name, alias: m.alias, type: m.type, value: this.nodeSent[i] ?? null, timestamp: now })),
    ];
    this.seq = 0;
    this.send(this.link.topics.node('NBIRTH'), metrics, now);
    this.link.state.lastBirthAt = now;
    this.nodeLastAt = performance.now();
    this.born = true;
    for (const s of this.source.slots()) this.entry(s.slot).snapshot = s;
    let devices = 0;
    for (const [slot, e] of [...this.devices].sort((a, b) => a[0] - b[0])) {
      e.born = false;
      if (e.snapshot.connected) {
        this.deviceBirth(slot, e, now);
        devices++;
      }
    }
    this.log.info({ bdSeq, devices, why }, 'Sparkplug NBIRTH and DBIRTHs published');
  }

  private deviceBirth(slot: number, e: DeviceEntry, now: number): void {
    const view: SlotView = { snapshot: e.snapshot, stats: e.stats };
    e.sent = SLOT_METRICS.map((m) => m.value(view));
    const metrics = SLOT_METRICS.map((m, i): SparkplugMetric => ({ name: m.name, alias: slotAlias(slot, i), type: m.type, value: e.sent[i] ?? null, timestamp: now }));
    this.send(this.link.topics.device('DBIRTH', slotDeviceId(slot)), metrics, now);
    e.born = true;
    e.lastAt = performance.now();
  }

  private onSlot(s: SlotSnapshot): void {
    const e = this.entry(s.slot);
    e.snapshot = s;
    if (!this.born || this.stopped || !this.link.connection.isUp) return;
    if (!s.connected && e.born) {
      // The slot's console went away: the device is offline (tck-id-operational-behavior-device-ddeath).
      if (e.timer) clearTimeout(e.timer);
      e.timer = null;
      e.born = false;
      this.send(this.link.topics.device('DDEATH', slotDeviceId(s.slot)), [], Date.now());
      return;
    }
    if (s.connected && !e.born) {
      if (e.timer) clearTimeout(e.timer);
      e.timer = null;
      this.deviceBirth(s.slot, e, Date.now());
      return;
    }
    this.flushSlot(s.slot);
  }

  private onVerdict(slot: number, verdict: Verdict): void {
    const e = this.entry(slot);
    e.stats.lastVerdict = verdict;
    if (verdict !== 'interrupted') {
      e.stats.tested++;
      if (verdict === 'blessed') e.stats.passed++;
      else e.stats.failed++;
    }
    this.flushSlot(slot);
    this.nodeChanged();
  }

  /** DDATA with the slot's metrics that changed, unless one went less than slotMinIntervalMs ago
   *  (then once that time is up, with whatever changed by then). */
  private flushSlot(slot: number): void {
    const e = this.devices.get(slot);
    if (!e || !e.born || e.timer || !this.born || this.stopped || !this.link.connection.isUp) return;
    const wait = e.lastAt + this.slotMinIntervalMs - performance.now();
    if (wait > 0) {
      e.timer = setTimeout(() => {
        e.timer = null;
        this.flushSlot(slot);
      }, wait);
      return;
    }
    const view: SlotView = { snapshot: e.snapshot, stats: e.stats };
    const now = Date.now();
    const changed: SparkplugMetric[] = [];
    SLOT_METRICS.forEach((m, i) => {
      const v = m.value(view);
      if (v === e.sent[i]) return;
      e.sent[i] = v;
      changed.push({ alias: slotAlias(slot, i), type: m.type, value: v, timestamp: now });
    });
    if (changed.length === 0) return;
    e.lastAt = performance.now();
    this.send(this.link.topics.device('DDATA', slotDeviceId(slot)), changed, now);
  }

  /** NDATA with the node's metrics that changed, at most once per nodeMinIntervalMs. */
  private nodeChanged(): void {
    if (this.nodeTimer || !this.born || this.stopped || !this.link.connection.isUp) return;
    const wait = this.nodeLastAt + this.nodeMinIntervalMs - performance.now();
    if (wait > 0) {
      this.nodeTimer = setTimeout(() => {
        this.nodeTimer = null;
        this.nodeChanged();
      }, wait);
      return;
    }
    const values = this.nodeValues();
    const now = Date.now();
    const changed: SparkplugMetric[] = [];
    NODE_METRICS.forEach((m, i) => {
      if (values[i] === this.nodeSent[i]) return;
      this.nodeSent[i] = values[i] ?? null;
      changed.push({ alias: m.alias, type: m.type, value: values[i] ?? null, timestamp: now });
    });
    if (changed.length === 0) return;
    this.nodeLastAt = performance.now();
    this.send(this.link.topics.node('NDATA'), changed, now);
  }

  /** The node's metrics now; one that cannot be read is null (logged), not a birth lost. */
  private nodeValues(): SparkplugValue[] {
    const view: NodeView = { source: this.source };
    return NODE_METRICS.map((m) => {
      try {
        return m.value(view);
      } catch (err) {
        this.log.warn({ err, metric: m.name }, 'a Sparkplug node metric could not be read');
        return null;
      }
    });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.link.topics.node('NCMD') || this.stopped) return;
    let cmd: ReturnType<typeof decodeSparkplug>;
    try {
      cmd = decodeSparkplug(payload);
    } catch (err) {
      if (!this.badNcmdLogged) {
        this.log.warn(
          { topic, bytes: payload.length, head: payload.subarray(0, 32).toString('hex'), error: (err as Error).message },
          'an NCMD that is not a Sparkplug B payload was ignored (further ones are ignored without a log line until a valid NCMD arrives)',
        );
      }
      this.badNcmdLogged = true;
      return;
    }
    this.badNcmdLogged = false;
    const rebirth = cmd.metrics.find((m) => m.name === REBIRTH);
    const others = cmd.metrics.filter((m) => m !== rebirth);
    if (others.length > 0 || !rebirth) {
      this.log.warn(
        { topic, metrics: others.map((m) => m.name ?? `alias ${m.alias}`) },
        `an NCMD without "${REBIRTH}" = true, or with other metrics, was ignored in part: this edge node takes only "${REBIRTH}"`,
      );
    }
    if (rebirth?.value === true) {
      this.log.info({ topic }, 'Sparkplug rebirth requested by NCMD');
      this.birth('rebirth');
    }
  }
}
