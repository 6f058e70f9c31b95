// Several uplink sinks at once: the configuration (both forms, ids, refusals), each sink's own cursor
// over the one outbox (a real SQLite store), the union the station shows as "queued", dead letters
// per sink, sinks added and removed, and a database from before (schema 6, one sink's state) taken
// over by the first sink of its kind.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createUplinkSinks } from '../../jobs/uplink/index.js';
import { UplinkJob, type UplinkOptions } from '../../jobs/uplink/uplink.js';
import type { OutgoingBatch, SendOutcome, UplinkSink } from '../../jobs/uplink/sinks.js';
import { parseConfig, ConfigError, type StationConfig } from '../../station/config/load.js';
import { cloudCredentials, configuredSinks, uplinkSchema } from '../../station/config/uplink.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { MIGRATIONS } from '../../station/store/migrations.js';
import { Store } from '../../station/store/store.js';
import { shippedConfigRaw } from '../support/configs.js';
import { fillOutbox } from '../support/records.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

const MQTT = { kind: 'mqtt', url: 'mqtts://broker.plant.example:8883', topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1' };
const HTTP = { kind: 'http', url: 'https://cloud.example/ingest', apiKey: 'k-123', hmacSecret: 's-456' };

function problems(uplink: unknown): string[] {
  const r = uplinkSchema.safeParse(uplink);
  if (r.success) throw new Error('expected the uplink configuration to be refused');
  return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('uplink configuration', () => {
  it('takes the contract: sinks of each kind, with ids from their kind (then kind-n) or their name', () => {
    const u = uplinkSchema.parse({
      sinks: [
        HTTP,
        { kind: 'file', dir: 'out' },
        { ...MQTT, username: 'station1', password: 'pw', tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' }, sparkplug: false },
        { ...MQTT, name: 'backup' },
        MQTT,
      ],
    });
    const { sinks, missing } = configuredSinks(u);
    expect(missing).toBeNull();
    expect(sinks.map((s) => s.id)).toEqual(['http', 'file', 'mqtt', 'backup', 'mqtt-3']);
    const mqtt = sinks[2] as Extract<(typeof sinks)[number], { kind: 'mqtt' }>;
    expect(mqtt).toMatchObject({ qos: 1, sessionExpirySec: 86_400, keepaliveSec: 30, connectTimeoutMs: 10_000, tls: { ca: 'ca.pem' } });
    expect(cloudCredentials(u)).toEqual({ url: HTTP.url, apiKey: 'k-123', hmacSecret: 's-456' });
  });

  it('reads the older keys as one sink: http from url/apiKey/hmacSecret, file from sink "file" and dir', () => {
    expect(configuredSinks(uplinkSchema.parse({ url: HTTP.url, apiKey: 'a', hmacSecret: 'b' })).sinks).toEqual([{ kind: 'http', id: 'http', url: HTTP.url, apiKey: 'a', hmacSecret: 'b' }]);
    expect(configuredSinks(uplinkSchema.parse({ sink: 'file', dir: 'records' })).sinks).toEqual([{ kind: 'file', id: 'file', dir: 'records' }]);
    expect(configuredSinks(uplinkSchema.parse({ url: HTTP.url })).missing).toBe('uplink.apiKey, uplink.hmacSecret not set');
    expect(configuredSinks(uplinkSchema.parse({}))).toEqual({ sinks: [], missing: null });
  });

  it('refuses both forms at once, naming the older keys and what to do', () => {
    const p = problems({ url: HTTP.url, apiKey: 'a', hmacSecret: 'b', sinks: [MQTT] });
    expect(p).toEqual([expect.stringMatching(/^sinks: cannot be used together with uplink\.url, uplink\.apiKey, uplink\.hmacSecret: describe that sink as an entry of uplink\.sinks/)]);
    // Through the whole configuration, as the station reports it at start.
    const raw = { ...shippedConfigRaw(), uplink: { dir: 'x', sinks: [MQTT] } };
    let err: unknown;
    try {
      parseConfig(raw, { source: '/etc/station/test.json', baseDir: '/etc/station' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.some((x) => x.startsWith('uplink.sinks: cannot be used together with uplink.dir'))).toBe(true);
  });

  it('refuses what would go wrong later: two sinks with one id, a login in the URL, QoS 0, a password without a user, two sinks sharing an MQTT session', () => {
    expect(problems({ sinks: [HTTP, { ...HTTP, name: 'http' }] })).toEqual([expect.stringContaining('the sink id "http" is also sinks[0]\'s')]);
    expect(problems({ sinks: [{ ...MQTT, url: 'mqtt://user:secret@broker:1883' }] })[0]).toContain('must not carry a login');
    expect(problems({ sinks: [{ ...MQTT, qos: 0 }] })[0]).toMatch(/^sinks\.0\.qos/);
    expect(problems({ sinks: [{ ...MQTT, password: 'pw' }] })[0]).toBe('sinks.0.password: a password needs a username');
    expect(
      problems({
        sinks: [
          { ...MQTT, clientId: 'st1' },
          { ...MQTT, name: 'two', clientId: 'st1' },
        ],
      })[0],
    ).toContain('would take each other');
    expect(problems({ sinks: [{ ...MQTT, site: 'a/b' }] })[0]).toContain('one level of an MQTT topic');
    expect(uplinkSchema.safeParse({ sinks: [{ ...MQTT, sparkplug: true, sparkplugGroupId: 'Plant 1' }] }).success).toBe(true);
    expect(problems({ sinks: [{ ...MQTT, sparkplug: true, sparkplugGroupId: 'a/b' }] })[0]).toContain('a Sparkplug Group ID is one topic level');
    expect(problems({ sinks: [{ ...MQTT, sparkplugGroupId: 'plant1' }] })[0]).toBe('sinks.0.sparkplugGroupId: is used only with "sparkplug": true');
    expect(problems({ sinks: [{ ...MQTT, tls: { cert: 'c.pem' } }] })[0]).toContain('give both cert and key');
    expect(problems({ sinks: [{ kind: 'mqtt', url: 'http://broker' }] }).some((p) => p.startsWith('sinks.0.url'))).toBe(true);
  });
});

describe('building the sinks', () => {
  it('builds each sink of the configuration with its id; TLS files are found from the config file; no secret in a label', () => {
    const raw = { ...shippedConfigRaw(), uplink: { sinks: [HTTP, { kind: 'file', dir: 'out' }, { ...MQTT, username: 'station1', password: 'pw-secret-1', tls: { ca: 'certs/ca.pem' } }] } };
    const cfg = parseConfig(raw, { source: '/etc/station/station.json', baseDir: '/etc/station' }) as StationConfig;
    const built = createUplinkSinks(cfg, { log: silentLogger(), version: '9.9.9', fallback: { url: () => 'http://demo', apiKey: 'k', hmacSecret: 's' } });
    expect(built.missing).toBeNull();
    expect(built.sinks.map((x) => [x.id, x.kind])).toEqual([
      ['http', 'http'],
      ['file', 'file'],
      ['mqtt', 'mqtt'],
    ]);
    expect(built.sinks[1]?.label).toBe('folder /etc/station/out');
    expect(built.sinks[2]?.label).toBe(`mqtts://broker.plant.example:8883 uns/acme/shenzhen/smt/line1/${cfg.station.id}`);
    expect(built.sinks.map((x) => x.label).join(' ')).not.toMatch(/pw-secret-1|k-123|s-456/);
    const [broker] = built.brokers;
    const opts = broker?.connection['opts'] as { clientId: string; tls: { ca: string }; will: () => { topic: string; payload: string; retain: boolean } };
    expect(opts.clientId).toBe(`station-${cfg.station.id}`);
    expect(opts.tls.ca).toBe('/etc/station/certs/ca.pem');
    expect(opts.will()).toMatchObject({ topic: `${broker?.topics.base}/state`, retain: true });
    expect(JSON.parse(opts.will().payload)).toEqual({ state: 'offline', reason: 'connection lost', stationId: cfg.station.id, version: '9.9.9' });
  });

  it('uses the demo ingest only for a station with no uplink configured at all', () => {
    const none = parseConfig({ ...shippedConfigRaw<Record<string, unknown>>(), uplink: {} }, { source: '/x/s.json', baseDir: '/x' }) as StationConfig;
    const fallback = { url: () => 'http://127.0.0.1:1', apiKey: 'k', hmacSecret: 's' };
    expect(createUplinkSinks(none, { log: silentLogger(), version: '1', fallback }).sinks.map((x) => x.id)).toEqual(['http']);
    const partial = parseConfig({ ...shippedConfigRaw<Record<string, unknown>>(), uplink: { url: HTTP.url } }, { source: '/x/s.json', baseDir: '/x' }) as StationConfig;
    expect(createUplinkSinks(partial, { log: silentLogger(), version: '1', fallback })).toMatchObject({ sinks: [], missing: 'uplink.apiKey, uplink.hmacSecret not set' });
  });
});

/** A sink that answers as told: accepts everything unless `refuse` or `down` say otherwise. */
class ScriptedSink implements UplinkSink {
  readonly kind = 'scripted';
  readonly label: string;
  down = false;
  /** recordIds refused for good. */
  refuse = new Set<string>();
  readonly received: string[] = [];

  constructor(readonly id: string) {
    this.label = `scripted ${id}`;
  }

  send(batch: OutgoingBatch): Promise<SendOutcome> {
    if (this.down) return Promise.resolve({ kind: 'retry', reason: `${this.id} is down`, retryAfterMs: null });
    this.received.push(...batch.recordIds);
    return Promise.resolve({
      kind: 'answered',
      accepted: batch.recordIds.filter((id) => !this.refuse.has(id)),
      rejected: batch.recordIds.filter((id) => this.refuse.has(id)).map((recordId) => ({ recordId, permanent: true, reason: `refused by ${this.id}` })),
    });
  }
}

const fast: UplinkOptions = { stationId: 'st-1', batchMaxRecords: 25, batchMaxAgeMs: 0, concurrency: 2, backoffInitialMs: 10, backoffMaxMs: 50 };

async function storeWith(records: number) {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  cleanups.push(() => store.close());
  const recordIds = await fillOutbox(store, seq, records, { failEvery: 5 });
  return { store, seq, recordIds, dataDir };
}

function job(store: Store, sinks: UplinkSink[]) {
  const bus = new StationBus();
  const alarms = new Map<string, StationEvents['alarm.raised']>();
  bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
  bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
  const j = new UplinkJob(store, sinks, bus, silentLogger(), fast);
  cleanups.push(() => j.stop());
  return { job: j, alarms };
}

const uploaded = (store: Store): number => (store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NOT NULL`).get() as { n: number }).n;

describe('several sinks over one outbox', () => {
  it('each sink drains on its own cursor; a record counts as uploaded once every sink has it; queued is the union', async () => {
    const { store, recordIds } = await storeWith(100);
    const a = new ScriptedSink('a');
    const b = new ScriptedSink('b');
    b.down = true;
    const { job: j } = job(store, [a, b]);
    j.start();
    await waitFor('sink a drained', () => j.status().sinks[0]?.queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    let s = j.status();
    expect(s.sinks.map((x) => [x.id, x.queued, x.delivered])).toEqual([
      ['a', 0, 100],
      ['b', 100, 0],
    ]);
    expect(s.queued).toBe(100);
    expect(s.state).toBe('degraded');
    expect(s.lastError).toBe('b: b is down');
    expect(uploaded(store)).toBe(0);
    b.down = false;
    await waitFor('sink b drained', () => j.status().queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    s = j.status();
    expect(s.state).toBe('online');
    expect(uploaded(store)).toBe(100);
    expect([...a.received].sort()).toEqual([...recordIds].sort());
    expect([...b.received].sort()).toEqual([...recordIds].sort());
  });

  it('keeps dead letters per sink: a record one sink refuses is delivered to the other, listed and requeued for the one', async () => {
    const { store, recordIds } = await storeWith(40);
    const a = new ScriptedSink('a');
    const b = new ScriptedSink('b');
    const refused = recordIds.slice(10, 13);
    for (const id of refused) b.refuse.add(id);
    const { job: j, alarms } = job(store, [a, b]);
    j.start();
    await waitFor('both drained', () => j.status().queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    const s = j.status();
    expect(s.deadLetters).toBe(3);
    expect(s.sinks.map((x) => [x.id, x.deadLetters])).toEqual([
      ['a', 0],
      ['b', 3],
    ]);
    expect(j.deadLetters(10).map((d) => [d.recordId, d.sink, d.reason])).toEqual(refused.map((id) => [id, 'b', 'refused by b']).reverse());
    expect(j.deadLetters(10, 'a')).toEqual([]);
    expect(alarms.get('uplink.dead-letters')?.message).toContain('3 records rejected for good (dead letters) (b: 3)');
    // Not delivered everywhere: kept (retention keeps them), not counted as queued.
    expect(uploaded(store)).toBe(37);
    b.refuse.clear();
    expect(j.requeueDeadLetters(refused, 'a')).toBe(0);
    expect(j.requeueDeadLetters([...refused, recordIds[0] as string])).toBe(3);
    await waitFor('the requeued records delivered', () => uploaded(store) === 40, { timeoutMs: 10_000, intervalMs: 5 });
    expect(j.status().deadLetters).toBe(0);
    expect(alarms.has('uplink.dead-letters')).toBe(false);
    expect(b.received.filter((id) => refused.includes(id)).length).toBe(6);
    expect(a.received.length).toBe(40);
  });

  it('a sink added later starts at the first record still waiting; a sink removed no longer holds records back', async () => {
    const { store, seq } = await storeWith(30);
    const a = new ScriptedSink('a');
    const first = job(store, [a]);
    first.job.start();
    await waitFor('a drained', () => first.job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    await first.job.stop();
    expect(uploaded(store)).toBe(30);
    const later = await fillOutbox(store, seq, 10);
    // b joins: it gets the 10 still waiting, not the 30 already delivered everywhere.
    const b = new ScriptedSink('b');
    b.down = true;
    const second = job(store, [new ScriptedSink('a'), b]);
    second.job.start();
    await waitFor('a has the new ones', () => second.job.status().sinks[0]?.queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    expect(second.job.status().sinks[1]?.queued).toBe(10);
    expect(uploaded(store)).toBe(30);
    await second.job.stop();
    // b is taken out of the configuration: what only b still owed is now delivered everywhere.
    const third = job(store, [new ScriptedSink('a')]);
    third.job.start();
    expect(uploaded(store)).toBe(40);
    expect(third.job.status().queued).toBe(0);
    await third.job.stop();
    // b comes back: it picks up at its own cursor, so the 10 it missed are owed again.
    const bBack = new ScriptedSink('b');
    const fourth = job(store, [new ScriptedSink('a'), bBack]);
    fourth.job.start();
    expect(fourth.job.status().sinks[1]?.queued).toBe(10);
    await waitFor('b caught up', () => fourth.job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 5 });
    expect(bBack.received.sort()).toEqual([...later].sort());
    expect(uploaded(store)).toBe(40);
  });

  it('no sink at all: every record not uploaded is queued, and none is marked uploaded', async () => {
    const { store } = await storeWith(7);
    const { job: j } = job(store, []);
    j.start();
    expect(j.status()).toMatchObject({ state: 'not configured', sink: null, queued: 7, sinks: [] });
    expect(uploaded(store)).toBe(0);
  });
});

describe('a database from before several sinks (schema 6)', () => {
  it('is taken over by the sink of its kind: deliveries, the open batch and its members, dead letters and requeues are kept', async () => {
    const dataDir = dirs.make();
    // A schema-6 database as the one-sink station left it.
    const old = new Database(path.join(dataDir, 'station.db'));
    for (const m of MIGRATIONS.filter((x) => x.version <= 6)) old.exec(m.sql);
    old.pragma('user_version = 6');
    old.exec(`INSERT INTO sequences (hash, name, body, created_at) VALUES ('h', 'seq', '{}', 0)`);
    const insertRun = old.prepare(`INSERT INTO runs (run_id, slot, device_id, sequence_hash, mode, status, started_at) VALUES (?, 0, ?, 'h', 'production', 'blessed', 0)`);
    const insertRecord = old.prepare(`INSERT INTO outbox (record_id, run_id, device_id, kind, payload, created_at, batch_id, uploaded_at) VALUES (?, ?, ?, 'blessed', ?, ?, ?, ?)`);
    const id = (n: number): string => `0190a4b2-7c41-7a10-9e55-${String(n).padStart(12, '0')}`;
    for (let n = 1; n <= 10; n++) {
      insertRun.run(`run-${n}`, `dev-${n}`);
      // 1-4 uploaded in a done batch; 5-7 in an open batch; 8 requeued (no batch); 9-10 never batched.
      const batch = n <= 4 ? 'batch-done' : n <= 7 ? 'batch-open' : null;
      insertRecord.run(id(n), `run-${n}`, `dev-${n}`, JSON.stringify({ recordId: id(n), deviceId: `dev-${n}` }), 1000 + n, batch, n <= 4 ? 2000 : null);
    }
    old.exec(
      `INSERT INTO upload_batches (batch_id, sink, first_seq, last_seq, records, created_at, state) VALUES ('batch-done', 'http', 1, 4, 4, 10, 'done'), ('batch-open', 'http', 5, 7, 3, 20, 'open'), ('batch-old', 'http', 8, 8, 1, 5, 'done')`,
    );
    old.exec(
      `INSERT INTO dead_letters (record_id, seq, batch_id, reason, at, requeued_at) VALUES ('${id(6)}', 6, 'batch-open', 'not in product', 30, NULL), ('${id(8)}', 8, 'batch-old', 'was bad', 6, 7)`,
    );
    old.close();

    const store = new Store(dataDir, silentLogger());
    store.open();
    cleanups.push(() => store.close());
    expect(store.database.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    const outbox = store.outbox;
    outbox.registerSinks(['http']);
    expect(outbox.openBatches('http').map((b) => b.batchId)).toEqual(['batch-open']);
    expect(outbox.members('batch-open').map((m) => m.seq)).toEqual([5, 6, 7]);
    expect(outbox.deadLetters(10).map((d) => [d.recordId, d.sink, d.reason])).toEqual([[id(6), 'http', 'not in product']]);
    // Queued: 5, 7 (open batch), 8 (requeued), 9, 10; 6 is a dead letter.
    expect(outbox.counts()).toMatchObject({ queued: 5, deadLetters: 1 });
    expect(outbox.sinkCounts('http')).toMatchObject({ queued: 5, deadLetters: 1 });
    // The next batch takes the requeued record first, then the two never batched.
    const next = outbox.formBatch(10, 'http');
    expect(outbox.members(next?.batchId as string).map((m) => m.seq)).toEqual([8, 9, 10]);
    outbox.settle(next?.batchId as string, [id(8), id(9), id(10)], [], null);
    outbox.settle('batch-open', [id(5), id(7)], [], null);
    expect(uploaded(store)).toBe(9);
    expect(outbox.counts()).toMatchObject({ queued: 0, deadLetters: 1 });
    expect(store.integrityCheck()).toBe('ok');
  });
});
