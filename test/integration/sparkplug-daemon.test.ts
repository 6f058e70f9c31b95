// A real daemon (4 simulated slots testing at speed) with `"sparkplug": true` on its MQTT sink,
// against a real broker (Debian's mosquitto), watched by an independent Sparkplug host decoding
// with Eclipse Tahu's decoder (test/support/sparkplug-host.ts) and a UNS subscriber. The station is
// SIGKILLed: the broker publishes its NDEATH with the bdSeq of its last NBIRTH. Started again, it
// births with the next bdSeq (kept in its data folder). Unit results keep flowing on the UNS topics
// all along; a clean stop publishes the NDEATH.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationTopics } from '../../jobs/uplink/mqtt-topics.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { TestSubscriber } from '../support/mqtt-subscriber.js';
import { SparkplugHost, type HostMessage } from '../support/sparkplug-host.js';
import { waitFor } from '../support/wait.js';

const STATION = 'ui-test-station';
const GROUP = 'Plant 1 line 1';
const NAMESPACE = { topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1' };
const TOPICS = new StationTopics({ ...NAMESPACE, stationId: STATION });
const SLOTS = 4;

describe('Sparkplug B from a real daemon', () => {
  let dir: string;
  let broker: Mosquitto;
  let host: SparkplugHost;
  let uns: TestSubscriber;
  let daemon: Daemon;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-spb-'));
    mkdirSync(path.join(dir, 'data'));
    broker = await Mosquitto.start();
    host = await SparkplugHost.connect(broker.url, { clientId: 'test-spb-host', groupId: GROUP });
    uns = await TestSubscriber.connect(broker.url, { clientId: 'test-spb-uns', filter: `${TOPICS.base}/#` });
    const cfg = simulatedStationConfig({
      dataDir: path.join(dir, 'data'),
      slots: SLOTS,
      extra: {
        uplink: {
          sinks: [{ kind: 'mqtt', url: broker.url, ...NAMESPACE, connectTimeoutMs: 2000, keepaliveSec: 5, sparkplug: true, sparkplugGroupId: GROUP }],
          backoffInitialMs: 50,
          backoffMaxMs: 1000,
        },
      },
    }) as { simulation: Record<string, unknown>; sequence: { steps: Record<string, unknown>[] } };
    Object.assign(cfg.simulation, { handlingMs: 40, bootMs: 20, commandLatencyMs: 2 });
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 5 } : s));
    daemon = new Daemon(Daemon.writeConfig(dir, cfg));
  });

  afterAll(async () => {
    await daemon?.kill9();
    await host?.close();
    await uns?.close();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('births node and slots, DDATA after each DBIRTH, the NDEATH Will with the last bdSeq when SIGKILLed, the next bdSeq after a restart, the NDEATH on a clean stop', async () => {
    await daemon.start();
    await waitFor('the NBIRTH and a DBIRTH per slot', () => host.of('NBIRTH', STATION).length === 1 && host.of('DBIRTH', STATION).length >= SLOTS, { timeoutMs: 15_000 });
    await waitFor('DDATA with verdicts from every slot', () => Array.from({ length: SLOTS }, (_, i) => `slot-${i}`).every((d) => host.of('DDATA', STATION, d).length >= 3), {
      timeoutMs: 30_000,
    });
    const birth = host.of('NBIRTH', STATION)[0] as HostMessage;
    expect(birth.seq).toBe(0);
    expect(birth.metrics.find((m) => m.name === 'Properties/Version')?.value).toEqual(expect.any(String));
    // Per slot, nothing before its DBIRTH (tck-id-payloads-ddata-order).
    for (let i = 0; i < SLOTS; i++) {
      const mine = host.messages.filter((m) => m.deviceId === `slot-${i}`);
      expect(mine[0]?.type, `slot-${i}'s first message`).toBe('DBIRTH');
      expect(host.messages.indexOf(mine[0] as HostMessage)).toBeGreaterThan(host.messages.indexOf(birth));
    }
    // Unit results go on the UNS topics as before.
    await waitFor('results on the UNS topics', () => uns.results.length >= 5, { timeoutMs: 20_000 });

    // SIGKILL: the broker publishes the Will, whose bdSeq is the NBIRTH's.
    const lastBirth = host.of('NBIRTH', STATION).at(-1) as HostMessage;
    await daemon.kill9();
    await waitFor('the NDEATH from the broker', () => host.of('NDEATH', STATION).length === 1, { timeoutMs: 15_000 });
    const death = host.of('NDEATH', STATION)[0] as HostMessage;
    expect(death).toMatchObject({ qos: 1, retain: false, seq: null });
    expect(SparkplugHost.bdSeq(death)).toBe(SparkplugHost.bdSeq(lastBirth));
    expect(SparkplugHost.seqBreaks(host.messages)).toEqual([]);

    // Started again: the next bdSeq, from the data folder.
    const births = host.of('NBIRTH', STATION).length;
    await daemon.start();
    await waitFor('the NBIRTH after the restart', () => host.of('NBIRTH', STATION).length === births + 1, { timeoutMs: 15_000 });
    const reborn = host.of('NBIRTH', STATION).at(-1) as HostMessage;
    expect(SparkplugHost.bdSeq(reborn)).toBe((SparkplugHost.bdSeq(lastBirth) + 1) % 256);

    // A rebirth request: the same bdSeq, every slot born again.
    const dbirths = host.of('DBIRTH', STATION).length;
    await host.rebirth(STATION);
    await waitFor('the rebirth', () => host.of('NBIRTH', STATION).length === births + 2 && host.of('DBIRTH', STATION).length >= dbirths + SLOTS, { timeoutMs: 10_000 });
    expect(SparkplugHost.bdSeq(host.of('NBIRTH', STATION).at(-1) as HostMessage)).toBe(SparkplugHost.bdSeq(reborn));

    // A clean stop: the NDEATH with the current bdSeq.
    await daemon.terminate();
    await waitFor('the NDEATH of the clean stop', () => host.of('NDEATH', STATION).some((m) => SparkplugHost.bdSeq(m) === SparkplugHost.bdSeq(reborn)), { timeoutMs: 10_000 });
    expect(SparkplugHost.seqBreaks(host.messages)).toEqual([]);
    expect(host.messages.every((m) => !m.retain)).toBe(true);
  });
});
