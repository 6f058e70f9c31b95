// Runs as OpenHTF test records (station/records/openhtf.ts). Real runs (the sequence runner on a real
// store with a scripted DUT), read back as GET /api/runs/:id shows them, converted, and checked
// against rules written from OpenHTF's own source (test/support/openhtf-rules.ts, each rule citing
// where in google/openhtf it comes from).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestError } from '../../drivers/transport/request-error.js';
import { StationBus } from '../../station/events.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner } from '../../station/line/runner.js';
import { silentLogger } from '../../station/log.js';
import { openHtfRecord, openHtfUnit, openHtfValidators, pythonNumber, type RunView } from '../../station/records/openhtf.js';
import { loadSequence } from '../../station/sequence/sequence.js';
import { Store } from '../../station/store/store.js';
import { hangUntilAborted, ScriptedConsole, TempDirs, type ScriptedAnswer } from '../support/unit-fakes.js';
import { openHtfProblems } from '../support/openhtf-rules.js';
import { waitFor } from '../support/wait.js';

// ---- real runs -----------------------------------------------------------------------------

const dirs = new TempDirs();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
  dirs.cleanup();
});

const SEQUENCE = {
  name: 'openhtf-test-sequence',
  stopOnFailure: true,
  defaultTimeoutMs: 2000,
  steps: [
    { type: 'identify', name: 'Identify', deviceIdHexLength: 16 },
    { type: 'measure', name: 'Battery voltage', command: 'MEAS VBAT', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: 3.4, high: 4.2, marginalLow: 3.5, marginalHigh: 4.1 } },
    {
      type: 'group',
      name: 'Rail check',
      repeat: { max: 2, until: 'pass' },
      steps: [{ type: 'measure', name: '3V3 rail', command: 'MEAS V3V3', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'equals', value: 3.3, tolerance: 0.1 } }],
    },
    { type: 'measure', name: 'Flash self-test', command: 'SELFTEST FLASH', capture: 'result=([A-Z]+)', as: 'string', limit: { kind: 'equals', value: 'PASS' } },
    { type: 'measure', name: 'Sleep current', command: 'MEAS ISLEEP', capture: 'i=([0-9.e-]+)', unit: 'µA', limit: { kind: 'range', low: 0, high: 2e-5 } },
    { type: 'bless', name: 'Bless' },
  ],
};

async function runOf(answers: Record<string, ScriptedAnswer | ScriptedAnswer[]>, opts: { abortWhen?: (c: ScriptedConsole) => boolean } = {}): Promise<RunView> {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const runner = new SequenceRunner({ store, bus, prompts: new PromptBroker(bus), log: silentLogger(), stationId: 'line1-st3', mode: 'production', failCommandTimeoutMs: 200 });
  const seq = loadSequence(SEQUENCE, 'openhtf-test');
  store.registerSequence(seq);
  const console = new ScriptedConsole({
    IDENT: 'id=0c2a69ffee001234 mac=0c:2a:69:12:34:56 fw=factory-2.3.1 blessed=0',
    'MEAS VBAT': 'v=3.712 unit=V',
    'MEAS V3V3': 'v=3.301 unit=V',
    'SELFTEST FLASH': 'result=PASS',
    'MEAS ISLEEP': 'i=0.0000051',
    BLESS: 'blessed=1',
    FAIL: 'led=RED',
    ...answers,
  });
  const abort = new AbortController();
  const runId = randomUUID();
  const running = runner.run({ runId, slot: 2, console, sequence: seq, signal: abort.signal, onStep: () => undefined, onIdentified: () => undefined, onVerdictSent: () => undefined });
  if (opts.abortWhen) {
    await waitFor('the moment to interrupt the run', () => opts.abortWhen?.(console));
    abort.abort('the DUT cable was pulled');
  }
  await running;
  store.flush();
  return store.getRun(runId) as RunView;
}

const STATION = { id: 'line1-st3', name: 'Line 1 / Station 3', version: '0.1.0' };

describe('a run as an OpenHTF test record', () => {
  it('a blessed run with a marginal measurement and a group passed on its second attempt: PASS, marginal, the first attempt SKIP (REPEAT)', async () => {
    const run = await runOf({ 'MEAS VBAT': 'v=3.45 unit=V', 'MEAS V3V3': ['v=3.55 unit=V', 'v=3.31 unit=V'] });
    expect(run.status).toBe('blessed');
    const record = openHtfRecord(run, STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record).toMatchObject({ dut_id: '0c2a69ffee001234', station_id: 'line1-st3', outcome: 'PASS', marginal: true, outcome_details: [] });
    expect(record.start_time_millis).toBe(Date.parse(run.startedAt));
    expect(record.end_time_millis).toBe(Date.parse(run.endedAt as string));
    expect(record.metadata).toMatchObject({
      test_name: 'openhtf-test-sequence',
      sequence_name: 'openhtf-test-sequence',
      sequence_hash: run.sequence.hash,
      run_id: run.runId,
      slot: 2,
      station_name: 'Line 1 / Station 3',
    });
    expect(record.phases.map((ph) => [ph.name, ph.outcome, ph.subtest_name, ph.result.phase_result, ph.marginal])).toEqual([
      ['Identify', 'PASS', null, 'CONTINUE', false],
      ['Battery voltage', 'PASS', null, 'CONTINUE', true],
      ['3V3 rail', 'SKIP', 'Rail check', 'REPEAT', false],
      ['3V3 rail', 'PASS', 'Rail check', 'CONTINUE', false],
      ['Flash self-test', 'PASS', null, 'CONTINUE', false],
      ['Sleep current', 'PASS', null, 'CONTINUE', false],
      ['Bless', 'PASS', null, 'CONTINUE', false],
    ]);
    expect(record.subtests).toEqual([expect.objectContaining({ name: 'Rail check', outcome: 'PASS', marginal: false })]);
    const battery = record.phases[1]?.measurements['Battery voltage'];
    expect(battery).toEqual({
      name: 'Battery voltage',
      outcome: 'PASS',
      validators: ['3.4 <= Marginal:3.5 <= x <= Marginal:4.1 <= 4.2'],
      units: { name: 'volt', code: 'VLT', suffix: 'V' },
      measured_value: 3.45,
    });
    // The repeated attempt keeps its failed measurement, as OpenHTF keeps a repeated phase's.
    expect(record.phases[2]?.measurements['3V3 rail']).toMatchObject({ outcome: 'FAIL', measured_value: 3.55, validators: ['3.1999999999999997 <= x <= 3.4'] });
    expect(record.phases[4]?.measurements['Flash self-test']).toEqual({ name: 'Flash self-test', outcome: 'PASS', validators: ["'x' matches /^PASS$/"], measured_value: 'PASS' });
    expect(record.phases[5]?.measurements['Sleep current']).toMatchObject({ validators: ['0 <= x <= 2e-05'], units: { name: 'microampere', code: 'B84', suffix: 'µA' } });
    expect(record.log_records.map((l) => [l.level, l.logger_name, l.message])).toEqual([
      [30, `openhtf.test_record.${run.runId}.phase.Battery voltage`, '3.45 V in the marginal band below 3.5 V'],
      [40, `openhtf.test_record.${run.runId}.phase.3V3 rail`, '3.55 V is not 3.3 V ± 0.1'],
      [20, `openhtf.test_record.${run.runId}.phase.Rail check`, expect.stringMatching(/^passed on attempt 2 of 2/)],
    ]);
  });

  it('a unit failed by a measurement out of its limit: FAIL, the failed phase and measurement FAIL, the blessing SKIP', async () => {
    const run = await runOf({ 'MEAS ISLEEP': 'i=0.000397' });
    expect(run.status).toBe('failed');
    const record = openHtfRecord(run, STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.outcome).toBe('FAIL');
    expect(record.marginal).toBeNull();
    expect(record.outcome_details).toEqual([{ code: 'Sleep current', description: run.reason }]);
    const [sleep, bless] = record.phases.slice(-2);
    expect(sleep).toMatchObject({ name: 'Sleep current', outcome: 'FAIL', result: { phase_result: 'CONTINUE' } });
    expect(sleep?.measurements['Sleep current']).toMatchObject({ outcome: 'FAIL', measured_value: 0.000397 });
    expect(bless).toMatchObject({ name: 'Bless', outcome: 'SKIP', result: { phase_result: 'SKIP' }, measurements: {} });
  });

  it('a group that failed every attempt: FAIL, its subtest FAIL, only its last attempt FAIL', async () => {
    const record = openHtfRecord(await runOf({ 'MEAS V3V3': 'v=3.9 unit=V' }), STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.outcome).toBe('FAIL');
    expect(record.subtests).toEqual([expect.objectContaining({ name: 'Rail check', outcome: 'FAIL' })]);
    expect(record.phases.filter((ph) => ph.subtest_name === 'Rail check').map((ph) => ph.outcome)).toEqual(['SKIP', 'FAIL']);
  });

  it('a unit failed because it did not answer: ERROR, the phase ERROR with what went wrong', async () => {
    const run = await runOf({ 'MEAS VBAT': new RequestError('timeout', 'no answer to "MEAS VBAT" within 2000 ms') });
    expect(run.status).toBe('failed');
    const record = openHtfRecord(run, STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.outcome).toBe('ERROR');
    expect(record.outcome_details).toEqual([{ code: 'Battery voltage', description: 'no answer to "MEAS VBAT" within 2000 ms' }]);
    expect(record.phases[1]).toMatchObject({ outcome: 'ERROR', result: { phase_result: { exc_type: "<class 'StepError'>", exc_val: 'no answer to "MEAS VBAT" within 2000 ms', exc_tb: '' } } });
  });

  it('an interrupted run: ABORTED, the step cut short ERROR, no verdict phase', async () => {
    const run = await runOf({ 'SELFTEST FLASH': hangUntilAborted }, { abortWhen: (c) => c.commands.includes('SELFTEST FLASH') });
    expect(run.status).toBe('interrupted');
    const record = openHtfRecord(run, STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.outcome).toBe('ABORTED');
    expect(record.outcome_details).toEqual([{ code: 'ABORTED', description: 'the DUT cable was pulled' }]);
    expect(record.phases.at(-1)).toMatchObject({ name: 'Flash self-test', outcome: 'ERROR', result: { phase_result: 'the DUT cable was pulled' } });
    expect(record.phases.map((ph) => ph.name)).not.toContain('Bless');
  });

  it('a run the station could not identify: no dut_id', async () => {
    const record = openHtfRecord(await runOf({ IDENT: 'id=nothex mac=zz' }), STATION);
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.dut_id).toBeNull();
    expect(record.outcome).toBe('FAIL');
  });

  it('keeps the MES answer in the metadata, and nothing of the station’s configuration', () => {
    const run: RunView = {
      runId: randomUUID(),
      slot: 0,
      deviceId: '0c2a69ffee001234',
      status: 'failed',
      mode: 'production',
      attempt: 1,
      rework: false,
      sequence: { name: 's', hash: 'a'.repeat(64) },
      startedAt: '2026-12-03T12:19:51.624Z',
      endedAt: '2026-12-03T12:19:52.000Z',
      failStep: 'MES route',
      reason: 'on QA hold',
      variant: null,
      steps: [
        {
          index: 1,
          name: 'MES route',
          type: 'interlock',
          status: 'fail',
          attempts: 1,
          startedAt: '2026-12-03T12:19:51.700Z',
          durationMs: 12.4,
          message: 'on QA hold',
          measurements: [
            { name: 'mes.allowed', value: 'false', unit: null, outcome: 'fail', limit: { kind: 'equals', value: 'true' } },
            { name: 'mes.reason', value: 'on QA hold', unit: null, outcome: 'fail', limit: null },
          ],
        },
      ],
      mes: { allowed: false, reason: 'on QA hold', review: null },
    };
    const record = openHtfRecord(run, { id: 'st' });
    expect(openHtfProblems(record)).toEqual([]);
    expect(record.metadata.mes).toEqual({ allowed: false, reason: 'on QA hold', review: null });
    expect(record.phases[0]).toMatchObject({ outcome: 'FAIL', result: { phase_result: 'CONTINUE' }, end_time_millis: Date.parse('2026-12-03T12:19:51.712Z') });
    expect(record.phases[0]?.measurements['mes.allowed']).toEqual({ name: 'mes.allowed', outcome: 'FAIL', validators: ["'x' matches /^true$/"], measured_value: 'false' });
    expect(Object.keys(record.metadata)).not.toContain('config');
  });
});

describe('OpenHTF value shapes', () => {
  it('writes numbers as Python str() does (validators are recorded as str(validator))', () => {
    // Each expected text is Python 3's str() of the same float.
    const cases: [number, string][] = [
      [0.005, '0.005'],
      [2e-5, '2e-05'],
      [1e-4, '0.0001'],
      [3.3 - 0.01, '3.29'],
      [1e16, '1e+16'],
      [1.5e-7, '1.5e-07'],
      [-0.5, '-0.5'],
      [123456.789, '123456.789'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1e22, '1e+22'],
      [-2.5e-10, '-2.5e-10'],
      [99999.99999, '99999.99999'],
      [5, '5'],
      [Infinity, 'inf'],
    ];
    expect(cases.map(([n]) => pythonNumber(n))).toEqual(cases.map(([, s]) => s));
  });

  it('writes limits as the validators OpenHTF would judge by, and units as its UnitDescriptors', () => {
    expect(openHtfValidators({ kind: 'range', low: 3.2, high: 3.4 })).toEqual(['3.2 <= x <= 3.4']);
    expect(openHtfValidators({ kind: 'range', high: 0.03 })).toEqual(['x <= 0.03']);
    expect(openHtfValidators({ kind: 'equals', value: 5 })).toEqual(['x == 5']);
    // Python's re.escape('PASS v1.2 (ok)-#&~ x'), as equals(text) builds its regex.
    expect(openHtfValidators({ kind: 'equals', value: 'PASS v1.2 (ok)-#&~ x' })).toEqual(["'x' matches /^PASS\\ v1\\.2\\ \\(ok\\)\\-\\#\\&\\~\\ x$/"]);
    expect(openHtfValidators({ kind: 'regex', pattern: '^fw-[0-9]+' })).toEqual(["'x' matches /^fw-[0-9]+/"]);
    expect(openHtfValidators(null)).toEqual([]);
    expect(openHtfUnit('A')).toEqual({ name: 'ampere', code: 'AMP', suffix: 'A' });
    expect(openHtfUnit('Ohm')).toEqual({ name: 'ohm', code: 'OHM', suffix: '\u2126' });
    expect(openHtfUnit('lux')).toEqual({ name: 'lux', code: 'LUX', suffix: 'lx' });
    expect(openHtfUnit('%')).toEqual({ name: 'percent', code: 'P1', suffix: '%' });
    expect(openHtfUnit('C')).toEqual({ name: 'C', code: null, suffix: 'C' });
  });
});
