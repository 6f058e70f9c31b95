// The simulated bench end to end, in process: the real drivers over in-memory cables to the
// simulated PSU, switch and DMM, wired to simulated nests whose units draw what their state draws.
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedNest, type NestBehaviour } from '../../drivers/dut/simulator/firmware.js';
import { LEAK_FAULT, UNIT_CURRENT_A } from '../../drivers/dut/simulator/power.js';
import { createInstrument, Dmm, Psu, Switch, type AnyInstrument, type ModelName } from '../../drivers/instrument/index.js';
import { SimulatedBench } from '../../drivers/instrument/simulator/bench.js';
import { ResistiveLoad } from '../../drivers/instrument/simulator/electrical-load.js';
import { silentLogger } from '../../station/log.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Fixture {
  bench: SimulatedBench;
  psu: Psu;
  dmm: Dmm;
  mux: Switch;
}

async function fixture(models: { psu?: ModelName; dmm?: ModelName } = {}): Promise<Fixture> {
  const bench = new SimulatedBench({ seed: 11, dmmReadingMs: 1 });
  const make = async (id: string, kind: 'psu' | 'dmm' | 'switch', model: ModelName): Promise<AnyInstrument> => {
    const instrument = createInstrument({ id, kind, model, transport: { kind: 'simulated' }, reconnectInitialMs: 10, reconnectMaxMs: 50 }, { log: silentLogger(), simulation: bench });
    cleanups.push(() => instrument.stop());
    await instrument.start();
    await instrument.waitReady(2000);
    return instrument;
  };
  const psu = (await make('psu1', 'psu', models.psu ?? 'keysight-e36312a')) as Psu;
  const dmm = (await make('dmm1', 'dmm', models.dmm ?? 'keysight-34461a')) as Dmm;
  const mux = (await make('mux1', 'switch', 'scpi-switch')) as Switch;
  cleanups.push(() => bench.stop());
  return { bench, psu, dmm, mux };
}

function nest(name: string, behaviour: Partial<NestBehaviour>, seed: number): { nest: SimulatedNest; events: string[] } {
  const events: string[] = [];
  const n = new SimulatedNest(name, { bootMs: 10, handlingMs: 30, retestRate: 0, ...behaviour }, seed, { event: (e) => events.push(e), raw: () => undefined, unplug: () => undefined });
  cleanups.push(() => n.stop());
  return { nest: n, events };
}

/** An externally powered nest on a supply channel, routed to the DMM through the switch channel of the same number. */
function wired(f: Fixture, channel: number, behaviour: Partial<NestBehaviour> = {}, seed = channel): { nest: SimulatedNest; events: string[] } {
  const n = nest(`nest${channel}`, behaviour, seed);
  n.nest.setExternalPower(true);
  cleanups.push(f.bench.wire(n.nest.power, { supply: { psu: 'psu1', channel }, dmm: 'dmm1', via: { switch: 'mux1', channel } }));
  n.nest.start();
  return n;
}

async function sleepCurrent(f: Fixture, channel: number, unit: { nest: SimulatedNest; events: string[] }): Promise<number> {
  await f.psu.configure(channel, { volts: 3.7, currentLimitA: 0.5 });
  await f.psu.output(channel, true);
  await waitFor(`nest ${channel} READY`, () => unit.events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
  expect(unit.nest.execute('SLEEP', [])).toEqual({ kind: 'ok', payload: 'sleep=1' });
  await f.mux.openAll();
  await f.mux.close(channel);
  const result = await f.dmm.measure({ function: 'current-dc', samples: 10 });
  expect(result.overload).toBe(false);
  expect(result.serial).toBe(f.dmm.identity?.serial);
  return result.value as number;
}

describe('sleep current through PSU, switch and DMM', () => {
  for (const models of [
    { psu: 'keysight-e36312a', dmm: 'keysight-34461a' },
    { psu: 'rigol-dp832', dmm: 'rigol-dm3058' },
  ] as const) {
    it(`reads ~8 µA for a healthy unit and ~400 µA for one with the leak fault (${models.psu}, ${models.dmm})`, async () => {
      const f = await fixture(models);
      const healthy = wired(f, 1, { failureRates: {} });
      const leaky = wired(f, 2, { failureRates: { [LEAK_FAULT]: 1 } });
      expect(leaky.nest.currentUnit?.outOfSpec.has(LEAK_FAULT)).toBe(true);
      const good = await sleepCurrent(f, 1, healthy);
      const bad = await sleepCurrent(f, 2, leaky);
      expect(good).toBeGreaterThan(UNIT_CURRENT_A.asleep * 0.8);
      expect(good).toBeLessThan(UNIT_CURRENT_A.asleep * 1.2);
      expect(bad).toBeGreaterThan(UNIT_CURRENT_A.asleepLeaking * 0.8);
      expect(bad).toBeLessThan(UNIT_CURRENT_A.asleepLeaking * 1.2);
      // Asleep, the unit answers nothing until its next power cycle.
      expect(healthy.nest.execute('PING', [])).toEqual({ kind: 'silent' });
    });
  }

  it('reads the idle current, the rail voltage and, unpowered, the resistance of the routed unit only', async () => {
    const f = await fixture();
    const unit = wired(f, 1);
    wired(f, 2);
    await f.psu.configure(1, { volts: 3.7, currentLimitA: 0.5 });
    await f.psu.output(1, true);
    await waitFor('READY', () => unit.events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
    await f.mux.close(1);
    const idle = await f.dmm.measure({ function: 'current-dc', samples: 5 });
    expect(idle.value).toBeGreaterThan(0.011);
    expect(idle.value).toBeLessThan(0.013);
    expect((await f.dmm.measure({ function: 'voltage-dc', range: 10 })).value).toBeCloseTo(3.3, 2);
    expect((await f.psu.measure(1, 'current')).value).toBeCloseTo(0.012, 2);
    await f.psu.output(1, false);
    expect((await f.dmm.measure({ function: 'resistance' })).value).toBeCloseTo(47_000, -2);
    await f.mux.openAll();
    expect((await f.dmm.measure({ function: 'resistance' })).overload).toBe(true);
    expect((await f.dmm.measure({ function: 'current-dc' })).value).toBeCloseTo(0, 8);
  });
});

describe('over-current', () => {
  it('trips OCP when the booting unit draws past the limit: output off, trip read back, unit silent', async () => {
    const f = await fixture();
    const unit = wired(f, 1);
    await f.psu.configure(1, { volts: 3.7, currentLimitA: 0.02 }); // boot draws ~40 mA
    await f.psu.output(1, true);
    expect(await f.psu.tripped(1)).toBe(true);
    expect(f.bench.psu('psu1').isTripped(1)).toBe(true);
    expect((await f.psu.measure(1, 'voltage')).value).toBeLessThan(0.01);
    expect(unit.events).toEqual(['BOOT']); // it began to boot, then lost its supply
    expect(unit.nest.execute('PING', [])).toEqual({ kind: 'silent' });
    // A proper limit and the trip cleared by switching on again: the unit boots and runs.
    await f.psu.configure(1, { volts: 3.7, currentLimitA: 0.5 });
    await f.psu.output(1, true);
    expect(await f.psu.tripped(1)).toBe(false);
    await waitFor('READY after the trip was cleared', () => unit.events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
  });

  it('trips on a radio burst past the limit, as it happens', async () => {
    const f = await fixture({ psu: 'rigol-dp832' });
    const unit = wired(f, 2);
    await f.psu.configure(2, { volts: 3.7, currentLimitA: 0.1 });
    await f.psu.output(2, true);
    await waitFor('READY', () => unit.events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
    expect(await f.psu.tripped(2)).toBe(false);
    expect(unit.nest.execute('RADIO', ['TX', '50'])).toEqual({ kind: 'ok', payload: 'tx=50' });
    expect(await f.psu.tripped(2)).toBe(true);
  });

  it('limits current without OCP (constant current) and without tripping', async () => {
    const bench = new SimulatedBench({ seed: 5, dmmReadingMs: 0 });
    const psu = createInstrument({ id: 'psu3', kind: 'psu', model: 'siglent-spd3303x', transport: { kind: 'simulated' } }, { log: silentLogger(), simulation: bench }) as Psu;
    cleanups.push(() => psu.stop());
    await psu.start();
    await psu.waitReady(2000);
    bench.wire(new ResistiveLoad(10), { supply: { psu: 'psu3', channel: 1 } }); // 0.5 A at 5 V
    await psu.configure(1, { volts: 5, currentLimitA: 0.2 });
    await psu.output(1, true);
    expect((await psu.measure(1, 'current')).value).toBeCloseTo(0.2, 3);
    expect((await psu.measure(1, 'voltage')).value).toBeCloseTo(2, 2);
  });
});

describe('a nest on external power', () => {
  it('boots only when its supply comes up, and goes silent at once when it goes down', async () => {
    const f = await fixture();
    const unit = wired(f, 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(unit.events).toEqual([]);
    expect(unit.nest.execute('PING', [])).toEqual({ kind: 'silent' });
    await f.psu.configure(1, { volts: 3.7, currentLimitA: 0.5 });
    await f.psu.output(1, true);
    expect(unit.events).toEqual(['BOOT']);
    await f.psu.output(1, false); // before READY
    await new Promise((r) => setTimeout(r, 40));
    expect(unit.events).toEqual(['BOOT']);
    expect(unit.nest.execute('IDENT', [])).toEqual({ kind: 'silent' });
    await f.psu.output(1, true);
    await waitFor('READY', () => unit.events.filter((e) => e === 'READY').length === 1, { timeoutMs: 2000, intervalMs: 2 });
    expect(unit.events).toEqual(['BOOT', 'BOOT', 'READY']);
    expect(unit.nest.execute('PING', [])).toEqual({ kind: 'ok', payload: 'ready=1' });
  });

  it('tells the operator a new unit is in, and the unit waits for its supply to boot', async () => {
    const f = await fixture();
    const unit = wired(f, 1);
    const inserted: { powered: boolean; serial: number }[] = [];
    unit.nest.onUnitInserted((u) => inserted.push(u));
    await f.psu.configure(1, { volts: 3.7, currentLimitA: 0.5 });
    await f.psu.output(1, true);
    await waitFor('READY', () => unit.events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
    expect(unit.nest.execute('FAIL', ['VBAT'])).toEqual({ kind: 'ok', payload: 'led=RED' });
    await f.psu.output(1, false);
    await waitFor('the next unit inserted', () => inserted.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    expect(inserted[0]).toMatchObject({ powered: false, serial: 2 });
    await new Promise((r) => setTimeout(r, 30));
    expect(unit.events.filter((e) => e === 'BOOT')).toHaveLength(1);
    await f.psu.output(1, true); // the simulated operator closed the lid; the station powers the nest
    await waitFor('the new unit READY', () => unit.events.filter((e) => e === 'READY').length === 2, { timeoutMs: 2000, intervalMs: 2 });
    expect(unit.nest.currentUnit?.serial).toBe(2);
  });

  it('leaves a nest powered by its cable as it was: it boots at start, and SLEEP lasts until a reseat', async () => {
    const { nest: n, events } = nest('cable', { idleReseatMs: 60 }, 3);
    n.start();
    await waitFor('READY', () => events.includes('READY'), { timeoutMs: 2000, intervalMs: 2 });
    expect(n.power.currentA(0)).toBeCloseTo(UNIT_CURRENT_A.idle, 2);
    expect(n.execute('SLEEP', [])).toEqual({ kind: 'ok', payload: 'sleep=1' });
    expect(n.execute('PING', [])).toEqual({ kind: 'silent' });
    expect(n.power.currentA(0)).toBeLessThan(20e-6);
    await waitFor('reseated by the simulated operator', () => events.filter((e) => e === 'READY').length === 2, { timeoutMs: 2000, intervalMs: 2 });
    expect(n.execute('RADIO', ['TX'])).toMatchObject({ kind: 'err', code: 'BAD_ARG' });
    n.replugged();
    expect(events.at(-1)).toBe('BOOT');
  });
});
