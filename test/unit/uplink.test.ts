// The uplink against the reference ingest over real HTTP on loopback, with every fault the issue
// names: 500, 429 with Retry-After, a hang, a reset mid-body, commit-then-drop, partial rejection,
// malformed answers, refused credentials; plus the file sink and a batch that survives a restart.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IngestServer, type IngestFault } from '../../drivers/cloud/ingest.js';
import { UplinkJob, type UplinkOptions } from '../../jobs/uplink/uplink.js';
import { FileSink, HttpSink, batchBody, signBody, type UplinkSink } from '../../jobs/uplink/sinks.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox } from '../support/records.js';
import { captureStream, compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const STATION = 'st-1';
const KEY = 'test-api-key-0123456789';
const SECRET = 'test-hmac-secret-abcdefghijklmnop';
const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

const fast: UplinkOptions = { stationId: STATION, batchMaxRecords: 50, batchMaxAgeMs: 0, concurrency: 2, backoffInitialMs: 20, backoffMaxMs: 200 };

async function setup(
  opts: { records?: number; failEvery?: number; job?: Partial<UplinkOptions>; timeoutMs?: number; sink?: (ingest: IngestServer) => UplinkSink | null; logTo?: ReturnType<typeof captureStream> } = {},
) {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  cleanups.push(() => store.close());
  const ingest = new IngestServer({ dbPath: path.join(dirs.make(), 'ingest.db'), apiKey: KEY, hmacSecret: SECRET });
  await ingest.start();
  cleanups.push(() => ingest.stop());
  const recordIds = await fillOutbox(store, seq, opts.records ?? 120, { failEvery: opts.failEvery ?? 7, stationId: STATION });
  const bus = new StationBus();
  const alarms = new Map<string, StationEvents['alarm.raised']>();
  bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
  bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
  const sink = opts.sink ? opts.sink(ingest) : new HttpSink({ url: ingest.url, stationId: STATION, apiKey: KEY, hmacSecret: SECRET, timeoutMs: opts.timeoutMs ?? 2000 });
  const log = opts.logTo ? createLogger({ level: 'debug', destination: opts.logTo.stream as never }).log : silentLogger();
  const job = new UplinkJob(store, sink, bus, log, { ...fast, ...opts.job });
  cleanups.push(() => job.stop());
  return { store, seq, ingest, job, bus, alarms, recordIds, dataDir };
}

function uploadedIds(store: Store): string[] {
  return (store.database.prepare(`SELECT record_id FROM outbox WHERE uploaded_at IS NOT NULL ORDER BY seq`).all() as { record_id: string }[]).map((r) => r.record_id);
}

async function drained(job: UplinkJob, timeoutMs = 20_000): Promise<void> {
  await waitFor('the outbox to drain', () => job.status().queued === 0, { timeoutMs: timeoutMs, intervalMs: 2 });
}

/**
 * Every record in the ingest and nothing else there, each stored by exactly one of its deliveries
 * (the ingest counts every delivery it receives, a redelivery included, and every row it stores),
 * and no batch ever sent again with other bytes under the same Idempotency-Key.
 */
function expectExactlyOnce(ingest: IngestServer, recordIds: string[]): void {
  expect([...ingest.recordIds(STATION)].sort()).toEqual([...recordIds].sort());
  const s = ingest.stats();
  expect(s.records, 'rows in the ingest').toBe(recordIds.length);
  expect(s.stored, 'deliveries that stored a row').toBe(recordIds.length);
  expect(s.deliveries).toBeGreaterThanOrEqual(recordIds.length);
  expect(s.mismatchedRetries, 'retries whose bytes differed from the first send').toBe(0);
}

describe('uplink: the happy path', () => {
  it('drains every record once, in batches formed before sending, and marks records and devices uploaded', async () => {
    const { store, ingest, job, recordIds } = await setup({ records: 130 });
    job.start();
    await drained(job);
    expectExactlyOnce(ingest, recordIds);
    expect(uploadedIds(store).sort()).toEqual([...recordIds].sort());
    const batches = store.database.prepare(`SELECT batch_id, records, state, attempts FROM upload_batches`).all() as { batch_id: string; records: number; state: string; attempts: number }[];
    expect(batches.length).toBe(3); // 50 + 50 + 30
    expect(batches.every((b) => b.state === 'done')).toBe(true);
    expect(batches.reduce((n, b) => n + b.records, 0)).toBe(130);
    const devices = store.listDevices({ limit: 500 }).devices;
    expect(devices.length).toBe(130);
    expect(devices.every((d) => d.uploadedAt !== null)).toBe(true);
    const status = job.status();
    expect(status).toMatchObject({ state: 'online', sink: 'http', queued: 0, deadLetters: 0, backoffMs: null, lastError: null });
    expect(status.lastSuccessAt).not.toBeNull();
  });

  it('sends records with their recordId, per-station seq and stationId, signed over the exact body', async () => {
    const { store, ingest, job } = await setup({ records: 3 });
    job.start();
    await drained(job);
    const db = new Database(path.join(path.dirname(ingest['opts'].dbPath), 'ingest.db'), { readonly: true });
    cleanups.push(() => {
      db.close();
    });
    const rows = db.prepare(`SELECT body FROM records ORDER BY seq`).all() as { body: string }[];
    const bodies = rows.map((r) => JSON.parse(r.body) as { seq: number; recordId: string; stationId: string; deviceId: string; status: string });
    const outbox = store.database.prepare(`SELECT seq, record_id FROM outbox ORDER BY seq`).all() as { seq: number; record_id: string }[];
    expect(bodies.map((b) => [b.seq, b.recordId])).toEqual(outbox.map((o) => [o.seq, o.record_id]));
    expect(bodies.every((b) => b.stationId === STATION && /^[0-9a-f]{16}$/.test(b.deviceId))).toBe(true);
    const body = batchBody('b-1', STATION, [{ seq: 1, payload: '{"recordId":"r"}' }]);
    expect(JSON.parse(body)).toEqual({ batchId: 'b-1', stationId: STATION, records: [{ seq: 1, recordId: 'r' }] });
    expect(signBody(body, SECRET)).toMatch(/^sha256=[0-9a-f]{64}$/);
  });
});

describe('uplink: transient faults are retried with the same batch and nothing is applied twice', () => {
  const cases: [string, IngestFault, number][] = [
    ['HTTP 500', { kind: 'status', status: 500 }, 3],
    ['HTTP 503 with Retry-After', { kind: 'status', status: 503, retryAfterSeconds: 0 }, 2],
    ['a connection reset mid-body', { kind: 'reset' }, 2],
    ['commit, then the connection dropped before the answer', { kind: 'commit-then-drop' }, 2],
    ['a malformed 200 answer', { kind: 'malformed' }, 2],
    ['a hang (the station times out)', { kind: 'hang' }, 1],
  ];
  for (const [name, fault, count] of cases) {
    it(`recovers from ${name}`, async () => {
      const { store, ingest, job, recordIds } = await setup({ records: 80, timeoutMs: 400 });
      ingest.inject(fault, count);
      const batchIdsSeen = new Set<string>();
      job.start();
      await waitFor('a failed attempt', () => job.status().lastError !== null || job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 2 });
      await drained(job);
      expectExactlyOnce(ingest, recordIds);
      for (const b of store.database.prepare(`SELECT batch_id FROM upload_batches`).all() as { batch_id: string }[]) batchIdsSeen.add(b.batch_id);
      // The retries reused the batches formed first: every record is in exactly one batch.
      const members = store.database.prepare(`SELECT count(DISTINCT batch_id) AS b, count(*) AS n FROM sink_records`).get() as { b: number; n: number };
      expect(members.n).toBe(80);
      expect(members.b).toBe(batchIdsSeen.size);
      const retried = store.database.prepare(`SELECT max(attempts) AS a FROM upload_batches`).get() as { a: number };
      expect(retried.a).toBeGreaterThan(1);
      const stats = ingest.stats();
      // The ingest saw a whole body before failing (all but the reset): its retry was compared with
      // it byte for byte.
      if (fault.kind !== 'reset') expect(stats.repeatedBatches).toBeGreaterThan(0);
      if (fault.kind === 'commit-then-drop') {
        // The committed batch was delivered again: more deliveries than records, each extra one a
        // duplicate that was accepted and not stored again.
        expect(stats.deliveries).toBeGreaterThan(recordIds.length);
        expect(stats.duplicates).toBe(stats.deliveries - recordIds.length);
        expect(stats.records).toBe(recordIds.length);
      }
      expect(job.status().state).toBe('online');
    });
  }

  it('honours Retry-After on 429', async () => {
    const { ingest, job, recordIds } = await setup({ records: 10, job: { backoffInitialMs: 1, backoffMaxMs: 2 } });
    ingest.inject({ kind: 'status', status: 429, retryAfterSeconds: 1 }, 1);
    job.start();
    await waitFor('the 429', () => job.status().lastError !== null, { timeoutMs: 5000, intervalMs: 2 });
    const failedAt = Date.now();
    const status = job.status();
    expect(status.lastError).toContain('429');
    expect(status.backoffMs).toBeGreaterThanOrEqual(1000);
    await drained(job);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(900);
    expectExactlyOnce(ingest, recordIds);
    expect(ingest.stats().repeatedBatches).toBeGreaterThan(0);
  });

  it('logs a malformed answer once per outage, with its first bytes escaped, and marks nothing uploaded', async () => {
    const logs = captureStream();
    const { store, ingest, job, recordIds } = await setup({ records: 20, logTo: logs, job: { concurrency: 1 } });
    ingest.inject({ kind: 'malformed', body: '<html>\u0007 oops "quoted" </html>' }, 4);
    job.start();
    await waitFor('four malformed answers', () => ingest.stats().faultsServed >= 4, { timeoutMs: 10_000, intervalMs: 2 });
    expect(uploadedIds(store)).toEqual([]);
    await drained(job);
    expectExactlyOnce(ingest, recordIds);
    const lines = logs
      .text()
      .split('\n')
      .filter((l) => l.includes('outside the contract'));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain('\\\\u0007'); // escaped in the log line, never raw
    expect(
      logs
        .text()
        .split('\n')
        .filter((l) => l.includes('uplink failing')).length,
    ).toBe(1);
  });
});

describe('uplink: rejections', () => {
  it('dead-letters permanent rejections with the ingest reason, uploads the rest, and can send them again', async () => {
    const { store, ingest, job, alarms, recordIds } = await setup({ records: 60 });
    ingest.inject({ kind: 'reject', every: 10, permanent: true, reason: 'device not in product 1234' });
    job.start();
    await waitFor('drain with dead letters', () => job.status().queued === 0 && job.status().deadLetters === 6, { timeoutMs: 10_000, intervalMs: 2 });
    const dead = job.outbox.deadLetters();
    // Newest first: the last refused first, records refused together by seq, highest first.
    expect(dead.map((d) => d.seq)).toEqual([60, 50, 40, 30, 20, 10]);
    expect(job.outbox.deadLetters(2).map((d) => d.seq)).toEqual([60, 50]);
    expect(dead.every((d) => d.reason === 'device not in product 1234')).toBe(true);
    expect(uploadedIds(store).length).toBe(54);
    expect(alarms.get('uplink.dead-letters')?.message).toContain('6 records');
    expect(store.database.prepare(`SELECT count(*) AS n FROM upload_batches WHERE state = 'open'`).get()).toEqual({ n: 0 });
    // The cloud is fixed; an engineer sends them again.
    ingest.clearFaults();
    expect(job.requeueDeadLetters(dead.map((d) => d.recordId))).toBe(6);
    await waitFor('the requeued records', () => job.status().queued === 0 && uploadedIds(store).length === 60, { timeoutMs: 10_000, intervalMs: 2 });
    expect(job.status().deadLetters).toBe(0);
    expect(alarms.has('uplink.dead-letters')).toBe(false);
    expectExactlyOnce(ingest, recordIds);
  });

  it('lists dead letters newest first: the last refused first, a record refused again after a requeue at the top', async () => {
    const { job } = await setup({ records: 6 });
    const outbox = job.outbox;
    const now = vi.spyOn(Date, 'now');
    try {
      const refuse = (at: number, ids: (members: { seq: number; recordId: string }[]) => number[]): void => {
        now.mockReturnValue(at);
        const batch = outbox.formBatch(3, 'test');
        if (!batch) throw new Error('no records to batch');
        const members = outbox.members(batch.batchId);
        const refused = ids(members);
        outbox.settle(
          batch.batchId,
          members.filter((m) => !refused.includes(m.seq)).map((m) => m.recordId),
          members.filter((m) => refused.includes(m.seq)).map((m) => ({ recordId: m.recordId, reason: `refused at ${at}` })),
          null,
        );
      };
      refuse(1_000_000, () => [1, 3]);
      refuse(2_000_000, () => [5]);
      expect(outbox.deadLetters().map((d) => [d.seq, d.at])).toEqual([
        [5, new Date(2_000_000).toISOString()],
        [3, new Date(1_000_000).toISOString()],
        [1, new Date(1_000_000).toISOString()],
      ]);
      // Record 1 sent again and refused again: now the newest.
      const one = outbox.deadLetters().find((d) => d.seq === 1)?.recordId as string;
      expect(outbox.requeue([one])).toBe(1);
      refuse(3_000_000, () => [1]);
      expect(outbox.deadLetters().map((d) => d.seq)).toEqual([1, 5, 3]);
      expect(outbox.deadLetters(1).map((d) => d.seq)).toEqual([1]);
    } finally {
      now.mockRestore();
    }
  });

  it('sends a batch again while some records are rejected for now, without holding up the batches behind it', async () => {
    const { store, ingest, job, recordIds } = await setup({ records: 100 });
    ingest.inject({ kind: 'reject', every: 25, permanent: false }, 2);
    job.start();
    await drained(job);
    expectExactlyOnce(ingest, recordIds);
    expect(uploadedIds(store).length).toBe(100);
    expect(job.status().deadLetters).toBe(0);
  });

  it('refuses nothing for a bad key: it keeps the records, raises a critical alarm, and recovers', async () => {
    const { ingest, job, alarms, recordIds } = await setup({
      records: 10,
      sink: (i) => new HttpSink({ url: i.url, stationId: STATION, apiKey: 'wrong-key', hmacSecret: SECRET, timeoutMs: 2000 }),
    });
    job.start();
    await waitFor('the credentials alarm', () => alarms.has('uplink.http.credentials'), { timeoutMs: 5000, intervalMs: 2 });
    expect(alarms.get('uplink.http.credentials')?.severity).toBe('critical');
    expect(alarms.get('uplink.http.credentials')?.message).not.toContain('wrong-key');
    expect(job.status()).toMatchObject({ state: 'offline', queued: 10, deadLetters: 0 });
    expect(ingest.stats().records).toBe(0);
    void recordIds;
  });

  it('dead-letters a whole batch the ingest refuses for good (HTTP 422), and goes on with the next', async () => {
    const { store, ingest, job } = await setup({ records: 100 });
    ingest.inject({ kind: 'status', status: 422 }, 1);
    job.start();
    await waitFor('drain', () => job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 2 });
    expect(job.status().deadLetters).toBe(50);
    expect(job.outbox.deadLetters(1)[0]?.reason).toContain('HTTP 422');
    expect(uploadedIds(store).length).toBe(50);
  });
});

describe('the reference ingest', () => {
  it('refuses a batch sent again under the same Idempotency-Key with other bytes (422), counts it, and takes the same bytes again', async () => {
    const { ingest, store } = await setup({ records: 3 });
    const members = (store.database.prepare(`SELECT seq, payload FROM outbox ORDER BY seq`).all() as { seq: number; payload: string }[]).map((m) => ({ seq: m.seq, payload: m.payload }));
    const batchId = '0193a4b2-7c41-7a10-9e55-2b3f0c1d9a77';
    const post = (body: string): Promise<Response> =>
      fetch(`${ingest.url}/v1/stations/${STATION}/batches`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'idempotency-key': batchId, 'x-signature': signBody(body, SECRET) },
      });
    const first = batchBody(batchId, STATION, members);
    expect((await post(first)).status).toBe(200);
    expect((await post(first)).status).toBe(200);
    // The same records in another order, and the same records re-serialised: other bytes.
    for (const other of [batchBody(batchId, STATION, [...members].reverse()), JSON.stringify(JSON.parse(first), null, 1)]) {
      const res = await post(other);
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: string }).error).toBe(`Idempotency-Key "${batchId}" was reused with a different body: a retry must send the same bytes`);
    }
    // The first bytes are still the batch: accepted again, stored once.
    expect((await post(first)).status).toBe(200);
    expect(ingest.stats()).toMatchObject({ records: 3, stored: 3, deliveries: 9, duplicates: 6, repeatedBatches: 2, mismatchedRetries: 2 });
  });
});

describe('uplink: configuration, restarts and the file sink', () => {
  it('not configured: records keep queuing and the state says so', async () => {
    const { job } = await setup({ records: 5, sink: () => null });
    job.start();
    expect(job.status()).toMatchObject({ state: 'not configured', sink: null, queued: 5 });
    expect(job.status().oldestQueuedAgeSeconds).not.toBeNull();
  });

  it('a batch formed before a crash is sent after the restart with the same batchId and members', async () => {
    const { store, ingest, job, recordIds, dataDir } = await setup({ records: 30 });
    const formed = job.outbox.formBatch(20, 'http');
    expect(formed?.records).toBe(20);
    const membersBefore = job.outbox.members(formed?.batchId as string).map((m) => m.recordId);
    store.close();
    const reopened = new Store(dataDir, silentLogger());
    reopened.open();
    cleanups.push(() => reopened.close());
    const job2 = new UplinkJob(reopened, new HttpSink({ url: ingest.url, stationId: STATION, apiKey: KEY, hmacSecret: SECRET, timeoutMs: 2000 }), new StationBus(), silentLogger(), fast);
    cleanups.push(() => job2.stop());
    expect(job2.outbox.openBatches('http').map((b) => b.batchId)).toEqual([formed?.batchId]);
    job2.start();
    await drained(job2);
    expectExactlyOnce(ingest, recordIds);
    const db = new Database(ingest['opts'].dbPath, { readonly: true });
    cleanups.push(() => {
      db.close();
    });
    const inFirst = (db.prepare(`SELECT record_id FROM records WHERE batch_id = ?`).all(formed?.batchId) as { record_id: string }[]).map((r) => r.record_id);
    expect(inFirst.sort()).toEqual(membersBefore.sort());
  });

  it('file sink: NDJSON batches and a manifest, written atomically, each record once', async () => {
    const out = dirs.make();
    const { job, recordIds } = await setup({ records: 120, sink: () => new FileSink(out, STATION) });
    job.start();
    await drained(job);
    const files = readdirSync(out);
    expect(files.some((f) => f.endsWith('.tmp'))).toBe(false);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { stationId: string; batches: { file: string; records: number; sha256: string }[] };
    expect(manifest.stationId).toBe(STATION);
    expect(manifest.batches.length).toBe(3);
    const seen: string[] = [];
    for (const b of manifest.batches) {
      expect(existsSync(path.join(out, b.file))).toBe(true);
      const lines = readFileSync(path.join(out, b.file), 'utf8').trim().split('\n');
      expect(lines.length).toBe(b.records);
      for (const l of lines) seen.push((JSON.parse(l) as { recordId: string }).recordId);
    }
    expect(seen.sort()).toEqual([...recordIds].sort());
  });

  it('never puts the api key or the hmac secret in its status or logs', async () => {
    const logs = captureStream();
    const { ingest, job } = await setup({ records: 10, logTo: logs });
    ingest.inject({ kind: 'status', status: 401 }, 2);
    job.start();
    await drained(job);
    const everything = logs.text() + JSON.stringify(job.status());
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(SECRET);
  });
});
