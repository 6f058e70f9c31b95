// delay: waits, abortably (an interrupted run does not sit out its delays). No timeout or retries.
import { z } from 'zod';
import { Interrupted } from '../run-errors.js';
import { defineStepKind, stepBase } from '../step-kind.js';

const schema = z.strictObject({ name: stepBase.name, type: z.literal('delay'), ms: z.number().int().min(0).max(600_000) });

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number; retries: 0 };

/** Waits `ms`; rejects Interrupted at once when the run is interrupted. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
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

export const delayStep = defineStepKind<Def, Compiled>({
  type: 'delay',
  schema,
  compile: (def) => ({ ...def, timeoutMs: def.ms, retries: 0 }),
  async execute(ctx, step) {
    await abortableDelay(step.ms, ctx.signal);
    return { status: 'pass', message: null };
  },
});
