// Eight slots sharing one DMM, in process: eight SlotFixtures (the station's view of each nest's
// share of the fixture) on one simulated bench (two four-output supplies, a DMM shared by every
// nest, a second DMM for some, and the switch that routes both), with the real drivers over
// in-memory cables and the units in the nests drawing what their state draws. Every routed
// measurement reads its own nest, nobody deadlocks, the DMM is handed out in the order it was
// asked for, and the waits recorded with the steps are the real waits.
import { afterEach, describe, expect, it } from 'vitest';
import { DirectDutConsole } from '../../drivers/dut/simulator/direct-console.js';
import { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { LEAK_FAULT, UNIT_CURRENT_A } from '../../drivers/dut/simulator/power.js';
import { acquireAll, createInstrument, Dmm, Psu, type AnyInstrument, type InstrumentLock, type LockHandle } from '../../drivers/instrument/index.js';
import { SimulatedBench } from '../../drivers/instrument/simulator/bench.js';
import { SlotFixture } from '../../station/fixture/slot-fixture.js';
import { silentLogger } from '../../station/log.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** One DMM reading's integration time on the bench (ms). */
const READING_MS = 2;
const SLOTS = 8;

/** Slot i's unit: asleep and leaking (0, 4), asleep (2, 6), or awake and idle (odd slots). */
function expectedDmmA(slot: number): number {
  if (slot % 2 === 1) return UNIT_CURRENT_A.idle;
  return slot % 4 === 0 ? UNIT_CURRENT_A.asleepLeaking : UNIT_CURRENT_A.asleep;
}

const psuOf = (slot: number): string => (slot < 4 ? 'psu1' : 'psu2');

interface Bench {
  bench: SimulatedBench;
  instruments: Map<string, AnyInstrument>;
  slots: SlotFixture[];
  signal: AbortSignal;
}

/** The bench, eight nests wired to it (a supply channel, and both DMMs through switch channel
 *  i + 1), their units powered by their SlotFixture and put in their state. */
async function eightNests(): Promise<Bench> {
  const bench = new SimulatedBench({ seed: 21, dmmReadingMs: READING_MS });
  const instruments = new Map<string, AnyInstrument>();
  for (const [id, kind, model] of [
    ['psu1', 'psu', 'keysight-n6700'],
    ['psu2', 'psu', 'keysight-n6700'],
    ['dmm1', 'dmm', 'keysight-34461a'],
    ['dmm2', 'dmm', 'keysight-34461a'],
    ['mux1', 'switch', 'scpi-switch'],
  ] as const) {
    const instrument = createInstrument({ id, kind, model, transport: { kind: 'simulated' } }, { log: silentLogger(), simulation: bench });
    cleanups.push(() => instrument.stop());
    await instrument.start();
    await instrument.waitReady(2000);
    instruments.set(id, instrument);
  }
  cleanups.push(() => bench.stop());
  const abort = new AbortController();
  cleanups.push(() => abort.abort('test over'));
  const slots: SlotFixture[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const failureRates: Record<string, number> = i % 4 === 0 ? { [LEAK_FAULT]: 1 } : {};
    const nest = new SimulatedNest(`nest${i}`, { bootMs: 5, handlingMs: 600_000, retestRate: 0, failureRates, faultRates: { garbage: 0, hang: 0, unplug: 0 }, idleReseatMs: 600_000 }, 40 + i, {
      event: () => undefined,
      raw: () => undefined,
      unplug: () => undefined,
    });
    const console = new DirectDutConsole(`nest${i}`, nest);
    cleanups.push(() => nest.stop());
    nest.setExternalPower(true);
    const channel = (i % 4) + 1;
    cleanups.push(bench.wire(nest.power, { supply: { psu: psuOf(i), channel }, dmm: 'dmm1', via: { switch: 'mux1', channel: i + 1 } }));
    cleanups.push(bench.wire(nest.power, { dmm: 'dmm2', via: { switch: 'mux1', channel: i + 1 } }));
    nest.start(); // the unit is in the nest, waiting for its supply
    slots.push(new SlotFixture(i, console, instruments, { instrument: psuOf(i), channel, volts: 3.7, currentLimitA: 0.5, ocp: true }, { instrument: 'mux1', channel: i + 1 }, silentLogger()));
    if (i % 2 === 0) {
      await slots[i]?.power('on', { settleMs: 0, offMs: 0, bootTimeoutMs: 2000, signal: abort.signal });
      expect(await console.request('SLEEP', 1000)).toBe('sleep=1');
    }
  }
  await Promise.all(slots.map((s, i) => (i % 2 === 1 ? s.power('on', { settleMs: 0, offMs: 0, bootTimeoutMs: 2000, signal: abort.signal }) : null)));
  return { bench, instruments, slots, signal: abort.signal };
}

/** Records the order in which callers ask for `lock` and the order in which they get it. */
function recordTurns(lock: InstrumentLock): { asked: number[]; granted: number[] } {
  const turns = { asked: [] as number[], granted: [] as number[] };
  const acquire = lock.acquire.bind(lock);
  let next = 0;
  lock.acquire = (signal?: AbortSignal): Promise<LockHandle> => {
    const ticket = next++;
    turns.asked.push(ticket);
    return acquire(signal).then((handle) => {
      turns.granted.push(ticket);
      return handle;
    });
  };
  return turns;
}

/** `work`, or a failure naming `what` if it has not settled within `ms` (a deadlock never does). */
function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms: deadlocked?`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

describe('eight slots sharing one DMM through a switch', () => {
  it('completes every routed measurement, each reading its own nest, handing the DMM out first come first served with the waits recorded', async () => {
    const { instruments, slots, signal } = await eightNests();
    const dmm = instruments.get('dmm1') as Dmm;
    const turns = recordTurns(dmm.lock);
    const rounds = 10;
    const samples = 3;
    const dmmReadings: { slot: number; round: number; value: number | null; waitMs: number; instrument: { id: string; serial: string | null } }[] = [];
    const secondDmmReadings: { slot: number; value: number | null; instrument: { id: string; serial: string | null } }[] = [];
    const supplyReadings: { slot: number; value: number | null; instrument: { id: string; serial: string | null } }[] = [];

    await within(
      20_000,
      'eight slots measuring',
      Promise.all(
        slots.map(async (slot, i) => {
          for (let round = 0; round < rounds; round++) {
            const r = await slot.measure({ instrument: 'dmm1', function: 'current-dc', samples }, signal);
            dmmReadings.push({ slot: i, round, value: r.value, waitMs: r.waitMs, instrument: r.instrument });
            // The awake units also through the second DMM (the same switch routes it: the switch's
            // lock is shared with every user of the first), and their supply current.
            if (i % 2 === 1) {
              const d = await slot.measure({ instrument: 'dmm2', function: 'current-dc', samples: 1 }, signal);
              secondDmmReadings.push({ slot: i, value: d.value, instrument: d.instrument });
              const s = await slot.measure({ instrument: psuOf(i), function: 'current' }, signal);
              supplyReadings.push({ slot: i, value: s.value, instrument: s.instrument });
            }
          }
        }),
      ),
    );

    expect(dmmReadings).toHaveLength(SLOTS * rounds);
    for (const r of dmmReadings) {
      const expected = expectedDmmA(r.slot);
      expect(r.value, `slot ${r.slot} round ${r.round} read ${r.value} A, its unit draws ~${expected} A`).toBeGreaterThan(expected * 0.8);
      expect(r.value, `slot ${r.slot} round ${r.round} read ${r.value} A, its unit draws ~${expected} A`).toBeLessThan(expected * 1.2);
      expect(r.instrument).toEqual({ id: 'dmm1', serial: dmm.identity?.serial });
    }
    expect(secondDmmReadings).toHaveLength((SLOTS / 2) * rounds);
    for (const r of secondDmmReadings) {
      expect(r.value, `slot ${r.slot} read ${r.value} A on dmm2, its unit draws ~${UNIT_CURRENT_A.idle} A`).toBeGreaterThan(UNIT_CURRENT_A.idle * 0.8);
      expect(r.value, `slot ${r.slot} read ${r.value} A on dmm2, its unit draws ~${UNIT_CURRENT_A.idle} A`).toBeLessThan(UNIT_CURRENT_A.idle * 1.2);
      expect(r.instrument).toEqual({ id: 'dmm2', serial: (instruments.get('dmm2') as Dmm).identity?.serial });
    }
    expect(supplyReadings).toHaveLength((SLOTS / 2) * rounds);
    for (const s of supplyReadings) {
      expect(s.value, `slot ${s.slot}'s supply current`).toBeGreaterThan(UNIT_CURRENT_A.idle * 0.8);
      expect(s.value, `slot ${s.slot}'s supply current`).toBeLessThan(UNIT_CURRENT_A.idle * 1.2);
      expect(s.instrument).toEqual({ id: psuOf(s.slot), serial: (instruments.get(psuOf(s.slot)) as Psu).identity?.serial });
    }

    // First come, first served: the DMM went to its waiters in the order they asked for it.
    expect(turns.asked).toHaveLength(SLOTS * rounds);
    expect(turns.granted).toEqual(turns.asked);

    // The first round: all eight asked at once, so seven waited behind one or more whole
    // measurements (each at least `samples` readings), the last behind seven of them.
    const firstWaits = dmmReadings
      .filter((r) => r.round === 0)
      .map((r) => r.waitMs)
      .sort((a, b) => a - b);
    const oneMeasurementMs = samples * READING_MS;
    expect(firstWaits.filter((w) => w >= oneMeasurementMs).length, `first-round waits ${firstWaits.map((w) => w.toFixed(1)).join(', ')} ms`).toBeGreaterThanOrEqual(SLOTS - 1);
    expect(firstWaits.at(-1)).toBeGreaterThanOrEqual((SLOTS - 1) * oneMeasurementMs);

    // Alone, a slot waits for nothing.
    const alone = await slots[1]?.measure({ instrument: 'dmm1', function: 'current-dc', samples }, signal);
    expect(alone?.waitMs).toBeLessThan(1);
  });

  it('lets two slots that each need the supply and the DMM, asking for them in opposite orders, both go on (acquireAll)', async () => {
    const { instruments } = await eightNests();
    const psu = instruments.get('psu1') as Psu;
    const dmm = instruments.get('dmm1') as Dmm;
    let done = 0;
    const step = async (locks: InstrumentLock[]): Promise<void> => {
      for (let k = 0; k < 20; k++) {
        const held = await acquireAll(locks);
        try {
          await psu.measure(2, 'current');
          await dmm.measure({ function: 'current-dc', samples: 1 });
          done++;
        } finally {
          held.release();
        }
      }
    };
    await within(5000, 'two slots crossing their lock orders', Promise.all([step([psu.lock, dmm.lock]), step([dmm.lock, psu.lock])]));
    expect(done).toBe(40);
    expect(psu.lock.held || dmm.lock.held).toBe(false);
  });
});
