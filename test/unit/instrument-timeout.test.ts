// A `timeoutMs` on an instrument step, or on a measure step with an instrument `source`, bounds the
// step's instrument exchange: the wait for the instrument's lock (another slot using it) and the
// commands or the measurement. Past it the step errors, naming the instrument, and the instrument
// is left in step for the next caller. Without one, the step waits as long as it takes (each
// command bounded by the instrument's own timeout). The real runner, store and slot fixture, on a
// simulated bench in process.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createInstrument, type AnyInstrument } from '../../drivers/instrument/index.js';
import { SimulatedBench } from '../../drivers/instrument/simulator/bench.js';
import { StationBus } from '../../station/events.js';
import { SlotFixture } from '../../station/fixture/slot-fixture.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner } from '../../station/line/runner.js';
import { silentLogger } from '../../station/log.js';
import { loadSequence } from '../../station/sequence/sequence.js';
import { Store } from '../../station/store/store.js';
import { ScriptedConsole, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  dirs.cleanup();
});

const IDENT = 'id=0123456789abcdef mac=0c2a69000001 fw=factory-2.3.1 model=WE1 blessed=0';

interface StepView {
  name: string;
  status: string;
  message: string | null;
  durationMs: number;
  measurements: { name: string; value: number | string }[];
}

/** A bench with a generic SCPI box (gen1) and a DMM (dmm1) whose readings take `readingMs` each. */
async function bench(readingMs: number): Promise<Map<string, AnyInstrument>> {
  const sim = new SimulatedBench({ seed: 3, dmmReadingMs: readingMs });
  cleanups.push(() => sim.stop());
  const instruments = new Map<string, AnyInstrument>();
  for (const [id, kind, model] of [
    ['gen1', 'scpi', 'scpi'],
    ['dmm1', 'dmm', 'keysight-34461a'],
  ] as const) {
    const instrument = createInstrument({ id, kind, model, transport: { kind: 'simulated' } }, { log: silentLogger(), simulation: sim });
    cleanups.push(() => instrument.stop());
    await instrument.start();
    await instrument.waitReady(2000);
    instruments.set(id, instrument);
  }
  return instruments;
}

/** Runs identify, `steps`, bless on one unit with the slot's fixture on `instruments`; its steps as recorded. */
async function run(instruments: Map<string, AnyInstrument>, steps: object[]): Promise<StepView[]> {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const runner = new SequenceRunner({ store, bus, prompts: new PromptBroker(bus), log: silentLogger(), stationId: 'unit', mode: 'production', failCommandTimeoutMs: 200 });
  const seq = loadSequence({ name: 'timeouts', stopOnFailure: false, steps: [{ type: 'identify', name: 'Identify' }, ...steps, { type: 'bless', name: 'Bless' }] }, 'test');
  store.registerSequence(seq);
  const console = new ScriptedConsole({ IDENT, BLESS: 'blessed=1', FAIL: 'led=RED' });
  const fixture = new SlotFixture(0, console, instruments, null, null, silentLogger());
  const runId = randomUUID();
  await runner.run({ runId, slot: 0, console, sequence: seq, signal: new AbortController().signal, onStep: () => undefined, onIdentified: () => undefined, onVerdictSent: () => undefined, fixture });
  store.flush();
  return (store.getRun(runId) as { steps: StepView[] }).steps;
}

const version = (timeoutMs?: number): object => ({ type: 'instrument', name: 'Box version', instrument: 'gen1', query: 'SYST:VERS?', as: 'string', ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
const leak = (timeoutMs?: number): object => ({
  type: 'measure',
  name: 'Leak current',
  source: { instrument: 'dmm1', function: 'current-dc', samples: 10 },
  unit: 'A',
  ...(timeoutMs !== undefined ? { timeoutMs } : {}),
});

describe('timeoutMs on an instrument exchange', () => {
  it('errors an instrument step still waiting for its instrument (another slot holds it) at timeoutMs, naming the instrument', async () => {
    const instruments = await bench(2);
    const gen1 = instruments.get('gen1') as AnyInstrument;
    const held = await gen1.lock.acquire();
    let steps: StepView[];
    try {
      steps = await run(instruments, [version(300)]);
    } finally {
      held.release();
    }
    const step = steps.find((s) => s.name === 'Box version') as StepView;
    expect(step.status).toBe('error');
    expect(step.message).toBe("gen1: no answer within the step's timeoutMs (300 ms), the wait for the instrument included");
    expect(step.durationMs).toBeGreaterThanOrEqual(290);
    expect(step.durationMs).toBeLessThan(2000);
    // Free again, the same step answers.
    const again = await run(instruments, [version(300)]);
    expect(again.find((s) => s.name === 'Box version')).toMatchObject({ status: 'pass', measurements: [{ name: 'Box version', value: '1999.0' }] });
  });

  it('errors a measure step whose reading takes longer than its timeoutMs, and the DMM reads the next unit in step', async () => {
    const instruments = await bench(100); // 10 samples: about a second
    const steps = await run(instruments, [leak(300), version()]);
    const step = steps.find((s) => s.name === 'Leak current') as StepView;
    expect(step.status).toBe('error');
    expect(step.message).toBe("dmm1: no reading within the step's timeoutMs (300 ms), the wait for the instrument included");
    expect(step.durationMs).toBeLessThan(900);
    // The steps after it run (stopOnFailure false), and the DMM answers the next reading in step.
    expect(steps.find((s) => s.name === 'Box version')?.status).toBe('pass');
    const next = await run(instruments, [leak(5000)]);
    expect(next.find((s) => s.name === 'Leak current')).toMatchObject({ status: 'pass', measurements: [{ name: 'Leak current', value: expect.any(Number) }] });
  });

  it('waits as long as it takes without a timeoutMs', async () => {
    const instruments = await bench(2);
    const gen1 = instruments.get('gen1') as AnyInstrument;
    const held = await gen1.lock.acquire();
    let releasedAt = 0;
    setTimeout(() => {
      releasedAt = Date.now();
      held.release();
    }, 600);
    const steps = await run(instruments, [version()]);
    const step = steps.find((s) => s.name === 'Box version') as StepView;
    expect(step.status).toBe('pass');
    // It waited for the lock (however late the step began): it ended after the release, not at a timeout.
    expect(releasedAt).toBeGreaterThan(0);
    expect(step.durationMs).toBeGreaterThan(0);
  });
});
