// The Sparkplug B edge node's connection in /api/health, under the MQTT sink it belongs to: a real
// daemon with `"sparkplug": true` against a real broker (Debian's mosquitto, with a login). The
// broker stopped: health says the node is disconnected and why, in words, never the password.
// Started again: connected, with a new bdSeq and a new birth time. The warning
// `uplink.<sink>.sparkplug` (the edge node down while the UNS connection is up) is checked on the
// sink itself with real connections: the UNS one to the broker, the edge node's to a port where
// nothing listens until the test puts a relay to the broker there.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnection } from '../../drivers/mqtt/connection.js';
import { MqttSink } from '../../jobs/uplink/mqtt-sink.js';
import { StationTopics } from '../../jobs/uplink/mqtt-topics.js';
import type { SinkCondition } from '../../jobs/uplink/sinks.js';
import { createSparkplugLink, SparkplugNode } from '../../jobs/uplink/sparkplug-node.js';
import { StationBus, type SinkStatus, type SparkplugStatus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { freePort, Mosquitto } from '../support/mosquitto.js';
import { TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const PASSWORD = 'spb-Secret-0xC0FFEE';
const NAMESPACE = { topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1' };

describe('the Sparkplug connection in health (a real daemon)', () => {
  let dir: string;
  let broker: Mosquitto;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-spb-health-'));
    mkdirSync(path.join(dir, 'data'));
    broker = await Mosquitto.start({ users: { station1: PASSWORD } });
    const cfg = simulatedStationConfig({
      dataDir: path.join(dir, 'data'),
      slots: 2,
      extra: {
        uplink: {
          sinks: [{ kind: 'mqtt', name: 'plant', url: broker.url, ...NAMESPACE, username: 'station1', password: PASSWORD, connectTimeoutMs: 2000, keepaliveSec: 5, sparkplug: true }],
          backoffInitialMs: 50,
          backoffMaxMs: 1000,
        },
      },
    });
    daemon = new Daemon(Daemon.writeConfig(dir, cfg));
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.kill9();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const health = async (): Promise<{ text: string; sink: SinkStatus }> => {
    const res = await daemon.request('/api/health');
    const text = await res.text();
    const sink = (JSON.parse(text) as { uplink: { sinks: SinkStatus[] } }).uplink.sinks.find((s) => s.id === 'plant');
    if (!sink) throw new Error(`no sink "plant" in health: ${text.slice(0, 500)}`);
    return { text, sink };
  };
  const sparkplugWhen = (what: string, ok: (s: SparkplugStatus) => boolean) =>
    waitFor(
      what,
      async () => {
        const h = await health();
        return h.sink.sparkplug && ok(h.sink.sparkplug) ? h : null;
      },
      { timeoutMs: 15_000 },
    );

  it('says the edge node is disconnected and why while the broker is down, and connected with a new bdSeq when it is back; never the password', async () => {
    const up = await sparkplugWhen('the edge node connected and born', (s) => s.connected && s.lastBirthAt !== null);
    const before = up.sink.sparkplug as SparkplugStatus;
    expect(before).toMatchObject({ connected: true, bdSeq: expect.any(Number), disconnectedSince: null });

    await broker.stop();
    const down = await sparkplugWhen('the edge node disconnected, with the reason', (s) => !s.connected && s.lastError !== null);
    const gone = down.sink.sparkplug as SparkplugStatus;
    expect(gone.lastError).toContain(`127.0.0.1:${broker.port}`);
    expect(gone.disconnectedSince).toEqual(expect.any(String));
    expect(gone.bdSeq).toBe(before.bdSeq);
    expect(down.text).not.toContain(PASSWORD);

    await broker.start();
    const back = await sparkplugWhen('the edge node connected again', (s) => s.connected && s.bdSeq !== before.bdSeq && s.lastBirthAt !== before.lastBirthAt);
    const again = back.sink.sparkplug as SparkplugStatus;
    expect(again.disconnectedSince).toBeNull();
    // Each CONNECT registers the next bdSeq (0-255, wrapping).
    expect(again.bdSeq).not.toBeNull();
    expect(Date.parse(again.lastBirthAt as string)).toBeGreaterThan(Date.parse(before.lastBirthAt as string));
    expect(back.text).not.toContain(PASSWORD);
    // The broker was down a few seconds: no Sparkplug alarm (that takes 30 s with the UNS up).
    const alarms = (JSON.parse(back.text) as { alarms: { alarmId: string }[] }).alarms.map((a) => a.alarmId);
    expect(alarms).not.toContain('uplink.plant.sparkplug');
  });
});

describe('the Sparkplug alarm on the MQTT sink (real connections)', () => {
  const dirs = new TempDirs();
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    dirs.cleanup();
  });

  it('raises uplink.<sink>.sparkplug when the edge node has been down for its time while the UNS connection is up, and clears it when the node connects', async () => {
    const broker = await Mosquitto.start();
    cleanups.push(() => broker.dispose());
    const log = silentLogger();
    const common = { clientId: 'station-spb-alarm', keepaliveSec: 5, connectTimeoutMs: 2000, reconnect: { initialMs: 50, maxMs: 200 }, log };
    const uns = new MqttConnection({ ...common, url: broker.url, sessionExpirySec: 60 });
    // The edge node's broker address: nothing listens there yet.
    const relayPort = await freePort();
    const link = createSparkplugLink({ sinkId: 'plant', groupId: 'g', edgeNodeId: 'st', dataDir: dirs.make(), connection: { ...common, url: `mqtt://127.0.0.1:${relayPort}` } });
    const topics = new StationTopics({ ...NAMESPACE, stationId: 'st' });
    const sink = new MqttSink(uns, topics, { id: 'plant', qos: 1, ackTimeoutMs: 2000, sparkplug: link, sparkplugAlarmAfterMs: 400 });
    const bus = new StationBus();
    const node = new SparkplugNode(
      link,
      {
        bus,
        version: '1',
        slots: () => [],
        sequence: () => ({ name: 's', hash: 'h' }),
        counters: () => ({ tested: 0, passed: 0, failed: 0, firstPassYield: null }),
        uplink: () => ({ queued: 0, deadLetters: 0 }),
        alarms: () => [],
      },
      log,
    );
    const conditions: SinkCondition[] = [];
    const offWatch = sink.watch((c) => conditions.push(c));
    cleanups.push(() => offWatch());
    sink.start();
    node.start();
    cleanups.push(() => sink.stop());
    cleanups.push(() => node.stop());

    const alarm = await waitFor('the Sparkplug alarm', () => conditions.find((c) => c.alarm?.kind === 'sparkplug') ?? null, { timeoutMs: 10_000 });
    expect(alarm).toMatchObject({ ready: true, alarm: { severity: 'warning', message: expect.stringContaining(`127.0.0.1:${relayPort}`) } });
    expect(alarm.alarm?.message).toContain('MQTT sink "plant"');
    // Never before the UNS connection was up and the node down for the whole time.
    expect(conditions.slice(0, conditions.indexOf(alarm)).every((c) => c.alarm === null)).toBe(true);
    expect(sink.extraStatus().sparkplug).toMatchObject({ connected: false, bdSeq: null, lastBirthAt: null, disconnectedSince: expect.any(String), lastError: expect.stringContaining(`${relayPort}`) });

    // A relay to the broker on the node's port: it connects, births, and the alarm clears.
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const upstream = net.connect(broker.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
    cleanups.push(() => {
      relay.close();
      for (const s of sockets) s.destroy();
    });
    const seen = conditions.length;
    await waitFor('the alarm cleared', () => conditions.slice(seen).some((c) => c.ready && c.alarm === null) || null, { timeoutMs: 10_000 });
    await waitFor('the node born', () => sink.extraStatus().sparkplug?.lastBirthAt ?? null, { timeoutMs: 10_000 });
    expect(sink.extraStatus().sparkplug).toMatchObject({ connected: true, bdSeq: expect.any(Number), disconnectedSince: null });
  });
});
