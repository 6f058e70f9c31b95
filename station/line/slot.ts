// One test nest: its own state machine around one DUT console. A DUT that boots (or is found
// ready when the console connects) starts a run; a reboot or a lost console mid-run interrupts it.
import type { Logger } from 'pino';
import type { DutConsole } from '../../drivers/dut/console.js';
import type { EventBus, SlotSnapshot, SlotStateName } from '../events.js';
import { uuidv7 } from '../store/ids.js';
import type { SequenceRunner } from './runner.js';
import type { CompiledSequence } from './sequence.js';

export interface SlotOptions {
  index: number;
  name: string;
  console: DutConsole;
  runner: SequenceRunner;
  bus: EventBus;
  log: Logger;
  autoStart: 'on-boot' | 'manual';
  sequence(): CompiledSequence;
  /** False while the station refuses new DUTs (shutting down, alarms). */
  accepting(): boolean;
}

export class Slot {
  private snapshot: SlotSnapshot;
  private current: { runId: string; abort: AbortController; done: Promise<void>; verdictSent: boolean } | null = null;
  private startWhenFree = false;
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
      since: Date.now(),
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
    await this.opts.console.start();
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
    await this.opts.console.stop();
  }

  /** An operator (or a scan) starts the slot. Returns why not, or null when started. */
  requestStart(): string | null {
    if (!this.opts.console.connected) return 'the DUT console is not connected';
    if (this.current) return 'a run is already in progress';
    if (!this.opts.accepting()) return 'the station is not accepting DUTs';
    this.beginRun();
    return null;
  }

  private onConnected(): void {
    this.set({ connected: true, state: 'idle', reason: null });
    if (this.opts.autoStart !== 'on-boot') return;
    // A unit may already be sitting in the nest, booted (after a station restart, say): ask it.
    this.opts.console
      .request('PING', 1000)
      .then((answer) => {
        if (/(^| )ready=1( |$)/.test(answer) && !this.current) this.tryAutoStart();
      })
      .catch(() => undefined); // no unit, or still booting: its READY will start the run
  }

  private onDisconnected(reason: string | null): void {
    this.set({ connected: false, state: this.current ? this.snapshot.state : 'offline', reason: reason ?? 'disconnected' });
    this.current?.abort.abort(`DUT console disconnected during the test (${reason ?? 'cable pulled?'})`);
  }

  private onDutEvent(name: string): void {
    if (name === 'BOOT') {
      const run = this.current;
      if (run && !run.verdictSent) run.abort.abort('the DUT rebooted during the test');
      return;
    }
    if (name === 'READY') this.tryAutoStart();
  }

  private tryAutoStart(): void {
    if (this.opts.autoStart !== 'on-boot') {
      if (!this.current) this.set({ state: 'idle', deviceId: null, step: null, reason: 'DUT ready: press start' });
      return;
    }
    if (this.current) {
      this.startWhenFree = true;
      return;
    }
    if (!this.opts.accepting()) {
      this.set({ state: 'refused', reason: 'the station is not accepting DUTs' });
      return;
    }
    this.beginRun();
  }

  private beginRun(): void {
    const runId = uuidv7();
    const abort = new AbortController();
    const sequence = this.opts.sequence();
    const count = sequence.steps.length;
    const run = { runId, abort, done: Promise.resolve(), verdictSent: false };
    this.current = run;
    this.set({ state: 'identifying', runId, deviceId: null, step: { index: 0, count, name: sequence.steps[0]?.name ?? '' }, reason: null });
    run.done = this.opts.runner
      .run({
        runId,
        slot: this.opts.index,
        console: this.opts.console,
        sequence,
        signal: abort.signal,
        onStep: (index, step) => {
          const state: SlotStateName = step.type === 'identify' ? 'identifying' : step.type === 'bless' ? 'blessing' : 'testing';
          this.snapshot.step = { index, count, name: step.name };
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
        this.set({ state, deviceId: outcome.identity?.deviceId ?? null, reason });
        this.opts.log.info({ runId, verdict: outcome.verdict, deviceId: outcome.identity?.deviceId, attempt: outcome.attempt, rework: outcome.rework, reason }, 'run finished');
      })
      .catch((err: Error) => {
        this.set({ state: 'fail', reason: `station error: ${err.message}` });
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
