// group: a few steps that belong together, run again until they pass or a count runs out (power
// cycle then read; trim then verify). Every attempt of every inner step is recorded, under the
// group; the group passes or fails as a whole, and its own result says how many attempts it took.
// Inner steps are any kind but identify, interlock, blinkup and bless (those belong to the run, not a group).
// The kind builds its schema around the sequence's step schema (handed in by kinds.ts, so that
// this module needs no list of kinds), and runs its steps through the runner (ctx.runSteps).
import { z } from 'zod';
import { defineStepKind, stepBase, type CompiledBase, type CompileDefaults, type Report } from '../step-kind.js';

export interface GroupDef {
  type: 'group';
  name: string;
  steps: { type: string; name: string }[];
  repeat: { max: number; until: 'pass' };
}

export interface CompiledGroup extends CompiledBase {
  type: 'group';
  steps: CompiledBase[];
  repeat: { max: number; until: 'pass' };
}

/** Kinds that belong to the run as a whole and may not sit in a group. */
const NOT_IN_A_GROUP = new Set(['identify', 'interlock', 'blinkup', 'bless']);

export function groupStepKind(inner: {
  /** Any step (the sequence's step schema, lazily: a group holds steps). */
  schema: z.ZodType<{ type: string; name: string }>;
  compile(def: { type: string; name: string }, defaults: CompileDefaults): CompiledBase;
  check(def: { type: string; name: string }, path: (string | number)[], report: Report): void;
}) {
  const schema = z.strictObject({
    name: stepBase.name,
    type: z.literal('group'),
    steps: z
      .array(z.lazy(() => inner.schema))
      .min(1)
      .max(100),
    /** Run the steps again until they all pass, at most `max` times in all. */
    repeat: z.strictObject({ max: z.number().int().min(1).max(20), until: z.literal('pass').default('pass') }).default({ max: 1, until: 'pass' }),
  });
  return defineStepKind<GroupDef, CompiledGroup>({
    type: 'group',
    schema: schema as unknown as z.ZodType<GroupDef, unknown>,
    compile: (def, d) => ({ type: 'group', name: def.name, timeoutMs: 0, retries: 0, repeat: def.repeat, steps: def.steps.map((s) => inner.compile(s, d)) }),
    check(def, path, report) {
      const names = new Set<string>();
      def.steps.forEach((s, i) => {
        if (NOT_IN_A_GROUP.has(s.type)) report([...path, 'steps', i, 'type'], `${/^[aeiou]/.test(s.type) ? 'an' : 'a'} ${s.type} step cannot be inside a group`);
        if (names.has(s.name)) report([...path, 'steps', i, 'name'], `duplicates the name of another step in the group`);
        names.add(s.name);
        inner.check(s, [...path, 'steps', i], report);
      });
    },
    async execute(ctx, step) {
      let last = { status: 'fail' as const, message: 'not run' } as Awaited<ReturnType<typeof ctx.runSteps>>;
      for (let attempt = 1; attempt <= step.repeat.max; attempt++) {
        last = await ctx.runSteps(step.steps, attempt);
        if (last.status === 'pass' || last.status === 'marginal') {
          return attempt === 1 ? last : { ...last, message: [`passed on attempt ${attempt} of ${step.repeat.max}`, last.message].filter(Boolean).join('; ') };
        }
      }
      const tries = step.repeat.max === 1 ? '' : ` (all ${step.repeat.max} attempts failed)`;
      return { status: last.status, message: `${last.message ?? last.status}${tries}` };
    },
  });
}
