// The line: every slot of the station, the runner they share, operator prompts, and (in
// simulation) the simulated nests and the simulated operator who answers prompts.
import type { Logger } from 'pino';
import { createDutConsole, type BuiltDut } from '../../drivers/dut/index.js';
import { Random } from '../../drivers/dut/simulator/random.js';
import type { StationConfig } from '../config/load.js';
import type { EventBus, SlotSnapshot } from '../events.js';
import type { Store } from '../store/store.js';
import { PromptBroker } from './prompts.js';
import { SequenceRunner } from './runner.js';
import type { CompiledSequence } from './sequence.js';
import { Slot } from './slot.js';

export class Line {
  readonly prompts: PromptBroker;
  private readonly slots: Slot[] = [];
  private readonly duts: BuiltDut[] = [];
  private sequence: CompiledSequence;
  private accepting = false;
  private offSimOperator: (() => void) | null = null;

  constructor(
    private readonly cfg: StationConfig,
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.sequence = cfg.compiledSequence;
    this.prompts = new PromptBroker(bus);
  }

  get currentSequence(): CompiledSequence {
    return this.sequence;
  }

  snapshots(): SlotSnapshot[] {
    return this.slots.map((s) => ({ ...s.state }));
  }

  slot(index: number): Slot | undefined {
    return this.slots[index];
  }

  /** The simulated nest behind a slot, for faults on demand; null for real hardware. */
  simulation(index: number): BuiltDut['simulation'] {
    return this.duts[index]?.simulation ?? null;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const runner = new SequenceRunner({ store: this.store, bus: this.bus, prompts: this.prompts, log: this.log.child({ part: 'line.runner' }), stationId: cfg.station.id, mode: cfg.station.mode });
    const identify = this.sequence.steps[0];
    const deviceIdHexLength = identify?.type === 'identify' ? identify.deviceIdHexLength : 16;
    const seedBase = cfg.simulation.seed ?? Math.floor(Math.random() * 2 ** 31);
    cfg.slots.forEach((slotCfg, index) => {
      const dut = createDutConsole({ slot: index, driver: slotCfg.dut, settings: cfg.dut, simulation: cfg.simulation, deviceIdHexLength, seed: seedBase + index * 7919, log: this.log });
      this.duts.push(dut);
      this.slots.push(
        new Slot({
          index,
          name: slotCfg.name ?? `Slot ${index + 1}`,
          console: dut.console,
          runner,
          bus: this.bus,
          log: this.log.child({ part: 'line.slot', slot: index }),
          autoStart: cfg.line.autoStart,
          sequence: () => this.sequence,
          accepting: () => this.accepting,
        }),
      );
    });
    const operator = cfg.simulation.operator;
    if (operator === 'all-slots' || (operator === 'simulated-slots' && this.duts.some((d) => d.simulation))) this.startSimulatedOperator(seedBase);
    this.accepting = true;
    await Promise.all(this.slots.map((s) => s.start()));
    for (const dut of this.duts) dut.simulation?.nest.start();
  }

  /** Stops taking DUTs, interrupts runs in flight (recorded as interrupted), closes every console. */
  async stop(reason = 'the station is shutting down'): Promise<void> {
    this.accepting = false;
    this.offSimOperator?.();
    for (const dut of this.duts) dut.simulation?.nest.stop();
    await Promise.all(this.slots.map((s) => s.stop(reason)));
  }

  /** Prompts on simulated slots are answered by a simulated operator, mostly with a passing answer. */
  private startSimulatedOperator(seed: number): void {
    const rng = new Random(seed ^ 0x5eed);
    const sim = this.cfg.simulation;
    this.offSimOperator = this.bus.on('prompt.opened', (p) => {
      if (sim.operator !== 'all-slots' && !this.duts[p.slot]?.simulation) return;
      const failing = p.answers.find((a) => a !== 'yes') ?? p.answers[0];
      const answer = rng.chance(sim.promptFailRate) ? failing : (p.answers[0] as string);
      setTimeout(() => {
        try {
          if (answer) this.prompts.answer(p.promptId, answer);
        } catch {
          // the prompt closed first (run interrupted or answered from the dashboard)
        }
      }, sim.promptAnswerMs);
    });
  }
}
