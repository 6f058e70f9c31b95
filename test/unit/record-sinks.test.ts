// The sinks that hand records to other tools, each over its real transport: the plant's MES (the
// reference MES over HTTP, drivers/mes/reference-mes.ts), OpenHTF files in a folder (checked against
// OpenHTF's own record rules, test/support/openhtf-rules.ts), and TofuPilot (its API simulator over
// HTTP, drivers/tofupilot/simulator.ts). Each runs under the real uplink job on a real store, with a
// lost answer, a restart and refused credentials where the sink's contract says what must happen.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReferenceMes } from '../../drivers/mes/reference-mes.js';
import { TofupilotSimulator } from '../../drivers/tofupilot/simulator.js';
import { createUplinkSinks } from '../../jobs/uplink/index.js';
import { MesSink } from '../../jobs/uplink/mes-sink.js';
import { OpenhtfSink, openhtfFileName } from '../../jobs/uplink/openhtf-sink.js';
import type { OutgoingBatch, UplinkSink } from '../../jobs/uplink/sinks.js';
import { TofupilotSink } from '../../jobs/uplink/tofupilot-sink.js';
import { UplinkJob, type UplinkOptions } from '../../jobs/uplink/uplink.js';
import { ConfigError, parseConfig, type StationConfig } from '../../station/config/load.js';
import { configuredSinks, uplinkSchema } from '../../station/config/uplink.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { openHtfRecord, type OpenHtfRecord, type RunView } from '../../station/records/openhtf.js';
import { mesAnswerOfRun } from '../../station/sequence/steps/interlock.js';
import { Store } from '../../station/store/store.js';
import { shippedConfigRaw } from '../support/configs.js';
import { openHtfProblems } from '../support/openhtf-rules.js';
import { writeHistory, type HistoryRun } from '../support/records.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

const fast: UplinkOptions = { stationId: 'st-1', batchMaxRecords: 25, batchMaxAgeMs: 0, concurrency: 1, backoffInitialMs: 10, backoffMaxMs: 50 };
const WAIT = { timeoutMs: 15_000, intervalMs: 5 };

/** A store holding `blessed` blessed and `failed` failed runs, each with its steps and measurements. */
async function storeWithRuns(blessed: number, failed = 0) {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  const now = Date.now();
  const runs: HistoryRun[] = [...(await writeHistory(store, seq, blessed, { endedAt: now })), ...(await writeHistory(store, seq, failed, { endedAt: now + 7, verdict: 'failed' }))];
  return { store, seq, runs };
}

/** The run as GET /api/runs/:id shows it (the composition root hands the sinks the same). */
const runsOf =
  (store: Store) =>
  (runId: string): RunView | null => {
    const run = store.getRun(runId) as RunView | null;
    return run ? { ...run, mes: mesAnswerOfRun(run.steps) } : null;
  };

function job(store: Store, sinks: UplinkSink[]) {
  const bus = new StationBus();
  const alarms = new Map<string, StationEvents['alarm.raised']>();
  bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
  bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
  const j = new UplinkJob(store, sinks, bus, silentLogger(), fast);
  cleanups.push(() => j.stop());
  j.start();
  return { job: j, alarms };
}

const drained = (j: UplinkJob): boolean => j.status().queued === 0;

// ---- configuration ---------------------------------------------------------------------------

describe('record sinks in the configuration', () => {
  it('takes the three kinds with their ids, and refuses a mes sink without the mes section', () => {
    const u = uplinkSchema.parse({ sinks: [{ kind: 'mes' }, { kind: 'openhtf', dir: 'records/openhtf' }, { kind: 'tofupilot', procedureId: 'proc-1' }] });
    expect(configuredSinks(u).sinks.map((s) => s.id)).toEqual(['mes', 'openhtf', 'tofupilot']);
    expect(configuredSinks(u).sinks[2]).toMatchObject({ url: 'https://www.tofupilot.app' });
    const raw = { ...shippedConfigRaw(), uplink: { sinks: [{ kind: 'mes' }] } };
    delete (raw as Record<string, unknown>).mes;
    expect(() => parseConfig(raw, { source: '/x/s.json', baseDir: '/x' })).toThrow(ConfigError);
    try {
      parseConfig(raw, { source: '/x/s.json', baseDir: '/x' });
    } catch (err) {
      expect((err as ConfigError).message).toContain('a sink of kind "mes" reports to the MES of the "mes" section');
    }
  });

  it('reads the TofuPilot key from TOFUPILOT_API_KEY; without one the sink is not ready, under a critical alarm naming the variable', () => {
    const raw = { ...shippedConfigRaw(), uplink: { sinks: [{ kind: 'tofupilot', procedureId: 'proc-1' }] } };
    const cfg = parseConfig(raw, { source: '/x/s.json', baseDir: '/x' }) as StationConfig;
    const withKey = createUplinkSinks(cfg, { log: silentLogger(), version: '1', env: { TOFUPILOT_API_KEY: 'tp-secret' } }).sinks[0] as TofupilotSink;
    const ready: boolean[] = [];
    withKey.watch((c) => ready.push(c.ready));
    expect(ready).toEqual([true]);
    expect(withKey.label).not.toContain('tp-secret');
    const without = createUplinkSinks(cfg, { log: silentLogger(), version: '1', env: {} }).sinks[0] as TofupilotSink;
    const conditions: { ready: boolean; alarm: { severity: string; message: string } | null }[] = [];
    without.watch((c) => conditions.push(c));
    expect(conditions[0]).toMatchObject({ ready: false, alarm: { severity: 'critical' } });
    expect(conditions[0]?.alarm?.message).toContain('TOFUPILOT_API_KEY');
  });
});

// ---- the MES ---------------------------------------------------------------------------------

describe('the mes sink, against the reference MES over HTTP', () => {
  async function referenceMes(apiKey?: string): Promise<ReferenceMes> {
    const mes = new ReferenceMes({ dbPath: path.join(dirs.make(), 'mes.db'), ...(apiKey ? { apiKey } : {}) });
    await mes.start();
    cleanups.push(() => mes.stop());
    return mes;
  }
  function mesSink(store: Store, mes: ReferenceMes, apiKey?: string): MesSink {
    return new MesSink({
      id: 'mes',
      mes: { url: mes.url, operation: 'final-test', offlinePolicy: 'block', timeoutMs: 2000, retries: 0, ...(apiKey ? { apiKey } : {}) },
      stationId: 'st-1',
      timeoutMs: 2000,
      runs: runsOf(store),
      log: silentLogger(),
    });
  }
  const recordIdsAt = (mes: ReferenceMes): string[] => mes.results().map((r) => r.recordId as string);

  it('reports each verdict once: pass for a blessed unit, fail with its step and reason otherwise', async () => {
    const { store, runs } = await storeWithRuns(3, 2);
    const mes = await referenceMes();
    const { job: j } = job(store, [mesSink(store, mes)]);
    await waitFor('the mes sink drained', () => drained(j), WAIT);
    expect(recordIdsAt(mes).sort()).toEqual(runs.map((r) => r.recordId).sort());
    for (const [i, run] of runs.entries()) {
      const [result] = mes.results(run.deviceId as string);
      expect(result).toMatchObject({ recordId: run.recordId, runId: run.runId, stationId: 'st-1', operation: 'final-test', result: i < 3 ? 'pass' : 'fail', review: null });
      expect(result?.failStep).toBe(i < 3 ? null : 'VBAT');
    }
  });

  it('an answer lost after the MES stored a report: sent again, stored once (the MES answers duplicate)', async () => {
    const { store, runs } = await storeWithRuns(4);
    const mes = await referenceMes();
    mes.behaviour = { loseAnswer: true };
    const { job: j } = job(store, [mesSink(store, mes)]);
    await waitFor('a report stored and its answer lost', () => mes.results().length >= 1 && j.status().sinks[0]?.lastError !== null, WAIT);
    expect(j.status().queued).toBe(4);
    mes.behaviour = {};
    await waitFor('the mes sink drained', () => drained(j), WAIT);
    expect(recordIdsAt(mes).sort()).toEqual(runs.map((r) => r.recordId).sort());
    expect(mes.requestsReceived).toBeGreaterThan(runs.length); // the lost one was posted again
  });

  it('a restart of both the MES and the station after a lost answer: every verdict stored exactly once', async () => {
    const { store, runs } = await storeWithRuns(3, 1);
    const mes = await referenceMes();
    mes.behaviour = { loseAnswer: true };
    const first = job(store, [mesSink(store, mes)]);
    await waitFor('a report stored and its answer lost', () => mes.results().length >= 1 && first.job.status().sinks[0]?.lastError !== null, WAIT);
    await first.job.stop();
    await mes.stop();
    mes.behaviour = {};
    await mes.start();
    const second = job(store, [mesSink(store, mes)]);
    await waitFor('the mes sink drained after the restarts', () => drained(second.job), WAIT);
    const ids = recordIdsAt(mes);
    expect(ids.length).toBe(runs.length);
    expect(new Set(ids)).toEqual(new Set(runs.map((r) => r.recordId)));
  });

  it('carries the review flag of a unit tested while the MES was unreachable (allow-and-flag)', async () => {
    const { store, runs } = await storeWithRuns(1);
    const mes = await referenceMes();
    const review = "tested without the MES's answer (MES unreachable: ECONNREFUSED)";
    const flagged = (runId: string): RunView | null => {
      const run = runsOf(store)(runId);
      return run ? { ...run, mes: { allowed: null, reason: 'MES unreachable: ECONNREFUSED', review } } : null;
    };
    const sink = new MesSink({
      id: 'mes',
      mes: { url: mes.url, operation: 'final-test', offlinePolicy: 'allow-and-flag', timeoutMs: 2000, retries: 0 },
      stationId: 'st-1',
      timeoutMs: 2000,
      runs: flagged,
      log: silentLogger(),
    });
    const { job: j } = job(store, [sink]);
    await waitFor('the mes sink drained', () => drained(j), WAIT);
    expect(mes.results(runs[0]?.deviceId as string)).toEqual([expect.objectContaining({ recordId: runs[0]?.recordId, result: 'pass', review })]);
  });

  it('a refused key: the critical alarm uplink.mes.credentials, records kept; a report the MES refuses for good: a dead letter', async () => {
    const { store } = await storeWithRuns(2);
    const mes = await referenceMes('mes-key-right');
    const { job: j, alarms } = job(store, [mesSink(store, mes, 'mes-key-wrong')]);
    await waitFor('the credentials alarm', () => alarms.has('uplink.mes.credentials'), WAIT);
    expect(alarms.get('uplink.mes.credentials')).toMatchObject({ severity: 'critical' });
    expect(alarms.get('uplink.mes.credentials')?.message).not.toContain('mes-key');
    expect(j.status()).toMatchObject({ queued: 2 });
    expect(mes.results()).toEqual([]);
    await j.stop();

    const { store: other } = await storeWithRuns(2);
    const refusing = await referenceMes();
    refusing.behaviour = { status: 422 };
    const { job: k } = job(other, [mesSink(other, refusing)]);
    await waitFor('both records dead letters', () => other.outbox.sinkCounts('mes').deadLetters === 2, WAIT);
    expect(k.status().queued).toBe(0);
  });
});

// ---- OpenHTF files -------------------------------------------------------------------------------

describe('the openhtf sink: one OpenHTF test record file per run', () => {
  const STATION = { id: 'st-1', name: 'Line 1 / Station 1', version: '9.9.9' };
  const files = (dir: string): string[] => readdirSync(dir).sort();

  it("writes each run as the API's OpenHTF record, named by Device ID and start time, that keeps OpenHTF's record rules", async () => {
    const { store, runs } = await storeWithRuns(2, 1);
    const dir = path.join(dirs.make(), 'records', 'openhtf');
    const { job: j } = job(store, [new OpenhtfSink({ id: 'openhtf', dir, station: STATION, runs: runsOf(store) })]);
    await waitFor('the openhtf sink drained', () => drained(j), WAIT);
    const expected = runs.map((r) => {
      const run = runsOf(store)(r.runId) as RunView;
      return { run, name: openhtfFileName(r.deviceId as string, Date.parse(run.startedAt)) };
    });
    expect(files(dir)).toEqual(expected.map((e) => e.name).sort()); // no temporary file left
    for (const { run, name } of expected) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      expect(text).toBe(JSON.stringify(openHtfRecord(run, STATION), null, 1) + '\n'); // the API route's builder
      const record = JSON.parse(text) as OpenHtfRecord;
      expect(openHtfProblems(record)).toEqual([]);
      expect(record).toMatchObject({ dut_id: run.deviceId, station_id: 'st-1', outcome: run.status === 'blessed' ? 'PASS' : 'FAIL', metadata: { sequence_hash: run.sequence.hash } });
      expect(record.phases.flatMap((p) => Object.values(p.measurements)).every((m) => 'measured_value' in m && m.units?.suffix === 'V' && (m.validators?.length ?? 0) === 1)).toBe(true);
    }
  });

  it('a crash after writing, before the station noted it: the batch is written again, byte for byte', async () => {
    const { store, runs } = await storeWithRuns(3);
    const dir = path.join(dirs.make(), 'openhtf');
    const sink = new OpenhtfSink({ id: 'openhtf', dir, station: STATION, runs: runsOf(store) });
    store.outbox.registerSinks(['openhtf']);
    // The first life: the batch formed and written, and the process gone before settling it.
    const batch = store.outbox.formBatch(25, 'openhtf');
    if (!batch) throw new Error('expected a batch');
    const records = store.outbox.members(batch.batchId);
    const sent: OutgoingBatch = { batchId: batch.batchId, records, body: '', recordIds: records.map((r) => r.recordId), firstSeq: 0, lastSeq: 0 };
    expect(await sink.send(sent)).toMatchObject({ kind: 'answered', accepted: sent.recordIds });
    const before = new Map(files(dir).map((f) => [f, readFileSync(path.join(dir, f))]));
    expect(before.size).toBe(runs.length);
    // The second life: the open batch goes first, to the same files.
    const { job: j } = job(store, [new OpenhtfSink({ id: 'openhtf', dir, station: STATION, runs: runsOf(store) })]);
    await waitFor('the openhtf sink drained', () => drained(j), WAIT);
    expect(files(dir)).toEqual([...before.keys()]);
    for (const [f, bytes] of before) expect(readFileSync(path.join(dir, f)).equals(bytes)).toBe(true);
  });
});

// ---- TofuPilot ----------------------------------------------------------------------------------

describe('the tofupilot sink, against the TofuPilot API simulator over HTTP', () => {
  const KEY = 'tp-key-0123456789';
  async function simulator(): Promise<TofupilotSimulator> {
    const sim = new TofupilotSimulator({ apiKey: KEY, procedures: ['proc-1'] });
    await sim.start();
    cleanups.push(() => sim.stop());
    return sim;
  }
  function tofupilotSink(store: Store, sim: TofupilotSimulator, over: { apiKey?: string; procedureId?: string } = {}): TofupilotSink {
    return new TofupilotSink({ id: 'tofupilot', url: sim.url, apiKey: over.apiKey ?? KEY, procedureId: over.procedureId ?? 'proc-1', stationId: 'st-1', timeoutMs: 2000, runs: runsOf(store) });
  }
  const serials = (sim: TofupilotSimulator): string[] => sim.runs.map((r) => r.body.serial_number).sort();

  it("posts each run in the runs API's shape: outcome, procedure, sequence hash as version, Device ID as serial number, times, phases with measurements", async () => {
    const { store, seq, runs } = await storeWithRuns(2, 1);
    const sim = await simulator();
    const { job: j } = job(store, [tofupilotSink(store, sim)]);
    await waitFor('the tofupilot sink drained', () => drained(j), WAIT);
    expect(serials(sim)).toEqual(runs.map((r) => r.deviceId).sort());
    for (const r of runs) {
      const run = runsOf(store)(r.runId) as RunView;
      const posted = sim.runs.find((p) => p.body.serial_number === r.deviceId)?.body;
      expect(posted).toMatchObject({
        outcome: run.status === 'blessed' ? 'PASS' : 'FAIL',
        procedure_id: 'proc-1',
        procedure_version: seq.hash,
        started_at: run.startedAt,
        ended_at: run.endedAt,
        metadata: { record_id: r.recordId, run_id: r.runId, station_id: 'st-1' },
      });
      expect(posted?.phases?.map((p) => p.name)).toEqual(seq.steps.map((s) => s.name));
      const battery = posted?.phases?.find((p) => p.name === 'Battery voltage');
      expect(battery).toMatchObject({ outcome: 'PASS', retry_count: 0 });
      expect(battery?.measurements?.[0]).toMatchObject({
        name: 'Battery voltage',
        outcome: 'PASS',
        units: 'V',
        validators: [
          { operator: '>=', expected_value: 3.4 },
          { operator: '<=', expected_value: 4.2 },
        ],
      });
      expect(typeof battery?.measurements?.[0]?.measured_value).toBe('number');
    }
    expect(sim.requests.filter((q) => q.startsWith('GET'))).toEqual([]); // a first send asks nothing
  });

  it('an answer lost after TofuPilot stored the run: looked up before posting again, no duplicate run', async () => {
    const { store, runs } = await storeWithRuns(3);
    const sim = await simulator();
    sim.fault('lose-answer');
    const { job: j } = job(store, [tofupilotSink(store, sim)]);
    await waitFor('the tofupilot sink drained', () => drained(j), WAIT);
    expect(serials(sim)).toEqual(runs.map((r) => r.deviceId).sort()); // one run each: no duplicate
    expect(sim.requests).toContain('GET /api/v2/runs');
  });

  it('429 and 500: sent again later, every run once', async () => {
    const { store, runs } = await storeWithRuns(3);
    const sim = await simulator();
    sim.fault('429');
    sim.fault('500');
    const { job: j } = job(store, [tofupilotSink(store, sim)]);
    await waitFor('the tofupilot sink drained', () => drained(j), WAIT);
    expect(serials(sim)).toEqual(runs.map((r) => r.deviceId).sort());
  });

  it('a station restart after a lost answer: the open batch is looked up run by run, no duplicate run', async () => {
    const { store, runs } = await storeWithRuns(2, 2);
    const sim = await simulator();
    sim.fault('lose-answer');
    sim.fault('lose-answer');
    const first = job(store, [tofupilotSink(store, sim)]);
    await waitFor('a run stored and its answer lost', () => sim.runs.length >= 1 && first.job.status().sinks[0]?.lastError !== null, WAIT);
    await first.job.stop();
    const second = job(store, [tofupilotSink(store, sim)]);
    await waitFor('the tofupilot sink drained after the restart', () => drained(second.job), WAIT);
    expect(serials(sim)).toEqual(runs.map((r) => r.deviceId).sort());
  });

  it('401: the critical alarm uplink.tofupilot.credentials without the key, records kept; an unknown procedure: the same alarm naming procedureId', async () => {
    const { store } = await storeWithRuns(2);
    const sim = await simulator();
    sim.fault('401', 100);
    const { job: j, alarms } = job(store, [tofupilotSink(store, sim)]);
    await waitFor('the credentials alarm', () => alarms.has('uplink.tofupilot.credentials'), WAIT);
    expect(alarms.get('uplink.tofupilot.credentials')).toMatchObject({ severity: 'critical' });
    expect(alarms.get('uplink.tofupilot.credentials')?.message).toContain('TOFUPILOT_API_KEY');
    expect(alarms.get('uplink.tofupilot.credentials')?.message).not.toContain(KEY);
    expect(j.status()).toMatchObject({ queued: 2 });
    expect(store.outbox.sinkCounts('tofupilot').deadLetters).toBe(0);
    expect(sim.runs).toEqual([]);
    await j.stop();

    const { store: other } = await storeWithRuns(1);
    const fresh = await simulator();
    const { alarms: otherAlarms } = job(other, [tofupilotSink(other, fresh, { procedureId: 'proc-unknown' })]);
    await waitFor('the alarm for the procedure', () => otherAlarms.get('uplink.tofupilot.credentials')?.message.includes('procedureId') === true, WAIT);
    expect(other.outbox.sinkCounts('tofupilot')).toMatchObject({ queued: 1, deadLetters: 0 });
  });
});
