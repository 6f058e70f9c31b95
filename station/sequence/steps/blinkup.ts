// blinkup: factory BlinkUp (docs/tokens.md): a token and the factory network through the slot's
// emitter, and the DUT's enrollment answer. The work and its own retries are the line's BlinkUp
// runner (station/line/blinkup.ts); a station with no BlinkUp configured cannot run this step.
import { z } from 'zod';
import { StationFault } from '../run-errors.js';
import { defineStepKind, stepBase } from '../step-kind.js';

const schema = z.strictObject({
  name: stepBase.name,
  type: z.literal('blinkup'),
  /** How long to wait for the DUT's enrollment answer after the last symbol. */
  timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
  /** Fresh tokens to try after a token is rejected as invalid or expired. */
  tokenRetries: z.number().int().min(0).max(5).default(2),
  /** BlinkUps to repeat when the DUT does not answer or cannot read the frame, before asking the
   *  operator to re-seat it. */
  noAnswerRetries: z.number().int().min(0).max(5).default(1),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { retries: 0 };

export const blinkupStep = defineStepKind<Def, Compiled>({
  type: 'blinkup',
  schema,
  compile: (def) => ({ ...def, retries: 0 }),
  async execute(ctx, step) {
    if (!ctx.blinkup) throw new StationFault('this station has no factory BlinkUp configured (blinkup, tokens and slot emitters)', true);
    const outcome = await ctx.blinkup.run({ runId: ctx.runId, slot: ctx.slot, console: ctx.console, emitter: ctx.emitter, signal: ctx.signal }, step, (words) => ctx.onDetail(words));
    ctx.onDetail(null);
    if (outcome.alreadyBlessed) ctx.state.rework = true;
    return { status: outcome.status, message: outcome.message };
  },
});
