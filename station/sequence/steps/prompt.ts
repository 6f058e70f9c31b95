// prompt: asks the operator a question on the slot's tile (confirm the LED is green); the step
// passes on one of its passing answers.
import { z } from 'zod';
import { defineStepKind, localText, stepBase, textOf, translationsOf } from '../step-kind.js';

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('prompt'),
  /** The question, in one language or several (fields.ts localText). */
  text: localText(300),
  answers: z.array(z.string().min(1).max(40)).min(1).max(8).default(['yes', 'no']),
  /** Answers that pass the step. */
  pass: z.array(z.string().min(1).max(40)).min(1).default(['yes']),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number };

export const promptStep = defineStepKind<Def, Compiled>({
  type: 'prompt',
  schema,
  compile: (def) => ({ ...def, timeoutMs: def.timeoutMs ?? 300_000 }),
  check(step, path, report) {
    for (const [j, answer] of step.pass.entries()) if (!step.answers.includes(answer)) report([...path, 'pass', j], `"${answer}" is not one of the answers`);
  },
  async execute(ctx, step) {
    const texts = translationsOf(step.text);
    const answer = await ctx.prompts.ask({
      slot: ctx.slot,
      runId: ctx.runId,
      text: textOf(step.text),
      answers: step.answers,
      timeoutMs: step.timeoutMs,
      signal: ctx.signal,
      ...(texts ? { i18n: { text: texts } } : {}),
    });
    return step.pass.includes(answer) ? { status: 'pass', message: null } : { status: 'fail', message: `operator answered "${answer}"` };
  },
});
