// Retention on a real SQLite file: what goes (old history every sink acknowledged), what never goes
// (records not delivered, in a batch still open, unresolved dead letters, device rows), the archive
// written before the delete and readable with zlib, the file shrinking (incremental vacuum), the
// migration that turns it on for an existing file, and the disk budget relieved by it.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskBudgetJob, folderBytes } from '../../jobs/disk-budget.js';
import { DAY_MS, RetentionJob, type RetentionOptions } from '../../jobs/retention.js';
import { ConfigError, parseConfig } from '../../station/config/load.js';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { MIGRATIONS } from '../../station/store/migrations.js';
import { PromptAnswerLog } from '../../station/store/people.js';
import { Store } from '../../station/store/store.js';
import { shippedConfigRaw } from '../support/configs.js';
import { deliverQueued, writeHistory, type HistoryRun } from '../support/records.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const stores: Store[] = [];
const jobs: { stop(): unknown }[] = [];

afterEach(async () => {
  for (const j of jobs.splice(0)) await j.stop();
  for (const s of stores.splice(0)) s.close();
  dirs.cleanup();
});

const seq = compileSmallSequence();
const NOW = Date.now();
const OLD = NOW - 10 * DAY_MS;
const YOUNG = NOW - 3_600_000;

function openStore(dataDir = dirs.make()): Store {
  const store = new Store(dataDir, silentLogger());
  store.open();
  store.registerSequence(seq);
  stores.push(store);
  return store;
}

function retentionJob(store: Store, opts: Partial<RetentionOptions> = {}): { job: RetentionJob; bus: StationBus; alarms: string[] } {
  const bus = new StationBus(silentLogger());
  const alarms: string[] = [];
  bus.on('alarm.raised', (a) => alarms.push(a.alarmId));
  bus.on('alarm.cleared', (a) => alarms.splice(alarms.indexOf(a.alarmId), 1));
  const job = new RetentionJob(store, bus, silentLogger(), { retentionMs: 7 * DAY_MS, days: 7, archiveDir: null, intervalMs: 3_600_000, stationId: 'st-1', now: () => NOW, ...opts });
  jobs.push(job);
  return { job, bus, alarms };
}

function count(store: Store, sql: string, ...params: unknown[]): number {
  return (store.database.prepare(sql).get(...params) as { n: number }).n;
}

/** Rows a run has in each table. */
function rowsOf(store: Store, runId: string): { runs: number; steps: number; measurements: number; outbox: number } {
  return {
    runs: count(store, `SELECT count(*) AS n FROM runs WHERE run_id = ?`, runId),
    steps: count(store, `SELECT count(*) AS n FROM step_results WHERE run_id = ?`, runId),
    measurements: count(store, `SELECT count(*) AS n FROM measurements WHERE run_id = ?`, runId),
    outbox: count(store, `SELECT count(*) AS n FROM outbox WHERE run_id = ?`, runId),
  };
}

const gone = { runs: 0, steps: 0, measurements: 0, outbox: 0 };
const kept = (r: HistoryRun) => ({ runs: 1, steps: seq.steps.length, measurements: seq.steps.filter((s) => s.type === 'measure').length, outbox: r.recordId ? 1 : 0 });

describe('retention: what goes', () => {
  it('deletes the runs, steps, measurements and outbox rows of acknowledged records older than the retention, and keeps the younger ones', async () => {
    const store = openStore();
    const old = await writeHistory(store, seq, 20, { endedAt: OLD });
    const oldFailed = await writeHistory(store, seq, 5, { endedAt: OLD, verdict: 'failed' });
    const young = await writeHistory(store, seq, 10, { endedAt: YOUNG });
    deliverQueued(store);
    const { job } = retentionJob(store);
    const result = await job.runNow('test');
    expect(result.counts).toMatchObject({ runs: 25, steps: 25 * 5, measurements: 25 * 3, outbox: 25, deadLetters: 0 });
    for (const r of [...old, ...oldFailed]) expect(rowsOf(store, r.runId)).toEqual(gone);
    for (const r of young) expect(rowsOf(store, r.runId)).toEqual(kept(r));
    expect(store.integrityCheck()).toBe('ok');
  });

  it('keeps every device row, blessed or not, with its verdicts and upload time', async () => {
    const store = openStore();
    const blessed = await writeHistory(store, seq, 3, { endedAt: OLD });
    const failed = await writeHistory(store, seq, 2, { endedAt: OLD, verdict: 'failed' });
    deliverQueued(store);
    const before = store.listDevices({ limit: 10 }).devices;
    expect(before.every((d) => d.uploadedAt !== null)).toBe(true);
    await retentionJob(store).job.runNow('test');
    expect(count(store, `SELECT count(*) AS n FROM runs`)).toBe(0);
    const after = store.listDevices({ limit: 10 }).devices;
    expect(after).toEqual(before);
    expect(
      after
        .filter((d) => d.status === 'blessed')
        .map((d) => d.deviceId)
        .sort(),
    ).toEqual(blessed.map((r) => r.deviceId).sort());
    expect(after.filter((d) => d.status === 'failed')).toHaveLength(failed.length);
    const stats = store.stats();
    expect(stats.devicesBlessed).toBe(3);
    expect(stats.firstPassYield).toBeCloseTo(3 / 5);
  });

  it('a device tested again after its history went shows the new record as not uploaded until it is', async () => {
    const store = openStore();
    const [first] = await writeHistory(store, seq, 1, { endedAt: OLD });
    deliverQueued(store);
    await retentionJob(store).job.runNow('test');
    const deviceId = first?.deviceId as string;
    expect(store.listDevices({ limit: 1 }).devices[0]?.uploadedAt).not.toBeNull();
    await writeHistory(store, seq, 1, { endedAt: YOUNG, deviceIds: [deviceId] });
    expect(store.listDevices({ limit: 1 }).devices[0]).toMatchObject({ deviceId, uploadedAt: null, attempts: 2 });
    deliverQueued(store);
    expect(store.listDevices({ limit: 1 }).devices[0]?.uploadedAt).not.toBeNull();
  });

  it('deletes interrupted runs and failed runs of units never identified by age alone (they have no record)', async () => {
    const store = openStore();
    const interrupted = await writeHistory(store, seq, 3, { endedAt: OLD, verdict: 'interrupted' });
    const anonymous = await writeHistory(store, seq, 3, { endedAt: OLD, verdict: 'failed', identified: false });
    const result = await retentionJob(store).job.runNow('test');
    expect(result.counts.runs).toBe(6);
    for (const r of [...interrupted, ...anonymous]) expect(rowsOf(store, r.runId).runs).toBe(0);
  });

  it('works in batches of batchRuns runs, an archive file each', async () => {
    const store = openStore();
    await writeHistory(store, seq, 45, { endedAt: OLD });
    deliverQueued(store);
    const archive = dirs.make('blinkup-archive-');
    const result = await retentionJob(store, { batchRuns: 10, archiveDir: archive }).job.runNow('test');
    expect(result.counts.runs).toBe(45);
    expect(result.archiveFiles).toHaveLength(5);
    expect(readdirSync(archive).sort()).toEqual(result.archiveFiles.map((f) => path.basename(f)).sort());
  });
});

describe('retention: what never goes', () => {
  it('never a record not yet delivered (queued, or not yet in a batch)', async () => {
    const store = openStore();
    const queued = await writeHistory(store, seq, 4, { endedAt: OLD });
    const { job } = retentionJob(store);
    const result = await job.runNow('test');
    expect(result.counts.runs).toBe(0);
    expect(result.held).toBe(4);
    for (const r of queued) expect(rowsOf(store, r.runId)).toEqual(kept(r));
    expect(job.status().heldUndelivered).toBe(4);
  });

  it('never a member of a batch still open, even one the cloud accepted: the batch is sent again with the same members', async () => {
    const store = openStore();
    const runs = await writeHistory(store, seq, 3, { endedAt: OLD });
    const [accepted, pending] = [runs[0] as HistoryRun, runs[1] as HistoryRun];
    deliverQueued(store, { holdBack: [pending.recordId as string] });
    expect(store.outbox.openBatches('http')).toHaveLength(1);
    const result = await retentionJob(store).job.runNow('test');
    expect(result.counts.runs).toBe(0);
    expect(rowsOf(store, accepted.runId)).toEqual(kept(accepted));
    // The batch closes: now all of it may go.
    const [open] = store.outbox.openBatches('http');
    store.outbox.settle(open?.batchId as string, [pending.recordId as string], [], null);
    expect((await retentionJob(store).job.runNow('test')).counts.runs).toBe(3);
  });

  it('never a dead letter an engineer has not resolved; a requeued one goes once the cloud accepts it', async () => {
    const store = openStore();
    const runs = await writeHistory(store, seq, 5, { endedAt: OLD });
    const dead = runs[2] as HistoryRun;
    deliverQueued(store, { reject: [dead.recordId as string] });
    expect(store.outbox.counts().deadLetters).toBe(1);
    const first = await retentionJob(store).job.runNow('test');
    expect(first.counts).toMatchObject({ runs: 4, deadLetters: 0 });
    expect(first.held).toBe(1);
    expect(rowsOf(store, dead.runId)).toEqual(kept(dead));
    expect(store.outbox.deadLetters()).toHaveLength(1);
    // Requeued: in a new batch, not yet accepted: still kept.
    store.outbox.requeue([dead.recordId as string]);
    expect((await retentionJob(store).job.runNow('test')).counts.runs).toBe(0);
    deliverQueued(store);
    const last = await retentionJob(store).job.runNow('test');
    expect(last.counts).toMatchObject({ runs: 1, outbox: 1, deadLetters: 1 });
    expect(count(store, `SELECT count(*) AS n FROM dead_letters`)).toBe(0);
    // Every batch is done and empty now: its bookkeeping goes once it is older than the retention.
    expect(count(store, `SELECT count(*) AS n FROM upload_batches`)).toBe(2);
    const later = await retentionJob(store, { now: () => Date.now() + 8 * DAY_MS }).job.runNow('test');
    expect(later.counts).toMatchObject({ runs: 0, batches: 2 });
    expect(count(store, `SELECT count(*) AS n FROM upload_batches`)).toBe(0);
  });

  it('never a run still running, and nothing at all with retention off', async () => {
    const store = openStore();
    store.beginRun({ runId: '01900000-0000-7000-8000-000000000001', slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: OLD });
    store.flush();
    await writeHistory(store, seq, 2, { endedAt: OLD });
    deliverQueued(store);
    expect((await retentionJob(store, { retentionMs: null, days: null }).job.runNow('test')).counts.runs).toBe(0);
    expect(count(store, `SELECT count(*) AS n FROM runs`)).toBe(3);
    expect((await retentionJob(store).job.runNow('test')).counts.runs).toBe(2);
    expect(count(store, `SELECT count(*) AS n FROM runs WHERE status = 'running'`)).toBe(1);
  });
});

describe('retention: the archive', () => {
  it('writes what it prunes as gzip NDJSON before deleting it: every row, as stored, readable with zlib', async () => {
    const store = openStore();
    const runs = await writeHistory(store, seq, 12, { endedAt: OLD });
    // Who answered the prompts of some runs: an operator, an engineer, and nobody (a hardware scanner).
    const answers = new PromptAnswerLog(store);
    const answered = runs.slice(0, 3);
    answered.forEach((r, i) => {
      answers.record({ runId: r.runId, promptId: `p-${i}-a`, slot: 0, kind: 'choice', text: 'Is the LED green?', answer: 'yes', by: { name: 'ana', role: 'operator' }, at: OLD - 1000 });
      answers.record({ runId: r.runId, promptId: `p-${i}-b`, slot: 0, kind: 'scan', text: 'Scan the label', answer: 'SN0001', by: i === 1 ? null : { name: 'eve', role: 'engineer' }, at: OLD - 500 });
    });
    store.flush();
    const dead = runs[5] as HistoryRun;
    deliverQueued(store, { reject: [dead.recordId as string] });
    store.outbox.requeue([dead.recordId as string]);
    deliverQueued(store);
    const snapshot = (runId: string) => ({
      run: store.database.prepare(`SELECT * FROM runs WHERE run_id = ?`).get(runId),
      steps: store.database.prepare(`SELECT * FROM step_results WHERE run_id = ? ORDER BY step_index`).all(runId),
      measurements: store.database.prepare(`SELECT * FROM measurements WHERE run_id = ? ORDER BY step_index, rowid`).all(runId),
      promptAnswers: store.database.prepare(`SELECT * FROM prompt_answers WHERE run_id = ? ORDER BY seq`).all(runId),
      outbox: store.database.prepare(`SELECT * FROM outbox WHERE run_id = ? ORDER BY seq`).all(runId),
      deadLetters: store.database.prepare(`SELECT d.* FROM dead_letters d JOIN outbox o ON o.record_id = d.record_id WHERE o.run_id = ?`).all(runId),
    });
    const before = new Map(runs.map((r) => [r.runId, snapshot(r.runId)]));
    const archive = path.join(dirs.make('blinkup-archive-'), 'nested', 'archive');
    const { job } = retentionJob(store, { archiveDir: archive, batchRuns: 5 });
    const result = await job.runNow('test');
    expect(result.counts.runs).toBe(12);

    const lines = readdirSync(archive)
      .sort()
      .flatMap((f) =>
        gunzipSync(readFileSync(path.join(archive, f)))
          .toString('utf8')
          .trimEnd()
          .split('\n'),
      )
      .map((l) => JSON.parse(l) as { v: number; runId: string } & Record<string, unknown>);
    expect(lines).toHaveLength(12);
    for (const line of lines) {
      expect(line.v).toBe(1);
      const { v: _v, runId, ...rows } = line;
      expect(rows).toEqual(before.get(runId));
    }
    const deadLine = lines.find((l) => l.runId === dead.runId) as unknown as { deadLetters: { reason: string; requeued_at: number | null }[]; outbox: { payload: string }[] };
    expect(deadLine.deadLetters).toEqual([expect.objectContaining({ reason: 'unknown device family', requeued_at: expect.any(Number) })]);
    expect(JSON.parse(deadLine.outbox[0]?.payload as string)).toMatchObject({ runId: dead.runId, status: 'blessed' });
    // The prompt answers went with their runs, archived first: who answered each, and the answer.
    const second = lines.find((l) => l.runId === answered[1]?.runId) as unknown as { promptAnswers: Record<string, unknown>[] };
    expect(second.promptAnswers).toEqual([
      expect.objectContaining({ prompt_id: 'p-1-a', kind: 'choice', answer: 'yes', by_name: 'ana', by_role: 'operator', at: OLD - 1000 }),
      expect.objectContaining({ prompt_id: 'p-1-b', kind: 'scan', answer: 'SN0001', by_name: null, by_role: null }),
    ]);
    expect(lines.filter((l) => (l.promptAnswers as unknown[]).length > 0).map((l) => l.runId)).toEqual(expect.arrayContaining(answered.map((r) => r.runId)));
    expect(lines.reduce((n, l) => n + (l.promptAnswers as unknown[]).length, 0)).toBe(6);
    expect(count(store, `SELECT count(*) AS n FROM prompt_answers`)).toBe(0);
    expect(job.status().lastArchiveFile).toBe(path.basename(result.archiveFiles.at(-1) as string));
    for (const f of readdirSync(archive)) expect(statSync(path.join(archive, f)).mode & 0o077).toBe(0);
  });

  it('deletes nothing when the archive cannot be written, says so in its state and an alarm, and recovers', async () => {
    const store = openStore();
    const runs = await writeHistory(store, seq, 6, { endedAt: OLD });
    deliverQueued(store);
    const parent = dirs.make('blinkup-archive-');
    const archive = path.join(parent, 'archive');
    writeFileSync(archive, 'a file where the folder should be');
    const { job, alarms } = retentionJob(store, { archiveDir: archive });
    await expect(job.runNow('test')).rejects.toThrow(/archive|EEXIST|ENOTDIR/);
    for (const r of runs) expect(rowsOf(store, r.runId)).toEqual(kept(r));
    expect(job.status()).toMatchObject({ state: 'failing', lastError: expect.stringContaining(archive) });
    expect(alarms).toContain('retention.failed');

    // The folder is fixed: the next pass archives and deletes, and clears the alarm.
    const { rmSync } = await import('node:fs');
    rmSync(archive);
    mkdirSync(archive);
    const result = await job.runNow('test');
    expect(result.counts.runs).toBe(6);
    expect(job.status()).toMatchObject({ state: 'idle', lastError: null });
    expect(alarms).not.toContain('retention.failed');
  });

  it('removes temporary files a crash left in the archive folder (their runs were never deleted)', async () => {
    const store = openStore();
    const archive = dirs.make('blinkup-archive-');
    writeFileSync(path.join(archive, '.0123456789ab.partial'), 'half a file');
    await writeHistory(store, seq, 2, { endedAt: OLD });
    deliverQueued(store);
    await retentionJob(store, { archiveDir: archive }).job.runNow('test');
    expect(readdirSync(archive).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(readdirSync(archive)).toHaveLength(1);
  });
});

describe('retention: the file shrinks', () => {
  it('a new database has incremental auto-vacuum, and a prune gives the freed pages back to the file system', async () => {
    const store = openStore();
    expect(store.database.pragma('auto_vacuum', { simple: true })).toBe(2);
    await writeHistory(store, seq, 1500, { endedAt: OLD });
    await writeHistory(store, seq, 50, { endedAt: YOUNG });
    deliverQueued(store);
    store.checkpoint();
    const sizeBefore = statSync(store.dbPath).size;
    const { job } = retentionJob(store);
    const result = await job.runNow('test');
    expect(result.counts.runs).toBe(1500);
    expect(result.vacuumBytes).toBeGreaterThan(0);
    expect(store.database.pragma('freelist_count', { simple: true })).toBe(0);
    const sizeAfter = statSync(store.dbPath).size;
    expect(sizeAfter).toBeLessThan(sizeBefore / 2);
    expect(job.status()).toMatchObject({ lastVacuumBytes: result.vacuumBytes, oldestKeptRunAt: new Date(YOUNG - 1000).toISOString() });
    expect(store.integrityCheck()).toBe('ok');
  });

  it('migration 9 turns an existing file (schema 6, auto_vacuum off) to incremental auto-vacuum, rows intact', async () => {
    const dataDir = dirs.make();
    const dbPath = path.join(dataDir, 'station.db');
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.filter((x) => x.version <= 6)) {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
    db.prepare(`INSERT INTO sequences (hash, name, body, created_at) VALUES ('h', 'n', '{}', 1)`).run();
    db.prepare(`INSERT INTO runs (run_id, slot, sequence_hash, mode, status, started_at, ended_at) VALUES ('r1', 0, 'h', 'production', 'blessed', 1, 2)`).run();
    db.prepare(`INSERT INTO measurements (run_id, step_index, name, value_num, outcome) VALUES ('r1', 1, 'b', 2, 'pass'), ('r1', 1, 'a', 1, 'pass')`).run();
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(0);
    db.close();

    const store = new Store(dataDir, silentLogger());
    store.open();
    stores.push(store);
    expect(store.database.pragma('user_version', { simple: true })).toBe(MIGRATIONS.at(-1)?.version);
    expect(store.database.pragma('auto_vacuum', { simple: true })).toBe(2);
    expect(store.database.pragma('journal_mode', { simple: true })).toBe('wal');
    // The VACUUM kept the rows and the order a step's measurements were recorded in.
    expect((store.database.prepare(`SELECT name FROM measurements ORDER BY step_index, rowid`).all() as { name: string }[]).map((r) => r.name)).toEqual(['b', 'a']);
    expect(store.integrityCheck()).toBe('ok');
  });
});

describe('retention: health', () => {
  it('reports its setting, last pass, rows pruned, oldest run kept, next pass and errors', async () => {
    const store = openStore();
    await writeHistory(store, seq, 3, { endedAt: OLD });
    await writeHistory(store, seq, 1, { endedAt: YOUNG });
    deliverQueued(store);
    const archive = dirs.make('blinkup-archive-');
    const { job } = retentionJob(store, { archiveDir: archive, startDelayMs: 3_600_000 });
    expect(job.status()).toMatchObject({ enabled: true, days: 7, archiveDir: archive, state: 'idle', lastPruneAt: null, lastPruned: null });
    job.start();
    expect(job.status().nextPruneAt).toBe(new Date(NOW + 3_600_000).toISOString());
    await job.runNow('test');
    expect(job.status()).toMatchObject({
      state: 'idle',
      lastPruneAt: new Date(NOW).toISOString(),
      lastPruned: { runs: 3, steps: 15, measurements: 9, outbox: 3, deadLetters: 0 },
      prunedSinceStart: { runs: 3 },
      heldUndelivered: 0,
      oldestKeptRunAt: new Date(YOUNG - 1000).toISOString(),
      lastError: null,
    });
    const off = retentionJob(store, { retentionMs: null, days: null }).job;
    off.start();
    expect(off.status()).toMatchObject({ enabled: false, state: 'off', nextPruneAt: null });
  });
});

describe('retention: the disk budget', () => {
  function budgetJob(store: Store, retention: RetentionJob, budgetBytes: number) {
    const held: string[] = [];
    const bus = new StationBus(silentLogger());
    const job = new DiskBudgetJob(
      {
        dataDir: path.dirname(store.dbPath),
        budgetBytes,
        minFreeBytes: 0,
        intervalMs: 600_000,
        hold: (reason) => held.push(reason),
        release: () => held.push('released'),
        reclaim: () => store.checkpoint(),
        relieve: () => retention.relieve(),
      },
      bus,
      silentLogger(),
    );
    jobs.push(job);
    return { job, held };
  }

  it('a budget reached is relieved by retention and a vacuum: the line never stops', async () => {
    const store = openStore();
    await writeHistory(store, seq, 3000, { endedAt: OLD });
    await writeHistory(store, seq, 20, { endedAt: YOUNG });
    deliverQueued(store);
    store.checkpoint();
    const used = folderBytes(path.dirname(store.dbPath));
    const { job: retention } = retentionJob(store);
    const { job, held } = budgetJob(store, retention, Math.floor(used * 0.9));
    job.start();
    const s = await job.settled();
    expect(s.state).not.toBe('full');
    expect(s.usedBytes).toBeLessThan(used * 0.5);
    expect(held).toEqual([]);
    expect(retention.status().lastPruned?.runs).toBe(3000);
  });

  it('fails closed when retention cannot free enough (nothing acknowledged yet), and resumes once a later relief has', async () => {
    const store = openStore();
    await writeHistory(store, seq, 2000, { endedAt: OLD });
    store.checkpoint();
    const used = folderBytes(path.dirname(store.dbPath));
    const { job: retention } = retentionJob(store);
    const { job, held } = budgetJob(store, retention, Math.floor(used * 0.9));
    job.start();
    const s = await job.settled();
    expect(s.state).toBe('full');
    expect(held).toHaveLength(1);
    expect(held[0]).toContain('retention and a vacuum did not free enough');
    expect(retention.status().heldUndelivered).toBe(2000);

    // The uplink delivers the backlog; the next relief (RELIEF_EVERY_MS later in service) frees it.
    deliverQueued(store);
    (job as unknown as { reliefEndedAt: number }).reliefEndedAt = -Infinity;
    job.check();
    const after = await job.settled();
    expect(after.state).not.toBe('full');
    expect(held).toEqual([held[0], 'released']);
  });
});

describe('retention: configuration', () => {
  const parse = (storage: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    parseConfig({ ...shippedConfigRaw<Record<string, unknown>>(), storage: { dataDir: './data', ...storage }, ...extra }, { source: 'test.json', baseDir: '/srv/station' });

  it('takes days, an archive folder (resolved against the config) and an interval', () => {
    const cfg = parse({ retention: { days: 90, archive: '../archive' } });
    expect(cfg.storage.retention).toEqual({ days: 90, archive: '/srv/archive', intervalMinutes: 60 });
    expect(parse({}).storage.retention).toBeUndefined();
  });

  it('refuses a retention shorter than a day, with the reason', () => {
    for (const days of [0, 0.5, -3]) {
      try {
        parse({ retention: { days } });
        expect.unreachable(`days ${days} must be refused`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^storage\.retention\.days: must be at least 1 \(a day\).*uplink's backlog/)]);
      }
    }
  });

  it('refuses an archive inside the data folder, or where the uplink writes its files', () => {
    expect(() => parse({ retention: { days: 30, archive: './data/archive' } })).toThrow(/storage\.retention\.archive: .*is in the data folder/);
    expect(() => parse({ retention: { days: 30, archive: './out' } }, { uplink: { sink: 'file', dir: './out' } })).toThrow(/storage\.retention\.archive: .*overlaps uplink\.dir/);
  });
});
