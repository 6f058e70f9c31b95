// The station configuration's `mes` section (docs/configuration.md#mes): which MES the interlock
// step asks, for which operation, and what happens to a unit when the MES cannot be asked.
import { z } from 'zod';

export const mesConfigSchema = z.strictObject({
  /** The MES's base URL: the station asks `<url>/v1/units/<deviceId>/route`. */
  url: z
    .url({ protocol: /^https?$/ })
    .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'must not carry a user name or password: give the key in mes.apiKey')
    .refine((u) => !/[?#]/.test(u), 'must be a base URL, with no query or fragment (the station adds /v1/units/...)'),
  /** The operation (routing step) this station performs, as the MES names it: "final-test". */
  operation: z
    .string()
    .min(1)
    .max(80)
    .regex(/^[^\p{Cc}\s](?:[^\p{Cc}]*[^\p{Cc}\s])?$/u, 'must be printable text, not starting or ending with a space'),
  /**
   * When the MES cannot be asked (no answer within the tries, an HTTP error, an answer not of the
   * contract's shape): "block" fails the unit with "MES unreachable" (it is not tested);
   * "allow-and-flag" tests it and flags its record for review.
   */
  offlinePolicy: z.enum(['block', 'allow-and-flag']).default('block'),
  /** How long one try waits for the MES's whole answer. */
  timeoutMs: z.number().int().min(100).max(60_000).default(3000),
  /** Tries after the first when one fails (with 250 ms to 1 s between them). */
  retries: z.number().int().min(0).max(5).default(2),
  /** A secret, sent as `Authorization: Bearer <apiKey>`: never logged, shown or exported. */
  apiKey: z.string().min(1).max(4096).optional(),
});

export type MesConfig = z.output<typeof mesConfigSchema>;
