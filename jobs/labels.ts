// Labels after blessing: each blessed device gets its label (Device ID as a Data Matrix, plus its
// MAC and the product name) on the configured output: a ZPL printer on TCP 9100 (a real one, or
// the simulated world's printer), or PNG files. A printer that fails raises a warning alarm (the
// device stays blessed; an engineer reprints from the console) and clears it on the next label
// that goes through. Labels never carry a mobile secret or a token. A claim label (the box's, with
// the claim URL as a QR code: drivers/label/claim.ts) is printed when the particle sink stores a
// unit's claim code; its content is never logged.
import path from 'node:path';
import type { Logger } from 'pino';
import { claimLabel } from '../drivers/label/claim.js';
import { labelFromIdentity } from '../drivers/label/layout.js';
import { createLabelOutput, type LabelJob, type LabelOutput, type LabelOutputConfig } from '../drivers/label/index.js';
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
    /** A device's stored claim code (unsealed), for a claim label's reprint; never logged. */
    private readonly claimCodeOf: (deviceId: string) => string | null = () => null,
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

  /** The reprint behind POST /api/labels/:deviceId/reprint (?label=claim: the box's claim label). */
  reprinter(): LabelReprinter {
    const output = this.output;
    if (!output) {
      return {
        reprint: () => Promise.reject(new Error('this station prints no labels (labels.output is not configured)')),
      };
    }
    const unit = labelReprinter(output, this.blessedDevices());
    return {
      reprint: async (deviceId, which = 'unit') => {
        if (which === 'unit') return unit.reprint(deviceId);
        const device = this.blessedDevices().findBlessed(deviceId);
        const code = device ? this.claimCodeOf(device.deviceId) : null;
        if (!device || code === null || !this.cfg.labels.claim) return null;
        await output.print(this.claimJob(device.deviceId, device.runId, code));
        return { output: output.kind };
      },
    };
  }

  /**
   * Prints the claim label of a blessed device whose claim code was just stored (the particle
   * sink, claim.mode "code"). Nothing when labels.claim or labels.output is not configured. A
   * printer that fails raises the labels.output alarm, as for the unit label; the code stays
   * sealed in the store for a reprint.
   */
  printClaim(deviceId: string, runId: string, claimCode: string): void {
    if (!this.output || !this.cfg.labels.claim) return;
    const job = this.printJob(deviceId, runId, 'claim label', () => this.claimJob(deviceId, runId, claimCode)).finally(() => this.queue.delete(job));
    this.queue.add(job);
  }

  private claimJob(deviceId: string, runId: string, claimCode: string): LabelJob {
    const cfg = this.cfg.labels.claim as NonNullable<StationConfig['labels']['claim']>;
    return { ...claimLabel(cfg, { deviceId, claimCode, product: this.cfg.labels.product ?? null }), runId, stock: cfg.stock };
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
    await this.printJob(deviceId, runId, 'label', () => {
      const device = this.blessedDevices().findBlessed(deviceId);
      return { ...labelFromIdentity({ deviceId, mac: device?.mac ?? null, product: this.cfg.labels.product ?? null }), runId };
    });
  }

  /** Prints the job `make` makes; a failure is logged (Device ID and run, never the label's content) and raises the alarm. */
  private async printJob(deviceId: string, runId: string, what: 'label' | 'claim label', make: () => LabelJob): Promise<void> {
    const output = this.output;
    if (!output) return;
    try {
      // Made inside: the store, a failed disk, is this label's failure too.
      await output.print(make());
      this.printed++;
      if (this.alarmUp) {
        this.alarmUp = false;
        this.bus.emit('alarm.cleared', { alarmId: 'labels.output' });
      }
    } catch (err) {
      const message = `the ${what} for ${deviceId} was not printed: ${(err as Error).message}; reprint it from the engineer console`;
      this.log.warn({ deviceId, runId, reason: (err as Error).message }, `${what} not printed`);
      this.alarmUp = true;
      this.bus.emit('alarm.raised', { alarmId: 'labels.output', severity: 'warning', message, slot: null });
    }
  }
}
