// The `instruments` section of the station config, owned here and composed into the station's
// schema: one entry per bench instrument (power supply, DMM, switch, any SCPI box), its model and
// how to reach it. docs/instruments.md describes every key.
import { z } from 'zod';
import { MODEL_NAMES, MODELS, type InstrumentKind, type ModelName } from './models.js';

const regexSource = z
  .string()
  .min(1)
  .max(200)
  .refine((source) => {
    try {
      new RegExp(source, 'i');
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

export const instrumentTransportSchema = z.discriminatedUnion('kind', [
  /** A raw SCPI socket: port 5025 by the LXI convention. */
  z.strictObject({
    kind: z.literal('tcp'),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(5025),
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
  }),
  /** RS-232, or USB in virtual COM port mode. */
  z.strictObject({
    kind: z.literal('serial'),
    path: z.string().min(1).max(300),
    baudRate: z.number().int().min(300).max(4_000_000).default(9600),
  }),
  /** The real driver, with the simulated instrument of the model behind an in-memory cable. */
  z.strictObject({
    kind: z.literal('simulated'),
    /** The simulated instrument's time to answer each command. */
    latencyMs: z.number().int().min(0).max(10_000).default(0),
  }),
]);

export const instrumentConfigSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (up to 64)'),
    kind: z.enum(['dmm', 'psu', 'switch', 'scpi']),
    model: z.enum(MODEL_NAMES),
    transport: instrumentTransportSchema,
    /** Per-command timeout; default per model (docs/instruments.md). */
    timeoutMs: z.number().int().min(10).max(600_000).optional(),
    /** Line end of commands and answers (serial instruments are often set to CR or CRLF). */
    terminator: z.enum(['LF', 'CR', 'CRLF']).default('LF'),
    reconnectInitialMs: z.number().int().min(10).max(60_000).default(500),
    reconnectMaxMs: z.number().int().min(10).max(600_000).default(10_000),
    /** When the instrument's calibration runs out (YYYY-MM-DD); the station alarms on it. */
    calibrationDue: z.iso.date().optional(),
    /** Narrows the *IDN? check (regular expressions, case-insensitive), for the generic models. */
    idn: z.strictObject({ manufacturer: regexSource.optional(), model: regexSource.optional() }).optional(),
  })
  .superRefine((cfg, ctx) => {
    const modelKind: InstrumentKind = MODELS[cfg.model].kind;
    if (modelKind !== cfg.kind) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: `model "${cfg.model}" is a ${modelKind}, not a ${cfg.kind}` });
    }
    if (cfg.reconnectMaxMs < cfg.reconnectInitialMs) {
      ctx.addIssue({ code: 'custom', path: ['reconnectMaxMs'], message: `must be at least reconnectInitialMs (${cfg.reconnectInitialMs})` });
    }
  });

/** The whole section: ids unique. */
export const instrumentsConfigSchema = z
  .array(instrumentConfigSchema)
  .max(64)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((cfg, i) => {
      const first = seen.get(cfg.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `instrument id "${cfg.id}" is already used by instruments[${first}]` });
      else seen.set(cfg.id, i);
    });
  })
  .default([]);

/** As written in the config file. */
export type InstrumentConfigInput = z.input<typeof instrumentConfigSchema>;
/** After parsing, defaults filled in. */
export type InstrumentConfig = z.output<typeof instrumentConfigSchema>;
export type InstrumentTransportConfig = z.output<typeof instrumentTransportSchema>;

/** The per-command timeout an instrument uses. */
export function timeoutOf(cfg: Pick<InstrumentConfig, 'model' | 'timeoutMs'>): number {
  return cfg.timeoutMs ?? MODELS[cfg.model as ModelName].defaultTimeoutMs;
}
