// The MQTT sink against a real broker (Debian's mosquitto, each test its own on a loopback port),
// driven through the uplink job with a real store: records reach an independent subscriber with
// their recordId (in the payload and as the MQTT 5 user property), a record counts as sent only on
// its PUBACK, and every bad input the issue names (a login refused, an ACL that denies, a packet over
// the broker's maximum, a broker that never answers CONNECT, a broker that refuses MQTT 5) gets a
// clear alarm, keeps the records and marks nothing sent.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttConnection } from '../../drivers/mqtt/connection.js';
import { MqttSink } from '../../jobs/uplink/mqtt-sink.js';
import { StationTopics } from '../../jobs/uplink/mqtt-topics.js';
import { FileSink } from '../../jobs/uplink/sinks.js';
import { UplinkJob, type UplinkOptions } from '../../jobs/uplink/uplink.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { Mosquitto, testCertificates } from '../support/mosquitto.js';
import { TestSubscriber } from '../support/mqtt-subscriber.js';
import { fillOutbox, randomDeviceId } from '../support/records.js';
import { captureStream, compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const STATION = 'st-mqtt';
const PATH = { topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1', stationId: STATION };
const TOPICS = new StationTopics(PATH);
const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

const fast: UplinkOptions = { stationId: STATION, batchMaxRecords: 200, batchMaxAgeMs: 0, concurrency: 2, backoffInitialMs: 20, backoffMaxMs: 300 };

async function broker(opts: Parameters<typeof Mosquitto.start>[0] = {}): Promise<Mosquitto> {
  const b = await Mosquitto.start(opts);
  cleanups.push(() => b.dispose());
  return b;
}

async function subscriber(url: string, login: { username?: string; password?: string } = {}): Promise<TestSubscriber> {
  const s = await TestSubscriber.connect(url, { clientId: `test-sub-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, filter: `${TOPICS.base}/#`, ...login });
  cleanups.push(() => s.close());
  return s;
}

async function station(opts: {
  url: string;
  records?: number;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  connectTimeoutMs?: number;
  ackTimeoutMs?: number;
  extraSinks?: (dir: string) => FileSink[];
  logTo?: ReturnType<typeof captureStream>;
}) {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  cleanups.push(() => store.close());
  const recordIds = await fillOutbox(store, seq, opts.records ?? 50, { failEvery: 7, stationId: STATION });
  const bus = new StationBus();
  const alarms = new Map<string, StationEvents['alarm.raised']>();
  bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
  bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
  const log = opts.logTo ? createLogger({ level: 'debug', destination: opts.logTo.stream as never }).log : silentLogger();
  const connection = new MqttConnection({
    url: opts.url,
    clientId: `station-${STATION}`,
    username: opts.username,
    password: opts.password,
    tls: opts.tls,
    sessionExpirySec: 600,
    keepaliveSec: 10,
    connectTimeoutMs: opts.connectTimeoutMs ?? 2000,
    reconnect: { initialMs: 50, maxMs: 500 },
    log,
  });
  const sinks = [new MqttSink(connection, TOPICS, { id: 'mqtt', qos: 1, ackTimeoutMs: opts.ackTimeoutMs ?? 2000 }), ...(opts.extraSinks?.(dirs.make()) ?? [])];
  const job = new UplinkJob(store, sinks, bus, log, fast);
  cleanups.push(() => job.stop());
  return { store, seq, job, bus, alarms, recordIds, connection, dataDir };
}

function deliveredTo(store: Store, sink: string): string[] {
  return (store.database.prepare(`SELECT o.record_id FROM sink_records r JOIN outbox o ON o.seq = r.seq WHERE r.sink_id = ? AND r.delivered_at IS NOT NULL`).all(sink) as { record_id: string }[]).map(
    (r) => r.record_id,
  );
}

/** Writes one finished run whose record carries a long reason (a large record). */
async function bigRecord(store: Store, seqHash: string, reasonChars: number): Promise<string> {
  const runId = randomUUID();
  const deviceId = randomDeviceId();
  store.beginRun({ runId, slot: 0, sequenceHash: seqHash, mode: 'production', startedAt: Date.now() - 10 });
  store.attachDevice(runId, deviceId);
  const r = await store.finishRun(runId, {
    verdict: 'failed',
    endedAt: Date.now(),
    failStep: 'VBAT',
    reason: 'x'.repeat(reasonChars),
    identity: { deviceId, mac: '0c2a69000001', iccid: null, imei: null },
    rework: false,
    stationId: STATION,
  });
  return r.recordId as string;
}

describe('MQTT sink: delivery', () => {
  it('publishes every record to units/<deviceId>/result with its recordId (payload and user property), and marks each sent on its PUBACK', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const s = await station({ url: b.url, records: 120 });
    s.job.start();
    await waitFor('every record delivered', () => s.job.status().queued === 0, { timeoutMs: 20_000 });
    await waitFor('the subscriber to have every record', () => sub.recordIds().size === 120, { timeoutMs: 10_000 });
    expect([...sub.recordIds()].sort()).toEqual([...s.recordIds].sort());
    for (const r of sub.results) {
      expect(r.propertyRecordId).toBe(r.recordId);
      expect(r.topic).toBe(TOPICS.result(r.record.deviceId));
      expect(r.record.stationId).toBe(STATION);
      expect(typeof r.record.seq).toBe('number');
    }
    expect(deliveredTo(s.store, 'mqtt').sort()).toEqual([...s.recordIds].sort());
    expect(s.job.status()).toMatchObject({ state: 'online', sink: 'mqtt', queued: 0, deadLetters: 0 });
    expect(s.job.status().sinks[0]).toMatchObject({ id: 'mqtt', kind: 'mqtt', state: 'online', delivered: 120 });
    expect(s.job.status().sinks[0]?.target).toBe(`${b.url} ${TOPICS.base}`);
  });

  it('keeps each sink on its own cursor: a folder sink drains while the broker is down, the broker sink catches up when it is back', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    await b.saved();
    await b.kill9();
    const s = await station({ url: b.url, records: 60, extraSinks: (dir) => [new FileSink(dir, STATION)] });
    s.job.start();
    await waitFor('the file sink to drain', () => s.job.status().sinks.find((x) => x.id === 'file')?.queued === 0, { timeoutMs: 10_000 });
    const mid = s.job.status();
    expect(mid.sinks.find((x) => x.id === 'mqtt')?.queued).toBe(60);
    // The union: a record waits while any sink still owes it.
    expect(mid.queued).toBe(60);
    expect(mid.state).toBe('degraded');
    expect(mid.sink).toBe('mqtt+file');
    expect(deliveredTo(s.store, 'file').length).toBe(60);
    expect(deliveredTo(s.store, 'mqtt')).toEqual([]);
    expect(s.store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NOT NULL`).get()).toEqual({ n: 0 });
    await b.start();
    await waitFor('the MQTT sink to catch up', () => s.job.status().queued === 0, { timeoutMs: 20_000 });
    expect(deliveredTo(s.store, 'mqtt').length).toBe(60);
    expect(s.store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NOT NULL`).get()).toEqual({ n: 60 });
    await waitFor('the subscriber to have every record', () => sub.recordIds().size === 60, { timeoutMs: 10_000 });
  });

  it('records unacknowledged when the station stops are published again after it starts, with the same recordIds', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const s = await station({ url: b.url, records: 30, ackTimeoutMs: 300 });
    s.job.start();
    await waitFor('the first records delivered', () => s.job.status().queued === 0, { timeoutMs: 10_000 });
    // The broker freezes: it takes the PUBLISHes (the kernel does) and acknowledges none.
    const proc = b['proc'] as ChildProcess;
    proc.kill('SIGSTOP');
    let extra: string[];
    try {
      extra = await fillOutbox(s.store, s.seq, 10, { stationId: STATION });
      s.bus.emit('run.finished', { runId: 'x', slot: 0, verdict: 'blessed', deviceId: 'd', rework: false, attempt: 1, reason: null, recordId: 'r', seq: null });
      await waitFor('an attempt with no acknowledgement', () => s.job.status().sinks[0]?.lastError?.includes('no acknowledgement'), { timeoutMs: 10_000 });
      await s.job.stop();
    } finally {
      proc.kill('SIGCONT');
    }
    expect(deliveredTo(s.store, 'mqtt').filter((id) => extra.includes(id))).toEqual([]);
    // The station starts again (a new connection and job on the same store): the unacknowledged records go again.
    const again = new UplinkJob(
      s.store,
      new MqttSink(new MqttConnection({ url: b.url, clientId: `station-${STATION}`, sessionExpirySec: 600, keepaliveSec: 10, connectTimeoutMs: 2000, log: silentLogger() }), TOPICS, {
        id: 'mqtt',
        qos: 1,
        ackTimeoutMs: 2000,
      }),
      s.bus,
      silentLogger(),
      fast,
    );
    cleanups.push(() => again.stop());
    again.start();
    await waitFor('every record delivered', () => again.status().queued === 0, { timeoutMs: 20_000 });
    const all = [...s.recordIds, ...extra];
    expect(deliveredTo(s.store, 'mqtt').sort()).toEqual([...all].sort());
    await waitFor('the subscriber to have every record', () => all.every((id) => sub.recordIds().has(id)), { timeoutMs: 10_000 });
    // Any record received twice came twice with the same recordId and the same record.
    const byId = new Map<string, string>();
    for (const r of sub.results) {
      const text = JSON.stringify(r.record);
      expect(byId.get(r.recordId) ?? text).toBe(text);
      byId.set(r.recordId, text);
    }
    expect([...byId.keys()].sort()).toEqual([...all].sort());
  });
});

describe('MQTT sink: bad input', () => {
  it('a login the broker refuses: a critical alarm naming the cause, the records kept, nothing marked sent, no password in logs or status', async () => {
    const b = await broker({ users: { station: 'right-password' } });
    const logs = captureStream();
    const s = await station({ url: b.url, records: 12, username: 'station', password: 'wrong-password-123', logTo: logs });
    s.job.start();
    const alarm = await waitFor('the connection alarm', () => s.alarms.get('uplink.mqtt.connection'), { timeoutMs: 10_000 });
    expect(alarm.severity).toBe('critical');
    expect(alarm.message).toMatch(/refused the station's login \(CONNACK 0x8[67]/);
    expect(alarm.message).toContain('user "station"');
    const status = s.job.status();
    expect(status).toMatchObject({ state: 'offline', queued: 12, deadLetters: 0 });
    expect(status.sinks[0]?.lastError).toContain('refused');
    expect(deliveredTo(s.store, 'mqtt')).toEqual([]);
    expect(logs.text() + JSON.stringify(status) + alarm.message).not.toContain('wrong-password-123');
  });

  it('an ACL that denies the result topic (PUBACK 0x87 to publishes carrying the recordId property): a critical alarm, nothing marked sent, the records kept', async () => {
    const b = await broker({
      users: { station: 'pw-station', reader: 'pw-reader' },
      acl: ['user station', `topic write ${TOPICS.base}/state`, `topic write ${TOPICS.base}/slots/#`, 'user reader', 'topic read #'].join('\n'),
    });
    const sub = await subscriber(b.url, { username: 'reader', password: 'pw-reader' });
    const s = await station({ url: b.url, records: 15, username: 'station', password: 'pw-station' });
    s.job.start();
    const alarm = await waitFor('the denied alarm', () => s.alarms.get('uplink.mqtt.denied'), { timeoutMs: 10_000 });
    expect(alarm.severity).toBe('critical');
    expect(alarm.message).toContain('Not authorized (0x87)');
    expect(alarm.message).toContain(`${TOPICS.base}/units/`);
    await waitFor('a second attempt', () => (s.store.database.prepare(`SELECT max(attempts) AS a FROM upload_batches`).get() as { a: number }).a >= 2, { timeoutMs: 10_000 });
    expect(deliveredTo(s.store, 'mqtt')).toEqual([]);
    expect(s.job.status()).toMatchObject({ queued: 15, deadLetters: 0 });
    expect(s.job.status().sinks[0]?.lastError).toContain('Not authorized (0x87)');
    // The broker allowed the station's own state topic: the connection itself works.
    const ok = await s.connection.publish({ topic: TOPICS.state, payload: '{"state":"online"}', qos: 1, retain: false, userProperties: { recordId: 'probe' } });
    expect(ok).toEqual({ ok: true });
    expect(sub.results).toEqual([]);
  });

  it("a record over the broker's maximum packet size is never sent: a dead letter for this sink with the sizes, the others delivered", async () => {
    const b = await broker({ maxPacketSize: 1500 });
    const sub = await subscriber(b.url);
    const s = await station({ url: b.url, records: 10 });
    const big = await bigRecord(s.store, s.seq.hash, 3000);
    s.job.start();
    await waitFor('the others delivered and the big one dead', () => s.job.status().queued === 0 && s.job.status().deadLetters === 1, { timeoutMs: 10_000 });
    const dead = s.job.deadLetters(10);
    expect(dead.map((d) => [d.recordId, d.sink])).toEqual([[big, 'mqtt']]);
    expect(dead[0]?.reason).toMatch(/too large for the broker mqtt:\/\/127\.0\.0\.1:\d+: \d{4} bytes as an MQTT packet, over the broker's maximum packet size of 1500 bytes/);
    expect(s.alarms.get('uplink.dead-letters')?.message).toContain('1 record');
    expect(deliveredTo(s.store, 'mqtt').sort()).toEqual([...s.recordIds].sort());
    await waitFor('the subscriber to have the others', () => sub.recordIds().size === 10, { timeoutMs: 10_000 });
    expect(sub.recordIds().has(big)).toBe(false);
    // The connection stayed up: the broker never saw the packet (it would have dropped the connection).
    expect(s.connection.isUp).toBe(true);
    expect(b.log).not.toMatch(/exceeded|too large/i);
  });

  it('TLS: delivers over mqtts with a client certificate; a broker whose certificate the CA did not sign gets a critical alarm naming TLS', async () => {
    const certs = testCertificates(dirs.make());
    const b = await broker({ tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey, requireCertificate: true }, acl: ['user station1', 'topic readwrite #'].join('\n') });
    expect(b.url).toMatch(/^mqtts:/);
    const s = await station({ url: b.url, records: 10, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    s.job.start();
    await waitFor('every record delivered over TLS', () => s.job.status().queued === 0, { timeoutMs: 15_000 });
    expect(deliveredTo(s.store, 'mqtt').length).toBe(10);
    expect(b.log).toContain("u'station1'"); // the certificate's CN is the station's identity at the broker
    await s.job.stop();

    const wrong = await station({ url: b.url, records: 5, tls: { ca: certs.otherCa, cert: certs.clientCert, key: certs.clientKey } });
    wrong.job.start();
    const alarm = await waitFor('the TLS alarm', () => wrong.alarms.get('uplink.mqtt.connection'), { timeoutMs: 10_000 });
    expect(alarm.severity).toBe('critical');
    expect(alarm.message).toMatch(/TLS with mqtts:\/\/127\.0\.0\.1:\d+ failed: [A-Z_]+.*check tls\.ca, tls\.cert and tls\.key/);
    expect(wrong.job.status()).toMatchObject({ state: 'offline', queued: 5 });
    expect(deliveredTo(wrong.store, 'mqtt')).toEqual([]);
  });

  it('a broker that never answers CONNECT: an alarm naming the wait, the records kept, nothing marked sent', async () => {
    // Takes the TCP connection, reads the CONNECT, says nothing.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())));
    const s = await station({ url: `mqtt://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, records: 8, connectTimeoutMs: 400 });
    s.job.start();
    const alarm = await waitFor('the connection alarm', () => s.alarms.get('uplink.mqtt.connection'), { timeoutMs: 10_000 });
    expect(alarm.message).toContain('did not answer CONNECT within 400 ms');
    expect(s.job.status()).toMatchObject({ state: 'offline', queued: 8 });
    expect(deliveredTo(s.store, 'mqtt')).toEqual([]);
  });

  it('a broker that refuses MQTT 5: the station speaks 3.1.1 (the recordId in the payload only) and delivers', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    // In front of the broker: a 3.1.1-only gate that answers an MQTT 5 CONNECT with "unacceptable
    // protocol version" (CONNACK return code 1) and passes any other connection through.
    let refusedV5 = 0;
    const gate = net.createServer((client) => {
      client.once('data', (first) => {
        // CONNECT: fixed header, remaining length, "MQTT" (2+4 bytes), then the protocol level.
        const lenBytes = [...first.subarray(1, 5)].findIndex((x) => (x & 0x80) === 0) + 1;
        const level = first[1 + lenBytes + 6];
        if (level === 5) {
          refusedV5++;
          client.end(Buffer.from([0x20, 0x02, 0x00, 0x01]));
          return;
        }
        const upstream = net.connect(b.port, '127.0.0.1', () => {
          upstream.write(first);
          client.pipe(upstream).pipe(client);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
    });
    await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => gate.close(() => r())));
    const s = await station({ url: `mqtt://127.0.0.1:${(gate.address() as net.AddressInfo).port}`, records: 20 });
    s.job.start();
    await waitFor('every record delivered', () => s.job.status().queued === 0, { timeoutMs: 15_000 });
    expect(refusedV5).toBe(1);
    expect(s.connection.limits.protocolVersion).toBe(4);
    await waitFor('the subscriber to have every record', () => sub.recordIds().size === 20, { timeoutMs: 10_000 });
    expect(sub.results.every((r) => r.propertyRecordId === undefined)).toBe(true);
    expect([...sub.recordIds()].sort()).toEqual([...s.recordIds].sort());
  });
});

describe('MQTT sink: the broker goes away', () => {
  it('broker SIGKILLed mid-stream and started again: every record reaches the subscriber, duplicates only with the same recordId', async () => {
    const b = await broker();
    const sub = await subscriber(b.url);
    const s = await station({ url: b.url, records: 10 });
    s.job.start();
    // A steady stream of new records while the broker dies and comes back.
    const written: string[] = [...s.recordIds];
    let writing = true;
    const writer = (async () => {
      while (writing) {
        written.push(...(await fillOutbox(s.store, s.seq, 20, { stationId: STATION })));
        s.bus.emit('run.finished', { runId: 'x', slot: 0, verdict: 'blessed', deviceId: 'd', rework: false, attempt: 1, reason: null, recordId: 'r', seq: null });
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await waitFor('a first part delivered', () => deliveredTo(s.store, 'mqtt').length >= 200, { timeoutMs: 15_000 });
    // The subscriber's session is on the broker's disk (a broker keeps what it last saved).
    await b.saved();
    await b.kill9();
    await waitFor('the sink to notice', () => !s.connection.isUp, { timeoutMs: 5000 });
    await waitFor('records to pile up', () => s.job.status().queued >= 100, { timeoutMs: 10_000 });
    await b.start();
    await waitFor('more delivered after the restart', () => s.job.status().sinks[0]?.state === 'online' && s.job.status().queued < 50, { timeoutMs: 20_000 });
    writing = false;
    await writer;
    s.bus.emit('run.finished', { runId: 'x', slot: 0, verdict: 'blessed', deviceId: 'd', rework: false, attempt: 1, reason: null, recordId: 'r', seq: null });
    await waitFor('every record delivered', () => s.job.status().queued === 0, { timeoutMs: 20_000 });
    await waitFor('the subscriber to have every record', () => written.every((id) => sub.recordIds().has(id)), { timeoutMs: 20_000 });
    const inStation = new Set(written);
    expect(sub.results.every((r) => inStation.has(r.recordId))).toBe(true);
    expect(sub.recordIds().size).toBe(written.length);
  });
});
