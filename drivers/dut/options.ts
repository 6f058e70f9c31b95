// How a slot's DUT console is configured (`slots[].dut`): the station's config schema composes
// this. "simulated" is resolved by the composition root, which hands the console the simulator's
// opener; the console itself only knows ports.
import { z } from 'zod';
import { dutProtocolSchema } from '../console/options.js';

export const dutDriverSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('serial'),
    path: z.string().min(1).max(300),
    baudRate: z.number().int().min(1200).max(4_000_000).default(115200),
    /** What the firmware speaks: the station's tagged lines (absent), AT commands or a shell. */
    protocol: dutProtocolSchema.optional(),
  }),
  /** The built-in DUT simulator, linked by an in-memory byte stream that carries the same protocol. */
  z.strictObject({ kind: z.literal('simulated'), protocol: dutProtocolSchema.optional() }),
]);

export type DutDriverConfig = z.output<typeof dutDriverSchema>;

/** The DUT console's settings (`dut` in the station config). */
export const dutConsoleSettingsSchema = z
  .strictObject({
    maxLineBytes: z.number().int().min(64).max(65536).default(512),
    reconnectInitialMs: z.number().int().min(10).max(60_000).default(200),
    reconnectMaxMs: z.number().int().min(10).max(600_000).default(5000),
  })
  .default({ maxLineBytes: 512, reconnectInitialMs: 200, reconnectMaxMs: 5000 });

export type DutConsoleSettings = z.output<typeof dutConsoleSettingsSchema>;
