// What an operator or engineer can do to the running station, shared by the HTTP routes and the
// socket.io events so both check and answer the same way: start a slot, clear its kept verdict,
// answer a prompt, acknowledge an alarm, inject a simulated fault. Each returns a result; none throws for bad input.
import type { Logger } from 'pino';
import type { StationBus } from '../events.js';
import type { Line } from '../line/line.js';
import type { FaultInjector, FaultKind } from './faults.js';
import { PromptError } from '../line/prompts.js';
import type { Actor } from '../auth/sessions.js';
import { AlarmError, type AlarmBoard } from '../alarms.js';

/** HTTP status for each failure, so the routes and the socket acks say the same thing. */
export type ActionResult<T extends object = object> = ({ ok: true } & T) | { ok: false; status: 400 | 404 | 409; error: string };

/** Alarms whose acknowledgement lets a halted slot take DUTs again (station/line/blinkup.ts). */
const HALTING_ALARM = /^blinkup\.wrong-token-type\.(\d+)$/;

export class StationActions {
  constructor(
    private readonly deps: {
      line: Line;
      alarms: AlarmBoard;
      /** Simulated faults on demand; null on a station with no simulated slot. */
      faults: FaultInjector | null;
      bus: StationBus;
      log: Logger;
    },
  ) {}

  startSlot(slot: number, by: Actor): ActionResult<{ slot: number }> {
    const target = Number.isInteger(slot) ? this.deps.line.slot(slot) : undefined;
    if (!target) return { ok: false, status: 404, error: `there is no slot ${slot}` };
    const refusal = target.requestStart();
    if (refusal) return { ok: false, status: 409, error: `slot ${slot} cannot start: ${refusal}` };
    this.deps.log.info({ slot, role: by.role, by: by.name }, 'slot started from the dashboard');
    return { ok: true, slot };
  }

  /** Takes the slot's kept verdict off every screen (the operator has dealt with the unit); the log
   *  keeps who did it. A slot with none answers 409. */
  clearVerdict(slot: number, by: Actor): ActionResult<{ slot: number; runId: string }> {
    const target = Number.isInteger(slot) ? this.deps.line.slot(slot) : undefined;
    if (!target) return { ok: false, status: 404, error: `there is no slot ${slot}` };
    const cleared = target.clearVerdict();
    if (!cleared) return { ok: false, status: 409, error: `slot ${slot} has no verdict to clear` };
    this.deps.log.info({ slot, runId: cleared.runId, verdict: cleared.verdict, deviceId: cleared.deviceId, role: by.role, by: by.name }, 'kept verdict cleared');
    return { ok: true, slot, runId: cleared.runId };
  }

  /** Answers a prompt as `by` (recorded with the run's prompt answers). */
  answerPrompt(promptId: string, answer: string, by: Actor): ActionResult<{ promptId: string }> {
    // A scan may carry a label secret (the mobile secret): its text is never logged.
    const scan = this.deps.line.prompts.list().find((p) => p.promptId === promptId)?.kind === 'scan';
    try {
      this.deps.line.prompts.answer(promptId, answer, by);
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      const open = this.deps.line.prompts.list().some((p) => p.promptId === promptId);
      return { ok: false, status: open ? 400 : 404, error: err.message };
    }
    this.deps.log.info({ promptId, ...(scan ? { scanLength: answer.length } : { answer }), role: by.role, by: by.name }, 'prompt answered from the dashboard');
    return { ok: true, promptId };
  }

  /**
   * Acknowledges an alarm. The wrong-token-type alarm stopped its slot: acknowledging it lets the
   * slot take DUTs again (the operator has fixed the token source), and clears the alarm.
   */
  ackAlarm(alarmId: string, by: Actor): ActionResult<{ alarmId: string; resumedSlot: number | null }> {
    try {
      // The alarm history keeps the person's login name.
      this.deps.alarms.acknowledgeAndTell(alarmId, by.name);
    } catch (err) {
      if (!(err instanceof AlarmError)) throw err;
      return { ok: false, status: 404, error: err.message };
    }
    let resumedSlot: number | null = null;
    const halting = HALTING_ALARM.exec(alarmId);
    if (halting) {
      const slot = Number(halting[1]);
      if (this.deps.line.slot(slot)?.resume()) resumedSlot = slot;
      this.deps.bus.emit('alarm.cleared', { alarmId });
    }
    this.deps.log.info({ alarmId, role: by.role, by: by.name, resumedSlot }, 'alarm acknowledged');
    return { ok: true, alarmId, resumedSlot };
  }

  /** A simulated fault for the next command, frame or enrollment of a simulated slot (docs/api.md). */
  injectFault(slot: number, kind: FaultKind, by: Actor): ActionResult<{ slot: number; fault: FaultKind }> {
    const why = this.deps.faults ? this.deps.faults.inject(slot, kind) : `slot ${JSON.stringify(String(slot).slice(0, 16))} is not a simulated slot`;
    if (why) return { ok: false, status: 404, error: why };
    this.deps.log.info({ slot, fault: kind, role: by.role, by: by.name }, 'simulated fault injected');
    return { ok: true, slot, fault: kind };
  }
}
