// The station driving its fixture (issue 11), end to end: the shipped simulated fixture measuring
// sleep current; a bench supply in a process of its own that outlives a killed daemon, and the
// safe state of DUT power around runs, crashes and stops; the wrong instrument at an address;
// calibration past due in production; a fixture fault interrupting a run; and a short tripping the
// supply's over-current protection. Daemons run the compiled station (dist/); the in-process
// stations are the same Station class, for the tests that reach into the simulated bench.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimulatedNest, type NestBehaviour } from '../../drivers/dut/simulator/firmware.js';
import { LEAK_FAULT, UNIT_CURRENT_A } from '../../drivers/dut/simulator/power.js';
import { parseConfig } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import { Station } from '../../station/station.js';
import { shippedConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { InstrumentProcess, ScpiProbe } from '../support/instrument-cli.js';
import { NestOnPty } from '../support/nest-on-pty.js';
import { PtyPair } from '../support/pty.js';
import { nextEvent } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { slot: number; state: string; connected: boolean; runId: string | null; reason: string | null; step: { name: string } | null }[];
  alarms: { alarmId: string; severity: string; message: string }[];
  instruments: {
    id: string;
    state: string;
    reason: string | null;
    serial: string | null;
    calibrationDue: string | null;
    calibrationPassed: boolean;
    override: { reason: string; byRole: string; at: string } | null;
  }[];
}
interface DevicesPage {
  devices: { deviceId: string; status: string; runId: string }[];
}
interface Measurement {
  name: string;
  value: number | string;
  unit: string | null;
  outcome: string;
  instrument: { id: string; serial: string | null } | null;
}
interface StepView {
  name: string;
  type: string;
  status: string;
  message: string | null;
  waitMs: number | null;
  measurements: Measurement[];
  steps?: StepView[];
}
interface RunDetail {
  runId: string;
  slot: number;
  status: string;
  failStep: string | null;
  reason: string | null;
  steps: StepView[];
}

/** What each slot's unit is tested with on the pseudo-terminal stations below. */
const IDENTIFY = { type: 'identify', name: 'Identify', deviceIdHexLength: 16 };
const BATTERY = { type: 'measure', name: 'Battery voltage', command: 'MEAS VBAT', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: 3.4, high: 4.2 } };
const BLESS = { type: 'bless', name: 'Bless' };
/** A DMM reading through the slot's route; nothing is wired to these DMMs, so any value passes. */
const DMM_READING = { type: 'measure', name: 'Sleep current', source: { instrument: 'dmm1', function: 'current-dc', range: 0.001, samples: 2 }, unit: 'A', limit: { kind: 'range', low: -1, high: 1 } };

/** A unit on a pseudo-terminal: quick, no spontaneous faults or reseats. */
const PTY_UNIT: Partial<NestBehaviour> = { bootMs: 10, handlingMs: 300, retestRate: 0, cellularRate: 0, failureRates: {}, faultRates: { garbage: 0, hang: 0, unplug: 0 }, idleReseatMs: 600_000 };

/** A station whose slots are the station ends of pty pairs, with the bench instruments given. */
function ptyStationConfig(opts: {
  dataDir: string;
  ports: string[];
  instruments: Record<string, unknown>[];
  steps: Record<string, unknown>[];
  slot?: (index: number) => Record<string, unknown>;
  mode?: 'production' | 'test';
  operator?: 'all-slots' | 'off';
}): Record<string, unknown> {
  return {
    station: { id: 'fixture-test', mode: opts.mode ?? 'test' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: opts.dataDir },
    log: { level: 'info' },
    line: { autoStart: 'on-boot', shutdownGraceMs: 2000 },
    dut: { maxLineBytes: 512, reconnectInitialMs: 50, reconnectMaxMs: 500 },
    slots: opts.ports.map((p, i) => ({ name: `Nest ${i + 1}`, dut: { kind: 'serial', path: p }, ...opts.slot?.(i) })),
    instruments: opts.instruments.map((i) => ({ reconnectInitialMs: 20, reconnectMaxMs: 100, ...i })),
    sequence: { name: 'fixture-test', stopOnFailure: true, defaultTimeoutMs: 1500, steps: opts.steps },
    uplink: {},
    simulation: { operator: opts.operator ?? 'all-slots', promptAnswerMs: 10, promptFailRate: 0 },
  };
}

/**
 * The shipped simulated station (its N6700 powering the nests, its 34461A shared through its
 * switch, its sequence) made quick: no BlinkUp and no operator prompt (so no emitters or tokens),
 * fast units and instruments, no random faults or out-of-spec channels but the leak at `leakRate`.
 */
function shippedFixtureConfig(opts: { dataDir: string; leakRate: number; slots?: number; power?: Record<string, unknown> }): Record<string, unknown> {
  const cfg = shippedConfig({ fixture: true }) as unknown as Record<string, unknown> & {
    sequence: { steps: { type: string }[] };
    slots: Record<string, unknown>[];
    instruments: Record<string, unknown>[];
  };
  const { blinkup: _blinkup, tokens: _tokens, ...rest } = cfg;
  return {
    ...rest,
    station: { id: 'fixture-sim', mode: 'test' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: opts.dataDir },
    slots: cfg.slots.slice(0, opts.slots ?? 4).map(({ emitter: _emitter, power, ...slot }, i) => ({ ...slot, power: { ...(power as object), ...(i === 0 ? opts.power : {}) } })),
    instruments: cfg.instruments.map((i) => ({ ...i, reconnectInitialMs: 20, reconnectMaxMs: 100 })),
    sequence: { ...cfg.sequence, steps: cfg.sequence.steps.filter((s) => s.type !== 'blinkup' && s.type !== 'prompt') },
    uplink: {},
    simulation: {
      ...(cfg.simulation as object),
      commandLatencyMs: 2,
      bootMs: 30,
      handlingMs: 100,
      retestRate: 0,
      failureRates: { [LEAK_FAULT]: opts.leakRate },
      faultRates: { garbage: 0, hang: 0, unplug: 0 },
      promptAnswerMs: 20,
      promptFailRate: 0,
      operator: 'simulated-slots',
    },
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'station-fixture-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Pty pairs with a simulated unit on each far end, cleaned up after the test. */
async function ptyNests(
  name: string,
  behaviours: Partial<NestBehaviour>[],
  onRequest: (slot: number, command: string) => void = () => undefined,
): Promise<{ pairs: PtyPair[]; nests: NestOnPty[]; plug(i: number): Promise<SimulatedNest> }> {
  const pairs: PtyPair[] = [];
  const nests: NestOnPty[] = [];
  for (let i = 0; i < behaviours.length; i++) {
    const pair = await new PtyPair(dir, `${name}${i}`).open();
    pairs.push(pair);
    nests.push(new NestOnPty(pair, { latencyMs: 2, onRequest: (req) => onRequest(i, req.command) }));
  }
  cleanups.push(async () => {
    for (const n of nests) await n.close();
  });
  return {
    pairs,
    nests,
    async plug(i) {
      const nest = new SimulatedNest(`pty:${name}${i}`, { ...PTY_UNIT, ...behaviours[i] }, 500 + i, { event: () => undefined, raw: () => undefined, unplug: () => undefined });
      await (nests[i] as NestOnPty).plug(nest);
      return nest;
    },
  };
}

async function startInstrument(model: string, opts: { port?: number } = {}): Promise<InstrumentProcess> {
  const instrument = await InstrumentProcess.start(model, opts);
  cleanups.push(() => instrument.stop());
  return instrument;
}

async function startDaemon(config: Record<string, unknown>, file: string): Promise<Daemon> {
  const daemon = new Daemon(Daemon.writeConfig(dir, config, file));
  cleanups.push(() => daemon.kill9());
  return daemon.start();
}

async function startStation(config: Record<string, unknown>): Promise<Station> {
  const station = new Station(parseConfig(config, { source: 'fixture test', baseDir: dir }), silentLogger());
  cleanups.push(() => station.stop());
  await station.start();
  return station;
}

const health = (daemon: Daemon): Promise<Health> => daemon.api<Health>('/api/health');
const postJson = (daemon: Daemon, route: string, body: unknown, as?: Awaited<ReturnType<Daemon['login']>>): Promise<Response> =>
  daemon.request(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(as ? { as } : {}) });

/** Waits until every slot has blessed a unit; the slots, sorted. A timeout names each slot's state. */
async function eachSlotBlesses(daemon: Daemon, when: string, timeoutMs = 10_000): Promise<number[]> {
  return waitFor(
    `a blessed unit on each slot ${when}`,
    async () => {
      const page = await daemon.api<DevicesPage>('/api/devices?status=blessed&limit=100');
      const slots = new Set<number>();
      for (const d of page.devices) slots.add((await daemon.api<RunDetail>(`/api/runs/${d.runId}`)).slot);
      const h = await health(daemon);
      if (slots.size < h.slots.length) throw new Error(`slots now: ${h.slots.map((s) => `${s.slot}: ${s.state} (${s.reason ?? ''})`).join('; ')}`);
      return [...slots].sort();
    },
    { timeoutMs },
  );
}

/** Every step of a run, groups' steps included, in the order they are listed. */
function allSteps(steps: StepView[]): StepView[] {
  return steps.flatMap((s) => [s, ...allSteps(s.steps ?? [])]);
}

describe('sleep current through the shipped simulated fixture', () => {
  it('fails leaking units at "Sleep current" with ~400 µA read by dmm1 (its serial recorded) and passes healthy ones at ~8 µA', async () => {
    const [leaking, healthy] = await Promise.all([
      startDaemon(shippedFixtureConfig({ dataDir: path.join(dir, 'leaking'), leakRate: 1 }), 'leaking.json'),
      startDaemon(shippedFixtureConfig({ dataDir: path.join(dir, 'healthy'), leakRate: 0 }), 'healthy.json'),
    ]);
    const devices = (daemon: Daemon, status: string, n: number): Promise<DevicesPage['devices']> =>
      waitFor(
        `${n} ${status} units`,
        async () => {
          const page = await daemon.api<DevicesPage>(`/api/devices?status=${status}&limit=100`);
          return page.devices.length >= n ? page.devices : null;
        },
        { timeoutMs: 30_000 },
      );
    const [failed, blessed] = await Promise.all([devices(leaking, 'failed', 4), devices(healthy, 'blessed', 4)]);

    for (const [daemon, units, expectedA, verdict] of [
      [leaking, failed, UNIT_CURRENT_A.asleepLeaking, 'failed'],
      [healthy, blessed, UNIT_CURRENT_A.asleep, 'blessed'],
    ] as const) {
      const h = await health(daemon);
      const serialOf = (id: string): string => {
        const serial = h.instruments.find((i) => i.id === id)?.serial;
        if (!serial) throw new Error(`${id} has no serial number in health: ${JSON.stringify(h.instruments)}`);
        return serial;
      };
      // Nothing else fails: every unit of this station got the same verdict.
      const other = await daemon.api<DevicesPage>(`/api/devices?status=${verdict === 'failed' ? 'blessed' : 'failed'}&limit=100`);
      expect(other.devices).toEqual([]);
      for (const unit of units) {
        const run = await daemon.api<RunDetail>(`/api/runs/${unit.runId}`);
        expect(run.status).toBe(verdict);
        const steps = allSteps(run.steps);
        const sleep = steps.filter((s) => s.name === 'Sleep current');
        expect(sleep.length).toBeGreaterThan(0);
        for (const step of sleep) {
          const m = step.measurements[0] as Measurement;
          expect(m.instrument).toEqual({ id: 'dmm1', serial: serialOf('dmm1') });
          expect(m.unit).toBe('A');
          expect(m.value as number).toBeGreaterThan(expectedA * 0.8);
          expect(m.value as number).toBeLessThan(expectedA * 1.2);
          expect(step.status).toBe(verdict === 'failed' ? 'fail' : 'pass');
          expect(step.waitMs, 'the time it waited for the shared DMM and switch').toBeGreaterThanOrEqual(0);
        }
        if (verdict === 'failed') {
          // Both tries of the sleep test read the leak; the run fails there, and says so.
          expect(sleep).toHaveLength(2);
          expect(run.failStep).toBe('Sleep test');
          expect(run.reason).toMatch(/^Sleep current: /);
        }
        const supply = steps.find((s) => s.name === 'Supply current');
        expect(supply?.status).toBe('pass');
        const supplyA = supply?.measurements[0] as Measurement;
        expect(supplyA.instrument).toEqual({ id: 'psu1', serial: serialOf('psu1') });
        expect(supplyA.value as number).toBeGreaterThan(UNIT_CURRENT_A.idle * 0.8);
        expect(supplyA.value as number).toBeLessThan(UNIT_CURRENT_A.idle * 1.2);
        expect(supply?.waitMs).toBeGreaterThanOrEqual(0);
        expect(steps.find((s) => s.name === 'Battery voltage')?.waitMs, 'a step that uses no instrument waits for none').toBeNull();
      }
    }
  });
});

describe('the safe state of DUT power, with the supply in a process of its own', () => {
  it('keeps the channel on through a SIGKILL, switches it off at restart before any run, and leaves it off after pass, fail, a pulled cable and SIGTERM', async () => {
    const psu = await startInstrument('keysight-e36312a');
    const probe = await ScpiProbe.connect(psu.port);
    cleanups.push(() => probe.close());
    const outputs = async (): Promise<string[]> => (await probe.query('OUTP? (@1,2,3)')).split(',');

    // Slot 3's cable is pulled the moment the station asks its unit for its battery voltage (once armed).
    let pullOnBattery = false;
    const rig = await ptyNests('power', [{}, { failureRates: { VBAT: 1 } }, {}], (slot, command) => {
      if (slot === 2 && command === 'MEAS VBAT' && pullOnBattery) void rig.nests[2]?.pull();
    });
    const nests = await Promise.all([0, 1, 2].map((i) => rig.plug(i)));

    // The units are not wired to this supply: the test is the wire. When a channel comes on, the
    // unit on it boots (its BOOT and READY are what the station waits for after power on).
    const seenOn = [0, 0, 0];
    let watching = true;
    let last = ['0', '0', '0'];
    const watch = (async () => {
      while (watching) {
        const now = await outputs().catch(() => last);
        now.forEach((state, i) => {
          if (state === '1' && last[i] !== '1') {
            seenOn[i] = (seenOn[i] ?? 0) + 1;
            nests[i]?.boot();
          }
        });
        last = now;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    cleanups.push(() => {
      watching = false;
      return watch;
    });

    const prompt = { type: 'prompt', name: 'Operator check', text: 'Is the unit seated?', answers: ['yes', 'no'], pass: ['yes'], timeoutMs: 600_000 };
    const config = (operator: 'off' | 'all-slots'): Record<string, unknown> =>
      ptyStationConfig({
        dataDir: path.join(dir, 'power-data'),
        ports: rig.pairs.map((p) => p.stationPath),
        instruments: [{ id: 'psu1', kind: 'psu', model: 'keysight-e36312a', transport: { kind: 'tcp', host: '127.0.0.1', port: psu.port } }],
        slot: (i) => ({ power: { instrument: 'psu1', channel: i + 1, volts: 3.7, currentLimitA: 0.5 } }),
        steps: [IDENTIFY, prompt, BATTERY, BLESS],
        operator,
      });
    // With no operator, a run waits at its prompt with its unit powered.
    const daemon = await startDaemon(config('off'), 'power.json');
    const start = async (slot: number): Promise<void> => {
      await waitFor(`slot ${slot + 1} connected`, async () => (await health(daemon)).slots[slot]?.connected);
      const res = await daemon.request(`/api/slots/${slot}/start`, { method: 'POST' });
      expect(res.status, await res.clone().text()).toBe(202);
    };
    const atPrompt = (slot: number): Promise<string> =>
      waitFor(
        `slot ${slot + 1}'s run at its prompt`,
        async () => {
          const s = (await health(daemon)).slots[slot];
          return s?.step?.name === 'Operator check' && s.state === 'testing' ? s.runId : null;
        },
        { timeoutMs: 10_000 },
      );

    await start(0);
    const killedRun = await atPrompt(0);
    expect(await outputs()).toEqual(['1', '0', '0']);
    await daemon.kill9();
    expect(await outputs(), 'the supply outlives the daemon: the channel is still on').toEqual(['1', '0', '0']);

    await daemon.start();
    const restartedAt = Date.now();
    await waitFor("slot 1's channel off after the restart", async () => (await outputs())[0] === '0', { timeoutMs: 3000, intervalMs: 10 });
    expect(Date.now() - restartedAt).toBeLessThan(2000);
    expect(
      (await health(daemon)).slots.map((s) => s.runId),
      'no run has started since the restart',
    ).toEqual([null, null, null]);
    expect((await daemon.api<RunDetail>(`/api/runs/${killedRun}`)).status).toBe('interrupted');

    // A clean stop with every slot's unit powered mid-run: every channel off.
    for (const slot of [0, 1, 2]) await start(slot);
    for (const slot of [0, 1, 2]) await atPrompt(slot);
    expect(await outputs()).toEqual(['1', '1', '1']);
    expect(await daemon.terminate()).toBe(0);
    expect(await outputs()).toEqual(['0', '0', '0']);

    // Runs that end: pass (slot 1), fail (slot 2: its battery is low), interrupted (slot 3: cable pulled).
    Daemon.writeConfig(dir, config('all-slots'), 'power.json');
    await daemon.start();
    pullOnBattery = true;
    const before = [...seenOn];
    for (const slot of [0, 1, 2]) await start(slot);
    const ends = await waitFor(
      'the three runs to end',
      async () => {
        const states = (await health(daemon)).slots.map((s) => s.state);
        return states.every((s) => ['pass', 'fail', 'interrupted'].includes(s)) ? states : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(ends).toEqual(['pass', 'fail', 'interrupted']);
    expect(
      seenOn.map((n, i) => n - (before[i] ?? 0)),
      'each run powered its unit',
    ).toEqual([1, 1, 1]);
    await waitFor('every channel off after its run', async () => (await outputs()).every((o) => o === '0'), { timeoutMs: 2000, intervalMs: 10 });
  });
});

describe('the wrong instrument at an address', () => {
  it('raises the critical alarm naming what was expected and what answered, refuses DUTs, and takes them once the right one answers', async () => {
    const wrong = await startInstrument('rigol-dm3058');
    const rig = await ptyNests('wrong', [{}, {}]);
    const daemon = await startDaemon(
      ptyStationConfig({
        dataDir: path.join(dir, 'wrong-data'),
        ports: rig.pairs.map((p) => p.stationPath),
        instruments: [
          { id: 'dmm1', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'tcp', host: '127.0.0.1', port: wrong.port } },
          { id: 'mux1', kind: 'switch', model: 'scpi-switch', transport: { kind: 'simulated' } },
        ],
        slot: (i) => ({ route: { instrument: 'mux1', channel: i + 1 } }),
        steps: [IDENTIFY, DMM_READING, BLESS],
      }),
      'wrong.json',
    );
    const alarm = await waitFor('the wrong-instrument alarm', async () => (await health(daemon)).alarms.find((a) => a.alarmId === 'instruments.dmm1.wrong'));
    expect(alarm.severity).toBe('critical');
    expect(alarm.message).toMatch(/expected .*34461A/);
    expect(alarm.message).toMatch(/answered "Rigol Technologies,DM3058,/);

    // Units boot in both nests: both slots refuse them, saying why.
    await rig.plug(0);
    await rig.plug(1);
    const refused = await waitFor('both slots to refuse their units', async () => {
      const slots = (await health(daemon)).slots;
      return slots.every((s) => s.state === 'refused') ? slots : null;
    });
    for (const s of refused) {
      expect(s.reason).toMatch(/the wrong instrument answers at dmm1's address: expected .*34461A.*, answered "Rigol Technologies,DM3058,/);
      expect(s.runId).toBeNull();
    }

    // The right DMM at that address: the alarm clears and the waiting units are tested.
    await wrong.stop();
    const right = await startInstrument('keysight-34461a', { port: wrong.port });
    await waitFor('dmm1 ready, its alarm cleared', async () => {
      const h = await health(daemon);
      return h.instruments.find((i) => i.id === 'dmm1')?.serial === right.serial && !h.alarms.some((a) => a.alarmId === 'instruments.dmm1.wrong');
    });
    expect(await eachSlotBlesses(daemon, 'once the right DMM answers')).toEqual([0, 1]);
  });
});

describe('calibration past due', () => {
  const instruments = [
    { id: 'dmm1', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'simulated' }, calibrationDue: '2020-01-31' },
    { id: 'mux1', kind: 'switch', model: 'scpi-switch', transport: { kind: 'simulated' } },
  ];

  it('in production refuses DUTs until an engineer overrides it (recorded; an operator may not), and in test mode only warns', async () => {
    const rig = await ptyNests('cal', [{}, {}]);
    const station = (mode: 'production' | 'test', name: string): Promise<Daemon> =>
      startDaemon(
        ptyStationConfig({
          dataDir: path.join(dir, `${name}-data`),
          ports: rig.pairs.map((p) => p.stationPath),
          instruments,
          slot: (i) => ({ route: { instrument: 'mux1', channel: i + 1 } }),
          steps: [IDENTIFY, DMM_READING, BLESS],
          mode,
        }),
        `${name}.json`,
      );

    const production = await station('production', 'cal-production');
    await rig.plug(0);
    await rig.plug(1);
    const refused = await waitFor('both slots to refuse their units', async () => {
      const h = await health(production);
      return h.slots.every((s) => s.state === 'refused') ? h : null;
    });
    for (const s of refused.slots) expect(s.reason).toMatch(/dmm1's calibration ran out on 2020-01-31: an engineer must override it/);
    const alarm = refused.alarms.find((a) => a.alarmId === 'instruments.dmm1.calibration');
    expect(alarm?.severity).toBe('warning');
    expect(alarm?.message).toMatch(/ran out on 2020-01-31: slots that use it take no DUT/);
    expect(refused.instruments.find((i) => i.id === 'dmm1')).toMatchObject({ calibrationDue: '2020-01-31', calibrationPassed: true, override: null });

    const operator = await production.login('operator');
    expect((await postJson(production, '/api/instruments/dmm1/calibration-override', { reason: 'operator tries' }, operator)).status).toBe(403);
    expect((await health(production)).slots.map((s) => s.state)).toEqual(['refused', 'refused']);

    // An instrument the station does not have: not found, named; mux1 has no calibration date: a conflict.
    const unknown = await postJson(production, '/api/instruments/dmm9/calibration-override', { reason: 'a typo in the id' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'there is no instrument "dmm9"' });
    const notDue = await postJson(production, '/api/instruments/mux1/calibration-override', { reason: 'nothing to override' });
    expect(notDue.status).toBe(409);
    expect(await notDue.json()).toEqual({ error: "mux1's calibration has not run out: nothing to override" });

    const res = await postJson(production, '/api/instruments/dmm1/calibration-override', { reason: 'calibration booked for Friday; checked against the reference' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ instrument: 'dmm1', due: '2020-01-31' });
    const dmm = (await health(production)).instruments.find((i) => i.id === 'dmm1');
    expect(dmm?.override).toMatchObject({ reason: 'calibration booked for Friday; checked against the reference', byRole: 'engineer' });
    expect(await eachSlotBlesses(production, 'after the override')).toEqual([0, 1]);
    await production.terminate();

    // Test mode, same instruments, no override: the alarm says so, and units are tested.
    const testMode = await station('test', 'cal-test');
    const h = await waitFor('the calibration alarm in test mode', async () => {
      const now = await health(testMode);
      return now.alarms.some((a) => a.alarmId === 'instruments.dmm1.calibration') ? now : null;
    });
    expect(h.alarms.find((a) => a.alarmId === 'instruments.dmm1.calibration')?.message).toMatch(/test mode goes on; production would refuse/);
    expect(h.instruments.find((i) => i.id === 'dmm1')?.override).toBeNull();
    expect(await eachSlotBlesses(testMode, 'in test mode')).toEqual([0, 1]);
    expect((await health(testMode)).slots.some((s) => s.state === 'refused')).toBe(false);
  });
});

describe('faults of the fixture, in process on the simulated bench', () => {
  /** OUTP? of the simulated supply's channel, asked of the instrument itself. */
  const output = (station: Station, channel: number): Promise<string | null> => (station.world.bench as NonNullable<Station['world']['bench']>).psu('psu1').execute(`OUTP? (@${channel})`);

  it('interrupts the run (never fails it) when the DMM stops answering mid-measurement, powers the unit off, and tests the next unit once it is back', async () => {
    const station = await startStation(shippedFixtureConfig({ dataDir: path.join(dir, 'fault-data'), leakRate: 0, slots: 1 }));
    const bench = station.world.bench as NonNullable<Station['world']['bench']>;
    const nest = station.world.slot(0)?.nest as SimulatedNest;
    // The DMM is measuring slot 1's unit while the switch routes it there.
    await waitFor('the DMM measuring the unit in nest 1', () => bench.switchUnit('mux1').isClosed(1), { timeoutMs: 20_000, intervalMs: 1 });
    const finished = nextEvent(station.bus, 'run.finished', (r) => r.slot === 0, 10_000);
    bench.link('dmm1')?.unplug(300);
    const run = await finished;
    expect(run.verdict).toBe('interrupted');
    expect(run.reason).toMatch(/^fixture fault: dmm1 .*check the instrument, its cable and its address$/);
    const detail = station.store.getRun(run.runId) as unknown as RunDetail;
    expect(detail.status).toBe('interrupted');
    expect(allSteps(detail.steps).find((s) => s.name === 'Sleep current')).toMatchObject({ status: 'interrupted', measurements: [] });
    await waitFor('the unit powered off', async () => (await output(station, 1)) === '0', { timeoutMs: 2000, intervalMs: 5 });
    expect(nest.power.unitState).toBe('unpowered');

    // Back: the next unit in the nest is tested and passes.
    await waitFor('dmm1 back', () => station.fixture.instruments.get('dmm1')?.state === 'ready', { timeoutMs: 5000 });
    const next = nextEvent(station.bus, 'run.finished', (r) => r.slot === 0, 15_000);
    nest.insertUnit(nest.newUnit());
    expect((await next).verdict).toBe('blessed');
    await waitFor('the unit powered off after its run', async () => (await output(station, 1)) === '0', { timeoutMs: 2000, intervalMs: 5 });
  });

  it('fails a unit that draws past a current limit below its boot current as a short while it boots, with its channel off', async () => {
    const config = shippedFixtureConfig({ dataDir: path.join(dir, 'short-data'), leakRate: 0, slots: 1, power: { currentLimitA: UNIT_CURRENT_A.booting / 2, ocp: true } });
    const station = new Station(parseConfig(config, { source: 'fixture test', baseDir: dir }), silentLogger());
    cleanups.push(() => station.stop());
    const finished = nextEvent(station.bus, 'run.finished', (r) => r.slot === 0, 20_000);
    await station.start();
    const run = await finished;
    expect(run.verdict).toBe('failed');
    expect(run.reason).toMatch(/short \/ over-current/);
    // Seen while the boot was awaited, not after the boot timeout (10 s): the slot is not held by a short.
    const detail = station.store.getRun(run.runId) as { startedAt: string; endedAt: string };
    expect(Date.parse(detail.endedAt) - Date.parse(detail.startedAt)).toBeLessThan(8000);
    expect(station.world.bench?.psu('psu1').isTripped(1)).toBe(true);
    await waitFor('the channel off', async () => (await output(station, 1)) === '0', { timeoutMs: 2000, intervalMs: 5 });
  });
});
