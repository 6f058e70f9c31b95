// The Sparkplug B edge node (jobs/uplink/sparkplug-node.ts) against a real broker (Debian's
// mosquitto, each test its own), watched by an independent host (test/support/sparkplug-host.ts)
// that decodes every message with Eclipse Tahu's decoder. The station side is the node itself, fed
// by the station's event bus: the daemon's own Sparkplug (a SIGKILL, a restart) is in
// sparkplug-daemon.test.ts. Each test names the Sparkplug 3.0 normative statements (tck-id-...) it
// checks; docs/mqtt.md lists them.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSparkplugLink, SparkplugNode, type SparkplugSource } from '../../jobs/uplink/sparkplug-node.js';
import { StationBus, type SlotSnapshot, type SlotStateName } from '../../station/events.js';
import { createLogger } from '../../station/log.js';
import { freePort, Mosquitto } from '../support/mosquitto.js';
import { SparkplugHost, type HostMessage } from '../support/sparkplug-host.js';
import { captureStream, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const GROUP = 'acme-shenzhen-smt-line1';
const NODE = 'st-spb';
const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

async function broker(): Promise<Mosquitto> {
  const b = await Mosquitto.start();
  cleanups.push(() => b.dispose());
  return b;
}

async function host(url: string): Promise<SparkplugHost> {
  const h = await SparkplugHost.connect(url, { clientId: `test-host-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, groupId: GROUP });
  cleanups.push(() => h.close());
  return h;
}

/** A TCP proxy in front of the broker whose connections can be cut (a network failure, not a DISCONNECT). */
async function proxy(to: number): Promise<{ port: number; cut: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(to, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  return { port, cut: () => sockets.forEach((s) => s.destroy()) };
}

function snapshot(slot: number, state: SlotStateName, extra: Partial<SlotSnapshot> = {}): SlotSnapshot {
  return { slot, name: `Nest ${slot + 1}`, state, connected: true, runId: null, deviceId: null, step: null, reason: null, detail: null, since: Date.now(), ...extra };
}

function station(url: string, opts: { slots?: number; dataDir?: string; slotMinIntervalMs?: number } = {}) {
  const bus = new StationBus();
  const slots = Array.from({ length: opts.slots ?? 3 }, (_, i) => snapshot(i, 'idle'));
  const logs = captureStream();
  const figures = { queued: 0, deadLetters: 0 };
  const log = createLogger({ level: 'debug', destination: logs.stream as never }).log;
  const source: SparkplugSource = {
    bus,
    version: '1.2.3',
    slots: () => slots,
    sequence: () => ({ name: 'widget-test', hash: 'abc123' }),
    counters: () => ({ tested: 0, passed: 0, failed: 0, firstPassYield: null }),
    uplink: () => figures,
    alarms: () => [],
  };
  const dataDir = opts.dataDir ?? dirs.make();
  const link = createSparkplugLink({
    sinkId: 'mqtt',
    groupId: GROUP,
    edgeNodeId: NODE,
    dataDir,
    connection: { url, clientId: `station-${NODE}`, keepaliveSec: 5, connectTimeoutMs: 2000, reconnect: { initialMs: 50, maxMs: 300 }, log },
  });
  const node = new SparkplugNode(link, source, log, { slotMinIntervalMs: opts.slotMinIntervalMs, nodeMinIntervalMs: 50 });
  cleanups.push(() => node.stop());
  /** A slot changes state (as the line would tell it). */
  const set = (slot: number, state: SlotStateName, extra: Partial<SlotSnapshot> = {}): void => {
    const s = snapshot(slot, state, extra);
    slots[slot] = s;
    bus.emit('slot.state', s);
  };
  return { bus, node, link, set, logs, dataDir, figures };
}

/** Every message of the node but NDEATH carries seq, one more than the previous one's (255 then 0). */
function expectSeqContinuity(messages: HostMessage[]): void {
  expect(SparkplugHost.seqBreaks(messages)).toEqual([]);
  expect(messages.some((m) => m.type !== 'NDEATH')).toBe(true);
}

describe('the Sparkplug B edge node on a real broker', () => {
  it('births the node and each slot, DATA by alias after, and the broker publishes the NDEATH Will with the NBIRTH bdSeq when the connection is cut', async () => {
    const b = await broker();
    const h = await host(b.url);
    const p = await proxy(b.port);
    const st = station(`mqtt://127.0.0.1:${p.port}`, { slotMinIntervalMs: 0 });
    st.node.start();
    await waitFor('NBIRTH and 3 DBIRTHs', () => h.of('DBIRTH', NODE).length === 3, { timeoutMs: 10_000 });
    const [nbirth] = h.of('NBIRTH', NODE);
    expect(nbirth).toBeDefined();
    const birth = nbirth as HostMessage;
    // tck-id-topics-nbirth-topic, -mqtt (QoS 0), -seq-num (0), -timestamp, -bdseq-included, -rebirth-metric
    expect(birth).toMatchObject({ topic: `spBv1.0/${GROUP}/NBIRTH/${NODE}`, qos: 0, retain: false, seq: 0 });
    expect(birth.timestamp).toEqual(expect.any(Number));
    expect(birth.metrics.find((m) => m.name === 'bdSeq')).toMatchObject({ type: 'UInt64', value: 0 });
    expect(birth.metrics.find((m) => m.name === 'Node Control/Rebirth')).toEqual({ name: 'Node Control/Rebirth', alias: null, type: 'Boolean', value: false, timestamp: expect.any(Number) });
    expect(birth.metrics.find((m) => m.name === 'Sequence/Hash')?.value).toBe('abc123');
    // tck-id-payloads-alias-birth-requirement, -alias-uniqueness, -name-birth-data-requirement, -metric-datatype-req
    const births = [birth, ...h.of('DBIRTH', NODE)];
    const aliases: number[] = [];
    for (const m of births) {
      for (const metric of m.metrics) {
        expect(metric.name).toEqual(expect.any(String));
        expect(metric.type).toEqual(expect.any(String));
        expect(metric.timestamp).toEqual(expect.any(Number));
        if (metric.name !== 'Node Control/Rebirth') aliases.push(metric.alias as number);
      }
    }
    expect(new Set(aliases).size).toBe(aliases.length);
    // tck-id-payloads-dbirth-order: the DBIRTHs right after the NBIRTH, one per slot.
    expect(h.messages.slice(0, 4).map((m) => m.topic)).toEqual([
      `spBv1.0/${GROUP}/NBIRTH/${NODE}`,
      `spBv1.0/${GROUP}/DBIRTH/${NODE}/slot-0`,
      `spBv1.0/${GROUP}/DBIRTH/${NODE}/slot-1`,
      `spBv1.0/${GROUP}/DBIRTH/${NODE}/slot-2`,
    ]);
    const dbirth = h.of('DBIRTH', NODE, 'slot-1')[0] as HostMessage;
    expect(dbirth.metrics.find((m) => m.name === 'State')).toMatchObject({ type: 'String', value: 'idle' });
    expect(dbirth.metrics.find((m) => m.name === 'Device ID')).toMatchObject({ type: 'String', value: null });

    // A slot changes: DDATA with only what changed, by alias, no name (tck-id-payloads-alias-data-cmd-requirement).
    st.set(1, 'testing', { deviceId: 'dev-0001', runId: 'run-1' });
    await waitFor('a DDATA for slot 1', () => h.of('DDATA', NODE, 'slot-1').length === 1, { timeoutMs: 5000 });
    const ddata = h.of('DDATA', NODE, 'slot-1')[0] as HostMessage;
    expect(ddata).toMatchObject({ qos: 0, retain: false });
    const byAlias = new Map(dbirth.metrics.map((m) => [m.alias, m.name]));
    expect(ddata.metrics.every((m) => m.name === null && m.timestamp !== null)).toBe(true);
    expect(Object.fromEntries(ddata.metrics.map((m) => [byAlias.get(m.alias), m.value]))).toEqual({ State: 'testing', 'Device ID': 'dev-0001', 'Run ID': 'run-1' });
    // A verdict: the slot's counts and the last verdict.
    st.bus.emit('run.finished', { runId: 'run-1', slot: 1, verdict: 'blessed', deviceId: 'dev-0001', rework: false, attempt: 1, reason: null, recordId: 'r1', seq: 1 });
    await waitFor('the verdict in a DDATA', () => h.of('DDATA', NODE, 'slot-1').some((m) => m.metrics.some((x) => byAlias.get(x.alias) === 'Last Verdict' && x.value === 'blessed')), {
      timeoutMs: 5000,
    });

    // The node's figures change: NDATA with what changed, by alias (tck-id-topics-ndata-*).
    st.figures.queued = 17;
    st.bus.emit('uplink.status', {} as never);
    await waitFor('an NDATA', () => h.of('NDATA', NODE).length === 1, { timeoutMs: 5000 });
    const ndata = h.of('NDATA', NODE)[0] as HostMessage;
    const nodeAliases = new Map(birth.metrics.map((m) => [m.alias, m.name]));
    expect(ndata).toMatchObject({ topic: `spBv1.0/${GROUP}/NDATA/${NODE}`, qos: 0, retain: false });
    expect(ndata.metrics.map((m) => [nodeAliases.get(m.alias), m.name, m.value])).toEqual([['Uplink/Backlog', null, 17]]);

    // The network fails: the broker publishes the Will, the NDEATH with the NBIRTH's bdSeq.
    p.cut();
    await waitFor('the NDEATH from the broker', () => h.of('NDEATH', NODE).length === 1, { timeoutMs: 10_000 });
    const death = h.of('NDEATH', NODE)[0] as HostMessage;
    // tck-id-payloads-ndeath-will-message(-qos), -ndeath-seq, -ndeath-bdseq, tck-id-topics-ndeath-payload
    expect(death).toMatchObject({ topic: `spBv1.0/${GROUP}/NDEATH/${NODE}`, qos: 1, retain: false, seq: null });
    expect(death.metrics.map((m) => m.name)).toEqual(['bdSeq']);
    expect(SparkplugHost.bdSeq(death)).toBe(SparkplugHost.bdSeq(birth));
    // It connects again: a new bdSeq, NBIRTH seq 0, DBIRTHs again (tck-id-topics-nbirth-bdseq-increment).
    await waitFor('a second NBIRTH', () => h.of('NBIRTH', NODE).length === 2 && h.of('DBIRTH', NODE).length === 6, { timeoutMs: 10_000 });
    expect(SparkplugHost.bdSeq(h.of('NBIRTH', NODE)[1] as HostMessage)).toBe(1);
    expectSeqContinuity(h.messages);
  });

  it('seq runs 0-255 and wraps to 0 over more than 256 messages; a burst on one slot is at most 4 DDATA a second, the last state never lost', async () => {
    const b = await broker();
    const h = await host(b.url);
    const fast = station(b.url, { slots: 2, slotMinIntervalMs: 0 });
    fast.node.start();
    await waitFor('the births', () => h.of('DBIRTH', NODE).length === 2, { timeoutMs: 10_000 });
    for (let i = 0; i < 300; i++) fast.set(i % 2, i % 3 === 0 ? 'testing' : i % 3 === 1 ? 'blessing' : 'pass', { deviceId: `dev-${i}` });
    await waitFor('300 DDATA', () => h.of('DDATA', NODE).length === 300, { timeoutMs: 15_000 });
    expectSeqContinuity(h.messages);
    const seqs = h.messages.map((m) => m.seq);
    expect(seqs.indexOf(255)).toBeGreaterThan(0);
    expect(seqs[seqs.indexOf(255) + 1]).toBe(0);
    await fast.node.stop();

    // The default: one slot changing 50 times at once is published now and once more with the last state.
    const h2 = await host(b.url);
    const throttled = station(b.url, { slots: 1 });
    throttled.node.start();
    await waitFor('the births', () => h2.of('DBIRTH', NODE).length === 1, { timeoutMs: 10_000 });
    const before = h2.of('DDATA', NODE).length;
    for (let i = 0; i < 50; i++) throttled.set(0, i % 2 === 0 ? 'testing' : 'blessing', { deviceId: `burst-${i}` });
    await waitFor('the last state in a DDATA', () => h2.of('DDATA', NODE).some((m) => m.metrics.some((x) => x.value === 'burst-49')), { timeoutMs: 5000 });
    expect(h2.of('DDATA', NODE).length - before).toBeLessThanOrEqual(3);
  });

  it('a rebirth NCMD births again with the same bdSeq; an NCMD that is not protobuf, or with other metrics, is ignored with one log line and the node carries on', async () => {
    const b = await broker();
    const h = await host(b.url);
    const st = station(b.url, { slotMinIntervalMs: 0 });
    st.node.start();
    await waitFor('the births', () => h.of('DBIRTH', NODE).length === 3, { timeoutMs: 10_000 });
    st.set(0, 'testing');
    await waitFor('a DDATA', () => h.of('DDATA', NODE).length === 1, { timeoutMs: 5000 });
    // tck-id-operational-behavior-data-commands-rebirth-action-1..3
    await h.rebirth(NODE);
    await waitFor('a second NBIRTH and DBIRTHs', () => h.of('NBIRTH', NODE).length === 2 && h.of('DBIRTH', NODE).length === 6, { timeoutMs: 5000 });
    const [first, second] = h.of('NBIRTH', NODE) as [HostMessage, HostMessage];
    expect(SparkplugHost.bdSeq(second)).toBe(SparkplugHost.bdSeq(first));
    expect(second.seq).toBe(0);
    const i = h.messages.indexOf(second);
    expect(h.messages.slice(i, i + 4).map((m) => m.type)).toEqual(['NBIRTH', 'DBIRTH', 'DBIRTH', 'DBIRTH']);
    expect(h.of('DBIRTH', NODE, 'slot-0')[1]?.metrics.find((m) => m.name === 'State')?.value).toBe('testing');

    // Not a Sparkplug payload, twice: one log line.
    await h.ncmd(NODE, Buffer.from('not protobuf'));
    await h.ncmd(NODE, Buffer.from('{"rebirth":true}'));
    await waitFor('the bad NCMD logged', () => st.logs.text().includes('an NCMD that is not a Sparkplug B payload was ignored'), { timeoutMs: 5000 });
    // Another metric than Rebirth: one line naming it.
    await h.ncmd(NODE, [{ name: 'Node Control/Reboot', type: 'Boolean', value: true }]);
    await waitFor('the unknown metric logged', () => st.logs.text().includes('Node Control/Reboot'), { timeoutMs: 5000 });
    // The node carries on: DATA flows and a rebirth still works.
    st.set(2, 'testing');
    await waitFor('a DDATA for slot 2', () => h.of('DDATA', NODE, 'slot-2').length === 1, { timeoutMs: 5000 });
    await h.rebirth(NODE);
    await waitFor('a third NBIRTH', () => h.of('NBIRTH', NODE).length === 3, { timeoutMs: 5000 });
    const lines = st.logs.text().split('\n');
    expect(lines.filter((l) => l.includes('an NCMD that is not a Sparkplug B payload')).length).toBe(1);
    expect(lines.filter((l) => l.includes('Node Control/Reboot')).length).toBe(1);
    expect(h.of('NBIRTH', NODE)).toHaveLength(3);
    expectSeqContinuity(h.messages);
  });

  it('DDEATH when a slot goes away, DBIRTH when it is back; never a DDATA for a slot without its DBIRTH', async () => {
    const b = await broker();
    const h = await host(b.url);
    const st = station(b.url, { slotMinIntervalMs: 0 });
    st.node.start();
    await waitFor('the births', () => h.of('DBIRTH', NODE).length === 3, { timeoutMs: 10_000 });
    st.set(2, 'offline', { connected: false, reason: 'disconnected' });
    await waitFor('DDEATH for slot 2', () => h.of('DDEATH', NODE, 'slot-2').length === 1, { timeoutMs: 5000 });
    const ddeath = h.of('DDEATH', NODE, 'slot-2')[0] as HostMessage;
    // tck-id-topics-ddeath-topic, -mqtt, -seq-num; tck-id-operational-behavior-device-ddeath
    expect(ddeath).toMatchObject({ topic: `spBv1.0/${GROUP}/DDEATH/${NODE}/slot-2`, qos: 0, retain: false });
    expect(ddeath.timestamp).toEqual(expect.any(Number));
    st.set(2, 'offline', { connected: false, reason: 'still away' });
    st.set(2, 'idle');
    await waitFor('DBIRTH for slot 2 again', () => h.of('DBIRTH', NODE, 'slot-2').length === 2, { timeoutMs: 5000 });
    st.set(2, 'testing');
    await waitFor('a DDATA for slot 2', () => h.of('DDATA', NODE, 'slot-2').length === 1, { timeoutMs: 5000 });
    // Per slot: every DDATA comes after a DBIRTH with no DDEATH between (tck-id-payloads-ddata-order).
    for (const slot of ['slot-0', 'slot-1', 'slot-2']) {
      let alive = false;
      for (const m of h.messages.filter((x) => x.deviceId === slot)) {
        if (m.type === 'DBIRTH') alive = true;
        else if (m.type === 'DDEATH') alive = false;
        else expect(alive, `${m.topic} after its DBIRTH`).toBe(true);
      }
    }
    expectSeqContinuity(h.messages);
  });

  it('a broker restart: a new connection with a new bdSeq; a clean stop publishes the NDEATH; bdSeq goes on after a restart of the station', async () => {
    const b = await broker();
    const dataDir = dirs.make();
    const h = await host(b.url);
    const st = station(b.url, { dataDir });
    st.node.start();
    await waitFor('an NBIRTH', () => h.of('NBIRTH', NODE).length >= 1, { timeoutMs: 10_000 });
    const before = SparkplugHost.bdSeq(h.of('NBIRTH', NODE).at(-1) as HostMessage);

    await b.kill9();
    await b.start();
    // The node is back before the host (its NBIRTH, QoS 0, reached no one): the host asks for a
    // rebirth, as a Sparkplug host does when it (re)connects, and sees the new connection's bdSeq.
    await waitFor(
      'an NBIRTH after the broker restart',
      async () => {
        if (h.of('NBIRTH', NODE).some((m) => SparkplugHost.bdSeq(m) !== before)) return true;
        if (h.connected) await h.rebirth(NODE);
        return false;
      },
      { timeoutMs: 15_000, intervalMs: 300 },
    );
    const after = h.of('NBIRTH', NODE).at(-1) as HostMessage;
    expect(SparkplugHost.bdSeq(after)).toBeGreaterThan(before);
    expect(after.seq).toBe(0);

    // A clean stop: the NDEATH, with the current bdSeq (tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath).
    await st.node.stop();
    // Published by the node, then by the broker as the Will: MQTT 5's DISCONNECT says "Disconnect
    // with Will Message" (tck-id-payloads-ndeath-will-message-publisher-disconnect-mqtt50).
    await waitFor('the NDEATH of the clean stop, and the Will', () => h.of('NDEATH', NODE).filter((m) => SparkplugHost.bdSeq(m) === SparkplugHost.bdSeq(after)).length === 2, { timeoutMs: 5000 });
    // The station starts again: the bdSeq after the last one it used, from its data folder.
    const again = station(b.url, { dataDir });
    again.node.start();
    await waitFor('the NBIRTH of the restarted node', () => h.of('NBIRTH', NODE).length > h.of('NBIRTH', NODE).indexOf(after) + 1, { timeoutMs: 10_000 });
    expect(SparkplugHost.bdSeq(h.of('NBIRTH', NODE).at(-1) as HostMessage)).toBe(SparkplugHost.bdSeq(after) + 1);
    // Nothing under spBv1.0 is retained (tck-id-payloads-*-retain).
    expect(h.messages.every((m) => !m.retain)).toBe(true);
  });
});
