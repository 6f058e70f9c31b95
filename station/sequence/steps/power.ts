// power: switches the DUT's power through the slot's bench supply channel (slots[].power): on, off,
// or cycle (off, offMs, on). Turning it on waits for the unit's boot (its READY) and then settleMs;
// an over-current trip on the way fails the unit as a short. The slot's power is also switched by
// the run itself: on before the first step, off when the run ends for any reason (the safe state).
import { z } from 'zod';
import { StationFault } from '../run-errors.js';
import { defineStepKind, stepBase } from '../step-kind.js';

const schema = z.strictObject({
  name: stepBase.name,
  type: z.literal('power'),
  action: z.enum(['on', 'off', 'cycle']),
  /** After switching (and, when turning on, after the unit's boot): time for rails to settle. */
  settleMs: z.number().int().min(0).max(60_000).default(300),
  /** For cycle: how long the unit stays off. */
  offMs: z.number().int().min(0).max(60_000).default(500),
  /** The longest to wait for the unit's boot after power on. */
  timeoutMs: z.number().int().min(100).max(600_000).optional(),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number; retries: 0 };

export const powerStep = defineStepKind<Def, Compiled>({
  type: 'power',
  schema,
  compile: (def) => ({ ...def, timeoutMs: def.timeoutMs ?? 10_000, retries: 0 }),
  async execute(ctx, step) {
    if (!ctx.fixture) throw new StationFault(`slot ${ctx.slot + 1} has no DUT power configured (slots[].power), so it cannot run "${step.name}"`, true);
    const done = await ctx.fixture.power(step.action, { settleMs: step.settleMs, offMs: step.offMs, bootTimeoutMs: step.timeoutMs, signal: ctx.signal });
    if (done.tripped) return { status: 'fail', message: `short / over-current at ${step.name}: the supply's over-current protection tripped`, waitMs: done.waitMs };
    return { status: 'pass', message: null, waitMs: done.waitMs };
  },
});
