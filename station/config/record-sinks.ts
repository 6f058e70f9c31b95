// Sinks that hand each record to a tool other than the station's own cloud (station/config/uplink.ts
// lists them among `uplink.sinks`): the plant's MES (docs/mes.md#the-mes-sink), a folder of OpenHTF
// test records (docs/api.md#openhtf-test-record), and TofuPilot (docs/tofupilot.md).
import { z } from 'zod';

/** A sink's `name` (its id, station/config/uplink.ts): optional. */
export const sinkName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'must be 1-40 letters, digits, "_" or "-", starting with a letter or digit')
  .optional();

/** Reports each verdict to the MES of the configuration's `mes` section (its url, operation, apiKey). */
export const mesSinkSchema = z.strictObject({
  kind: z.literal('mes'),
  name: sinkName,
});

/** Writes each run as an OpenHTF JSON test record, one file per run, in `dir` (relative to the config file). */
export const openhtfSinkSchema = z.strictObject({
  kind: z.literal('openhtf'),
  name: sinkName,
  dir: z.string().min(1),
});

/** The environment variable the TofuPilot API key is read from when the sink has no `apiKey`. */
export const TOFUPILOT_KEY_ENV = 'TOFUPILOT_API_KEY';

/** Posts each run to TofuPilot's runs API (`<url>/api/v2/runs`). */
export const tofupilotSinkSchema = z.strictObject({
  kind: z.literal('tofupilot'),
  name: sinkName,
  /** TofuPilot's address, without /api (a self-hosted instance's too). */
  url: z
    .url({ protocol: /^https?$/ })
    .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'must not carry a user name or password: give the key in apiKey or TOFUPILOT_API_KEY')
    .default('https://www.tofupilot.app'),
  /** A secret (Authorization: Bearer): never logged, shown or exported; else read from TOFUPILOT_API_KEY. */
  apiKey: z.string().min(1).max(4096).optional(),
  /** The procedure's ID, from its page in TofuPilot. */
  procedureId: z.string().min(1).max(200),
});

export type MesSinkConfig = z.output<typeof mesSinkSchema>;
export type OpenhtfSinkConfig = z.output<typeof openhtfSinkSchema>;
export type TofupilotSinkConfig = z.output<typeof tofupilotSinkSchema>;
