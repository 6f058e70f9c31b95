// The simulated operator: answers prompts on simulated slots (or on every slot, for a simulator on
// a real serial port, as tests run it), mostly with a passing answer, and scans the label of the
// unit in the nest with the slot's simulated scanner when it has one (so the scan takes the real
// driver's path), else as if typed on the dashboard. It answers through the same prompt broker a
// person uses; the line does not know it is there.
//
// It also tends the nests as a person at the line would: a unit placed in a powered nest gets its
// lid closed (the slot started), again and again while the slot cannot take it yet; after a
// verdict it takes the unit out and seats the next one even when the unit never heard that
// verdict (asleep after SLEEP, hung: its FAIL went unanswered); and a unit whose run was
// interrupted is put back and tested again once the slot has sat idle for `reseatMs`.
import type { Logger } from 'pino';
import type { Part } from '../../lib/lifecycle.js';
import { simulatedLabelText } from '../../drivers/dut/simulator/label.js';
import type { StationConfig } from '../config/load.js';
import type { StationBus } from '../events.js';
import type { PromptBroker } from '../line/prompts.js';
import type { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import type { SimulatedWorld } from './world.js';

export function simulatedOperatorPart(deps: {
  cfg: StationConfig;
  world: SimulatedWorld;
  bus: StationBus;
  prompts: PromptBroker;
  /** Starts slot `index` (the operator closes the lid on a powered nest); why not, or null. */
  requestStart: (index: number) => string | null;
  /** Whether slot `index` has a run in progress. */
  busy: (index: number) => boolean;
  log: Logger;
}): Part {
  const { cfg, world, bus, prompts, log } = deps;
  const sim = cfg.simulation;
  const simulatedSlots = cfg.slots.some((_, i) => world.slot(i));
  const active = sim.operator === 'all-slots' || (sim.operator === 'simulated-slots' && simulatedSlots);
  let off: (() => void) | null = null;
  const insertOffs: (() => void)[] = [];
  /** Per slot, the nest's seat (its unitsSeen) when its latest run began: which unit it tested. */
  const runSeats = new Map<number, number>();
  /** Per slot, the reseat waiting after an interrupted run. */
  const reseats = new Map<number, NodeJS.Timeout>();
  const offs: (() => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms = sim.promptAnswerMs): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  /**
   * A unit seated as `seat` in a powered nest: the operator closes the lid (starts the slot), and
   * keeps trying (every promptAnswerMs, then every second) while the slot cannot take it yet: its
   * console reconnecting, the previous unit's run still closing, a refusal. Until its run begins,
   * whoever started it, or the unit is taken out.
   */
  const closeLid = (slot: number, nest: SimulatedNest, seat: number, tries = 0): void => {
    later(
      () => {
        if (nest.unitsSeen !== seat || runSeats.get(slot) === seat) return;
        if (deps.requestStart(slot) !== null) closeLid(slot, nest, seat, tries + 1);
      },
      tries < 50 ? sim.promptAnswerMs : Math.max(sim.promptAnswerMs, 1000),
    );
  };

  const cancelReseat = (slot: number): void => {
    const t = reseats.get(slot);
    if (!t) return;
    clearTimeout(t);
    timers.delete(t);
    reseats.delete(slot);
  };

  /** A run ended on a simulated nest: the operator deals with the unit, whatever state it is in. */
  const afterRun = (slot: number, verdict: string): void => {
    const nest = world.slot(slot)?.nest;
    const seat = runSeats.get(slot);
    if (!nest || seat === undefined) return;
    if (verdict !== 'interrupted') {
      // Out with it, unless it heard its verdict (FAIL, BLESS) and is being swapped already.
      nest.verdictShown(seat);
      return;
    }
    // Interrupted (a pulled cable, a reboot mid-test): put back and tested again, unless the line
    // has taken it up again by itself meanwhile (a unit that booted starts its run on-boot).
    cancelReseat(slot);
    const t = setTimeout(() => {
      timers.delete(t);
      reseats.delete(slot);
      if (!deps.busy(slot) && nest.reseat(seat)) log.info({ slot }, 'the simulated operator put back the unit of an interrupted run, to test it again');
    }, sim.reseatMs);
    timers.add(t);
    reseats.set(slot, t);
  };

  const answer = (promptId: string, text: string): void => {
    try {
      prompts.answer(promptId, text);
    } catch {
      // the prompt closed first (run interrupted, or answered from the dashboard), or the broker
      // refused the answer and said why
    }
  };

  const scan = (slot: number, promptId: string): void => {
    const unit = world.slot(slot)?.nest.currentUnit;
    const text = unit ? simulatedLabelText(unit, cfg.labels.format) : null;
    if (!text) return; // nothing this operator can scan: the prompt waits for a person
    later(() => {
      const scanner = world.scannerFor(slot);
      if (scanner) scanner.inject(text).catch((err: unknown) => log.warn({ err, slot }, 'the simulated scanner failed'));
      else answer(promptId, text);
    });
  };

  return {
    name: 'sim.operator',
    stopCapMs: 500,
    start: () => {
      if (!active) return;
      cfg.slots.forEach((slotCfg, i) => {
        const nest = world.slot(i)?.nest;
        if (nest && slotCfg.power) insertOffs.push(nest.onUnitInserted(() => closeLid(i, nest, nest.unitsSeen)));
      });
      offs.push(
        bus.on('run.started', ({ slot }) => {
          const nest = world.slot(slot)?.nest;
          if (!nest) return;
          runSeats.set(slot, nest.unitsSeen);
          cancelReseat(slot);
        }),
        bus.on('run.finished', ({ slot, verdict }) => afterRun(slot, verdict)),
      );
      const rng = world.operatorRandom();
      off = bus.on('prompt.opened', (p) => {
        if (sim.operator !== 'all-slots' && !world.slot(p.slot)) return;
        if (p.kind === 'scan') return scan(p.slot, p.promptId);
        const failing = p.answers.find((a) => a !== 'yes') ?? p.answers[0];
        const choice = rng.chance(sim.promptFailRate) ? failing : (p.answers[0] as string);
        if (choice) later(() => answer(p.promptId, choice));
      });
    },
    stop: () => {
      off?.();
      off = null;
      for (const o of [...insertOffs.splice(0), ...offs.splice(0)]) o();
      reseats.clear();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
