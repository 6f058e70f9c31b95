// One test nest: its own state machine around one DUT console. A DUT that boots (or is found
// ready when the console connects) starts a run; a reboot or a lost console mid-run interrupts it.
import type { Logger } from 'pino';
import type { DutConsole } from '../../drivers/console/console.js';
import type { Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import type { KeptVerdict, StationBus, SlotSnapshot, SlotStateName } from '../events.js';
import { uuidv7 } from '../store/ids.js';
import type { SequenceRunner } from './runner.js';
import type { SlotFixture } from '../fixture/slot-fixture.js';
import type { CompiledSequence } from '../sequence/sequence.js';
import type { CompiledBase } from '../sequence/step-kind.js';
import { textOf, translationsOf } from '../sequence/fields.js';

/** An idle slot's reason while a unit sits ready in it, waiting for a person to start it (manual start). */
export const READY_TO_START_REASON = 'DUT ready: press start';

export interface SlotOptions {
  index: number;
  name: string;
  console: DutConsole;
  emitter?: Emitter | ImpFixture | null;
  runner: SequenceRunner;
  bus: StationBus;
  log: Logger;
  autoStart: 'on-boot' | 'manual';
  sequence(): CompiledSequence;
  /** The slot's fixture (DUT power, bench instruments); a powered slot's unit only runs when
   *  started (a person, a scan, the lid), since it cannot boot before the station powers it. */
  fixture?: SlotFixture | null;
  /** Why the station refuses new DUTs now (shutting down, no tokens), or null. */
  refusal(): string | null;
}

export class Slot {
  private snapshot: SlotSnapshot;
  private current: { runId: string; abort: AbortController; done: Promise<void>; verdictSent: boolean } | null = null;
  private startWhenFree = false;
  /** Why the slot stopped taking DUTs (a configuration error), until the station restarts. */
  private halted: string | null = null;
  /** A ready DUT was refused: it gets its run when the cause clears (tokens back, say). */
  private waitingDut = false;
  private unsubscribe: (() => void)[] = [];
  runsCompleted = 0;

  constructor(private readonly opts: SlotOptions) {
    this.snapshot = {
      slot: opts.index,
      name: opts.name,
      state: 'offline',
      connected: false,
      runId: null,
      deviceId: null,
      step: null,
      reason: null,
      guidance: null,
      detail: null,
      since: Date.now(),
      lastVerdict: null,
    };
  }

  get state(): Readonly<SlotSnapshot> {
    return this.snapshot;
  }

  get busy(): boolean {
    return this.current !== null;
  }

  async start(): Promise<void> {
    const events = this.opts.console.events;
    this.unsubscribe.push(
      events.on('connection', ({ connected, reason }) => (connected ? this.onConnected() : this.onDisconnected(reason))),
      events.on('event', ({ name }) => this.onDutEvent(name)),
      events.on('garbage', ({ line, reason }) => this.opts.log.debug({ reason, length: line.length }, 'garbage from DUT')),
    );
    await Promise.all([this.opts.console.start(), this.opts.emitter?.start()]);
  }

  /** Interrupts the run in flight (if any) and waits for it to be recorded, then closes the console. */
  async stop(reason: string): Promise<void> {
    this.startWhenFree = false;
    const run = this.current;
    if (run) {
      run.abort.abort(reason);
      await run.done;
    }
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    await Promise.all([this.opts.console.stop(), this.opts.emitter?.stop()]);
  }

  /** The cause of a refusal may have cleared: start the DUT that is waiting, if any. */
  retryRefused(): void {
    if (this.waitingDut && !this.current && this.snapshot.state === 'refused') this.tryAutoStart();
  }

  /** Lifts a halt (an operator acknowledged its alarm): the slot takes DUTs again, a waiting one
   *  first. Returns false when the slot was not halted. */
  resume(): boolean {
    if (!this.halted) return false;
    this.halted = null;
    if (this.current) return true;
    if (this.waitingDut) this.tryAutoStart();
    else this.set({ state: this.opts.console.connected ? 'idle' : 'offline', reason: null });
    return true;
  }

  /** Takes the kept verdict off the slot (an operator has dealt with the unit); returns it, or null when there was none. */
  clearVerdict(): KeptVerdict | null {
    const kept = this.snapshot.lastVerdict ?? null;
    if (kept) this.set({ lastVerdict: null });
    return kept;
  }

  /** An operator (or a scan) starts the slot. Returns why not, or null when started. */
  requestStart(): string | null {
    if (!this.opts.console.connected) return 'the DUT console is not connected';
    if (this.current) return 'a run is already in progress';
    if (this.halted) return this.halted;
    const refusal = this.opts.refusal();
    if (refusal) return refusal;
    this.beginRun();
    return null;
  }

  private onConnected(): void {
    this.set({ connected: true, state: 'idle', reason: this.powered ? 'place a unit and start' : null });
    if (this.opts.autoStart !== 'on-boot' || this.powered) return;
    // A unit may already be sitting in the nest, booted (after a station restart, say): ask it.
    const probe = this.opts.console.readyProbe;
    this.opts.console
      .request(probe.command, 1000)
      .then((answer) => {
        if (probe.ready.test(answer) && !this.current) this.tryAutoStart();
      })
      .catch(() => undefined); // no unit, or still booting: its READY will start the run
  }

  private onDisconnected(reason: string | null): void {
    this.set({ connected: false, state: this.current ? this.snapshot.state : 'offline', reason: reason ?? 'disconnected' });
    this.current?.abort.abort(`DUT console disconnected during the test (${reason ?? 'cable pulled?'})`);
  }

  /** The run powers the unit (slots[].power): it boots because the station switched it on. */
  private get powered(): boolean {
    return this.opts.fixture?.powered ?? false;
  }

  private onDutEvent(name: string): void {
    if (name === 'BOOT') {
      const run = this.current;
      // A boot the station caused (power on, a power step) is not a reboot mid-test.
      if (run && !run.verdictSent && !this.opts.fixture?.expectingBoot) run.abort.abort('the DUT rebooted during the test');
      return;
    }
    // A powered unit boots only when its run powers it: its READY starts nothing.
    if (name === 'READY' && !this.powered) this.tryAutoStart();
  }

  private tryAutoStart(): void {
    if (this.opts.autoStart !== 'on-boot') {
      if (!this.current) this.set({ state: 'idle', deviceId: null, step: null, reason: READY_TO_START_REASON });
      return;
    }
    if (this.current) {
      this.startWhenFree = true;
      return;
    }
    const refusal = this.halted ?? this.opts.refusal();
    if (refusal) {
      this.waitingDut = true;
      this.set({ state: 'refused', reason: refusal });
      return;
    }
    this.waitingDut = false;
    this.beginRun();
  }

  private beginRun(): void {
    const runId = uuidv7();
    const abort = new AbortController();
    const sequence = this.opts.sequence();
    const count = sequence.steps.length;
    const run = { runId, abort, done: Promise.resolve(), verdictSent: false };
    this.current = run;
    const first = sequence.steps[0];
    this.set({ state: 'identifying', runId, deviceId: null, step: stepView(0, count, first), reason: null, guidance: null, lastVerdict: null });
    run.done = this.opts.runner
      .run({
        runId,
        slot: this.opts.index,
        console: this.opts.console,
        emitter: this.opts.emitter ?? null,
        sequence,
        fixture: this.opts.fixture ?? null,
        onDetail: (words) => {
          this.set({ detail: words });
        },
        signal: abort.signal,
        onStep: (index, step) => {
          const state: SlotStateName = step.type === 'identify' ? 'identifying' : step.type === 'bless' ? 'blessing' : step.type === 'blinkup' ? 'blinkup' : 'testing';
          this.snapshot.step = stepView(index, count, step);
          this.snapshot.detail = null;
          this.set({ state });
        },
        onIdentified: (identity) => {
          this.snapshot.deviceId = identity.deviceId;
        },
        onVerdictSent: () => {
          run.verdictSent = true;
        },
      })
      .then((outcome) => {
        this.runsCompleted++;
        const state: SlotStateName = outcome.verdict === 'blessed' ? 'pass' : outcome.verdict === 'failed' ? 'fail' : 'interrupted';
        const reason = outcome.failStep && outcome.reason ? `${outcome.failStep}: ${outcome.reason}` : outcome.reason;
        if (outcome.haltSlot) this.halted = `stopped: ${outcome.haltSlot}`;
        const guidance = state === 'fail' && !outcome.haltSlot ? failGuidance(sequence, outcome.failStep, outcome.reason) : null;
        const deviceId = outcome.identity?.deviceId ?? null;
        const step = this.snapshot.step ? { ...this.snapshot.step } : null;
        const lastVerdict = !outcome.haltSlot && (state === 'pass' || state === 'fail') ? { runId, verdict: state, deviceId, guidance, reason, step, finishedAt: Date.now() } : null;
        this.set({ state: outcome.haltSlot ? 'refused' : state, deviceId, reason: outcome.haltSlot ? this.halted : reason, guidance, detail: null, lastVerdict });
        this.opts.log.info({ runId, verdict: outcome.verdict, deviceId: outcome.identity?.deviceId, attempt: outcome.attempt, rework: outcome.rework, reason }, 'run finished');
      })
      .catch((err: Error) => {
        // The verdict could not be stored (a failed disk, say): nothing claims it. The unit is
        // shown interrupted, to be tested again; the run is marked interrupted at the next start.
        this.set({ state: 'interrupted', reason: `the verdict could not be stored (station error: ${err.message}): test this unit again` });
        this.opts.log.error({ err, runId }, 'run failed inside the station; it stays open and is marked interrupted at the next start');
      })
      .finally(() => {
        this.current = null;
        if (this.startWhenFree) {
          this.startWhenFree = false;
          this.tryAutoStart();
        }
      });
  }

  private set(patch: Partial<SlotSnapshot>): void {
    const prevState = this.snapshot.state;
    Object.assign(this.snapshot, patch);
    if (patch.state !== undefined && patch.state !== prevState) this.snapshot.since = Date.now();
    this.opts.bus.emit('slot.state', this.snapshot);
  }
}

/**
 * What operators are told after a unit failed at `failStep`: the step's words and its onFail (for a
 * group, the inner step that failed, named at the start of the group's reason, when it has its own).
 * A step with no onFail sends the unit to the reject bin.
 */
export function failGuidance(sequence: CompiledSequence, failStep: string | null, reason: string | null): NonNullable<SlotSnapshot['guidance']> {
  const top = sequence.steps.find((s) => s.name === failStep) as CompiledBase | undefined;
  const inner = top && 'steps' in top && Array.isArray(top.steps) ? (top.steps as CompiledBase[]).find((s) => reason?.startsWith(`${s.name}: `)) : undefined;
  const words = inner?.operatorText ?? top?.operatorText;
  const onFail = inner?.onFail ?? top?.onFail;
  const i18n = { ...(typeof words === 'object' ? { words: { ...words } } : {}), ...(typeof onFail?.text === 'object' ? { text: { ...onFail.text } } : {}) };
  return {
    step: inner?.name ?? failStep ?? '',
    words: textOf(words) ?? null,
    action: onFail?.action ?? 'reject-bin',
    text: textOf(onFail?.text) ?? null,
    ...(Object.keys(i18n).length ? { i18n } : {}),
  };
}

/** The slot's step as the screens show it: its words in the sequence's own language and, when given in several, by language tag. */
function stepView(index: number, count: number, step: CompiledBase | undefined): NonNullable<SlotSnapshot['step']> {
  const words = translationsOf(step?.operatorText);
  return { index, count, name: step?.name ?? '', words: textOf(step?.operatorText) ?? null, ...(words ? { i18n: { words } } : {}) };
}
