// The MQTT bars (SPEC §7), against a local mosquitto the bench starts (test/support/mosquitto.ts):
//
//  mqttBlessToSubscriberP99Ms  32 simulated slots at full speed in one in-process station with an
//                              MQTT sink; from the bus announcing a verdict (run.finished, after its
//                              commit: the record exists) to an independent subscriber in another
//                              process receiving that unit's result (QoS 1), p99 over every record in
//                              the window. Both ends read the system's monotonic clock. Beside it, the
//                              longest stall of the station's event loop in the window (its verdict
//                              fsyncs block it; the 32 simulated nests, the broker and the subscriber
//                              share two cores with it): the tail follows it.
//  mqttDrainSeconds100k        100,000 records queued while the broker was away, drained by the
//                              uplink job in a process of its own with the default batch size and
//                              concurrency: from starting the job to the last PUBACK marked in the
//                              outbox. An independent subscriber (another process) receives them all.
//  mqttDrainRssGrowthMb        that process's peak RSS while draining over its RSS with the backlog
//                              written (flat: the sink holds the batches in flight, never the backlog);
//                              much of it is garbage a full GC has not yet collected, so the heap after
//                              a forced full GC at the end is given beside it (mqttDrainHeapAfterGcMb).
//
// Full speed, as the dashboard bench: the DUT simulators answer in 20 ms, units boot and swap at
// once, nobody waits on a person. Run on its own: `npm run build && node dist/test/bench/mqtt-bench.js`.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect } from 'mqtt';
import { MqttConnection } from '../../drivers/mqtt/connection.js';
import { MqttSink } from '../../jobs/uplink/mqtt-sink.js';
import { StationTopics } from '../../jobs/uplink/mqtt-topics.js';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { parseConfig } from '../../station/config/load.js';
import { configSchema } from '../../station/config/schema.js';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { loadSequence } from '../../station/sequence/sequence.js';
import { Station } from '../../station/station.js';
import { Store } from '../../station/store/store.js';
import { shippedConfig } from '../support/configs.js';
import { Mosquitto } from '../support/mosquitto.js';
import { fillOutbox } from '../support/records.js';

const NAMESPACE = { topicPrefix: 'uns', enterprise: 'bench', site: 'site', area: 'area', line: 'line' };

export interface MqttBenchResult {
  mqttBlessToSubscriberP99Ms: number;
  mqttBlessToSubscriberP50Ms: number;
  mqttRecordsTimed: number;
  /** The longest the station's event loop was held up while timing (verdict fsyncs, GC, the CPU shared). */
  mqttStationLoopDelayMaxMs: number;
  mqttDrainSeconds100k: number;
  mqttDrainSubscriberSeconds: number;
  mqttDrainRssGrowthMb: number;
  mqttDrainPeakRssMb: number;
  mqttRssBeforeDrainMb: number;
  mqttDrainHeapAfterGcMb: number;
}

function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A subscriber process; answers `ready`, then on `stop` the arrival time of each recordId. */
function subscriberProcess(url: string, filter: string, expect: number | null): { child: ChildProcess; ask: <T>(msg: object, answer: string) => Promise<T> } {
  const child = fork(fileURLToPath(import.meta.url), ['--subscriber', url, filter, String(expect ?? 0)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = <T>(msg: object, answer: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: { kind: string; error?: string }): void => {
        if (m.kind === 'error') reject(new Error(`mqtt bench subscriber: ${m.error}`));
        else if (m.kind === answer) resolve(m as T);
        else return;
        child.off('message', onMessage);
      };
      child.on('message', onMessage);
      if (Object.keys(msg).length > 0) child.send(msg);
    });
  return { child, ask };
}

export async function benchMqtt(opts: { slots?: number; seconds?: number; records?: number } = {}): Promise<MqttBenchResult> {
  const broker = await Mosquitto.start();
  try {
    const latency = await blessToSubscriber(broker.url, opts.slots ?? 32, opts.seconds ?? 5);
    const drain = await drainInChild(broker.url, opts.records ?? 100_000);
    return { ...latency, ...drain };
  } finally {
    await broker.dispose();
  }
}

async function blessToSubscriber(
  url: string,
  slots: number,
  seconds: number,
): Promise<Pick<MqttBenchResult, 'mqttBlessToSubscriberP99Ms' | 'mqttBlessToSubscriberP50Ms' | 'mqttRecordsTimed' | 'mqttStationLoopDelayMaxMs'>> {
  const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'mqtt-bench-'));
  const shipped = shippedConfig({ identity: true });
  const sequence = {
    ...shipped.sequence,
    steps: shipped.sequence.steps
      .filter((s) => s.type !== 'blinkup' && s.type !== 'prompt' && s.type !== 'delay' && s.type !== 'scan')
      .map((s) => (s.type === 'identify' ? { ...s, label: undefined } : s)),
  };
  const cfg = parseConfig(
    {
      station: { id: 'mqtt-bench', mode: 'test' },
      server: { host: '127.0.0.1', port: 0 },
      storage: { dataDir: path.join(dir, 'data') },
      log: { level: 'silent' },
      slots: Array.from({ length: slots }, () => ({ dut: { kind: 'simulated' } })),
      sequence,
      uplink: { sinks: [{ kind: 'mqtt', url, ...NAMESPACE }] },
      simulation: { commandLatencyMs: 20, bootMs: 0, handlingMs: 0, retestRate: 0, failureRates: {}, faultRates: { garbage: 0, hang: 0, unplug: 0 }, seed: 11 },
    },
    { source: 'mqtt-bench', baseDir: dir },
  );
  const topics = new StationTopics({ ...NAMESPACE, stationId: 'mqtt-bench' });
  const sub = subscriberProcess(url, `${topics.base}/units/+/result`, null);
  const station = new Station(cfg, silentLogger());
  const verdictAt = new Map<string, number>();
  let measuring = false;
  station.bus.on('run.finished', (r) => {
    if (measuring && r.recordId) verdictAt.set(r.recordId, hrMs());
  });
  try {
    await sub.ask({}, 'ready');
    await station.start();
    await new Promise((r) => setTimeout(r, 1500)); // every slot in its rhythm, the connection up
    measuring = true;
    const loopDelay = monitorEventLoopDelay({ resolution: 1 });
    loopDelay.enable();
    await sub.ask({ kind: 'start' }, 'started');
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    loopDelay.disable();
    // The last verdicts' results are still on their way: give them a moment before asking.
    await new Promise((r) => setTimeout(r, 500));
    const got = await sub.ask<{ arrivals: [string, number][] }>({ kind: 'stop' }, 'result');
    const latencies: number[] = [];
    for (const [recordId, at] of got.arrivals) {
      const sent = verdictAt.get(recordId);
      if (sent !== undefined) latencies.push(at - sent);
    }
    if (latencies.length < verdictAt.size * 0.99) throw new Error(`mqtt bench: ${latencies.length} of ${verdictAt.size} results reached the subscriber`);
    latencies.sort((a, b) => a - b);
    const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
    return {
      mqttBlessToSubscriberP99Ms: pick(0.99),
      mqttBlessToSubscriberP50Ms: pick(0.5),
      mqttRecordsTimed: latencies.length,
      mqttStationLoopDelayMaxMs: loopDelay.max / 1e6,
    };
  } finally {
    sub.child.kill();
    await station.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type DrainResult = Pick<MqttBenchResult, 'mqttDrainSeconds100k' | 'mqttDrainSubscriberSeconds' | 'mqttDrainRssGrowthMb' | 'mqttDrainPeakRssMb' | 'mqttRssBeforeDrainMb' | 'mqttDrainHeapAfterGcMb'>;

function drainInChild(url: string, records: number): Promise<DrainResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--drain', url, String(records)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
    let result: DrainResult | null = null;
    child.on('message', (m) => {
      result = m as DrainResult;
    });
    child.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`the MQTT drain bench exited ${code}`))));
  });
}

async function drainHere(url: string, records: number): Promise<DrainResult> {
  const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'mqtt-drain-'));
  const log = silentLogger();
  const store = new Store(path.join(dir, 'station'), log);
  try {
    store.open();
    const seq = loadSequence(
      {
        name: 'bench-mqtt',
        steps: [
          { type: 'identify', name: 'Identify' },
          { type: 'bless', name: 'Bless' },
        ],
      },
      'bench',
    );
    store.registerSequence(seq);
    // The backlog an outage left: written while no broker answered.
    await fillOutbox(store, seq, records, { failEvery: 20, stationId: 'mqtt-drain', chunk: 5000 });
    const topics = new StationTopics({ ...NAMESPACE, stationId: 'mqtt-drain' });
    const sub = subscriberProcess(url, `${topics.base}/units/+/result`, records);
    await sub.ask({}, 'ready');
    const defaults = configSchema.shape.uplink.parse({});
    const mqtt = configSchema.shape.uplink.parse({ sinks: [{ kind: 'mqtt', url, ...NAMESPACE }] }).sinks?.[0] as { sessionExpirySec: number; keepaliveSec: number; connectTimeoutMs: number };
    const connection = new MqttConnection({
      url,
      clientId: 'station-mqtt-drain',
      sessionExpirySec: mqtt.sessionExpirySec,
      keepaliveSec: mqtt.keepaliveSec,
      connectTimeoutMs: mqtt.connectTimeoutMs,
      log,
    });
    const job = new UplinkJob(store, new MqttSink(connection, topics, { id: 'mqtt', qos: 1, ackTimeoutMs: defaults.requestTimeoutMs }), new StationBus(), log, {
      stationId: 'mqtt-drain',
      batchMaxRecords: defaults.batchMaxRecords,
      batchMaxAgeMs: defaults.batchMaxAgeMs,
      concurrency: defaults.concurrency,
      backoffInitialMs: defaults.backoffInitialMs,
      backoffMaxMs: defaults.backoffMaxMs,
    });
    const pending = store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NULL`);
    const beforeDrainRss = process.memoryUsage.rss();
    let peakRss = beforeDrainRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 10);
    await sub.ask({ kind: 'start' }, 'started');
    const t0 = performance.now();
    job.start();
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if ((pending.get() as { n: number }).n === 0) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const got = await sub.ask<{ count: number; lastAtMs: number; startedAtMs: number }>({ kind: 'all' }, 'all');
    sub.child.kill();
    await job.stop();
    (globalThis as { gc?: () => void }).gc?.();
    const heapAfterGc = process.memoryUsage().heapUsed;
    if (got.count < records) throw new Error(`the subscriber received ${got.count} of ${records} records`);
    const mb = (n: number): number => n / 1048576;
    return {
      mqttDrainSeconds100k: seconds,
      mqttDrainSubscriberSeconds: (got.lastAtMs - got.startedAtMs) / 1000,
      mqttDrainRssGrowthMb: mb(peakRss - beforeDrainRss),
      mqttDrainPeakRssMb: mb(peakRss),
      mqttRssBeforeDrainMb: mb(beforeDrainRss),
      mqttDrainHeapAfterGcMb: mb(heapAfterGc),
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The subscriber: its own session, QoS 1; records each result's recordId and arrival. */
function runSubscriber(url: string, filter: string, expect: number): void {
  const client = connect(url, { clientId: `bench-sub-${process.pid}`, protocolVersion: 5, clean: true, reconnectPeriod: 200 });
  let recording = false;
  let startedAtMs = 0;
  let lastAtMs = 0;
  const arrivals: [string, number][] = [];
  const seen = new Set<string>();
  let waitingAll = false;
  const sendAll = (): void => {
    process.send?.({ kind: 'all', count: seen.size, lastAtMs, startedAtMs });
  };
  client.on('message', (_topic, payload, packet) => {
    const at = hrMs();
    if (!recording) return;
    const prop = packet.properties?.userProperties?.recordId;
    const recordId = typeof prop === 'string' ? prop : ((JSON.parse(payload.toString()) as { recordId: string }).recordId ?? '');
    if (expect > 0) {
      seen.add(recordId);
      lastAtMs = at;
      if (waitingAll && seen.size >= expect) sendAll();
    } else arrivals.push([recordId, at]);
  });
  client.on('error', (err) => process.send?.({ kind: 'error', error: err.message }));
  client.on('connect', () => {
    client.subscribe(filter, { qos: 1 }, (err) => (err ? process.send?.({ kind: 'error', error: err.message }) : process.send?.({ kind: 'ready' })));
  });
  process.on('message', (m: { kind: string }) => {
    if (m.kind === 'start') {
      recording = true;
      startedAtMs = hrMs();
      process.send?.({ kind: 'started' });
    } else if (m.kind === 'stop') {
      recording = false;
      process.send?.({ kind: 'result', arrivals }, () => process.exit(0));
    } else if (m.kind === 'all') {
      waitingAll = true;
      if (seen.size >= expect) sendAll();
      setTimeout(sendAll, 30_000).unref();
    }
  });
}

if (process.argv[2] === '--subscriber' && process.send) {
  const [url, filter, expect] = process.argv.slice(3) as [string, string, string];
  runSubscriber(url, filter, Number(expect));
} else if (process.argv[2] === '--drain' && process.send) {
  const [url, records] = process.argv.slice(3) as [string, string];
  drainHere(url, Number(records)).then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchMqtt().then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`mqtt bench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
