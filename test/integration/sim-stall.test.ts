// The simulated station keeps every nest cycling whatever state a unit ends its run in. A failed
// unit asleep (after SLEEP) or hung when the station sends it FAIL never hears its verdict; the
// run still ends failed (the FAIL's non-answer logged), and the simulated operator, who sees the
// verdict on the slot's tile, takes the unit out and seats the next one. A unit whose run was
// interrupted (its cable pulled) is put back and tested again. Before, such a nest sat in FAIL
// (or interrupted) for good: the simulated firmware swapped units only on a FAIL or BLESS it heard.
//
// In process, on the shipped simulated fixture (bench supply powering the nest, DMM through the
// switch), one nest, a fixed seed, the faults placed on exact steps.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultKind, SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { LEAK_FAULT } from '../../drivers/dut/simulator/power.js';
import { parseConfig } from '../../station/config/load.js';
import type { StationEvents } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { Station } from '../../station/station.js';
import { shippedConfig } from '../support/configs.js';
import { waitFor } from '../support/wait.js';

type Finished = StationEvents['run.finished'];
/** A finished run, with the state its unit was in at that moment. */
type Seen = Finished & { unitState: string; hung: boolean };

/** The shipped simulated station on one powered nest, quick: no BlinkUp and no operator prompt,
 *  fast units and operator, no random faults, every unit out of spec on `failureRates`. */
function oneNestConfig(dataDir: string, failureRates: Record<string, number>): Record<string, unknown> {
  const cfg = shippedConfig({ fixture: true }) as unknown as Record<string, unknown> & {
    sequence: { steps: { type: string }[] };
    slots: Record<string, unknown>[];
    instruments: Record<string, unknown>[];
  };
  const { blinkup: _blinkup, tokens: _tokens, ...rest } = cfg;
  return {
    ...rest,
    station: { id: 'sim-stall', mode: 'test' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir },
    slots: cfg.slots.slice(0, 1).map(({ emitter: _emitter, ...slot }) => slot),
    instruments: cfg.instruments.map((i) => ({ ...i, reconnectInitialMs: 20, reconnectMaxMs: 100 })),
    sequence: { ...cfg.sequence, steps: cfg.sequence.steps.filter((s) => s.type !== 'blinkup' && s.type !== 'prompt') },
    uplink: {},
    simulation: {
      ...(cfg.simulation as object),
      seed: 20_240_611,
      commandLatencyMs: 2,
      bootMs: 30,
      handlingMs: 100,
      reseatMs: 300,
      retestRate: 0,
      failureRates,
      faultRates: { garbage: 0, hang: 0, unplug: 0 },
      promptAnswerMs: 20,
      promptFailRate: 0,
      operator: 'simulated-slots',
    },
  };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'station-sim-stall-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A started one-nest station, with what the test needs of it: every run finished on slot 0 (with
 * the unit's power state and whether it was hung at that moment: the FAIL has been sent by then,
 * and the nest not yet powered off), and `faultOn`, which gives the unit `kind` for the command
 * right after the first step named `step` is recorded with a status in `statuses`.
 */
async function oneNest(
  name: string,
  failureRates: Record<string, number>,
): Promise<{
  station: Station;
  nest: SimulatedNest;
  finished: Seen[];
  faultOn(step: string, statuses: string[], kind: FaultKind): void;
}> {
  const station = new Station(parseConfig(oneNestConfig(path.join(dir, name), failureRates), { source: 'sim-stall test', baseDir: dir }), silentLogger());
  cleanups.push(() => station.stop());
  const nest = station.world.slot(0)?.nest as SimulatedNest;
  const finished: Seen[] = [];
  station.bus.on('run.finished', (r) => {
    if (r.slot === 0) finished.push({ ...r, unitState: nest.power.unitState, hung: nest.hung });
  });
  let armed: { step: string; statuses: string[]; kind: FaultKind } | null = null;
  station.bus.on('run.step', ({ slot, result }) => {
    // Synchronous with the step's record: the runner's next command is the one that meets the fault.
    if (slot !== 0 || !armed || result.name !== armed.step || !armed.statuses.includes(result.status)) return;
    nest.injectFault(armed.kind);
    armed = null;
  });
  await station.start();
  return { station, nest, finished, faultOn: (step, statuses, kind) => (armed = { step, statuses, kind }) };
}

/** Waits for `n` runs finished on slot 0; a timeout says what the slot and its nest are doing. */
function runsFinished(station: Station, nest: SimulatedNest, finished: unknown[], n: number, timeoutMs = 15_000): Promise<true> {
  return waitFor(
    `${n} runs finished on nest 1`,
    () => {
      if (finished.length >= n) return true;
      const s = station.line.snapshots()[0];
      throw new Error(
        `${finished.length} finished; slot ${s?.state} (${s?.reason ?? ''}) since ${Date.now() - (s?.since ?? 0)} ms; unit ${nest.currentUnit?.serial} ${nest.power.unitState}${nest.hung ? ', hung' : ''}`,
      );
    },
    { timeoutMs },
  );
}

describe('the simulated station does not stall on a unit that never hears its verdict', () => {
  it('seats the next unit after a failed unit that was asleep (SLEEP) when FAIL was sent', async () => {
    const { station, nest, finished } = await oneNest('asleep', { [LEAK_FAULT]: 1 });
    await runsFinished(station, nest, finished, 2);
    const [first, second] = [finished[0], finished[1]] as [Seen, Seen];
    // The unit leaks in deep sleep: failed at the sleep test, still asleep when told FAIL.
    expect(first).toMatchObject({ verdict: 'failed', unitState: 'asleep' });
    expect(first.reason).toMatch(/^Sleep current: .* above high/);
    // The verdict is on record however deaf the unit was, and the nest went on with new units.
    expect(station.store.getRun(first.runId)).toMatchObject({ status: 'failed', failStep: 'Sleep test' });
    expect(second).toMatchObject({ verdict: 'failed', unitState: 'asleep' });
    expect(second.deviceId).not.toBe(first.deviceId);
    expect(nest.unitsSeen).toBeGreaterThanOrEqual(2);
  });

  it('seats the next unit after a failed unit that hung right before its FAIL', async () => {
    const { station, nest, finished, faultOn } = await oneNest('hung', { VBAT: 1 });
    faultOn('Battery voltage', ['fail'], 'hang');
    let stepAt = 0;
    let verdictAt = 0;
    station.bus.on('run.step', ({ result }) => {
      if (result.name === 'Battery voltage') stepAt ||= Date.now();
    });
    station.bus.on('run.finished', () => {
      verdictAt ||= Date.now();
    });
    await runsFinished(station, nest, finished, 2);
    const [first, second] = [finished[0], finished[1]] as [Seen, Seen];
    expect(first).toMatchObject({ verdict: 'failed', hung: true });
    expect(first.reason).toMatch(/ V below low 3\.4 V$/);
    // The line waited for the unanswered FAIL (its timeout is 2 s), then recorded the verdict; that
    // it did not wait for good is the deadline of runsFinished (no upper bound in ms here: a loaded
    // 2-core machine stretches it).
    expect(verdictAt - stepAt).toBeGreaterThanOrEqual(1900);
    expect(station.store.getRun(first.runId)).toMatchObject({ status: 'failed', failStep: 'Battery voltage' });
    expect(second.verdict).toBe('failed');
    expect(second.deviceId).not.toBe(first.deviceId);
  });

  it('puts back and retests a unit whose run was interrupted (its cable pulled mid-run)', async () => {
    const { station, nest, finished, faultOn } = await oneNest('interrupted', {});
    faultOn('Battery voltage', ['pass', 'marginal'], 'unplug');
    await runsFinished(station, nest, finished, 2);
    const [first, second] = [finished[0], finished[1]] as [Seen, Seen];
    expect(first.verdict).toBe('interrupted');
    expect(first.reason).toMatch(/disconnected/);
    // The same unit, seated again once its cable was back, passes.
    expect(second).toMatchObject({ verdict: 'blessed', deviceId: first.deviceId });
  });
});
