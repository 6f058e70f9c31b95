// The line: every slot of the station with its DUT console and BlinkUp emitter, the runner they
// share, operator prompts and the scanners. Its drivers are built by the composition root
// (station/hardware.ts) and handed in, real or simulated alike.
import type { Logger } from 'pino';
import type { DutConsole } from '../../drivers/console/console.js';
import type { Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import type { TokenLedger } from '../tokens/ledger.js';
import { BlinkUpStep } from './blinkup.js';
import { particleSinkOf, type StationConfig } from '../config/load.js';
import type { StationBus, SlotSnapshot } from '../events.js';
import type { Store } from '../store/store.js';
import { PromptBroker } from './prompts.js';
import { SequenceRunner } from './runner.js';
import type { CompiledSequence } from '../sequence/sequence.js';
import type { MesRouting } from '../sequence/step-kind.js';
import { Slot } from './slot.js';
import { ScanDesk, type DeskScanner } from './scan-desk.js';
import type { Fixture } from '../fixture/fixture.js';

/** One slot's drivers, built by the composition root. */
export interface SlotHardware {
  console: DutConsole;
  emitter: Emitter | ImpFixture | null;
}

export interface LineDeps {
  cfg: StationConfig;
  store: Store;
  bus: StationBus;
  log: Logger;
  tokens?: TokenLedger | null;
  /** Seals and stores a label's secret fields (the mobile secret) for a device. */
  storeSecrets?: (deviceId: string, runId: string, secrets: Record<string, string>) => void;
  /** Each configured slot's drivers, in config order. */
  slots: SlotHardware[];
  /** The station's scanners and the slot each is fixed to. */
  scanners?: DeskScanner[];
  /** The fixture (DUT power, bench instruments), when the station has one. */
  fixture?: Fixture | null;
  /** The plant's MES, which the interlock step asks (station config `mes`). */
  mes?: MesRouting | null;
}

export class Line {
  readonly prompts: PromptBroker;
  private readonly slots: Slot[] = [];
  private sequence: CompiledSequence;
  private accepting = false;
  private offTokens: (() => void) | null = null;
  /** The station's scanners and where their scans go. */
  readonly scans: ScanDesk;
  private readonly labelFormat: ScanFields;

  constructor(private readonly deps: LineDeps) {
    const { cfg, bus, log } = deps;
    this.sequence = cfg.compiledSequence;
    this.prompts = new PromptBroker(bus);
    this.labelFormat = new ScanFields(cfg.labels.format);
    this.scans = new ScanDesk({
      cfg,
      prompts: this.prompts,
      bus,
      log,
      scanners: deps.scanners ?? [],
      requestStart: (i) => this.slots[i]?.requestStart() ?? `there is no slot ${i + 1}`,
      clearVerdict: (i) => this.slots[i]?.clearVerdict() != null,
    });
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
    this.retryRefused();
  }

  /** A cause of refusal may have cleared (an instrument fixed, a calibration overridden): slots
   *  that refused a DUT take it now if nothing else refuses it. */
  retryRefused(): void {
    if (this.accepting) for (const slot of this.slots) slot.retryRefused();
  }

  /** Why slot `index` takes no new DUT now, or null. Only LED emitters draw from the token pool. */
  private refusal(index: number): string | null {
    if (!this.accepting) return 'the station is not accepting DUTs';
    for (const reason of this.holds.values()) return reason;
    const fixture = this.deps.fixture?.refusal(index);
    if (fixture) return fixture;
    const usesPool = this.sequence.steps.some((s) => s.type === 'blinkup') && this.deps.slots[index]?.emitter?.kind === 'led';
    const tokens = this.deps.tokens;
    if (usesPool && tokens && tokens.level().available === 0) return 'no factory tokens: the token pool is empty';
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

  /** Whether slot `index` has a run in progress. */
  busy(index: number): boolean {
    return this.slots[index]?.busy ?? false;
  }

  slot(index: number): Slot | undefined {
    return this.slots[index];
  }

  async start(): Promise<void> {
    const { cfg, bus, log, store, tokens } = this.deps;
    const blinkup =
      cfg.blinkup && tokens
        ? new BlinkUpStep({
            settings: { ssid: cfg.blinkup.ssid, password: cfg.blinkup.password, apn: cfg.blinkup.apn ?? null, symbolRateHz: cfg.blinkup.symbolRateHz, activeLow: cfg.blinkup.activeLow },
            tokens,
            prompts: this.prompts,
            bus,
            log: log.child({ part: 'line.blinkup' }),
          })
        : null;
    const runner = new SequenceRunner({
      store,
      bus,
      prompts: this.prompts,
      log: log.child({ part: 'line.runner' }),
      stationId: cfg.station.id,
      mode: cfg.station.mode,
      blinkup,
      labelFormat: this.labelFormat,
      ...(this.deps.storeSecrets ? { storeSecrets: this.deps.storeSecrets } : {}),
      mes: this.deps.mes ?? null,
      particle: particleProduct(cfg),
    });
    cfg.slots.forEach((slotCfg, index) => {
      const hw = this.deps.slots[index];
      if (!hw) throw new Error(`slot ${index} has no drivers`);
      this.slots.push(
        new Slot({
          index,
          name: slotCfg.name ?? `Slot ${index + 1}`,
          console: hw.console,
          emitter: hw.emitter,
          runner,
          bus,
          log: log.child({ part: 'line.slot', slot: index }),
          autoStart: cfg.line.autoStart,
          sequence: () => this.sequence,
          refusal: () => this.refusal(index),
          fixture: this.deps.fixture?.slots[index] ?? null,
        }),
      );
    });
    this.accepting = true;
    // Tokens back in the pool: slots that refused a DUT for want of one take it now.
    this.offTokens =
      tokens?.events.on('level', (level) => {
        if (level.available > 0) for (const slot of this.slots) slot.retryRefused();
      }) ?? null;
    this.scans.start();
    await Promise.all(this.slots.map((s) => s.start()));
  }

  /** Stops taking DUTs, interrupts runs in flight (recorded as interrupted), closes every console. */
  async stop(reason = 'the station is shutting down'): Promise<void> {
    this.accepting = false;
    this.offTokens?.();
    await Promise.all([...this.slots.map((s) => s.stop(reason)), this.scans.stop()]);
  }
}

/** The Particle product the station's units join (its particle sink), for identify's checks. */
function particleProduct(cfg: StationConfig): { product: number | string; platformId: number } | null {
  const sink = particleSinkOf(cfg);
  return sink ? { product: sink.product, platformId: sink.platformId } : null;
}
