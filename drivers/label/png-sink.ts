// Labels saved as PNG files, for a station without a printer (or a print shop that takes files):
// <dir>/<deviceId>-<runId>.png. Written whole under a temporary name, fsynced, then renamed into
// place and the folder fsynced, so a crash or a full disk never leaves a half label under the
// real name, and a reprint replaces the file in one step.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import { deviceIdSchema, type LabelStock } from './layout.js';
import type { LabelJob, LabelOutput } from './output.js';
import { renderLabelPng } from './png.js';

export interface PngLabelSinkOptions {
  dir: string;
  stock: LabelStock;
  log: Logger;
}

/** A run id becomes part of a file name: letters, digits, "-" and "_" only (a UUID is). */
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class PngLabelSinkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PngLabelSinkError';
  }
}

export class PngLabelSink implements LabelOutput {
  readonly kind = 'png' as const;
  private readonly log: Logger;

  constructor(private readonly opts: PngLabelSinkOptions) {
    this.log = opts.log.child({ part: 'drivers.label', dir: opts.dir });
  }

  /** Where the label of `label` is (or would be) saved. */
  pathFor(label: Pick<LabelJob, 'deviceId' | 'runId' | 'qr'>): string {
    if (!deviceIdSchema.safeParse(label.deviceId).success) throw new PngLabelSinkError(`cannot name a label file after Device ID ${JSON.stringify(label.deviceId)}: not 8-64 hex characters`);
    if (!RUN_ID.test(label.runId)) throw new PngLabelSinkError(`cannot name a label file after run id ${JSON.stringify(label.runId)}: only letters, digits, "-" and "_"`);
    // A claim label (with its QR code) is a second label for the same run: the box's.
    return path.join(this.opts.dir, `${label.deviceId}-${label.runId}${label.qr === undefined ? '' : '-claim'}.png`);
  }

  async print(label: LabelJob): Promise<void> {
    const file = this.pathFor(label);
    const png = await renderLabelPng({ deviceId: label.deviceId, lines: label.lines, qr: label.qr, ...(label.stock ?? this.opts.stock) });
    await saveLabelFile(file, png);
    this.log.info({ deviceId: label.deviceId, runId: label.runId, file, bytes: png.length, claim: label.qr !== undefined }, 'label saved');
  }
}

async function saveLabelFile(file: string, data: Buffer): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
    // lib/atomic-file.ts; mode 0644: the files are for a print shop's program to read.
    await writeFileAtomic(file, data, { mode: 0o644 });
  } catch (err) {
    throw new PngLabelSinkError(`cannot save the label ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
