import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../station/log.js';
import type { CompiledSequence } from '../../station/sequence/sequence.js';
import { DataDirLockedError } from '../../station/store/lock.js';
import { MIGRATIONS } from '../../station/store/migrations.js';
import type { DeviceIdentity } from '../../station/model.js';
import { BadCursorError, Store, type FinishDetails, type StepRecord } from '../../station/store/store.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const dirs = new TempDirs();
const open: Store[] = [];
const readers: Database.Database[] = [];

afterEach(() => {
  for (const db of readers.splice(0)) db.close();
  for (const s of open.splice(0)) s.close();
  dirs.cleanup();
});

function openStore(dataDir = dirs.make()): Store {
  const store = new Store(dataDir, silentLogger());
  store.open();
  open.push(store);
  return store;
}

function closeStore(store: Store): void {
  store.close();
  open.splice(open.indexOf(store), 1);
}

/** A separate read-only connection, to see what is really committed in the file. */
function reader(store: Store): Database.Database {
  const db = new Database(store.dbPath, { readonly: true });
  readers.push(db);
  return db;
}

function count(db: Database.Database, sql: string, ...params: unknown[]): number {
  return (db.prepare(sql).get(...params) as { n: number }).n;
}

function identity(deviceId: string, extra: Partial<DeviceIdentity> = {}): DeviceIdentity {
  return { deviceId, mac: '0c2a69123456', iccid: null, imei: null, ...extra };
}

function details(verdict: FinishDetails['verdict'], id: DeviceIdentity | null, extra: Partial<FinishDetails> = {}): FinishDetails {
  return { verdict, endedAt: Date.now(), failStep: null, reason: null, identity: id, rework: false, stationId: 'st-1', ...extra };
}

function step(index: number, extra: Partial<StepRecord> = {}): StepRecord {
  return { index, name: `Step ${index}`, type: 'measure', status: 'pass', attempts: 1, startedAt: Date.now(), durationMs: 1.5, message: null, ...extra };
}

/** Runs one whole run through the store the way the runner does; returns its runId and finish result. */
async function runThrough(store: Store, seq: CompiledSequence, deviceId: string, verdict: FinishDetails['verdict'], endedAt = Date.now()) {
  const runId = randomUUID();
  store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: endedAt - 1000 });
  const { attempt, previouslyBlessed } = store.attachDevice(runId, deviceId);
  store.recordStep(runId, step(0, { type: 'identify', name: 'Identify' }));
  const result = await store.finishRun(runId, details(verdict, identity(deviceId), { endedAt, rework: previouslyBlessed && verdict === 'blessed', failStep: verdict === 'failed' ? 'VBAT' : null }));
  return { runId, attempt, previouslyBlessed, result };
}

describe('Store: opening and the data folder lock', () => {
  it('creates the database in WAL mode with the schema migrated', async () => {
    const store = openStore();
    expect(existsSync(store.dbPath)).toBe(true);
    const db = reader(store);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((t) => t.name);
    for (const t of ['runs', 'devices', 'step_results', 'measurements', 'outbox', 'sequences', 'token_ledger']) expect(tables).toContain(t);
  });

  it('writes its pid into the lock file and removes it on close', async () => {
    const dataDir = dirs.make();
    const store = openStore(dataDir);
    const lock = path.join(dataDir, 'station.lock');
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    closeStore(store);
    expect(existsSync(lock)).toBe(false);
  });

  it('refuses a data folder held by another live process, naming its pid', async () => {
    const dataDir = dirs.make();
    const owner = process.ppid; // alive for as long as this test runs, and not us
    writeFileSync(path.join(dataDir, 'station.lock'), `${owner}\n`);
    const second = new Store(dataDir, silentLogger());
    try {
      second.open();
      open.push(second);
      expect.unreachable('the lock of a live process must be respected');
    } catch (err) {
      expect(err).toBeInstanceOf(DataDirLockedError);
      expect((err as DataDirLockedError).ownerPid).toBe(owner);
      expect((err as Error).message).toContain(`pid ${owner}`);
    }
    // The refused store must not have taken or removed the other daemon's lock.
    expect(readFileSync(path.join(dataDir, 'station.lock'), 'utf8').trim()).toBe(String(owner));
  });

  // Two Stores in one process on one folder is the same hazard as two daemons: two writers each
  // believing they own the ledger; and closing the first deletes the second's lock file.
  it('refuses a second Store on the same data folder while the first is open, naming the pid', async () => {
    const dataDir = dirs.make();
    openStore(dataDir);
    const second = new Store(dataDir, silentLogger());
    let error: unknown = null;
    try {
      second.open();
      open.push(second);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DataDirLockedError);
    expect((error as Error | null)?.message).toContain(`pid ${process.pid}`);
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dataDir = dirs.make();
    writeFileSync(path.join(dataDir, 'station.lock'), '999999\n');
    const store = openStore(dataDir);
    expect(readFileSync(path.join(dataDir, 'station.lock'), 'utf8').trim()).toBe(String(process.pid));
    expect(store.integrityCheck()).toBe('ok');
  });

  it('takes over a lock file with garbage in it', async () => {
    const dataDir = dirs.make();
    writeFileSync(path.join(dataDir, 'station.lock'), 'not a pid');
    openStore(dataDir);
    expect(readFileSync(path.join(dataDir, 'station.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('can be reopened on the same folder after it is closed', async () => {
    const dataDir = dirs.make();
    closeStore(openStore(dataDir));
    expect(openStore(dataDir).integrityCheck()).toBe('ok');
  });
});

describe('Store: recording runs', () => {
  it('records a blessed run: run, device, steps, measurements and exactly one outbox row with a uuid recordId', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const runId = randomUUID();
    const started = Date.now() - 5000;
    store.beginRun({ runId, slot: 2, sequenceHash: seq.hash, mode: 'production', startedAt: started });
    expect(store.attachDevice(runId, '0c2a69ffee001234')).toEqual({ attempt: 1, previouslyBlessed: false });
    store.recordStep(runId, step(0, { type: 'identify', name: 'Identify' }));
    store.recordStep(
      runId,
      step(1, { name: 'Battery voltage', measurement: { name: 'Battery voltage', valueNum: 3.71, valueText: null, unit: 'V', outcome: 'pass', limitJson: '{"kind":"range","low":3.4}' } }),
    );
    store.recordStep(runId, step(2, { type: 'bless', name: 'Bless' }));
    const id = identity('0c2a69ffee001234', { iccid: '89014103211118510720', imei: '490154203237518' });
    const result = await store.finishRun(runId, details('blessed', id, { endedAt: started + 5000 }));
    expect(result.recordId).toMatch(UUID);
    expect(result.attempt).toBe(1);
    expect(result.seq).toBeTypeOf('number');

    const db = reader(store);
    expect(db.prepare(`SELECT status, device_id, attempt, slot, sequence_hash FROM runs WHERE run_id = ?`).get(runId)).toEqual({
      status: 'blessed',
      device_id: '0c2a69ffee001234',
      attempt: 1,
      slot: 2,
      sequence_hash: seq.hash,
    });
    expect(db.prepare(`SELECT status, attempts, mac, iccid, imei, blessed_at FROM devices WHERE device_id = ?`).get('0c2a69ffee001234')).toEqual({
      status: 'blessed',
      attempts: 1,
      mac: '0c2a69123456',
      iccid: '89014103211118510720',
      imei: '490154203237518',
      blessed_at: started + 5000,
    });
    expect(count(db, `SELECT count(*) AS n FROM step_results WHERE run_id = ?`, runId)).toBe(3);
    expect(db.prepare(`SELECT value_num, unit, outcome FROM measurements WHERE run_id = ?`).all(runId)).toEqual([{ value_num: 3.71, unit: 'V', outcome: 'pass' }]);
    const rows = db.prepare(`SELECT record_id, device_id, kind, payload FROM outbox WHERE run_id = ?`).all(runId) as { record_id: string; device_id: string; kind: string; payload: string }[];
    expect(rows).toHaveLength(1);
    const row = rows[0] as (typeof rows)[number];
    expect(row.record_id).toBe(result.recordId);
    expect(row.kind).toBe('blessed');
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    expect(payload).toMatchObject({
      recordId: result.recordId,
      deviceId: '0c2a69ffee001234',
      status: 'blessed',
      sequenceHash: seq.hash,
      stationId: 'st-1',
      runId,
      attempt: 1,
      iccid: '89014103211118510720',
    });
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(1);
  });

  it("lists a step's measurements in the order they were recorded, not by name, through a reopen", async () => {
    const dataDir = dirs.make();
    let store = openStore(dataDir);
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const runId = randomUUID();
    store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    store.attachDevice(runId, '0c2a69ffee00abcd');
    const m = (name: string, valueNum: number) => ({ name, valueNum, valueText: null, unit: 'ppm', outcome: 'pass' as const, limitJson: null });
    // A script's measurements (several in one step), and a step with one after it.
    store.recordStep(runId, step(3, { type: 'script', name: 'RTC calibration', measurements: [m('RTC error before trim', 7.1), m('RTC error after trim', 0.2), m('A trim code', 12)] }));
    store.recordStep(runId, step(4, { name: 'Battery voltage', measurement: m('Battery voltage', 3.7) }));
    store.recordStep(runId, step(2, { type: 'script', name: 'Radio self-test', measurements: [m('RSSI spread', 4), m('RSSI mean', -52)] }));
    await store.finishRun(runId, details('failed', identity('0c2a69ffee00abcd'), { failStep: 'Battery voltage' }));

    type Detail = { steps: { index: number; measurements: { name: string; value: number }[] }[] };
    const names = (d: Detail): [number, string[]][] => d.steps.map((s) => [s.index, s.measurements.map((x) => x.name)]);
    const expected: [number, string[]][] = [
      [2, ['RSSI spread', 'RSSI mean']],
      [3, ['RTC error before trim', 'RTC error after trim', 'A trim code']],
      [4, ['Battery voltage']],
    ];
    expect(names(store.getRun(runId) as Detail)).toEqual(expected);
    closeStore(store);
    store = openStore(dataDir);
    expect(names(store.getRun(runId) as Detail)).toEqual(expected);
  });

  it('gives every record a distinct recordId', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const ids = new Set<string | null>();
    for (let i = 0; i < 5; i++) ids.add((await runThrough(store, seq, `00000000000000a${i}`, i % 2 ? 'failed' : 'blessed')).result.recordId);
    expect(ids.size).toBe(5);
    expect(ids.has(null)).toBe(false);
  });

  it('writes an outbox row for a failed run too, with the failing step', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const { runId, result } = await runThrough(store, seq, '1111222233334444', 'failed');
    expect(result.recordId).toMatch(UUID);
    const db = reader(store);
    const row = db.prepare(`SELECT kind, payload FROM outbox WHERE run_id = ?`).get(runId) as { kind: string; payload: string };
    expect(row.kind).toBe('failed');
    expect(JSON.parse(row.payload)).toMatchObject({ status: 'failed', failStep: 'VBAT', deviceId: '1111222233334444' });
    expect(db.prepare(`SELECT blessed_at FROM devices`).get()).toEqual({ blessed_at: null });
  });

  it('writes no outbox row for an interrupted run', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const { runId, result } = await runThrough(store, seq, '1111222233334444', 'interrupted');
    expect(result.recordId).toBeNull();
    const db = reader(store);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(runId)).toEqual({ status: 'interrupted' });
    expect(store.stats().runs.interrupted).toBe(1);
  });

  it('writes no device and no outbox row for a failed run that never identified a device', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const runId = randomUUID();
    store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'test', startedAt: Date.now() });
    expect(await store.finishRun(runId, details('failed', null, { failStep: 'Identify', reason: 'bad id' }))).toEqual({ recordId: null, seq: null, attempt: 0 });
    const db = reader(store);
    expect(count(db, `SELECT count(*) AS n FROM devices`)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
    expect(db.prepare(`SELECT status, fail_step FROM runs`).get()).toEqual({ status: 'failed', fail_step: 'Identify' });
  });

  it('counts a retest of the same deviceId as the next attempt', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const first = await runThrough(store, seq, 'abcdef0123456789', 'failed');
    const second = await runThrough(store, seq, 'abcdef0123456789', 'blessed');
    expect(first.attempt).toBe(1);
    expect(second.attempt).toBe(2);
    expect(second.result.attempt).toBe(2);
    const db = reader(store);
    expect(db.prepare(`SELECT attempts, status FROM devices WHERE device_id = ?`).get('abcdef0123456789')).toEqual({ attempts: 2, status: 'blessed' });
    expect(JSON.parse((db.prepare(`SELECT payload FROM outbox WHERE run_id = ?`).get(second.runId) as { payload: string }).payload)).toMatchObject({ attempt: 2 });
  });

  it('marks blessing an already blessed device as rework and does not count it as another blessed device', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const t0 = Date.now() - 10_000;
    await runThrough(store, seq, 'abcdef0123456789', 'blessed', t0);
    const again = await runThrough(store, seq, 'abcdef0123456789', 'blessed', t0 + 1000);
    expect(again.previouslyBlessed).toBe(true);
    const db = reader(store);
    expect(db.prepare(`SELECT rework FROM runs WHERE run_id = ?`).get(again.runId)).toEqual({ rework: 1 });
    expect(JSON.parse((db.prepare(`SELECT payload FROM outbox WHERE run_id = ?`).get(again.runId) as { payload: string }).payload)).toMatchObject({ rework: true });
    // The first blessing time is kept.
    expect(db.prepare(`SELECT blessed_at FROM devices`).get()).toEqual({ blessed_at: t0 });
    const stats = store.stats();
    expect(stats.devicesBlessed).toBe(1);
    expect(stats.devicesTested).toBe(1);
    expect(stats.reworkBlessings).toBe(1);
    expect(stats.runs.blessed).toBe(2);
  });

  it('computes first-pass yield counting each device once', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa1', 'blessed'); // first pass
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa2', 'failed'); // fails, then passes on retest
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa2', 'blessed');
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa3', 'failed'); // fails twice
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa3', 'failed');
    await runThrough(store, seq, 'aaaaaaaaaaaaaaa4', 'interrupted'); // never judged: not tested
    const stats = store.stats();
    expect(stats.devicesTested).toBe(3);
    expect(stats.firstPassYield).toBeCloseTo(1 / 3, 10);
    expect(stats.finalYield).toBeCloseTo(2 / 3, 10);
    expect(stats.devicesBlessed).toBe(2);
    expect(stats.runs).toEqual({ blessed: 2, failed: 3, interrupted: 1, running: 0 });
    expect(stats.outboxQueued).toBe(5);
  });

  it('reports null yields before any device is tested', async () => {
    const stats = openStore().stats();
    expect(stats.firstPassYield).toBeNull();
    expect(stats.devicesTested).toBe(0);
  });

  it('refuses to finish a run twice and keeps the first verdict', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const { runId } = await runThrough(store, seq, '1234123412341234', 'failed');
    await expect(store.finishRun(runId, details('blessed', identity('1234123412341234')))).rejects.toThrow(/already failed/);
    const db = reader(store);
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(runId)).toEqual({ status: 'failed' });
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(1);
  });

  it('refuses to bless without an identity and leaves the run running with nothing written', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const runId = randomUUID();
    store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    store.attachDevice(runId, '1234123412341234');
    await expect(store.finishRun(runId, details('blessed', null))).rejects.toThrow(/cannot be blessed without an identified device/);
    const db = reader(store);
    expect(db.prepare(`SELECT status, ended_at FROM runs WHERE run_id = ?`).get(runId)).toEqual({ status: 'running', ended_at: null });
    expect(count(db, `SELECT count(*) AS n FROM devices`)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });

  it('rolls the whole verdict back when the outbox insert fails', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const runId = randomUUID();
    store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    store.attachDevice(runId, '1234123412341234');
    // Make the last statement of the transaction fail: a trigger refuses every outbox insert.
    const admin = new Database(store.dbPath);
    readers.push(admin);
    admin.exec(`CREATE TRIGGER outbox_refuses BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox is refusing'); END;`);
    await expect(store.finishRun(runId, details('blessed', identity('1234123412341234')))).rejects.toThrow(/outbox is refusing/);
    const db = reader(store);
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(runId)).toEqual({ status: 'running' });
    expect(count(db, `SELECT count(*) AS n FROM devices`)).toBe(0);
  });

  it('refuses to finish a run that does not exist', async () => {
    const store = openStore();
    await expect(store.finishRun('no-such-run', details('failed', null))).rejects.toThrow(/does not exist/);
  });

  it('drops a run whose sequence was never registered (foreign key) without undoing its neighbours', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const bad = randomUUID();
    const good = randomUUID();
    store.beginRun({ runId: bad, slot: 0, sequenceHash: 'f'.repeat(64), mode: 'production', startedAt: Date.now() });
    store.beginRun({ runId: good, slot: 1, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    store.flush();
    const db = reader(store);
    expect(count(db, `SELECT count(*) AS n FROM runs WHERE run_id = ?`, bad)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM runs WHERE run_id = ?`, good)).toBe(1);
  });
});

describe('Store: recovery', () => {
  it('marks runs left running as interrupted on reopen, with no outbox row, and passes the integrity check', async () => {
    const dataDir = dirs.make();
    const first = openStore(dataDir);
    const seq = compileSmallSequence();
    first.registerSequence(seq);
    const runA = randomUUID();
    const runB = randomUUID();
    first.beginRun({ runId: runA, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    first.attachDevice(runA, '1234123412341234');
    first.recordStep(runA, step(0));
    first.beginRun({ runId: runB, slot: 1, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() });
    closeStore(first);

    const store = new Store(dataDir, silentLogger());
    expect(store.open()).toEqual({ interruptedRuns: 2 });
    open.push(store);
    const db = reader(store);
    expect(db.prepare(`SELECT run_id, status FROM runs ORDER BY run_id`).all()).toEqual([runA, runB].sort().map((run_id) => ({ run_id, status: 'interrupted' })));
    expect((db.prepare(`SELECT reason FROM runs WHERE run_id = ?`).get(runA) as { reason: string }).reason).toMatch(/stopped during the run/);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
    expect(db.prepare(`SELECT status, blessed_at FROM devices`).all()).toEqual([{ status: 'interrupted', blessed_at: null }]);
    expect(store.integrityCheck()).toBe('ok');
    expect(store.stats().runs.running).toBe(0);
  });

  it('keeps a device blessed when a later run of it is interrupted', async () => {
    const dataDir = dirs.make();
    const store = openStore(dataDir);
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    await runThrough(store, seq, '1234123412341234', 'blessed');
    await runThrough(store, seq, '1234123412341234', 'interrupted');
    const db = reader(store);
    expect(db.prepare(`SELECT status, attempts FROM devices`).get()).toEqual({ status: 'blessed', attempts: 2 });
    expect(store.stats().devicesBlessed).toBe(1);
  });
});

describe('Store: listDevices', () => {
  async function seeded(n: number): Promise<{ store: Store; ids: string[] }> {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const t0 = Date.UTC(2025, 0, 1);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = `00000000000000${(16 + i).toString(16)}`;
      ids.push(id);
      await runThrough(store, seq, id, i % 3 === 0 ? 'failed' : 'blessed', t0 + i * 1000);
    }
    return { store, ids };
  }

  it('lists newest first and pages with nextCursor until the end, each device once', async () => {
    const { store, ids } = await seeded(7);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = store.listDevices({ limit: 3, cursor });
      expect(page.devices.length).toBeLessThanOrEqual(3);
      seen.push(...page.devices.map((d) => d.deviceId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it('returns the documented fields', async () => {
    const { store, ids } = await seeded(1);
    const { devices, nextCursor } = store.listDevices({ limit: 10 });
    expect(nextCursor).toBeNull();
    expect(devices).toHaveLength(1);
    const d = devices[0];
    expect(d).toMatchObject({ deviceId: ids[0], mac: '0c2a69123456', iccid: null, imei: null, status: 'failed', attempts: 1, blessedAt: null, uploadedAt: null });
    expect(d?.runId).toMatch(UUID);
    expect(d?.updatedAt).toBe(new Date(Date.UTC(2025, 0, 1)).toISOString());
  });

  it('pages correctly between devices updated in the same millisecond', async () => {
    const store = openStore();
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const t = Date.UTC(2025, 5, 1);
    const ids = ['00000000000000a1', '00000000000000a2', '00000000000000a3', '00000000000000a4'];
    for (const id of ids) await runThrough(store, seq, id, 'blessed', t);
    const p1 = store.listDevices({ limit: 2 });
    const p2 = store.listDevices({ limit: 2, cursor: p1.nextCursor });
    expect([...p1.devices, ...p2.devices].map((d) => d.deviceId)).toEqual([...ids].reverse());
    expect(p2.nextCursor).toBeNull();
  });

  it('filters by status', async () => {
    const { store } = await seeded(6);
    const failed = store.listDevices({ limit: 50, status: 'failed' }).devices;
    expect(failed).toHaveLength(2);
    expect(failed.every((d) => d.status === 'failed')).toBe(true);
  });

  it('rejects a forged cursor with BadCursorError', async () => {
    const { store } = await seeded(2);
    const forged = [
      'not-base64!',
      Buffer.from("1' OR 1=1 --").toString('base64url'),
      Buffer.from('12:ZZZZ').toString('base64url'),
      Buffer.from('-5:abcd').toString('base64url'),
      Buffer.from('1234:abcd:extra').toString('base64url'),
    ];
    for (const cursor of forged) expect(() => store.listDevices({ limit: 5, cursor }), cursor).toThrow(BadCursorError);
  });
});
