// Where labels go: a Zebra-compatible printer (ZPL over TCP port 9100) or a folder of PNG files,
// both behind one small interface (the outputs implement it; index.ts picks one from the config).
import { z } from 'zod';
import { DEFAULT_LABEL_STOCK, labelStockSchema, type LabelContent, type LabelStock } from './layout.js';

/** One label to print: what it says, and the run that blessed the device (for file names, logs). */
export interface LabelJob extends LabelContent {
  runId: string;
  /** Stock other than the output's (a claim label's, larger for its QR code). */
  stock?: LabelStock | undefined;
}

export interface LabelOutput {
  readonly kind: 'zpl' | 'png';
  /** Prints (or saves) one label; rejects with a message naming the printer or file on failure. */
  print(label: LabelJob): Promise<void>;
}

export const labelOutputConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('zpl'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(9100),
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
    ioTimeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /** Ask the printer's status (~HS) before each job, refusing to send when it is out of paper. */
    checkStatus: z.boolean().default(true),
    stock: labelStockSchema.default(DEFAULT_LABEL_STOCK),
  }),
  z.strictObject({
    kind: z.literal('png'),
    /** A folder, relative to the config file. */
    dir: z.string().min(1),
    stock: labelStockSchema.default(DEFAULT_LABEL_STOCK),
  }),
]);

export type LabelOutputConfig = z.infer<typeof labelOutputConfigSchema>;
