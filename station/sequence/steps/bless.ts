// bless: the last step of every sequence, run only when every step before it passed. Tells the
// DUT to commit its production identity (BLESS); an answer with rework=1 marks the unit as one
// that was blessed before. The runner records the verdict (station/line/runner.ts): a blessing is
// never retried (a second BLESS would read as rework), and one the DUT did not confirm is never
// recorded as blessed.
import { z } from 'zod';
import { defineStepKind, dutCommand, stepBase } from '../step-kind.js';

const schema = z.strictObject({ name: stepBase.name, timeoutMs: stepBase.timeoutMs, type: z.literal('bless'), command: dutCommand.default('BLESS') });

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number; retries: 0 };

export const blessStep = defineStepKind<Def, Compiled>({
  type: 'bless',
  schema,
  role: 'verdict',
  compile: (def, d) => ({ ...def, timeoutMs: def.timeoutMs ?? d.defaultTimeoutMs, retries: 0 }),
  async execute(ctx, step) {
    const answer = await ctx.request(step.command, step.timeoutMs);
    // rework=1 (tagged), "rework: 1" (a shell), ",rework" (an AT answer): the unit was blessed before.
    if (/(^|[\s,])rework(=1|: ?1)?(?=$|[\s,])/m.test(answer)) ctx.state.rework = true;
    return { status: 'pass', message: null };
  },
});
