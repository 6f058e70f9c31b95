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

/** Identity fields a label can carry and a step can cross-check against the DUT's answer. */
export const identityField = z.enum(['deviceId', 'mac', 'iccid', 'imei']);
export type IdentityField = z.infer<typeof identityField>;
