// A real daemon (16 simulated slots blessing at speed) publishing to a real broker (Debian's
// mosquitto) through its MQTT sink, with an independent subscriber (the test's own persistent
// session, QoS 1) listening. In one run: the broker SIGKILLed mid-stream and started again, the
// broker down for 30 s, the station SIGKILLed mid-stream and started again. Afterwards the
// subscriber holds every record the station committed (each result with its recordId; a record
// received twice came with the same recordId and the same content), the broker's retained station
// and slot states match the station's own, and the Last Will (`offline`) was seen when the station
// died.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StationTopics } from '../../jobs/uplink/mqtt-topics.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { Mosquitto } from '../support/mosquitto.js';
import { TestSubscriber } from '../support/mqtt-subscriber.js';
import { waitFor } from '../support/wait.js';

const STATION = 'ui-test-station';
const NAMESPACE = { topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1' };
const TOPICS = new StationTopics({ ...NAMESPACE, stationId: STATION });
const OUTAGE_MS = 30_000;

interface Health {
  sequence: { hash: string };
  version: string;
  slots: { slot: number; state: string }[];
  uplink: { queued: number; deadLetters: number; state: string; sinks: { id: string; state: string; queued: number }[] };
  alarms: { alarmId: string; message: string }[];
}

function stationRecords(dbPath: string): { recordId: string; kind: string }[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare(`SELECT record_id, kind FROM outbox`).all() as { record_id: string; kind: string }[]).map((r) => ({ recordId: r.record_id, kind: r.kind }));
  } finally {
    db.close();
  }
}

describe('the MQTT uplink of a real daemon', () => {
  let dir: string;
  let broker: Mosquitto;
  let sub: TestSubscriber;
  let daemon: Daemon;
  let drainOnly: Daemon;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-mqtt-'));
    broker = await Mosquitto.start();
    sub = await TestSubscriber.connect(broker.url, { clientId: 'test-subscriber-daemon', filter: `${TOPICS.base}/#` });
    const cfg = simulatedStationConfig({
      dataDir: path.join(dir, 'data'),
      slots: 16,
      extra: {
        uplink: {
          sinks: [{ kind: 'mqtt', url: broker.url, ...NAMESPACE, connectTimeoutMs: 2000, keepaliveSec: 5 }],
          backoffInitialMs: 50,
          backoffMaxMs: 1000,
          requestTimeoutMs: 3000,
        },
      },
    }) as { simulation: Record<string, unknown>; sequence: { steps: Record<string, unknown>[] } };
    Object.assign(cfg.simulation, { handlingMs: 40, bootMs: 20, commandLatencyMs: 2, retestRate: 0.1 });
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 5 } : s));
    daemon = new Daemon(Daemon.writeConfig(dir, cfg));
    // The last start takes no DUTs (slots wait for a start button), so the set of records is final.
    drainOnly = new Daemon(Daemon.writeConfig(dir, { ...cfg, line: { autoStart: 'manual', shutdownGraceMs: 2000 } }, 'drain.config.json'));
  });

  afterAll(async () => {
    await daemon?.kill9();
    await drainOnly?.kill9();
    await sub?.close();
    await broker?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`every committed record reaches the subscriber across a broker SIGKILL, a ${OUTAGE_MS / 1000} s broker outage and a station SIGKILL`, async () => {
    // The subscriber's session is on the broker's disk before anything is killed.
    await broker.saved();
    await daemon.start();
    const health = (d: Daemon): Promise<Health> => d.api<Health>('/api/health');
    await waitFor('the station online on its state topic', () => sub.json(TOPICS.state)?.state === 'online', { timeoutMs: 10_000 });
    await waitFor('results streaming', () => sub.results.length >= 100, { timeoutMs: 20_000 });

    // 1. The broker is SIGKILLed mid-stream and started again.
    await broker.kill9();
    await waitFor('the station to see the broker gone', async () => (await health(daemon)).uplink.sinks[0]?.state !== 'online', { timeoutMs: 10_000 });
    await broker.start();
    const afterFirst = sub.results.length;
    await waitFor('results streaming again', () => sub.results.length >= afterFirst + 100, { timeoutMs: 20_000 });

    // 2. The broker is down for 30 s: the station keeps testing, queues, and says why.
    await broker.saved();
    await broker.kill9();
    const downAt = Date.now();
    await waitFor('the station to see the broker gone', async () => (await health(daemon)).uplink.sinks[0]?.state !== 'online', { timeoutMs: 10_000 });
    let queuedBefore = -1;
    let alarmed: string | null = null;
    while (Date.now() - downAt < OUTAGE_MS) {
      const h = await health(daemon);
      expect(h.uplink.sinks[0]?.state).not.toBe('online');
      expect(h.uplink.queued).toBeGreaterThanOrEqual(queuedBefore);
      queuedBefore = h.uplink.queued;
      alarmed ??= h.alarms.find((a) => a.alarmId === 'uplink.mqtt.connection')?.message ?? null;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(queuedBefore).toBeGreaterThan(100);
    expect(alarmed).toContain(`cannot reach the broker ${broker.url}`);
    await broker.start();
    await waitFor('the backlog drained', async () => (await health(daemon)).uplink.queued < 200, { timeoutMs: 30_000 });
    await waitFor('the connection alarm cleared', async () => !(await health(daemon)).alarms.some((a) => a.alarmId === 'uplink.mqtt.connection'), { timeoutMs: 10_000 });

    // 3. The station is SIGKILLed mid-stream: the broker publishes its Last Will.
    const streamed = sub.results.length;
    await waitFor('results streaming', () => sub.results.length >= streamed + 50, { timeoutMs: 20_000 });
    await daemon.kill9();
    await waitFor('the Last Will on the state topic', () => sub.json(TOPICS.state)?.state === 'offline', { timeoutMs: 10_000 });
    expect(sub.json(TOPICS.state)).toMatchObject({ state: 'offline', reason: 'connection lost', stationId: STATION });

    // The station starts again, takes no DUT, and drains what it had not delivered.
    await drainOnly.start();
    const dbPath = path.join(dir, 'data', 'station.db');
    const final = await waitFor(
      'the outbox drained',
      async () => {
        const h = await health(drainOnly);
        return h.uplink.queued === 0 ? h : null;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(final.uplink.deadLetters).toBe(0);
    const records = stationRecords(dbPath);
    expect(records.length).toBeGreaterThan(500);
    expect(records.some((r) => r.kind === 'blessed')).toBe(true);
    await waitFor('the subscriber to hold every record', () => records.every((r) => sub.recordIds().has(r.recordId)), { timeoutMs: 20_000 });
    const inStation = new Set(records.map((r) => r.recordId));
    const seen = new Map<string, string>();
    for (const r of sub.results) {
      expect(inStation.has(r.recordId), `a result the station never committed: ${r.recordId}`).toBe(true);
      expect(r.propertyRecordId).toBe(r.recordId);
      const text = JSON.stringify(r.record);
      expect(seen.get(r.recordId) ?? text, `record ${r.recordId} received twice with different content`).toBe(text);
      seen.set(r.recordId, text);
    }
    expect(seen.size).toBe(records.length);

    // The broker's retained state is the station's: read by a fresh subscriber (a new, clean session).
    const check = await TestSubscriber.connect(broker.url, { clientId: `test-retained-${Date.now()}`, filter: `${TOPICS.base}/#` });
    try {
      await waitFor(
        'the retained station and slot states to match the station',
        async () => {
          const h = await health(drainOnly);
          const state = check.json<{ state: string; sequenceHash: string; version: string }>(TOPICS.state);
          if (state?.state !== 'online' || state.sequenceHash !== h.sequence.hash || state.version !== h.version) return false;
          return h.slots.every((s) => check.json<{ state: string }>(TOPICS.slot(s.slot))?.state === s.state);
        },
        { timeoutMs: 10_000, intervalMs: 200 },
      );
      expect(check.messages.filter((m) => m.topic === TOPICS.state).every((m) => m.retain)).toBe(true);
      expect(check.json(TOPICS.metrics)).toMatchObject({ uplink: { queued: expect.any(Number) }, shift: { tested: expect.any(Number) } });
    } finally {
      await check.close();
    }

    // A clean stop says `offline` itself (a clean DISCONNECT discards the Will).
    await drainOnly.terminate();
    await waitFor('offline after a clean stop', () => sub.json(TOPICS.state)?.reason === 'stopped', { timeoutMs: 10_000 });
  });
});
