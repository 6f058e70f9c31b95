// Picks a label output from its config: a ZPL printer on TCP 9100, or a folder of PNG files.
import path from 'node:path';
import type { Logger } from 'pino';
import type { LabelOutput, LabelOutputConfig } from './output.js';
import { PngLabelSink } from './png-sink.js';
import { ZplPrinter } from './printer.js';

export { labelOutputConfigSchema, type LabelJob, type LabelOutput, type LabelOutputConfig } from './output.js';

/** The output a config section describes; `baseDir` resolves a relative PNG folder. */
export function createLabelOutput(cfg: LabelOutputConfig, log: Logger, baseDir = process.cwd()): LabelOutput {
  if (cfg.kind === 'zpl') {
    return new ZplPrinter({
      host: cfg.host,
      port: cfg.port,
      connectTimeoutMs: cfg.connectTimeoutMs,
      ioTimeoutMs: cfg.ioTimeoutMs,
      checkStatus: cfg.checkStatus,
      stock: cfg.stock,
      log,
    });
  }
  return new PngLabelSink({ dir: path.resolve(baseDir, cfg.dir), stock: cfg.stock, log });
}
