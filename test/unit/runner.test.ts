import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestError } from '../../drivers/transport/request-error.js';
import { type DutConsole } from '../../drivers/console/console.js';
import { DirectDutConsole } from '../../drivers/dut/simulator/direct-console.js';
import { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { luhnCheckDigit } from '../../lib/luhn.js';
import { PromptBroker, PromptError } from '../../station/line/prompts.js';
import { SequenceRunner, type RunOutcome } from '../../station/line/runner.js';
import { type CompiledSequence } from '../../station/sequence/sequence.js';
import { silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { compileSmallSequence, hangUntilAborted, nextEvent, RecordingConsole, ScriptedConsole, smallSequenceDef, TempDirs } from '../support/unit-fakes.js';
import { sqliteFaults } from '../support/sqlite-faults.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
  dirs.cleanup();
});

interface Rig {
  store: Store;
  bus: StationBus;
  prompts: PromptBroker;
  runner: SequenceRunner;
  /** A fresh read-only connection to the database file. */
  db(): Database.Database;
  run(console: DutConsole, seq: CompiledSequence, signal?: AbortSignal): Promise<RunOutcome & { runId: string }>;
}

function rig(): Rig {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const prompts = new PromptBroker(bus);
  const runner = new SequenceRunner({ store, bus, prompts, log: silentLogger(), stationId: 'unit-station', mode: 'production', failCommandTimeoutMs: 500 });
  const db = (): Database.Database => {
    const conn = new Database(store.dbPath, { readonly: true });
    cleanups.push(() => conn.close());
    return conn;
  };
  return {
    store,
    bus,
    prompts,
    runner,
    db,
    async run(console, seq, signal = new AbortController().signal) {
      store.registerSequence(seq);
      const runId = randomUUID();
      const outcome = await runner.run({ runId, slot: 0, console, sequence: seq, signal, onStep: () => undefined, onIdentified: () => undefined, onVerdictSent: () => undefined });
      return { ...outcome, runId };
    },
  };
}

interface StepRow {
  step_index: number;
  name: string;
  status: string;
  attempts: number;
  message: string | null;
}

function steps(db: Database.Database, runId: string): StepRow[] {
  return db.prepare(`SELECT step_index, name, status, attempts, message FROM step_results WHERE run_id = ? ORDER BY step_index`).all(runId) as StepRow[];
}

function count(db: Database.Database, sql: string, ...params: unknown[]): number {
  return (db.prepare(sql).get(...params) as { n: number }).n;
}

/** A simulated nest behind a DirectDutConsole, booted and READY. */
async function simulatedDut(): Promise<{ nest: SimulatedNest; console: RecordingConsole }> {
  const nest = new SimulatedNest('sim:unit', { bootMs: 0, handlingMs: 100_000 }, 12345, { event: () => undefined, raw: () => undefined, unplug: () => undefined });
  const direct = new DirectDutConsole('sim:unit', nest);
  cleanups.push(() => nest.stop());
  const ready = nextEvent(direct.events, 'event', (e) => e.name === 'READY');
  nest.start();
  await ready;
  return { nest, console: new RecordingConsole(direct) };
}

/** Puts a new unit in the nest and waits for it to be READY. */
async function insert(nest: SimulatedNest, console: DutConsole, overrides: Parameters<SimulatedNest['newUnit']>[0] = {}): Promise<void> {
  const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
  nest.insertUnit(nest.newUnit(overrides));
  await ready;
}

const GOOD_ID = 'id=0c2a69ffee001234 mac=0c:2a:69:12:34:56 fw=factory-2.3.1 blessed=0';

/** A scripted DUT that passes the small sequence. */
function passingScript(): ScriptedConsole {
  return new ScriptedConsole({
    IDENT: GOOD_ID,
    'MEAS VBAT': 'v=3.712 unit=V',
    'MEAS V3V3': 'v=3.301 unit=V',
    'SELFTEST FLASH': 'result=PASS',
    BLESS: 'blessed=1',
    FAIL: 'led=RED',
  });
}

describe('SequenceRunner with the simulated nest', () => {
  it('blesses a unit that passes every step and writes one step result per step', async () => {
    const r = rig();
    const { nest, console } = await simulatedDut();
    const seq = compileSmallSequence();
    const out = await r.run(console, seq);
    expect(out.verdict).toBe('blessed');
    expect(out.reason).toBeNull();
    expect(out.identity?.deviceId).toBe(nest.currentUnit?.deviceId);
    expect(out.recordId).toMatch(/^[0-9a-f-]{36}$/);
    expect(nest.currentUnit?.blessed).toBe(true);
    expect(console.commands).toEqual(['IDENT', 'MEAS VBAT', 'MEAS V3V3', 'SELFTEST FLASH', 'BLESS']);
    const db = r.db();
    const rows = steps(db, out.runId);
    expect(rows.map((s) => [s.step_index, s.name, s.status])).toEqual(seq.steps.map((s, i) => [i, s.name, 'pass']));
    expect(count(db, `SELECT count(*) AS n FROM measurements WHERE run_id = ?`, out.runId)).toBe(3);
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'blessed' });
    expect(count(db, `SELECT count(*) AS n FROM outbox WHERE run_id = ? AND kind = 'blessed'`, out.runId)).toBe(1);
  });

  it('fails a unit out of spec at that step, names the value and the limit, sends FAIL and does not bless', async () => {
    const r = rig();
    const { nest, console } = await simulatedDut();
    await insert(nest, console, { outOfSpec: new Set(['VBAT']) });
    const out = await r.run(console, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Battery voltage');
    expect(out.reason).toMatch(/^3\.\d+ V below low 3\.4 V$/);
    expect(console.commands).toEqual(['IDENT', 'MEAS VBAT', 'FAIL BATTERY_VOLTAGE']);
    expect(console.commands).not.toContain('BLESS');
    expect(nest.currentUnit?.blessed).toBe(false);
    const db = r.db();
    expect(steps(db, out.runId).map((s) => s.status)).toEqual(['pass', 'fail', 'skipped']);
    expect(db.prepare(`SELECT outcome FROM measurements WHERE run_id = ? AND step_index = 1`).get(out.runId)).toEqual({ outcome: 'fail' });
    expect(db.prepare(`SELECT status, fail_step FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'failed', fail_step: 'Battery voltage' });
    expect(db.prepare(`SELECT status, blessed_at FROM devices`).get()).toEqual({ status: 'failed', blessed_at: null });
    expect(count(db, `SELECT count(*) AS n FROM outbox WHERE kind = 'failed'`)).toBe(1);
  });

  it('with stopOnFailure false runs the remaining steps after a failure but still does not bless', async () => {
    const r = rig();
    const { nest, console } = await simulatedDut();
    await insert(nest, console, { outOfSpec: new Set(['VBAT']) });
    const out = await r.run(console, compileSmallSequence({ stopOnFailure: false }));
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Battery voltage');
    expect(console.commands).toEqual(['IDENT', 'MEAS VBAT', 'MEAS V3V3', 'SELFTEST FLASH', 'FAIL BATTERY_VOLTAGE']);
    // the bless step is recorded as skipped, saying why
    expect(steps(r.db(), out.runId).map((s) => s.status)).toEqual(['pass', 'fail', 'pass', 'pass', 'skipped']);
    expect(nest.currentUnit?.blessed).toBe(false);
  });

  it('reports the first failure when several steps fail', async () => {
    const r = rig();
    const { nest, console } = await simulatedDut();
    await insert(nest, console, { outOfSpec: new Set(['V3V3', 'FLASH']) });
    const out = await r.run(console, compileSmallSequence({ stopOnFailure: false }));
    expect(out.failStep).toBe('3V3 rail');
    expect(steps(r.db(), out.runId).map((s) => s.status)).toEqual(['pass', 'pass', 'fail', 'fail', 'skipped']);
  });

  it('marks a second blessing of the same unit as rework and counts the attempt', async () => {
    const r = rig();
    const { nest, console } = await simulatedDut();
    const seq = compileSmallSequence();
    const first = await r.run(console, seq);
    expect(first.verdict).toBe('blessed');
    const unit = nest.currentUnit;
    if (!unit) throw new Error('no unit in the nest');
    const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
    nest.insertUnit(unit as Parameters<SimulatedNest['insertUnit']>[0]); // the operator puts the same unit back
    await ready;
    const second = await r.run(console, seq);
    expect(second.verdict).toBe('blessed');
    expect(second.rework).toBe(true);
    expect(second.attempt).toBe(2);
    expect(r.store.stats().devicesBlessed).toBe(1);
    expect(r.store.stats().reworkBlessings).toBe(1);
  });
});

describe('SequenceRunner with a scripted DUT', () => {
  it('retries a failing step and passes it with attempts = 2', async () => {
    const r = rig();
    const def = smallSequenceDef();
    ((def.steps as Record<string, unknown>[])[1] as Record<string, unknown>).retries = 2;
    const dut = passingScript().on('MEAS VBAT', 'v=3.100 unit=V', 'v=3.700 unit=V');
    const out = await r.run(dut, compileSmallSequence({ steps: def.steps }));
    expect(out.verdict).toBe('blessed');
    expect(dut.commands.filter((c) => c === 'MEAS VBAT')).toHaveLength(2);
    const vbat = steps(r.db(), out.runId)[1];
    expect(vbat).toMatchObject({ status: 'pass', attempts: 2 });
    // What went wrong on the first attempt is kept, so flaky steps show.
    expect(vbat?.message).toContain('3.1 V below low 3.4 V');
  });

  it('gives up after the configured retries and fails with attempts = retries + 1', async () => {
    const r = rig();
    const def = smallSequenceDef();
    ((def.steps as Record<string, unknown>[])[1] as Record<string, unknown>).retries = 2;
    const dut = passingScript().on('MEAS VBAT', 'v=3.100 unit=V');
    const out = await r.run(dut, compileSmallSequence({ steps: def.steps }));
    expect(out.verdict).toBe('failed');
    expect(dut.commands.filter((c) => c === 'MEAS VBAT')).toHaveLength(3);
    expect(steps(r.db(), out.runId)[1]).toMatchObject({ status: 'fail', attempts: 3 });
  });

  it('passes a marginal reading and records it as marginal', async () => {
    const r = rig();
    const dut = passingScript().on('MEAS VBAT', 'v=3.450 unit=V');
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('blessed');
    const row = steps(r.db(), out.runId)[1];
    expect(row?.status).toBe('marginal');
    expect(row?.message).toContain('marginal band below 3.5 V');
  });

  it('fails a step whose answer does not match the capture, quoting the answer', async () => {
    const r = rig();
    const dut = passingScript().on('MEAS VBAT', 'volts=3.7');
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.reason).toBe('answer "volts=3.7" does not match /v=(-?[0-9.]+)/');
  });

  it('fails a step the DUT refuses with ERR, naming the code', async () => {
    const r = rig();
    const dut = passingScript().on('SELFTEST FLASH', new RequestError('rejected', 'DUT refused "SELFTEST FLASH" with BAD_ARG', 'BAD_ARG'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Flash self-test');
    expect(out.reason).toContain('BAD_ARG');
    expect(steps(r.db(), out.runId)[3]?.status).toBe('fail');
  });

  it('records a step that timed out as an error and fails the unit', async () => {
    const r = rig();
    const dut = passingScript().on('MEAS V3V3', new RequestError('timeout', 'no answer to "MEAS V3V3" within 2000 ms'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('no answer to "MEAS V3V3"');
    expect(steps(r.db(), out.runId)[2]?.status).toBe('error');
    expect(dut.commands).toContain('FAIL 3V3_RAIL');
  });

  it('still finishes the run failed when the DUT does not acknowledge FAIL', async () => {
    const r = rig();
    const dut = passingScript().on('MEAS VBAT', 'v=1.000').on('FAIL', new RequestError('timeout', 'no answer to FAIL'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(r.db().prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'failed' });
  });

  it('rejects an all-zero Device ID with a clear reason and stores no device', async () => {
    const r = rig();
    const dut = passingScript().on('IDENT', 'id=0000000000000000 mac=0c2a69123456 blessed=0');
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Identify');
    expect(out.reason).toContain('identity rejected');
    expect(out.reason).toContain('all zeros');
    expect(out.identity).toBeNull();
    expect(dut.commands).toEqual(['IDENT', 'FAIL IDENTIFY']);
    const db = r.db();
    expect(count(db, `SELECT count(*) AS n FROM devices`)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
    expect(db.prepare(`SELECT device_id, status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ device_id: null, status: 'failed' });
  });

  it('rejects a Device ID of the wrong length or with non-hex characters, quoting it escaped', async () => {
    const r = rig();
    const dut = passingScript().on('IDENT', 'id=0c2a69ffee00123\x07 mac=0c2a69123456');
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('Device ID must be 16 hex characters');
    expect(out.reason).toContain('"0c2a69ffee00123\\x07"');
    expect(count(r.db(), `SELECT count(*) AS n FROM devices`)).toBe(0);
  });

  it('rejects a cellular unit whose ICCID fails the Luhn check and stores no device', async () => {
    const r = rig();
    const body = '891004234814455936';
    const good = body + luhnCheckDigit(body);
    const bad = body + String((Number(luhnCheckDigit(body)) + 1) % 10);
    const dut = passingScript().on('IDENT', `${GOOD_ID} iccid=${bad} imei=490154203237518`);
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('ICCID check digit is wrong (Luhn)');
    expect(out.reason).toContain(bad);
    expect(count(r.db(), `SELECT count(*) AS n FROM devices`)).toBe(0);
    // The same unit with the right digit is accepted and its identity stored normalised.
    const ok = await r.run(passingScript().on('IDENT', `${GOOD_ID} iccid=${good} imei=490154203237518`), compileSmallSequence());
    expect(ok.verdict).toBe('blessed');
    expect(ok.identity).toEqual({ deviceId: '0c2a69ffee001234', mac: '0c2a69123456', iccid: good, imei: '490154203237518' });
  });

  it('rejects a missing MAC, and a cellular unit without an IMEI when the step requires cellular', async () => {
    const r = rig();
    const noMac = await r.run(passingScript().on('IDENT', 'id=0c2a69ffee001234'), compileSmallSequence());
    expect(noMac.reason).toContain('no MAC (mac=) in the answer');
    const def = smallSequenceDef();
    ((def.steps as Record<string, unknown>[])[0] as Record<string, unknown>).requireCellular = true;
    const noCell = await r.run(passingScript(), compileSmallSequence({ steps: def.steps }));
    expect(noCell.verdict).toBe('failed');
    expect(noCell.reason).toContain('no ICCID');
    expect(noCell.reason).toContain('no IMEI');
  });

  it('ends "interrupted" when the run is aborted mid-step: no FAIL, no outbox row, run interrupted', async () => {
    const r = rig();
    const ac = new AbortController();
    const dut = passingScript().on('MEAS V3V3', hangUntilAborted);
    const running = r.run(dut, compileSmallSequence(), ac.signal);
    await waitFor('the V3V3 request', () => dut.commands.includes('MEAS V3V3'), { timeoutMs: 5000, intervalMs: 2 });
    ac.abort('the DUT rebooted during the test');
    const out = await running;
    expect(out.verdict).toBe('interrupted');
    expect(out.reason).toBe('the DUT rebooted during the test');
    expect(dut.commands).not.toContain('BLESS');
    expect(dut.commands.some((c) => c.startsWith('FAIL'))).toBe(false);
    const db = r.db();
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'interrupted' });
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
    expect(db.prepare(`SELECT status, blessed_at FROM devices`).get()).toEqual({ status: 'interrupted', blessed_at: null });
  });

  it('ends "interrupted" during a delay step when aborted', async () => {
    const r = rig();
    const def = smallSequenceDef();
    (def.steps as unknown[]).splice(1, 0, { type: 'delay', name: 'Settle', ms: 600_000 });
    const ac = new AbortController();
    const dut = passingScript();
    const started = nextEvent(r.bus, 'run.step', (s) => s.result.name === 'Identify');
    const running = r.run(dut, compileSmallSequence({ steps: def.steps }), ac.signal);
    await started;
    ac.abort('shutdown');
    const out = await running;
    expect(out.verdict).toBe('interrupted');
    expect(count(r.db(), `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });

  it('ends "interrupted" when the DUT console disconnects mid-run, without retrying the step', async () => {
    const r = rig();
    const def = smallSequenceDef();
    ((def.steps as Record<string, unknown>[])[1] as Record<string, unknown>).retries = 3;
    const dut = passingScript().on('MEAS VBAT', new RequestError('disconnected', 'DUT console fake:0 disconnected: port closed'));
    const out = await r.run(dut, compileSmallSequence({ steps: def.steps }));
    expect(out.verdict).toBe('interrupted');
    expect(out.reason).toContain('disconnected');
    expect(out.recordId).toBeNull();
    expect(dut.commands).toEqual(['IDENT', 'MEAS VBAT']);
    const db = r.db();
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'interrupted' });
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });

  it('never blesses when the bless command itself is cut off by a disconnect', async () => {
    const r = rig();
    const dut = passingScript().on('BLESS', new RequestError('disconnected', 'cable pulled'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('interrupted');
    expect(r.store.stats().devicesBlessed).toBe(0);
    expect(count(r.db(), `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });

  // A DUT that answers BLESS with ERR (or garbage, or not at all) did not confirm it committed its
  // production identity: the run must end with a verdict that is not "blessed", never stay open.
  it('finishes the run failed (not left running) when the DUT refuses BLESS, and tells the DUT FAIL', async () => {
    const r = rig();
    const dut = passingScript().on('BLESS', new RequestError('rejected', 'DUT refused "BLESS" with LOCKED', 'LOCKED'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Bless');
    expect(out.reason).toContain('LOCKED');
    expect(dut.commands.at(-1)).toBe('FAIL BLESS');
    const db = r.db();
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'failed' });
    expect(steps(db, out.runId)[4]?.status).not.toBe('pass');
    expect(r.store.stats().devicesBlessed).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM outbox WHERE kind = 'blessed'`)).toBe(0);
  });

  it('finishes the run failed when BLESS gets no answer', async () => {
    const r = rig();
    const dut = passingScript().on('BLESS', new RequestError('timeout', 'no answer to "BLESS" within 2000 ms'));
    const out = await r.run(dut, compileSmallSequence());
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('no answer to "BLESS"');
    expect(r.db().prepare(`SELECT status FROM runs WHERE run_id = ?`).get(out.runId)).toEqual({ status: 'failed' });
  });

  it('closes the run failed, naming a station error, when the station itself throws mid-run', async () => {
    const r = rig();
    const seq = compileSmallSequence();
    r.store.registerSequence(seq);
    const runId = randomUUID();
    const out = await r.runner.run({
      runId,
      slot: 0,
      console: passingScript(),
      sequence: seq,
      signal: new AbortController().signal,
      onStep: (index) => {
        if (index === 2) throw new Error('slot state exploded');
      },
      onIdentified: () => undefined,
      onVerdictSent: () => undefined,
    });
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('slot state exploded');
    expect(r.db().prepare(`SELECT status FROM runs WHERE run_id = ?`).get(runId)).toEqual({ status: 'failed' });
    expect(r.store.stats().devicesBlessed).toBe(0);
  });

  it('emits run.started, one run.step per step, then run.finished with the verdict', async () => {
    const r = rig();
    const events: string[] = [];
    r.bus.on('run.started', () => events.push('started'));
    r.bus.on('run.step', (e) => events.push(`step ${e.result.index} ${e.result.status}`));
    r.bus.on('run.finished', (e) => events.push(`finished ${e.verdict}`));
    await r.run(passingScript(), compileSmallSequence());
    expect(events).toEqual(['started', 'step 0 pass', 'step 1 pass', 'step 2 pass', 'step 3 pass', 'step 4 pass', 'finished blessed']);
  });

  it('emits run.finished only once the outbox row is committed to the database file', async () => {
    const r = rig();
    const seen: { verdict: string; outboxRows: number; runStatus: unknown; recordId: string | null }[] = [];
    r.bus.on('run.finished', (e: StationEvents['run.finished']) => {
      const conn = new Database(r.store.dbPath, { readonly: true });
      try {
        seen.push({
          verdict: e.verdict,
          outboxRows: count(conn, `SELECT count(*) AS n FROM outbox WHERE run_id = ? AND record_id = ?`, e.runId, e.recordId),
          runStatus: (conn.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(e.runId) as { status: string } | undefined)?.status,
          recordId: e.recordId,
        });
      } finally {
        conn.close();
      }
    });
    await r.run(passingScript(), compileSmallSequence());
    await r.run(passingScript().on('MEAS VBAT', 'v=9.000'), compileSmallSequence());
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ verdict: 'blessed', outboxRows: 1, runStatus: 'blessed' });
    expect(seen[1]).toMatchObject({ verdict: 'failed', outboxRows: 1, runStatus: 'failed' });
    expect(seen.every((s) => s.recordId !== null)).toBe(true);
  });
});

describe('SequenceRunner on a failing disk', () => {
  it('a blessing whose verdict cannot be stored (the disk fails at its commit) is not claimed, and not recorded failed either', async () => {
    const r = rig();
    const faults = sqliteFaults();
    cleanups.push(() => faults.heal());
    const finished: StationEvents['run.finished'][] = [];
    r.bus.on('run.finished', (e) => finished.push(e));
    const seq = compileSmallSequence();
    r.store.registerSequence(seq);
    const runId = randomUUID();
    const dut = passingScript();
    const run = r.runner.run({
      runId,
      slot: 0,
      console: dut,
      sequence: seq,
      signal: new AbortController().signal,
      onStep: (_index, step) => {
        // One failed fsync at the verdict's commit; the disk works again after it (so a "failed"
        // written over the blessing that could not be stored would be stored: it must not be).
        if (step.type === 'bless') faults.failWith('SQLITE_IOERR_FSYNC', /^COMMIT/, 1);
      },
      onIdentified: () => undefined,
      onVerdictSent: () => undefined,
    });
    await expect(run).rejects.toMatchObject({ code: 'SQLITE_IOERR_FSYNC' });
    faults.heal();
    expect(finished, 'nobody heard of a verdict').toEqual([]);
    expect(r.store.faults.current?.code).toBe('SQLITE_IOERR_FSYNC');
    // No verdict stored: the run is open (marked interrupted at the next start) or, begun in the
    // same turn as the failed commit, not stored at all; no device, no record.
    const db = r.db();
    expect(count(db, `SELECT count(*) AS n FROM runs WHERE run_id = ? AND status <> 'running'`, runId)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM devices`)).toBe(0);
    expect(count(db, `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });
});

describe('SequenceRunner prompts', () => {
  function promptSequence(): CompiledSequence {
    const def = smallSequenceDef();
    (def.steps as unknown[]).splice(1, 0, { type: 'prompt', name: 'LED check', text: 'Is the status LED green?', answers: ['yes', 'no'], pass: ['yes'] });
    return compileSmallSequence({ steps: def.steps });
  }

  it('passes the prompt step when the operator answers with a passing answer', async () => {
    const r = rig();
    r.bus.on('prompt.opened', (p) => r.prompts.answer(p.promptId, 'yes'));
    const out = await r.run(passingScript(), promptSequence());
    expect(out.verdict).toBe('blessed');
    expect(steps(r.db(), out.runId)[1]).toMatchObject({ name: 'LED check', status: 'pass' });
    expect(r.prompts.list()).toEqual([]);
  });

  it('fails the unit when the operator answers with a failing answer', async () => {
    const r = rig();
    r.bus.on('prompt.opened', (p) => r.prompts.answer(p.promptId, 'no'));
    const dut = passingScript();
    const out = await r.run(dut, promptSequence());
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('LED check');
    expect(out.reason).toBe('operator answered "no"');
    expect(dut.commands).toContain('FAIL LED_CHECK');
  });

  it('refuses an answer that is not one of the prompt\u2019s answers, naming them, and keeps the prompt open', async () => {
    const r = rig();
    const opened = nextEvent(r.bus, 'prompt.opened');
    const running = r.run(passingScript(), promptSequence());
    const prompt = await opened;
    expect(prompt.text).toBe('Is the status LED green?');
    expect(prompt.answers).toEqual(['yes', 'no']);
    let error: unknown = null;
    try {
      r.prompts.answer(prompt.promptId, 'maybe');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PromptError);
    expect((error as Error).message).toContain('"maybe"');
    expect((error as Error).message).toContain('yes, no');
    expect(r.prompts.list().map((p) => p.promptId)).toEqual([prompt.promptId]);
    r.prompts.answer(prompt.promptId, 'yes');
    expect((await running).verdict).toBe('blessed');
    expect(() => r.prompts.answer(prompt.promptId, 'yes')).toThrow(/is not open/);
  });

  it('withdraws the open prompt and ends interrupted when the run is aborted while waiting', async () => {
    const r = rig();
    const ac = new AbortController();
    const opened = nextEvent(r.bus, 'prompt.opened');
    const closed = nextEvent(r.bus, 'prompt.closed');
    const running = r.run(passingScript(), promptSequence(), ac.signal);
    const prompt = await opened;
    ac.abort('operator pressed stop');
    expect(await closed).toEqual({ promptId: prompt.promptId, slot: 0, answer: null });
    const out = await running;
    expect(out.verdict).toBe('interrupted');
    expect(r.prompts.list()).toEqual([]);
    expect(count(r.db(), `SELECT count(*) AS n FROM outbox`)).toBe(0);
  });
});
