// The sequence runner: executes one compiled sequence against one DUT, step by step, writing each
// step result as it finishes, and closes the run with its verdict. It blesses only when every step
// passed; a run cut short (cable pulled, DUT reboot, shutdown) ends `interrupted`, never blessed.
import type { Logger } from 'pino';
import { RequestError } from '../../drivers/transport/request-error.js';
import { type DutConsole } from '../../drivers/console/console.js';
import { escapeForDisplay } from '../../lib/text.js';
import { parseFields } from '../../drivers/console/tagged-protocol.js';
import type { StationBus, StepResultEvent } from '../events.js';
import type { DeviceIdentity, StepStatus, Verdict } from '../model.js';
import type { Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import type { StepRecord, Store } from '../store/store.js';
import type { BlinkUpStep } from './blinkup.js';
import { checkDeviceId, checkIccid, checkImei, checkMac } from './identity.js';
import { judge } from './limits.js';
import type { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { defaultLabelFormat, labelMismatch, scanCheck, shownText, type ScanExpectation, type ScannedLabel } from './label-scan.js';
import type { PromptBroker } from './prompts.js';
import { Interrupted, StationFault } from './run-errors.js';
import type { CompiledSequence, CompiledStep } from './sequence.js';

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

interface StepOutcome {
  status: StepStatus;
  message: string | null;
  measurement?: StepRecord['measurement'];
}

export interface RunnerDeps {
  store: Store;
  bus: StationBus;
  prompts: PromptBroker;
  log: Logger;
  stationId: string;
  mode: 'production' | 'test';
  /** Timeout for the FAIL command sent to a failed DUT (its LED goes red). */
  failCommandTimeoutMs?: number;
  /** Factory BlinkUp, when the station has tokens, credentials and emitters. */
  blinkup?: BlinkUpStep | null;
  /** How unit labels are laid out (station labels.format); default: the Device ID alone. */
  labelFormat?: ScanFields;
  /** Seals and stores a label's secret fields (the mobile secret) for a device; never logged. */
  storeSecrets?: (deviceId: string, runId: string, secrets: Record<string, string>) => void;
}

const PASSING: ReadonlySet<StepStatus> = new Set(['pass', 'marginal']);


export class SequenceRunner {
  constructor(private readonly deps: RunnerDeps) {}

  async run(ctx: RunContext): Promise<RunOutcome> {
    const { store, bus } = this.deps;
    const seq = ctx.sequence;
    store.beginRun({ runId: ctx.runId, slot: ctx.slot, sequenceHash: seq.hash, mode: this.deps.mode, startedAt: Date.now() });
    bus.emit('run.started', { runId: ctx.runId, slot: ctx.slot, sequenceHash: seq.hash });

    const state = { identity: null as DeviceIdentity | null, rework: false, attempt: 0 };
    let firstFailure: { step: string; reason: string } | null = null;
    let blessRecorded = false;
    /** The step in progress, so an interruption can be recorded against it. */
    let current: { index: number; step: CompiledStep; startedAt: number; t0: number; attempts: number } | null = null;
    try {
      for (let i = 0; i < seq.steps.length; i++) {
        const step = seq.steps[i] as CompiledStep;
        if (step.type === 'bless') {
          if (firstFailure) break; // never bless a unit with a failed step (recorded as skipped below)
          ctx.onStep(i, step);
          const startedAt = Date.now();
          const t0 = performance.now();
          current = { index: i, step, startedAt, t0, attempts: 1 };
          let answer: string;
          try {
            answer = await this.request(ctx, step.command, step.timeoutMs);
          } catch (err) {
            if (err instanceof Interrupted) throw err;
            // Not confirmed: the DUT may or may not have committed. Never record it as blessed;
            // a retest finds out (a blessed unit reports blessed=1 and is recorded as rework).
            const message = `the DUT did not confirm the blessing: ${(err as Error).message}`;
            this.writeStep(ctx, i, step, { status: 'error', message }, 1, startedAt, performance.now() - t0);
            blessRecorded = true;
            current = null;
            firstFailure = { step: step.name, reason: message };
            break;
          }
          ctx.onVerdictSent();
          if (/(^| )rework=1( |$)/.test(answer)) state.rework = true;
          this.writeStep(ctx, i, step, { status: 'pass', message: null }, 1, startedAt, performance.now() - t0);
          current = null;
          return await this.finish(ctx, 'blessed', state, null);
        }
        if (firstFailure && seq.def.stopOnFailure) break;
        ctx.onStep(i, step);
        const startedAt = Date.now();
        const t0 = performance.now();
        current = { index: i, step, startedAt, t0, attempts: 0 };
        let outcome: StepOutcome = { status: 'error', message: 'not run' };
        let attempts = 0;
        let firstMessage: string | null = null;
        for (; attempts <= step.retries; ) {
          attempts++;
          current.attempts = attempts;
          outcome = await this.executeStep(ctx, step, state);
          if (PASSING.has(outcome.status)) break;
          firstMessage ??= outcome.message;
        }
        // A retry that passed keeps what went wrong first: engineers want to see flaky steps.
        if (attempts > 1 && PASSING.has(outcome.status) && firstMessage) {
          outcome = { ...outcome, message: `passed on attempt ${attempts}; attempt 1: ${firstMessage}${outcome.message ? `; ${outcome.message}` : ''}` };
        }
        this.writeStep(ctx, i, step, outcome, attempts, startedAt, performance.now() - t0);
        current = null;
        if (!PASSING.has(outcome.status) && !firstFailure) {
          firstFailure = { step: step.name, reason: outcome.message ?? outcome.status };
          if (step.type === 'identify') break; // nothing more can be said of an unidentified unit
        }
      }
      // The blessing that will not happen is on the record, saying why, however early the failure.
      const blessIndex = seq.steps.length - 1;
      const blessStep = seq.steps[blessIndex];
      if (firstFailure && blessStep?.type === 'bless' && !blessRecorded) {
        this.writeStep(ctx, blessIndex, blessStep, { status: 'skipped', message: `not blessed: "${firstFailure.step}" failed` }, 0, Date.now(), 0);
      }
      // Failed: tell the DUT (its LED goes red). Best effort: the verdict is already decided, so a
      // unit pulled or rebooting now is still recorded failed, not interrupted.
      const failure = firstFailure ?? { step: '(none)', reason: 'sequence ended without a bless step' };
      await ctx.console.request(`FAIL ${failCode(failure.step)}`, this.deps.failCommandTimeoutMs ?? 2000, ctx.signal).catch((err: unknown) => {
        this.deps.log.warn({ slot: ctx.slot, err: (err as Error).message }, 'DUT did not acknowledge FAIL');
      });
      ctx.onVerdictSent();
      return await this.finish(ctx, 'failed', state, failure);
    } catch (err) {
      if (err instanceof Interrupted || err instanceof StationFault) {
        if (err instanceof StationFault) this.deps.log.warn({ slot: ctx.slot, runId: ctx.runId, reason: err.message }, 'run stopped by a station fault');
        if (current) {
          const { index, step, startedAt, t0, attempts } = current;
          this.writeStep(ctx, index, step, { status: 'interrupted', message: err.message }, attempts, startedAt, performance.now() - t0);
        }
        const outcome = await this.finish(ctx, 'interrupted', state, { step: current?.step.name ?? '', reason: err.message });
        return err instanceof StationFault && err.haltSlot ? { ...outcome, haltSlot: err.message } : outcome;
      }
      // A fault in the station itself: the unit is not blessed, and the run says why.
      this.deps.log.error({ err, runId: ctx.runId }, 'run ended by a station error');
      return this.finish(ctx, 'failed', state, { step: '(station)', reason: `station error: ${(err as Error).message}` });
    }
  }

  private async finish(ctx: RunContext, verdict: Verdict, state: { identity: DeviceIdentity | null; rework: boolean }, failure: { step: string; reason: string } | null): Promise<RunOutcome> {
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
    });
    return outcome;
  }

  private writeStep(ctx: RunContext, index: number, step: CompiledStep, outcome: StepOutcome, attempts: number, startedAt: number, durationMs: number): void {
    const record: StepRecord = { index, name: step.name, type: step.type, status: outcome.status, attempts, startedAt, durationMs, message: outcome.message, measurement: outcome.measurement };
    this.deps.store.recordStep(ctx.runId, record);
    if (this.deps.bus.listenerCount('run.step') > 0) {
      const result: StepResultEvent = { index, name: step.name, type: step.type, status: outcome.status, attempts, durationMs, message: outcome.message };
      this.deps.bus.emit('run.step', { runId: ctx.runId, slot: ctx.slot, result });
    }
  }

  /** A DUT request; an interruption (abort, disconnect) escapes as Interrupted, other errors return. */
  private async request(ctx: RunContext, command: string, timeoutMs: number): Promise<string> {
    try {
      return await ctx.console.request(command, timeoutMs, ctx.signal);
    } catch (err) {
      throw this.asInterruption(ctx, err);
    }
  }

  private asInterruption(ctx: RunContext, err: unknown): unknown {
    if (ctx.signal.aborted) return new Interrupted(String(ctx.signal.reason ?? 'interrupted'));
    if (err instanceof RequestError && (err.kind === 'disconnected' || err.kind === 'aborted' || err.kind === 'stopped')) {
      return new Interrupted(err.message);
    }
    return err;
  }

  private async executeStep(ctx: RunContext, step: CompiledStep, state: { identity: DeviceIdentity | null; rework: boolean; attempt: number }): Promise<StepOutcome> {
    try {
      switch (step.type) {
        case 'identify': {
          const outcome = this.identify(ctx, step, state, await this.request(ctx, step.command, step.timeoutMs));
          if (outcome.status !== 'pass' || !step.label || !state.identity) return outcome;
          const label = await this.askForScan(ctx, { expect: 'label' }, step.label.text, step.label.timeoutMs, step.deviceIdHexLength);
          const mismatch = labelMismatch(label, state.identity, step.label.match);
          if (mismatch) return { status: 'fail', message: `label check failed: ${mismatch}` };
          this.keepSecrets(ctx, state.identity.deviceId, label);
          return { status: 'pass', message: [outcome.message, `label matches the DUT (${step.label.match.join(', ')})`].filter(Boolean).join('; ') };
        }
        case 'measure':
          return this.measure(step, await this.request(ctx, step.command, step.timeoutMs));
        case 'scan':
          return await this.scan(ctx, step, state);
        case 'prompt': {
          const answer = await this.deps.prompts.ask({ slot: ctx.slot, runId: ctx.runId, text: step.text, answers: step.answers, timeoutMs: step.timeoutMs, signal: ctx.signal });
          return step.pass.includes(answer) ? { status: 'pass', message: null } : { status: 'fail', message: `operator answered "${answer}"` };
        }
        case 'delay':
          await abortableDelay(step.ms, ctx.signal);
          return { status: 'pass', message: null };
        case 'blinkup': {
          const blinkup = this.deps.blinkup;
          if (!blinkup) throw new StationFault('this station has no factory BlinkUp configured (blinkup, tokens and slot emitters)', true);
          const outcome = await blinkup.run({ runId: ctx.runId, slot: ctx.slot, console: ctx.console, emitter: ctx.emitter ?? null, signal: ctx.signal }, step, (words) => ctx.onDetail?.(words));
          ctx.onDetail?.(null);
          if (outcome.alreadyBlessed) state.rework = true;
          return { status: outcome.status, message: outcome.message };
        }
        case 'bless':
          throw new Error('bless is handled by the runner itself');
      }
    } catch (err) {
      if (err instanceof Interrupted || err instanceof StationFault) throw err;
      const interruption = this.asInterruption(ctx, err);
      if (interruption instanceof Interrupted) throw interruption;
      if (err instanceof RequestError) return { status: err.kind === 'rejected' ? 'fail' : 'error', message: err.message };
      return { status: 'error', message: (err as Error).message };
    }
  }

  private deviceIdHexLength(ctx: RunContext): number {
    const first = ctx.sequence.steps[0];
    return first?.type === 'identify' ? first.deviceIdHexLength : 16;
  }

  private askForScan(ctx: RunContext, want: ScanExpectation, text: string, timeoutMs: number, hexLength: number): Promise<ScannedLabel> {
    const { check, expected } = scanCheck(want, this.deps.labelFormat ?? defaultLabelFormat(), hexLength);
    return this.deps.prompts.askScan({ slot: ctx.slot, runId: ctx.runId, text, expected, check, timeoutMs, signal: ctx.signal });
  }

  private async scan(ctx: RunContext, step: Extract<CompiledStep, { type: 'scan' }>, state: { identity: DeviceIdentity | null }): Promise<StepOutcome> {
    const label = await this.askForScan(ctx, { expect: step.expect, patternRe: step.patternRe, ...(step.pattern ? { pattern: step.pattern } : {}) }, step.text, step.timeoutMs, this.deviceIdHexLength(ctx));
    if (step.match.length > 0) {
      if (!state.identity) return { status: 'fail', message: 'nothing to match the scan against: the DUT is not identified' };
      const mismatch = labelMismatch(label, state.identity, step.match);
      if (mismatch) return { status: 'fail', message: `scan check failed: ${mismatch}` };
    }
    if (state.identity) this.keepSecrets(ctx, state.identity.deviceId, label);
    const shown = Object.entries(label.fields)
      .filter(([k]) => !label.secretFields.has(k))
      .map(([k, v]) => `${k}=${shownText(v)}`)
      .join(' ');
    return { status: 'pass', message: shown ? `scanned ${shown}` : 'scanned' };
  }

  private keepSecrets(ctx: RunContext, deviceId: string, label: ScannedLabel): void {
    const secrets = Object.fromEntries(Object.entries(label.fields).filter(([k]) => label.secretFields.has(k)));
    if (Object.keys(secrets).length > 0) this.deps.storeSecrets?.(deviceId, ctx.runId, secrets);
  }

  private identify(ctx: RunContext, step: Extract<CompiledStep, { type: 'identify' }>, state: { identity: DeviceIdentity | null; rework: boolean; attempt: number }, answer: string): StepOutcome {
    const f = parseFields(answer);
    const problems: string[] = [];
    const id = f.id === undefined ? null : checkDeviceId(f.id, step.deviceIdHexLength);
    const mac = f.mac === undefined ? null : checkMac(f.mac);
    if (!id) problems.push('no Device ID (id=) in the answer');
    else if (!id.ok) problems.push(`${id.reason}, got ${escapeForDisplay(f.id ?? '')}`);
    if (!mac) problems.push('no MAC (mac=) in the answer');
    else if (!mac.ok) problems.push(`${mac.reason}, got ${escapeForDisplay(f.mac ?? '')}`);
    let iccid: string | null = null;
    let imei: string | null = null;
    if (f.iccid !== undefined || f.imei !== undefined || step.requireCellular) {
      const ic = f.iccid === undefined ? null : checkIccid(f.iccid);
      const im = f.imei === undefined ? null : checkImei(f.imei);
      if (!ic) problems.push('no ICCID (iccid=) in the answer');
      else if (!ic.ok) problems.push(`${ic.reason}, got ${escapeForDisplay(f.iccid ?? '')}`);
      else iccid = ic.value;
      if (!im) problems.push('no IMEI (imei=) in the answer');
      else if (!im.ok) problems.push(`${im.reason}, got ${escapeForDisplay(f.imei ?? '')}`);
      else imei = im.value;
    }
    if (problems.length > 0 || !id?.ok || !mac?.ok) return { status: 'fail', message: `identity rejected: ${problems.join('; ')}` };
    state.identity = { deviceId: id.value, mac: mac.value, iccid, imei };
    const { attempt, previouslyBlessed } = this.deps.store.attachDevice(ctx.runId, id.value);
    state.attempt = attempt;
    state.rework = previouslyBlessed || f.blessed === '1';
    ctx.onIdentified(state.identity, attempt, state.rework);
    return { status: 'pass', message: state.rework ? `already blessed: rework (attempt ${attempt})` : attempt > 1 ? `retest (attempt ${attempt})` : null };
  }

  private measure(step: Extract<CompiledStep, { type: 'measure' }>, answer: string): StepOutcome {
    if (!step.captureRe) return { status: 'pass', message: null };
    const m = step.captureRe.exec(answer);
    const name = step.measurement ?? step.name;
    const limitJson = step.limit ? JSON.stringify(step.limit) : null;
    if (!m || m[1] === undefined) {
      return { status: 'fail', message: `answer ${escapeForDisplay(answer)} does not match /${step.capture}/` };
    }
    let value: number | string = m[1];
    if (step.as === 'number') {
      value = Number(m[1]);
      if (!Number.isFinite(value) || m[1].trim() === '') return { status: 'fail', message: `${escapeForDisplay(m[1])} is not a number` };
    }
    const verdict = judge(value, step.limit, step.unit, step.limitRe);
    return {
      status: verdict.outcome,
      message: verdict.reason,
      measurement: {
        name,
        valueNum: typeof value === 'number' ? value : null,
        valueText: typeof value === 'string' ? value : null,
        unit: step.unit ?? null,
        outcome: verdict.outcome,
        limitJson,
      },
    };
  }
}

/** A short code for the DUT's FAIL command: the step name in protocol-safe characters. */
function failCode(stepName: string): string {
  return stepName.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 32) || 'FAILED';
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Interrupted(String(signal.reason)));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Interrupted(String(signal.reason)));
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
