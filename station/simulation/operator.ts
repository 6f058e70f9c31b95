// The simulated operator: answers prompts on simulated slots (or on every slot, for a simulator on
// a real serial port, as tests run it), mostly with a passing answer, and scans the label of the
// unit in the nest with the slot's simulated scanner when it has one (so the scan takes the real
// driver's path), else as if typed on the dashboard. It answers through the same prompt broker a
// person uses; the line does not know it is there.
import type { Logger } from 'pino';
import type { Part } from '../../lib/lifecycle.js';
import { simulatedLabelText } from '../../drivers/dut/simulator/label.js';
import type { StationConfig } from '../config/load.js';
import type { StationBus } from '../events.js';
import type { PromptBroker } from '../line/prompts.js';
import type { SimulatedWorld } from './world.js';

export function simulatedOperatorPart(deps: {
  cfg: StationConfig;
  world: SimulatedWorld;
  bus: StationBus;
  prompts: PromptBroker;
  /** Starts slot `index` (the operator closes the lid on a powered nest); why not, or null. */
  requestStart: (index: number) => string | null;
  log: Logger;
}): Part {
  const { cfg, world, bus, prompts, log } = deps;
  const sim = cfg.simulation;
  const simulatedSlots = cfg.slots.some((_, i) => world.slot(i));
  const active = sim.operator === 'all-slots' || (sim.operator === 'simulated-slots' && simulatedSlots);
  let off: (() => void) | null = null;
  const insertOffs: (() => void)[] = [];

  /** A unit placed in a powered nest: the operator closes the lid (starts the slot), trying again
   *  while the slot is not ready to take it (its console still connecting, say). */
  const closeLid = (slot: number, tries = 0): void => {
    later(() => {
      const why = deps.requestStart(slot);
      if (why && tries < 50 && !/already in progress/.test(why)) closeLid(slot, tries + 1);
    });
  };
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, sim.promptAnswerMs);
    timers.add(t);
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
        if (nest && slotCfg.power) insertOffs.push(nest.onUnitInserted(() => closeLid(i)));
      });
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
      for (const o of insertOffs.splice(0)) o();
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
