// The MES interlock (docs/mes.md): the station's MES client against the reference MES over real
// HTTP on loopback, and the interlock step run by the real sequence runner on a real store with a
// scripted DUT: allowed, refused with its reason, the MES unreachable under each offline policy,
// an answer not of the contract's shape, timeouts, an interrupted wait; the result report the
// future `mes` sink will send, and the rules that place an interlock step in a sequence.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MesClient, MesReportError, MesUnreachable } from '../../drivers/mes/client.js';
import type { ResultReport } from '../../drivers/mes/contract.js';
import { mesConfigSchema } from '../../drivers/mes/options.js';
import { ReferenceMes, RouteTableError, type RouteTable } from '../../drivers/mes/reference-mes.js';
import { ConfigError, parseConfig } from '../../station/config/load.js';
import { StationBus } from '../../station/events.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner } from '../../station/line/runner.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { capabilitiesFromConfig, checkSequence } from '../../station/server/sequence-check.js';
import { loadSequence, SequenceError } from '../../station/sequence/sequence.js';
import type { MesRouting } from '../../station/sequence/step-kind.js';
import { mesAnswerOfRun } from '../../station/sequence/steps/interlock.js';
import { Store } from '../../station/store/store.js';
import { coreConfig } from '../support/configs.js';
import { captureStream, rejectionOf, ScriptedConsole, smallSequenceDef, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  dirs.cleanup();
});

const UNIT = '0c2a69ffee001234';
const OTHER = '0c2a69ffee00abcd';

async function startMes(opts: { routes?: RouteTable; routesFile?: string; apiKey?: string } = {}): Promise<ReferenceMes> {
  const mes = new ReferenceMes({ dbPath: path.join(dirs.make(), 'mes.db'), ...opts });
  await mes.start();
  cleanups.push(() => mes.stop());
  return mes;
}

function client(mes: ReferenceMes, opts: Partial<ConstructorParameters<typeof MesClient>[0]> = {}): MesClient {
  return new MesClient({ url: mes.url, stationId: 'line1-st3', operation: 'final-test', timeoutMs: 1000, retries: 2, backoff: { initialMs: 10, maxMs: 20 }, log: silentLogger(), ...opts });
}

const signal = (): AbortSignal => new AbortController().signal;

const ROUTES: RouteTable = {
  default: { allowed: false, reason: 'unit not routed to this operation' },
  operations: {
    'final-test': {
      default: { allowed: true, reason: 'routed: final-test' },
      units: { [OTHER]: { allowed: false, reason: 'Failed ICT at ict-2: send to rework bench 4' } },
    },
  },
};

describe('the MES client against the reference MES', () => {
  it('asks the route of a unit for its operation and station, and gets the route table answer', async () => {
    const mes = await startMes({ routes: ROUTES });
    const c = client(mes);
    expect(await c.route(UNIT, { signal: signal() })).toEqual({ allowed: true, reason: 'routed: final-test' });
    expect(await c.route(OTHER, { signal: signal() })).toEqual({ allowed: false, reason: 'Failed ICT at ict-2: send to rework bench 4' });
    expect(await client(mes, { operation: 'burn-in' }).route(UNIT, { signal: signal() })).toEqual({ allowed: false, reason: 'unit not routed to this operation' });
    expect(mes.queries.map((q) => [q.deviceId, q.operation, q.station])).toEqual([
      [UNIT, 'final-test', 'line1-st3'],
      [OTHER, 'final-test', 'line1-st3'],
      [UNIT, 'burn-in', 'line1-st3'],
    ]);
  });

  it('treats an answer not of the contract shape as unreachable, retries it, and logs the outage once with its first bytes escaped', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { garbage: '<html>Gateway \u0007 error</html>' };
    const out = captureStream();
    const outages: ({ cause: string } | null)[] = [];
    const c = client(mes, { log: createLogger({ level: 'debug', destination: out.stream }).log, onOutage: (o) => outages.push(o) });
    const err = await rejectionOf(c.route(UNIT, { signal: signal() }));
    expect(err).toBeInstanceOf(MesUnreachable);
    expect((err as MesUnreachable).message).toMatch(/^an answer not of the contract's shape \(not JSON\) \(3 tries in [\d.]+ s\)$/);
    expect((err as MesUnreachable).tries).toBe(3);
    expect(mes.queries).toHaveLength(3);
    await rejectionOf(c.route(UNIT, { signal: signal() }));
    mes.behaviour = { garbage: '{"allowed":"yes"}' };
    expect(String(await rejectionOf(c.route(UNIT, { signal: signal() })))).toMatch(/allowed: Invalid input: expected boolean/);
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string; firstBytes?: string; cause?: string });
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toBe('MES unreachable');
    expect(warnings[0]?.firstBytes).toBe('"<html>Gateway \\x07 error</html>"');
    expect(outages).toEqual([{ cause: "an answer not of the contract's shape (not JSON)" }]);
    mes.behaviour = {};
    expect((await c.route(UNIT, { signal: signal() })).allowed).toBe(true);
    await c.route(UNIT, { signal: signal() });
    const after = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: number; msg: string; failedTries?: number });
    expect(after.filter((l) => l.msg === 'MES answering again')).toEqual([expect.objectContaining({ level: 30, failedTries: 9 })]);
    expect(outages).toEqual([{ cause: "an answer not of the contract's shape (not JSON)" }, null]);
  });

  it('gives up on a slow MES after each try times out: retries + 1 tries, each bounded by timeoutMs', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { delayMs: 2000 };
    const c = client(mes, { timeoutMs: 150, retries: 1 });
    expect(c.worstCaseMs).toBe(2 * 150 + 20);
    const err = await rejectionOf(c.route(UNIT, { signal: signal() }));
    expect(String(err)).toMatch(/^MesUnreachable: no answer within 150 ms \(2 tries in [\d.]+ s\)$/);
    expect(mes.requestsReceived).toBe(2);
    expect(mes.queries).toHaveLength(0); // neither try was answered
  });

  it('retries an HTTP 503 but not a refused key or a wrong URL, and names the setting to check', async () => {
    const mes = await startMes({ routes: ROUTES, apiKey: 'mes-key-1' });
    const refused = await rejectionOf(client(mes).route(UNIT, { signal: signal() }));
    expect(String(refused)).toMatch(/HTTP 401 \(check mes.apiKey\) \(1 try in/);
    const wrongUrl = await rejectionOf(client(mes, { url: `${mes.url}/mes-api`, apiKey: 'mes-key-1' }).route(UNIT, { signal: signal() }));
    expect(String(wrongUrl)).toMatch(/HTTP 404 \(check mes.url\) \(1 try in/);
    mes.behaviour = { status: 503 };
    const down = await rejectionOf(client(mes, { apiKey: 'mes-key-1' }).route(UNIT, { signal: signal() }));
    expect(String(down)).toMatch(/HTTP 503 \(3 tries in/);
    mes.behaviour = {};
    expect((await client(mes, { apiKey: 'mes-key-1' }).route(UNIT, { signal: signal() })).allowed).toBe(true);
  });

  it('an MES that is not there at all is unreachable: the connection refused, each try', async () => {
    const mes = await startMes({ routes: ROUTES });
    await mes.goDown();
    expect(String(await rejectionOf(client(mes).route(UNIT, { signal: signal() })))).toMatch(/^MesUnreachable: ECONNREFUSED \(3 tries in/);
  });

  it('stops waiting at once when the run is interrupted, with the run’s reason, not as unreachable', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { delayMs: 5000 };
    const abort = new AbortController();
    const asking = client(mes, { timeoutMs: 4000 }).route(UNIT, { signal: abort.signal });
    await waitFor('the MES to receive the query', () => mes.requestsReceived === 1);
    abort.abort(new Error('the station is shutting down'));
    const err = await rejectionOf(asking);
    expect(err).not.toBeInstanceOf(MesUnreachable);
    expect((err as Error).message).toBe('the station is shutting down');
  });

  it('re-reads a route table file when it changes, and keeps the last good table when a new one is bad', async () => {
    const file = path.join(dirs.make(), 'routes.json');
    writeFileSync(file, JSON.stringify({ default: { allowed: false, reason: 'on hold' } }));
    const mes = await startMes({ routesFile: file });
    const c = client(mes);
    expect(await c.route(UNIT, { signal: signal() })).toEqual({ allowed: false, reason: 'on hold' });
    writeFileSync(file, JSON.stringify({ default: { allowed: true, reason: 'released' }, operations: {} }));
    expect(await c.route(UNIT, { signal: signal() })).toEqual({ allowed: true, reason: 'released' });
    writeFileSync(file, '{"default": {"allowed": "maybe"}, "x": 1}');
    expect(await c.route(UNIT, { signal: signal() })).toEqual({ allowed: true, reason: 'released' });
    expect(mes.routesProblem).toMatch(/^route table .*routes\.json not used: route table: /);
    const bad = path.join(dirs.make(), 'bad.json');
    writeFileSync(bad, '{"operations": {"final-test": {"units": {"NOT-HEX": {"allowed": true, "reason": ""}}}}}');
    await expect(new ReferenceMes({ dbPath: path.join(dirs.make(), 'mes.db'), routesFile: bad }).start()).rejects.toThrow(RouteTableError);
  });
});

describe('reporting a result to the MES (the call the uplink’s mes sink will make)', () => {
  function report(overrides: Partial<ResultReport> = {}): ResultReport {
    return {
      recordId: randomUUID(),
      stationId: 'line1-st3',
      operation: 'final-test',
      deviceId: UNIT,
      result: 'fail',
      runId: randomUUID(),
      attempt: 1,
      rework: false,
      sequenceHash: 'a'.repeat(64),
      failStep: 'Battery voltage',
      reason: '3.31 V below low 3.4 V',
      startedAt: '2026-12-03T12:19:51.624Z',
      endedAt: '2026-12-03T12:20:02.351Z',
      review: null,
      ...overrides,
    };
  }

  it('is stored once by its recordId: a resend is accepted as a duplicate, and the MES lists the unit’s results', async () => {
    const mes = await startMes({ apiKey: 'k-9' });
    const c = client(mes, { apiKey: 'k-9' });
    const r = report();
    expect(await c.reportResult(r)).toEqual({ accepted: true, duplicate: false });
    expect(await c.reportResult(r)).toEqual({ accepted: true, duplicate: true });
    const passed = report({ result: 'pass', failStep: null, reason: null, review: 'tested without the MES’s answer (MES unreachable: ECONNREFUSED)' });
    await c.reportResult(passed);
    expect(mes.results(UNIT)).toEqual([r, passed]);
    expect(mes.results(OTHER)).toEqual([]);
  });

  it('says whether a retry can help: the same recordId with other content cannot, an MES error or a garbage answer can', async () => {
    const mes = await startMes();
    const c = client(mes);
    const r = report();
    await c.reportResult(r);
    const conflict = await rejectionOf(c.reportResult({ ...r, reason: 'something else' }));
    expect(conflict).toBeInstanceOf(MesReportError);
    expect(conflict).toMatchObject({ retryable: false, status: 409 });
    mes.behaviour = { status: 503 };
    expect(await rejectionOf(c.reportResult(report()))).toMatchObject({ retryable: true, status: 503 });
    mes.behaviour = { garbage: true };
    const garbage = await rejectionOf(c.reportResult(report()));
    expect(garbage).toMatchObject({ retryable: true, status: 200 });
    expect((garbage as Error).message).toMatch(/answered 200 with not JSON; first bytes "<html>/);
    mes.behaviour = {};
    const notAReport = await rejectionOf(c.reportResult(report({ deviceId: 'NOT-HEX' })));
    expect(notAReport).toMatchObject({ retryable: false, status: null });
    expect(mes.results()).toEqual([r]);
  });
});

// ---- the interlock step in the runner --------------------------------------------------------

const IDENT = `id=${UNIT} mac=0c:2a:69:12:34:56 fw=factory-2.3.1 blessed=0`;

function interlockSequence(overrides: Record<string, unknown> = {}) {
  const def = smallSequenceDef(overrides) as { steps: Record<string, unknown>[] };
  def.steps.splice(1, 0, { type: 'interlock', name: 'MES route' });
  return loadSequence(def, 'unit-test');
}

function dut(ident = IDENT): ScriptedConsole {
  return new ScriptedConsole({ IDENT: ident, 'MEAS VBAT': 'v=3.712 unit=V', 'MEAS V3V3': 'v=3.301 unit=V', 'SELFTEST FLASH': 'result=PASS', BLESS: 'blessed=1', FAIL: 'led=RED' });
}

function routing(c: MesClient | null, offlinePolicy: 'block' | 'allow-and-flag'): MesRouting | null {
  return c && { operation: c.operation, offlinePolicy, route: (id, o) => c.route(id, o) };
}

async function runWith(mes: MesRouting | null, console: ScriptedConsole, opts: { overrides?: Record<string, unknown>; signal?: AbortSignal } = {}) {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const runner = new SequenceRunner({ store, bus, prompts: new PromptBroker(bus), log: silentLogger(), stationId: 'line1-st3', mode: 'production', failCommandTimeoutMs: 300, mes });
  const seq = interlockSequence(opts.overrides);
  store.registerSequence(seq);
  const runId = randomUUID();
  const out = await runner.run({ runId, slot: 0, console, sequence: seq, signal: opts.signal ?? signal(), onStep: () => undefined, onIdentified: () => undefined, onVerdictSent: () => undefined });
  store.flush();
  const run = store.getRun(runId) as { steps: { name: string; type: string; status: string; message: string | null; measurements: { name: string; value: unknown; outcome: string }[] }[] };
  return { out, run, step: run.steps.find((s) => s.type === 'interlock') };
}

describe('the interlock step', () => {
  it('lets an allowed unit be tested and blessed, keeping the MES answer with the run', async () => {
    const mes = await startMes({ routes: ROUTES });
    const console = dut();
    const { out, run, step } = await runWith(routing(client(mes), 'block'), console);
    expect(out.verdict).toBe('blessed');
    expect(step).toMatchObject({ status: 'pass', message: 'MES: routed: final-test' });
    expect(step?.measurements.map((m) => [m.name, m.value, m.outcome])).toEqual([
      ['mes.allowed', 'true', 'pass'],
      ['mes.reason', 'routed: final-test', 'pass'],
    ]);
    expect(mesAnswerOfRun(run.steps)).toEqual({ allowed: true, reason: 'routed: final-test', review: null });
    expect(console.commands).toContain('BLESS');
  });

  it('fails a refused unit with the MES’s reason in its words and does nothing more to it, whatever stopOnFailure says', async () => {
    const mes = await startMes({ routes: { default: { allowed: false, reason: 'Hold:\tlot 42 on QA hold\n— ask the line lead 组长' } } });
    const console = dut();
    const { out, run, step } = await runWith(routing(client(mes), 'allow-and-flag'), console, { overrides: { stopOnFailure: false } });
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('MES route');
    expect(out.reason).toBe('Hold: lot 42 on QA hold — ask the line lead 组长');
    expect(step?.status).toBe('fail');
    expect(step?.measurements.map((m) => [m.name, m.value, m.outcome])).toEqual([
      ['mes.allowed', 'false', 'fail'],
      ['mes.reason', 'Hold: lot 42 on QA hold — ask the line lead 组长', 'fail'],
    ]);
    // Identified, asked, told FAIL (its LED goes red): not measured, not blessed.
    expect(console.commands).toEqual(['IDENT', 'FAIL MES_ROUTE']);
    expect(run.steps.map((s) => [s.name, s.status])).toEqual([
      ['Identify', 'pass'],
      ['MES route', 'fail'],
      ['Bless', 'skipped'],
    ]);
  });

  it('under "block", fails a unit the MES cannot be asked about with "MES unreachable", untested', async () => {
    const mes = await startMes({ routes: ROUTES });
    await mes.goDown();
    const console = dut();
    const { out, step } = await runWith(routing(client(mes, { retries: 1 }), 'block'), console);
    expect(out.verdict).toBe('failed');
    expect(out.reason).toMatch(/^MES unreachable: ECONNREFUSED \(2 tries in [\d.]+ s\); the unit was not tested \(mes.offlinePolicy "block"\)$/);
    expect(step?.status).toBe('error');
    expect(step?.measurements.map((m) => [m.name, m.value])).toEqual([
      ['mes.allowed', 'unknown'],
      ['mes.reason', expect.stringMatching(/^MES unreachable: ECONNREFUSED/)],
    ]);
    expect(console.commands).toEqual(['IDENT', 'FAIL MES_ROUTE']);
  });

  it('under "allow-and-flag", tests and blesses a unit the MES cannot be asked about, and flags its record for review', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { delayMs: 2000 };
    const console = dut();
    const { out, run, step } = await runWith(routing(client(mes, { timeoutMs: 100, retries: 1 }), 'allow-and-flag'), console);
    expect(out.verdict).toBe('blessed');
    expect(step?.status).toBe('marginal');
    expect(step?.message).toMatch(/^flagged for review: MES unreachable: no answer within 100 ms \(2 tries in [\d.]+ s\); tested under mes.offlinePolicy "allow-and-flag"$/);
    expect(mesAnswerOfRun(run.steps)).toEqual({
      allowed: null,
      reason: expect.stringMatching(/^MES unreachable: no answer within 100 ms/),
      review: expect.stringMatching(/^tested without the MES's answer \(MES unreachable: no answer within 100 ms/),
    });
    expect(console.commands).toContain('MEAS VBAT');
  });

  it('treats a malformed answer as unreachable under either policy', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { garbage: '{"allowed": true}' };
    const blocked = await runWith(routing(client(mes, { retries: 0 }), 'block'), dut());
    expect(blocked.out.verdict).toBe('failed');
    expect(blocked.out.reason).toMatch(/^MES unreachable: an answer not of the contract's shape \(reason: Invalid input: expected string, received undefined\)/);
    const flagged = await runWith(routing(client(mes, { retries: 0 }), 'allow-and-flag'), dut());
    expect(flagged.out.verdict).toBe('blessed');
    expect(flagged.step?.status).toBe('marginal');
  });

  it('ends the run interrupted, not failed, when it is interrupted while the MES is being asked', async () => {
    const mes = await startMes({ routes: ROUTES });
    mes.behaviour = { delayMs: 5000 };
    const abort = new AbortController();
    const running = runWith(routing(client(mes, { timeoutMs: 4000 }), 'block'), dut(), { signal: abort.signal });
    await waitFor('the MES to receive the query', () => mes.requestsReceived === 1);
    abort.abort('the station is shutting down');
    const { out, step } = await running;
    expect(out.verdict).toBe('interrupted');
    expect(step?.status).toBe('interrupted');
  });

  it('stops the slot (a station fault) when the station has no MES to ask', async () => {
    const { out } = await runWith(null, dut());
    expect(out.verdict).toBe('interrupted');
    expect(out.haltSlot).toBe('this station has no MES configured (the mes section) for the "MES route" step');
  });
});

describe('where an interlock step may stand, and what it needs', () => {
  const problems = (def: unknown): string[] => {
    try {
      loadSequence(def, 'test');
      return [];
    } catch (err) {
      if (err instanceof SequenceError) return err.problems;
      throw err;
    }
  };

  it('must come right after identify, once, and never in a group', () => {
    const base = smallSequenceDef() as { steps: Record<string, unknown>[] };
    const late = { ...base, steps: [...base.steps.slice(0, 2), { type: 'interlock', name: 'MES' }, ...base.steps.slice(2)] };
    expect(problems(late)).toEqual(['steps[2].type: an interlock step must come first, right after the identify step (steps[1]): the MES is asked before anything is done to the unit']);
    const twice = { ...base, steps: [base.steps[0], { type: 'interlock', name: 'MES' }, { type: 'interlock', name: 'MES again' }, ...base.steps.slice(1)] };
    expect(problems(twice)).toEqual([
      'steps[2].type: an interlock step must come first, right after the identify step (steps[1]): the MES is asked before anything is done to the unit',
      'steps[2].type: a sequence has at most one interlock step',
    ]);
    const grouped = { ...base, steps: [base.steps[0], { type: 'group', name: 'G', steps: [{ type: 'interlock', name: 'MES' }] }, ...base.steps.slice(1)] };
    expect(problems(grouped)).toEqual(['steps[1].steps[0].type: an interlock step cannot be inside a group']);
    expect(problems({ ...base, steps: [base.steps[0], { type: 'interlock', name: 'MES', timeoutMs: 5 }, ...base.steps.slice(1)] })).toEqual(['steps[1]: Unrecognized key: "timeoutMs"']);
  });

  it('needs the mes section in the configuration, which refuses a URL with credentials and keeps apiKey a secret', () => {
    const cfg = coreConfig() as Record<string, unknown> & { sequence: { steps: Record<string, unknown>[] } };
    cfg.sequence.steps.splice(1, 0, { type: 'interlock', name: 'MES route' });
    const load = (raw: unknown) => parseConfig(raw, { source: 'test.json', baseDir: dirs.make() });
    expect(() => load(cfg)).toThrow(ConfigError);
    expect(String(rejectionOfSync(() => load(cfg)))).toContain('mes: the sequence has an interlock step, so the MES it asks is required (mes.url, mes.operation; docs/mes.md)');
    const ok = load({ ...cfg, mes: { url: 'http://mes.plant.example', operation: 'final-test', apiKey: 'k' } });
    expect(ok.mes).toEqual({ url: 'http://mes.plant.example', operation: 'final-test', offlinePolicy: 'block', timeoutMs: 3000, retries: 2, apiKey: 'k' });
    expect(capabilitiesFromConfig(ok).mesUnavailable).toBeNull();
    const credentials = mesConfigSchema.safeParse({ url: 'http://user:pw@mes.plant.example', operation: 'final-test' });
    expect(credentials.error?.issues.map((i) => i.message)).toEqual(['must not carry a user name or password: give the key in mes.apiKey']);
    expect(mesConfigSchema.safeParse({ url: 'http://mes/api?key=k', operation: 'final-test' }).error?.issues.map((i) => i.message)).toEqual([
      'must be a base URL, with no query or fragment (the station adds /v1/units/...)',
    ]);
    expect(mesConfigSchema.safeParse({ url: 'http://mes', operation: ' final-test' }).success).toBe(false);
    expect(mesConfigSchema.safeParse({ url: 'http://mes', operation: 'final-test', offlinePolicy: 'ignore' }).success).toBe(false);
  });

  it('is refused by the sequence editor on a station with no MES', () => {
    const cfg = coreConfig() as Record<string, unknown>;
    const station = capabilitiesFromConfig(parseConfig(cfg, { source: 'test.json', baseDir: dirs.make() }));
    const def = interlockSequence().def;
    const check = checkSequence(def, station);
    expect(check).toEqual({ ok: false, problems: [{ path: 'steps[1].type', message: 'this station cannot run an interlock step: the configuration has no MES (mes section)' }] });
  });
});

function rejectionOfSync(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
