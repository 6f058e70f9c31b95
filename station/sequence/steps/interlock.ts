// interlock: asks the plant's MES whether this unit may be tested here, for this station's
// operation (docs/mes.md), right after it is identified and before anything else is done to it.
// The MES's answer is kept with the run: as the step's message and as three text measurements,
// `mes.allowed` ("true", "false", or "unknown" when the MES could not be asked), `mes.reason` (its
// words, or why it could not be asked) and, for a unit tested without an answer, `mes.review`.
//
// - allowed: the step passes.
// - refused: the step fails with the MES's reason, in the MES's words (control characters taken
//   out, at most 300 characters), and the run stops there (the runner treats the step as a gate).
// - the MES could not be asked within its bounded tries (mes.timeoutMs, mes.retries): under
//   offlinePolicy "block" the step errors ("MES unreachable: ...") and the unit is failed untested;
//   under "allow-and-flag" the step is marginal (the run goes on, and is flagged for review).
import { z } from 'zod';
import { oneLine } from '../../../lib/text.js';
import { Interrupted, StationFault } from '../run-errors.js';
import { defineStepKind, stepBase, type StepOutcome } from '../step-kind.js';

const schema = z.strictObject({ name: stepBase.name, type: z.literal('interlock') });

type Def = z.output<typeof schema>;
/** The MES client bounds the wait (its tries and timeouts), not the step. */
type Compiled = Def & { timeoutMs: number; retries: 0 };

type Measurement = NonNullable<StepOutcome['measurement']>;

/** `mes.allowed` is judged: the unit passes the interlock only when the MES said "true" (a unit
 *  tested under allow-and-flag was not judged by it: its "unknown" carries no limit). */
const ALLOWED_LIMIT = JSON.stringify({ kind: 'equals', value: 'true' });

function text(name: string, value: string, outcome: Measurement['outcome'], limitJson: string | null = null): Measurement {
  return { name, valueNum: null, valueText: value, unit: null, outcome, limitJson };
}

export const interlockStep = defineStepKind<Def, Compiled>({
  type: 'interlock',
  schema,
  role: 'gate',
  compile: (def) => ({ ...def, timeoutMs: 0, retries: 0 }),
  async execute(ctx, step) {
    const mes = ctx.mes;
    if (!mes) throw new StationFault(`this station has no MES configured (the mes section) for the "${step.name}" step`, true);
    const deviceId = ctx.state.identity?.deviceId;
    if (!deviceId) return { status: 'error', message: 'no Device ID to ask the MES about (the unit was not identified)' };
    let answer: { allowed: boolean; reason: string };
    try {
      answer = await mes.route(deviceId, { signal: ctx.signal, onRetry: (words) => ctx.onDetail(words) });
    } catch (err) {
      if (ctx.signal.aborted) throw new Interrupted(String(ctx.signal.reason ?? 'interrupted'));
      const cause = oneLine((err as Error).message);
      if (mes.offlinePolicy === 'block') {
        return {
          status: 'error',
          message: `MES unreachable: ${cause}; the unit was not tested (mes.offlinePolicy "block")`,
          measurements: [text('mes.allowed', 'unknown', 'fail', ALLOWED_LIMIT), text('mes.reason', `MES unreachable: ${cause}`, 'fail')],
        };
      }
      const review = `tested without the MES's answer (MES unreachable: ${cause})`;
      return {
        status: 'marginal',
        message: `flagged for review: MES unreachable: ${cause}; tested under mes.offlinePolicy "allow-and-flag"`,
        measurements: [text('mes.allowed', 'unknown', 'marginal'), text('mes.reason', `MES unreachable: ${cause}`, 'marginal'), text('mes.review', review, 'marginal')],
      };
    } finally {
      ctx.onDetail(null);
    }
    const reason = oneLine(answer.reason);
    if (answer.allowed) {
      return { status: 'pass', message: reason ? `MES: ${reason}` : null, measurements: [text('mes.allowed', 'true', 'pass', ALLOWED_LIMIT), text('mes.reason', reason, 'pass')] };
    }
    return {
      status: 'fail',
      message: reason || `the MES does not let this unit be tested here (operation "${mes.operation}"; it gave no reason)`,
      measurements: [text('mes.allowed', 'false', 'fail', ALLOWED_LIMIT), text('mes.reason', reason, 'fail')],
    };
  },
});

/** What the MES said about a run, read back from its interlock step's measurements (a run view's steps). */
export interface MesAnswerOfRun {
  /** null: the MES could not be asked. */
  allowed: boolean | null;
  reason: string;
  /** Why the run is flagged for review (tested without the MES's answer); null: not flagged. */
  review: string | null;
}

/** The MES's answer kept with a run (GET /api/runs/:id `mes`), or null for a run with no interlock step recorded. */
export function mesAnswerOfRun(steps: readonly { type: unknown; measurements?: readonly { name: unknown; value: unknown }[] }[]): MesAnswerOfRun | null {
  const step = steps.find((s) => s.type === 'interlock');
  if (!step) return null;
  const value = (name: string): string | null => {
    const v = step.measurements?.find((m) => m.name === name)?.value;
    return typeof v === 'string' ? v : null;
  };
  const allowed = value('mes.allowed');
  if (allowed === null) return null;
  return { allowed: allowed === 'true' ? true : allowed === 'false' ? false : null, reason: value('mes.reason') ?? '', review: value('mes.review') };
}
