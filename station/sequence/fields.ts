// Schema pieces the step kinds and the limits share: a DUT command, a regex source, the fields
// every step has, identity field names.
import { z } from 'zod';

/** A DUT command: printable ASCII, no line breaks (the protocols are line-framed). */
export const dutCommand = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII with no line breaks and not start with a space');

export const regexSource = z
  .string()
  .min(1)
  .max(500)
  .superRefine((src, ctx) => {
    try {
      new RegExp(src);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(err as Error).message}` });
    }
  });

export const stepBase = {
  name: z.string().min(1).max(80),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  retries: z.number().int().min(0).max(10).default(0),
};

/** What an operator is told to do with a unit that failed a step (the tile's next action). */
export const ON_FAIL_ACTIONS = ['reject-bin', 'retest', 'call-engineer'] as const;
export type OnFailAction = (typeof ON_FAIL_ACTIONS)[number];

/**
 * Words for operators, any step may carry them (docs/sequences.md): `operatorText` is shown on the
 * tile instead of the step's technical name (and, on a scan step, instead of the expected format);
 * `onFail` is the next action when a unit fails at the step, with optional words of the engineer's.
 */
export const operatorWords = {
  operatorText: z.string().trim().min(1).max(200).optional(),
  onFail: z.strictObject({ action: z.enum(ON_FAIL_ACTIONS), text: z.string().trim().min(1).max(200).optional() }).optional(),
};
export interface OperatorWords {
  operatorText?: string | undefined;
  onFail?: { action: OnFailAction; text?: string | undefined } | undefined;
}

/** Identity fields a label can carry and a step can cross-check against the DUT's answer. */
export const identityField = z.enum(['deviceId', 'mac', 'iccid', 'imei']);
export type IdentityField = z.infer<typeof identityField>;
