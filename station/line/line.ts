// The line: every slot of the station with its DUT console and BlinkUp emitter, the runner they
// share, operator prompts, and (in simulation) the simulated nests, emitters, the enrollment
// service behind them, and the simulated operator who answers prompts.
import type { Logger } from 'pino';
import { createDutConsole, type BuiltDut } from '../../drivers/dut/index.js';
import { SimulatedEnrollmentService, SimulatedTokenSource } from '../../drivers/dut/simulator/enrollment.js';
import { Random } from '../../drivers/dut/simulator/random.js';
import { createEmitter, type BuiltEmitter } from '../../drivers/emitter/index.js';
import { OpticalLink } from '../../drivers/emitter/simulator/optical-link.js';
import type { TokenLedger } from '../tokens/ledger.js';
import { BlinkUpStep } from './blinkup.js';
import type { StationConfig } from '../config/load.js';
import type { StationBus, SlotSnapshot } from '../events.js';
import type { Store } from '../store/store.js';
import { PromptBroker } from './prompts.js';
import { SequenceRunner } from './runner.js';
import type { CompiledSequence } from './sequence.js';
import { Slot } from './slot.js';
import { ScanDesk } from './scan-desk.js';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { simulatedLabelText } from '../../drivers/dut/simulator/label.js';

export class Line {
  readonly prompts: PromptBroker;
  private readonly slots: Slot[] = [];
  private readonly duts: BuiltDut[] = [];
  private readonly emitters: (BuiltEmitter | null)[] = [];
  /** The cloud simulated DUTs enroll with; it issues the tokens of tokens.source "simulated". */
  readonly enrollment = new SimulatedEnrollmentService();
  private sequence: CompiledSequence;
  private accepting = false;
  private offSimOperator: (() => void) | null = null;
  private offTokens: (() => void) | null = null;
  /** The station's scanners and where their scans go. */
  readonly scans: ScanDesk;
  private readonly labelFormat: ScanFields;

  constructor(
    private readonly cfg: StationConfig,
    private readonly store: Store,
    private readonly bus: StationBus,
    private readonly log: Logger,
    private readonly tokens: TokenLedger | null = null,
    /** Seals and stores a label's secret fields (the mobile secret) for a device. */
    private readonly storeSecrets?: (deviceId: string, runId: string, secrets: Record<string, string>) => void,
  ) {
    this.sequence = cfg.compiledSequence;
    this.prompts = new PromptBroker(bus);
    this.labelFormat = new ScanFields(cfg.labels.format);
    this.scans = new ScanDesk({ cfg, prompts: this.prompts, bus, log, requestStart: (i) => this.slots[i]?.requestStart() ?? `there is no slot ${i + 1}` });
  }

  /** Tokens for a simulated station, issued by the simulated enrollment service. */
  get simulatedTokenSource(): SimulatedTokenSource | null {
    return this.cfg.slots.some((s) => s.dut.kind === 'simulated') ? new SimulatedTokenSource(this.enrollment) : null;
  }

  /** A slot's emitter simulator, for faults on demand; null for real hardware or no emitter. */
  emitterSimulation(index: number): BuiltEmitter['simulation'] {
    return this.emitters[index]?.simulation ?? null;
  }

  /** Station-wide reasons to take no new DUT (disk budget reached, say), by who holds them. */
  private readonly holds = new Map<string, string>();

  /** Refuses new DUTs on every slot until release(key); runs in flight finish. */
  hold(key: string, reason: string): void {
    this.holds.set(key, reason);
  }

  /** Lifts a hold; slots that refused a DUT for it take the DUT now. */
  release(key: string): void {
    if (!this.holds.delete(key)) return;
    if (this.accepting) for (const slot of this.slots) slot.retryRefused();
  }

  /** Why slot `index` takes no new DUT now, or null. Only LED emitters draw from the token pool. */
  private refusal(index: number): string | null {
    if (!this.accepting) return 'the station is not accepting DUTs';
    for (const reason of this.holds.values()) return reason;
    const usesPool = this.sequence.steps.some((s) => s.type === 'blinkup') && this.emitters[index]?.emitter.kind === 'led';
    if (usesPool && this.tokens && this.tokens.level().available === 0) return 'no factory tokens: the token pool is empty';
    return null;
  }

  get currentSequence(): CompiledSequence {
    return this.sequence;
  }

  /** The next run on every slot uses `seq` (registered in the store first); runs in flight keep theirs. */
  setSequence(seq: CompiledSequence): void {
    this.sequence = seq;
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
    const blinkup =
      cfg.blinkup && this.tokens
        ? new BlinkUpStep({
            settings: { ssid: cfg.blinkup.ssid, password: cfg.blinkup.password, apn: cfg.blinkup.apn ?? null, symbolRateHz: cfg.blinkup.symbolRateHz, activeLow: cfg.blinkup.activeLow },
            tokens: this.tokens,
            prompts: this.prompts,
            bus: this.bus,
            log: this.log.child({ part: 'line.blinkup' }),
          })
        : null;
    const runner = new SequenceRunner({
      store: this.store,
      bus: this.bus,
      prompts: this.prompts,
      log: this.log.child({ part: 'line.runner' }),
      stationId: cfg.station.id,
      mode: cfg.station.mode,
      blinkup,
      labelFormat: this.labelFormat,
      ...(this.storeSecrets ? { storeSecrets: this.storeSecrets } : {}),
    });
    const identify = this.sequence.steps[0];
    const deviceIdHexLength = identify?.type === 'identify' ? identify.deviceIdHexLength : 16;
    const seedBase = cfg.simulation.seed ?? Math.floor(Math.random() * 2 ** 31);
    cfg.slots.forEach((slotCfg, index) => {
      const dut = createDutConsole({ slot: index, driver: slotCfg.dut, settings: cfg.dut, simulation: cfg.simulation, deviceIdHexLength, seed: seedBase + index * 7919, log: this.log });
      this.duts.push(dut);
      let emitter: BuiltEmitter | null = null;
      if (slotCfg.emitter) {
        const optics = new OpticalLink();
        const fixtureCloud = cfg.blinkup ? { cloud: this.enrollment, ssid: cfg.blinkup.ssid, password: cfg.blinkup.password, symbolRateHz: cfg.blinkup.symbolRateHz } : undefined;
        emitter = createEmitter({
          slot: index,
          driver: slotCfg.emitter,
          optics,
          fixtureCloud,
          reconnectInitialMs: cfg.dut.reconnectInitialMs,
          reconnectMaxMs: cfg.dut.reconnectMaxMs,
          log: this.log,
          onUnavailable: (message) => this.bus.emit('alarm.raised', { alarmId: `drivers.hid.${index}`, severity: 'critical', message, slot: index }),
        });
        dut.simulation?.nest.attachOptics({ link: optics, enrollment: this.enrollment, ...cfg.simulation.optics });
      }
      this.emitters.push(emitter);
      this.slots.push(
        new Slot({
          index,
          name: slotCfg.name ?? `Slot ${index + 1}`,
          console: dut.console,
          emitter: emitter?.emitter ?? null,
          runner,
          bus: this.bus,
          log: this.log.child({ part: 'line.slot', slot: index }),
          autoStart: cfg.line.autoStart,
          sequence: () => this.sequence,
          refusal: () => this.refusal(index),
        }),
      );
    });
    const operator = cfg.simulation.operator;
    if (operator === 'all-slots' || (operator === 'simulated-slots' && this.duts.some((d) => d.simulation))) this.startSimulatedOperator(seedBase);
    this.accepting = true;
    // Tokens back in the pool: slots that refused a DUT for want of one take it now.
    this.offTokens = this.tokens?.events.on('level', (level) => {
      if (level.available > 0) for (const slot of this.slots) slot.retryRefused();
    }) ?? null;
    this.scans.start();
    await Promise.all(this.slots.map((s) => s.start()));
    for (const dut of this.duts) dut.simulation?.nest.start();
  }

  /** Stops taking DUTs, interrupts runs in flight (recorded as interrupted), closes every console. */
  async stop(reason = 'the station is shutting down'): Promise<void> {
    this.accepting = false;
    this.offSimOperator?.();
    this.offTokens?.();
    for (const dut of this.duts) dut.simulation?.nest.stop();
    await Promise.all([...this.slots.map((s) => s.stop(reason)), this.scans.stop()]);
  }

  /** The simulated operator scans the label of the unit in the nest, with the slot's simulated
   *  scanner when it has one (so the scan takes the real driver's path), else as if typed. */
  private simulatedScan(slot: number, promptId: string): void {
    const unit = this.duts[slot]?.simulation?.nest.currentUnit;
    const text = unit ? simulatedLabelText(unit, this.cfg.labels.format) : null;
    if (!text) return; // nothing this operator can scan: the prompt waits for a person
    setTimeout(() => {
      const scanner = this.scans.simulationFor(slot);
      if (scanner) {
        scanner.inject(text).catch((err: unknown) => this.log.warn({ err, slot }, 'the simulated scanner failed'));
        return;
      }
      try {
        this.prompts.answer(promptId, text);
      } catch {
        // closed first, or refused (the broker said why)
      }
    }, this.cfg.simulation.promptAnswerMs);
  }

  /** Prompts on simulated slots are answered by a simulated operator, mostly with a passing answer. */
  private startSimulatedOperator(seed: number): void {
    const rng = new Random(seed ^ 0x5eed);
    const sim = this.cfg.simulation;
    this.offSimOperator = this.bus.on('prompt.opened', (p) => {
      if (sim.operator !== 'all-slots' && !this.duts[p.slot]?.simulation) return;
      if (p.kind === 'scan') {
        this.simulatedScan(p.slot, p.promptId);
        return;
      }
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
