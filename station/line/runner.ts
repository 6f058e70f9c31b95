// The sequence runner: executes one compiled sequence against one DUT, step by step, writing each
// step result as it finishes, and closes the run with its verdict. Each step is run by its kind
// (station/sequence/kinds.ts), handed a StepContext; the runner owns what is common: retries, the
// order of steps, the blessing, FAIL to a failed DUT, and turning a lost port or a shutdown into an
// interrupted run. It blesses only when every step passed; a run cut short (cable pulled, DUT
// reboot, shutdown) ends `interrupted`, never blessed.
import type { Logger } from 'pino';
import type { DutConsole } from '../../drivers/console/console.js';
import type { Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import type { StationBus, StepResultEvent } from '../events.js';
import type { DeviceIdentity, StepStatus, Verdict } from '../model.js';
import { kindOf } from '../sequence/kinds.js';
import { defaultLabelFormat } from '../sequence/label-scan.js';
import { Interrupted, StationFault } from '../sequence/run-errors.js';
import type { CompiledSequence, CompiledStep } from '../sequence/sequence.js';
import type { ParticleProduct } from '../../drivers/particle/options.js';
import type { BlinkUpRunner, CompiledBase, MesRouting, Prompts, RunState, StepContext, StepOutcome } from '../sequence/step-kind.js';
import type { StepRecord, Store } from '../store/store.js';
import { UnitDidNotBoot, type SlotFixture } from '../fixture/slot-fixture.js';
import { storeFaultCode } from '../store/fault-watch.js';

export interface RunContext {
  runId: string;
  slot: number;
  console: DutConsole;
  /** The slot's BlinkUp emitter, if it has one. */
  emitter?: Emitter | ImpFixture | null;
  sequence: CompiledSequence;
  signal: AbortSignal;
  /** Words for the slot while a long step works (BlinkUp progress). */
  onDetail?(words: string | null): void;
  /** Called as each step starts, for the slot's state. */
  onStep(index: number, step: CompiledStep): void;
  /** Called once the DUT is identified. */
  onIdentified(identity: DeviceIdentity, attempt: number, rework: boolean): void;
  /** Called once the verdict has been sent to the DUT (a reboot after this is the next unit). */
  onVerdictSent(): void;
  /** The slot's fixture (DUT power, bench instruments); a powered slot's run switches its power. */
  fixture?: SlotFixture | null;
}

export interface RunOutcome {
  verdict: Verdict;
  identity: DeviceIdentity | null;
  reason: string | null;
  failStep: string | null;
  rework: boolean;
  attempt: number;
  recordId: string | null;
  /** The station cannot go on at this slot (a configuration error): it stops taking DUTs. */
  haltSlot: string | null;
}

export interface RunnerDeps {
  store: Store;
  bus: StationBus;
  prompts: Prompts;
  log: Logger;
  stationId: string;
  mode: 'production' | 'test';
  /** Timeout for the FAIL command sent to a failed DUT (its LED goes red). */
  failCommandTimeoutMs?: number;
  /** Factory BlinkUp, when the station has tokens, credentials and emitters. */
  blinkup?: BlinkUpRunner | null;
  /** How unit labels are laid out (station labels.format); default: the Device ID alone. */
  labelFormat?: ScanFields;
  /** Seals and stores a label's secret fields (the mobile secret) for a device; never logged. */
  storeSecrets?: (deviceId: string, runId: string, secrets: Record<string, string>) => void;
  /** The plant's MES, which the interlock step asks (station config `mes`). */
  mes?: MesRouting | null;
  /** The Particle product blessed units join: identify checks each unit's platform against it. */
  particle?: ParticleProduct | null;
}

const PASSING: ReadonlySet<StepStatus> = new Set(['pass', 'marginal']);

/** A step in progress, so an interruption can be recorded against it. */
interface Current {
  index: number;
  step: CompiledBase;
  startedAt: number;
  t0: number;
  attempts: number;
  /** For a step inside a group: the group's index, and which attempt of the group. */
  parentIndex?: number;
  groupAttempt?: number;
}

/** What one run keeps while it goes: the steps in progress (outermost first), the next index for
 *  a step inside a group (after the sequence's own). */
interface RunProgress {
  active: Current[];
  nextInnerIndex: number;
}

export class SequenceRunner {
  private readonly labelFormat: ScanFields;

  constructor(private readonly deps: RunnerDeps) {
    this.labelFormat = deps.labelFormat ?? defaultLabelFormat();
  }

  async run(ctx: RunContext): Promise<RunOutcome> {
    const { store, bus } = this.deps;
    const seq = ctx.sequence;
    store.beginRun({ runId: ctx.runId, slot: ctx.slot, sequenceHash: seq.hash, mode: this.deps.mode, startedAt: Date.now() });
    bus.emit('run.started', { runId: ctx.runId, slot: ctx.slot, sequenceHash: seq.hash });

    const state: RunState = { identity: null, rework: false, attempt: 0, fields: {}, variant: null };
    const progress: RunProgress = { active: [], nextInnerIndex: seq.steps.length };
    const stepCtx = this.stepContext(ctx, state, progress);
    let firstFailure: { step: string; reason: string } | null = null;
    let blessRecorded = false;
    try {
      return await this.runPowered(ctx, state, progress, async () => {
        for (let i = 0; i < seq.steps.length; i++) {
          const step = seq.steps[i] as CompiledStep;
          const kind = kindOf(step.type);
          if (kind.role === 'verdict') {
            if (firstFailure) break; // never bless a unit with a failed step (recorded as skipped below)
            ctx.onStep(i, step);
            const at: Current = { index: i, step, startedAt: Date.now(), t0: performance.now(), attempts: 1 };
            progress.active.push(at);
            try {
              await this.execute(stepCtx, step);
            } catch (err) {
              if (err instanceof Interrupted || err instanceof StationFault) throw err;
              // Not confirmed: the DUT may or may not have committed. Never record it as blessed;
              // a retest finds out (a blessed unit reports blessed=1 and is recorded as rework).
              const message = `the DUT did not confirm the blessing: ${(err as Error).message}`;
              this.writeStep(ctx, at, { status: 'error', message });
              progress.active.pop();
              blessRecorded = true;
              firstFailure = { step: step.name, reason: message };
              break;
            }
            ctx.onVerdictSent();
            this.writeStep(ctx, at, { status: 'pass', message: null });
            progress.active.pop();
            return await this.finish(ctx, 'blessed', state, null);
          }
          if (firstFailure && seq.def.stopOnFailure) break;
          ctx.onStep(i, step);
          const outcome = await this.runStep(ctx, stepCtx, progress, { index: i, step, startedAt: Date.now(), t0: performance.now(), attempts: 0 });
          if (!PASSING.has(outcome.status) && !firstFailure) {
            firstFailure = { step: step.name, reason: outcome.message ?? outcome.status };
            // Nothing more can be said of an unidentified unit, nor done to one the MES did not let through.
            if (kind.role === 'identity' || kind.role === 'gate') break;
          }
          if (kind.role === 'identity' && PASSING.has(outcome.status)) this.chooseVariant(ctx, state);
        }
        // The blessing that will not happen is on the record, saying why, however early the failure.
        const blessIndex = seq.steps.length - 1;
        const blessStep = seq.steps[blessIndex];
        if (firstFailure && blessStep && kindOf(blessStep.type).role === 'verdict' && !blessRecorded) {
          this.writeStep(
            ctx,
            { index: blessIndex, step: blessStep, startedAt: Date.now(), t0: performance.now(), attempts: 0 },
            { status: 'skipped', message: `not blessed: "${firstFailure.step}" failed` },
            0,
          );
        }
        // Failed: tell the DUT (its LED goes red). Best effort: the verdict is already decided, so a
        // unit pulled or rebooting now is still recorded failed, not interrupted.
        const failure = firstFailure ?? { step: '(none)', reason: 'sequence ended without a bless step' };
        const failCommand = (seq.def.failCommand ?? 'FAIL {code}').replaceAll('{code}', failCode(failure.step));
        await ctx.console.request(failCommand, this.deps.failCommandTimeoutMs ?? 2000, ctx.signal).catch((err: unknown) => {
          this.deps.log.warn({ slot: ctx.slot, err: (err as Error).message }, 'DUT did not acknowledge FAIL');
        });
        ctx.onVerdictSent();
        return await this.finish(ctx, 'failed', state, failure);
      });
    } catch (err) {
      if (err instanceof Interrupted || err instanceof StationFault) {
        if (err instanceof StationFault) this.deps.log.warn({ slot: ctx.slot, runId: ctx.runId, reason: err.message }, 'run stopped by a station fault');
        // Every step in progress (a group and the step inside it) is recorded as interrupted.
        for (const at of [...progress.active].reverse()) this.writeStep(ctx, at, { status: 'interrupted', message: err.message });
        const outcome = await this.finish(ctx, 'interrupted', state, { step: progress.active[0]?.step.name ?? '', reason: err.message });
        return err instanceof StationFault && err.haltSlot ? { ...outcome, haltSlot: err.message } : outcome;
      }
      // The disk under the store failed (a verdict's commit, say): nothing more is written now,
      // least of all a verdict the unit may not have had. The run stays open in the store and is
      // marked interrupted at the next start (station/fault-latch.ts fails the station closed).
      if (storeFaultCode(err)) throw err;
      // A fault in the station itself: the unit is not blessed, and the run says why.
      this.deps.log.error({ err, runId: ctx.runId }, 'run ended by a station error');
      return this.finish(ctx, 'failed', state, { step: '(station)', reason: `station error: ${(err as Error).message}` });
    }
  }

  /**
   * Around the steps of a run on a powered slot (slots[].power): the unit is powered on and its boot
   * awaited before the first step, and powered off when the run ends, however it ends (the safe
   * state). A short at power on fails the unit; a unit that does not boot fails it too; a fault of
   * the fixture interrupts the run.
   */
  private async runPowered(ctx: RunContext, state: RunState, progress: RunProgress, steps: () => Promise<RunOutcome>): Promise<RunOutcome> {
    const fixture = ctx.fixture;
    if (!fixture?.powered) return steps();
    try {
      let up;
      try {
        up = await fixture.power('on', { settleMs: 50, offMs: 0, bootTimeoutMs: 10_000, signal: ctx.signal });
      } catch (err) {
        if (!(err instanceof UnitDidNotBoot)) throw err;
        return await this.finishUnpowered(ctx, state, err.message);
      }
      if (up.tripped) return await this.finishUnpowered(ctx, state, "short / over-current at power on: the supply's over-current protection tripped");
      return await steps();
    } finally {
      const failed = await fixture.powerDown();
      if (failed) this.deps.bus.emit('alarm.raised', { alarmId: `fixture.power.${ctx.slot}`, severity: 'critical', message: failed, slot: ctx.slot });
      else if (progress.active.length === 0) this.deps.bus.emit('alarm.cleared', { alarmId: `fixture.power.${ctx.slot}` });
    }
  }

  /** A unit that failed at power on: recorded failed, the blessing skipped, no FAIL (it cannot hear). */
  private async finishUnpowered(ctx: RunContext, state: RunState, reason: string): Promise<RunOutcome> {
    const seq = ctx.sequence;
    const blessIndex = seq.steps.length - 1;
    const blessStep = seq.steps[blessIndex];
    if (blessStep && kindOf(blessStep.type).role === 'verdict') {
      this.writeStep(
        ctx,
        { index: blessIndex, step: blessStep, startedAt: Date.now(), t0: performance.now(), attempts: 0 },
        { status: 'skipped', message: 'not blessed: the unit failed at power on' },
        0,
      );
    }
    ctx.onVerdictSent();
    return this.finish(ctx, 'failed', state, { step: '(power on)', reason });
  }

  /**
   * Runs one step with its retries and records it; the outcome. A retry that passed keeps what
   * went wrong first: engineers want to see flaky steps.
   */
  private async runStep(ctx: RunContext, stepCtx: StepContext, progress: RunProgress, at: Current): Promise<StepOutcome> {
    progress.active.push(at);
    let outcome: StepOutcome = { status: 'error', message: 'not run' };
    let firstMessage: string | null = null;
    while (at.attempts <= at.step.retries) {
      at.attempts++;
      outcome = await this.attempt(stepCtx, at.step as CompiledStep);
      if (PASSING.has(outcome.status)) break;
      firstMessage ??= outcome.message;
    }
    if (at.attempts > 1 && PASSING.has(outcome.status) && firstMessage) {
      outcome = { ...outcome, message: `passed on attempt ${at.attempts}; attempt 1: ${firstMessage}${outcome.message ? `; ${outcome.message}` : ''}` };
    }
    this.writeStep(ctx, at, outcome);
    progress.active.pop();
    return outcome;
  }

  /**
   * The product variant of the unit now identified: the first whose field the unit reported with
   * the value it names. None matches (or the field was not reported): the steps' own limits.
   */
  private chooseVariant(ctx: RunContext, state: RunState): void {
    const variants = ctx.sequence.variants;
    if (variants.length === 0) return;
    const match = variants.find((v) => state.fields[v.field] === v.equals);
    if (!match) {
      const unreported = [...new Set(variants.map((v) => v.field))].filter((f) => state.fields[f] === undefined);
      if (unreported.length > 0)
        this.deps.log.warn({ slot: ctx.slot, runId: ctx.runId, fields: unreported }, 'the unit did not report the field a product variant is chosen by: the base limits are used');
      return;
    }
    state.variant = match.name;
    this.deps.store.setRunVariant(ctx.runId, match.name);
  }

  /** What the step kinds get: the run's console, prompts and state, and nothing of the station. */
  private stepContext(ctx: RunContext, state: RunState, progress: RunProgress): StepContext {
    const first = ctx.sequence.steps[0];
    const stepCtx: StepContext = {
      runId: ctx.runId,
      slot: ctx.slot,
      signal: ctx.signal,
      console: ctx.console,
      emitter: ctx.emitter ?? null,
      log: this.deps.log,
      prompts: this.deps.prompts,
      labelFormat: this.labelFormat,
      // A Particle product's Device IDs are 24 hex characters, whatever the sequence says.
      deviceIdHexLength: this.deps.particle ? 24 : first?.type === 'identify' ? first.deviceIdHexLength : 16,
      blinkup: this.deps.blinkup ?? null,
      state,
      request: async (command, timeoutMs, signal = ctx.signal) => {
        try {
          return await ctx.console.request(command, timeoutMs, signal);
        } catch (err) {
          throw asInterruption(ctx.signal, err);
        }
      },
      isVerdictCommand: verdictCommands(ctx.sequence),
      attachDevice: (deviceId) => this.deps.store.attachDevice(ctx.runId, deviceId),
      limitFor: (step) => {
        const overlay = state.variant ? ctx.sequence.variants.find((v) => v.name === state.variant)?.limits.get(step.name) : undefined;
        return overlay ?? { limit: step.limit, limitRe: step.limitRe ?? null };
      },
      storeSecrets: (deviceId, secrets) => this.deps.storeSecrets?.(deviceId, ctx.runId, secrets),
      onIdentified: (identity, attempt, rework) => ctx.onIdentified(identity, attempt, rework),
      onDetail: (words) => ctx.onDetail?.(words),
      fixture: ctx.fixture ?? null,
      mes: this.deps.mes ?? null,
      particle: this.deps.particle ?? null,
      runSteps: async (steps, attempt) => {
        const parent = progress.active.at(-1) as Current;
        let marginal = false;
        for (const step of steps) {
          const at: Current = { index: progress.nextInnerIndex++, step, startedAt: Date.now(), t0: performance.now(), attempts: 0, parentIndex: parent.index, groupAttempt: attempt };
          const outcome = await this.runStep(ctx, stepCtx, progress, at);
          if (!PASSING.has(outcome.status)) return { status: outcome.status, message: `${step.name}: ${outcome.message ?? outcome.status}` };
          if (outcome.status === 'marginal') marginal = true;
        }
        return { status: marginal ? 'marginal' : 'pass', message: null };
      },
    };
    return stepCtx;
  }

  private execute(stepCtx: StepContext, step: CompiledStep): Promise<StepOutcome> {
    return (kindOf(step.type).execute as (c: StepContext, s: CompiledStep) => Promise<StepOutcome>)(stepCtx, step);
  }

  /** One attempt of a step: its outcome; an interruption or a station fault escapes. */
  private async attempt(stepCtx: StepContext, step: CompiledStep): Promise<StepOutcome> {
    try {
      return await this.execute(stepCtx, step);
    } catch (err) {
      if (err instanceof Interrupted || err instanceof StationFault) throw err;
      const interruption = asInterruption(stepCtx.signal, err);
      if (interruption instanceof Interrupted) throw interruption;
      if (err instanceof RequestError) return { status: err.kind === 'rejected' ? 'fail' : 'error', message: err.message };
      return { status: 'error', message: (err as Error).message };
    }
  }

  private async finish(ctx: RunContext, verdict: Verdict, state: RunState, failure: { step: string; reason: string } | null): Promise<RunOutcome> {
    const result = await this.deps.store.finishRun(ctx.runId, {
      verdict,
      endedAt: Date.now(),
      failStep: failure?.step || null,
      reason: failure?.reason ?? null,
      identity: state.identity,
      rework: state.rework,
      stationId: this.deps.stationId,
    });
    // Durable now (its commit fsynced): only from here on may anyone hear of the verdict.
    const outcome: RunOutcome = {
      verdict,
      identity: state.identity,
      reason: failure?.reason ?? null,
      failStep: failure?.step || null,
      rework: state.rework,
      attempt: result.attempt,
      recordId: result.recordId,
      haltSlot: null,
    };
    this.deps.bus.emit('run.finished', {
      runId: ctx.runId,
      slot: ctx.slot,
      verdict,
      deviceId: state.identity?.deviceId ?? null,
      rework: state.rework,
      attempt: result.attempt,
      reason: outcome.reason,
      recordId: result.recordId,
      seq: result.seq,
    });
    return outcome;
  }

  private writeStep(ctx: RunContext, at: Current, outcome: StepOutcome, durationMs = performance.now() - at.t0): void {
    const { index, step, attempts, startedAt } = at;
    const record: StepRecord = {
      index,
      name: step.name,
      type: step.type,
      status: outcome.status,
      attempts,
      startedAt,
      durationMs,
      message: outcome.message,
      measurement: outcome.measurement,
      ...(outcome.measurements ? { measurements: outcome.measurements } : {}),
      ...(outcome.waitMs !== undefined ? { waitMs: outcome.waitMs } : {}),
      ...(at.parentIndex !== undefined ? { parentIndex: at.parentIndex, groupAttempt: at.groupAttempt ?? 1 } : {}),
    };
    this.deps.store.recordStep(ctx.runId, record);
    if (this.deps.bus.listenerCount('run.step') > 0) {
      const result: StepResultEvent = { index, name: step.name, type: step.type, status: outcome.status, attempts, durationMs, message: outcome.message };
      this.deps.bus.emit('run.step', { runId: ctx.runId, slot: ctx.slot, result });
    }
  }
}

/** A request that failed because the run was interrupted or the port was lost is an interruption. */
function asInterruption(signal: AbortSignal, err: unknown): unknown {
  if (signal.aborted) return new Interrupted(String(signal.reason ?? 'interrupted'));
  if (err instanceof RequestError && err.lostPort) return new Interrupted(err.message);
  return err;
}

/**
 * Whether a command is one only the runner sends: the bless step's command, or the fail command
 * whatever its code ("FAIL {code}", "factory fail {code}"), compared by whole words, case and
 * spacing aside. Other commands that share a first word ("factory meas vbat") are a script's to send.
 */
function verdictCommands(seq: CompiledSequence): (command: string) => boolean {
  const words = (c: string): string => c.trim().split(/\s+/).join(' ').toUpperCase();
  const verdict = seq.steps.find((s) => kindOf(s.type).role === 'verdict') as { command?: string } | undefined;
  const bless = words(verdict?.command ?? 'BLESS');
  const fail = words((seq.def.failCommand ?? 'FAIL {code}').split('{code}')[0] as string);
  return (command) => {
    const c = words(command);
    return c === bless || c.startsWith(`${bless} `) || c === fail || c.startsWith(`${fail} `);
  };
}

/** A short code for the DUT's FAIL command: the step name in protocol-safe characters. */
function failCode(stepName: string): string {
  return (
    stepName
      .toUpperCase()
      .replace(/[^A-Z0-9]+/g, '_')
      .replace(/^_|_$/g, '')
      .slice(0, 32) || 'FAILED'
  );
}
