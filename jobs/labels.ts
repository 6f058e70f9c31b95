// Labels after blessing: each blessed device gets its label (Device ID as a Data Matrix, plus its
// MAC and the product name) on the configured output: a ZPL printer on TCP 9100 (a real one, or
// the simulated world's printer), or PNG files. A printer that fails raises a warning alarm (the
// device stays blessed; an engineer reprints from the console) and clears it on the next label
// that goes through. Labels never carry a mobile secret or a token.
import path from 'node:path';
import type { Logger } from 'pino';
import { labelFromIdentity } from '../drivers/label/layout.js';
import { createLabelOutput, type LabelOutput, type LabelOutputConfig } from '../drivers/label/index.js';
import type { StationConfig } from '../station/config/load.js';
import type { StationBus } from '../station/events.js';
import { labelReprinter, type BlessedLabelSource } from '../station/identity/reprint.js';
import type { LabelReprinter } from '../station/identity/router.js';
import type { Store } from '../station/store/store.js';

export class LabelPrinting {
  private output: LabelOutput | null = null;
  private off: (() => void) | null = null;
  private alarmUp = false;
  private readonly queue = new Set<Promise<void>>();
  printed = 0;

  constructor(
    private readonly cfg: StationConfig,
    private readonly store: Store,
    private readonly bus: StationBus,
    private readonly log: Logger,
    /** The output as configured, resolved at start (a simulated printer listens only by then); null: no labels. */
    private readonly outputConfig: () => LabelOutputConfig | null,
  ) {}

  async start(): Promise<void> {
    const out = this.outputConfig();
    if (!out) return;
    this.output = createLabelOutput(out, this.log, this.cfg.configPath ? path.dirname(this.cfg.configPath) : process.cwd());
    this.off = this.bus.on('run.finished', (r) => {
      if (r.verdict !== 'blessed' || !r.deviceId) return;
      const job = this.print(r.deviceId, r.runId).finally(() => this.queue.delete(job));
      this.queue.add(job);
    });
  }

  async stop(): Promise<void> {
    this.off?.();
    await Promise.allSettled([...this.queue]);
  }

  /** The reprint behind POST /api/labels/:deviceId/reprint. */
  reprinter(): LabelReprinter {
    if (!this.output) {
      return {
        reprint: () => Promise.reject(new Error('this station prints no labels (labels.output is not configured)')),
      };
    }
    return labelReprinter(this.output, this.blessedDevices());
  }

  private blessedDevices(): BlessedLabelSource {
    return {
      findBlessed: (deviceId) => {
        const row = this.store.database.prepare(`SELECT device_id, mac, last_run_id FROM devices WHERE device_id = ? AND blessed_at IS NOT NULL`).get(deviceId.toLowerCase()) as
          { device_id: string; mac: string | null; last_run_id: string } | undefined;
        return row ? { deviceId: row.device_id, mac: row.mac, product: this.cfg.labels.product ?? null, runId: row.last_run_id } : null;
      },
    };
  }

  private async print(deviceId: string, runId: string): Promise<void> {
    const output = this.output;
    if (!output) return;
    try {
      const device = this.blessedDevices().findBlessed(deviceId); // the store: a failed disk is this label's failure too
      await output.print({ ...labelFromIdentity({ deviceId, mac: device?.mac ?? null, product: this.cfg.labels.product ?? null }), runId });
      this.printed++;
      if (this.alarmUp) {
        this.alarmUp = false;
        this.bus.emit('alarm.cleared', { alarmId: 'labels.output' });
      }
    } catch (err) {
      const message = `the label for ${deviceId} was not printed: ${(err as Error).message}; reprint it from the engineer console`;
      this.log.warn({ deviceId, runId, reason: (err as Error).message }, 'label not printed');
      this.alarmUp = true;
      this.bus.emit('alarm.raised', { alarmId: 'labels.output', severity: 'warning', message, slot: null });
    }
  }
}
