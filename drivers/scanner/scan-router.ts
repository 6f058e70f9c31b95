// Which slot a scan belongs to. A scanner mounted at a nest is configured for its slot: its scans
// go there. A roaming scanner (a handheld shared by several nests) goes where the operator points
// it: scanning a slot barcode ("SLOT:3") selects that slot for the scanner's next scan, for 30 s;
// a roaming scan with no slot selected is refused, so a label never lands on a guessed slot.
// Slot numbers are as operators see them ("Slot 3" is 3) in the config, the barcode and `routed`.
import type { Logger } from 'pino';
import { z } from 'zod';
import { EventBus } from '../../lib/event-bus.js';
import { monotonicMs } from '../../lib/clock.js';
import type { ScanEvent, Scanner } from './scanner.js';

export const scanRouterConfigSchema = z.strictObject({
  scanners: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(64),
        /** The slot this scanner belongs to; absent: a roaming scanner. */
        slot: z.number().int().min(1).max(99).optional(),
      }),
    )
    .min(1)
    .refine((list) => new Set(list.map((s) => s.id)).size === list.length, { message: 'scanner ids must be unique' }),
  /** A scan matching this selects a slot for a roaming scanner; group 1 is the slot number. */
  slotBarcodePattern: z
    .string()
    .max(200)
    .default('^SLOT:(\\d{1,2})$')
    .refine(
      (p) => {
        try {
          return new RegExp(`${p}|`).exec('')!.length >= 2;
        } catch {
          return false;
        }
      },
      { message: 'must be a valid regular expression with a capture group for the slot number' },
    ),
});

export type ScanRouterConfig = z.input<typeof scanRouterConfigSchema>;

export interface ScanRouterEvents {
  routed: { slot: number; scannerId: string; text: string };
  /** A roaming scanner selected a slot for its next scan. */
  selected: { slot: number; scannerId: string };
  rejected: { scannerId: string; reason: string };
}

export type RouteResult = { kind: 'routed'; slot: number } | { kind: 'selected'; slot: number } | { kind: 'rejected'; reason: string };

export interface ScanRouterOptions {
  log: Logger;
  /** Slots on this station (1..slotCount); a slot barcode or config naming another is refused. */
  slotCount?: number;
  /** How long a slot barcode's selection waits for the next scan (default 30 s). */
  selectionTtlMs?: number;
  /** The monotonic clock the selection's TTL is measured on (lib/clock.ts). */
  now?: () => number;
}

export class ScanRouter {
  readonly events: EventBus<ScanRouterEvents>;
  private readonly fixed = new Map<string, number | null>();
  private readonly slotBarcode: RegExp;
  private readonly selections = new Map<string, { slot: number; until: number }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    config: ScanRouterConfig,
    private readonly opts: ScanRouterOptions,
  ) {
    const parsed = scanRouterConfigSchema.safeParse(config);
    if (!parsed.success) {
      throw new Error(`scanner routing config is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    for (const s of parsed.data.scanners) {
      if (s.slot !== undefined && opts.slotCount !== undefined && s.slot > opts.slotCount) {
        throw new Error(`scanner ${s.id} is configured for slot ${s.slot}, but this station has slots 1-${opts.slotCount}`);
      }
      this.fixed.set(s.id, s.slot ?? null);
    }
    this.slotBarcode = new RegExp(parsed.data.slotBarcodePattern);
    this.ttlMs = opts.selectionTtlMs ?? 30_000;
    this.now = opts.now ?? monotonicMs;
    this.events = new EventBus<ScanRouterEvents>(opts.log);
  }

  /** Routes every scan of `scanner`; returns the unsubscribe. */
  attach(scanner: Scanner): () => void {
    return scanner.events.on('scan', (scan) => this.route(scan));
  }

  route(scan: Pick<ScanEvent, 'scannerId' | 'text'>): RouteResult {
    const result = this.decide(scan);
    if (result.kind === 'routed') this.events.emit('routed', { slot: result.slot, scannerId: scan.scannerId, text: scan.text });
    else if (result.kind === 'selected') this.events.emit('selected', { slot: result.slot, scannerId: scan.scannerId });
    else {
      this.opts.log.info({ scanner: scan.scannerId, reason: result.reason }, 'scan not routed');
      this.events.emit('rejected', { scannerId: scan.scannerId, reason: result.reason });
    }
    return result;
  }

  /** The slot a roaming scanner has selected and not yet used, or null. */
  selectedSlot(scannerId: string): number | null {
    const sel = this.selections.get(scannerId);
    if (!sel) return null;
    if (this.now() >= sel.until) {
      this.selections.delete(scannerId);
      return null;
    }
    return sel.slot;
  }

  private decide(scan: Pick<ScanEvent, 'scannerId' | 'text'>): RouteResult {
    if (!this.fixed.has(scan.scannerId)) return { kind: 'rejected', reason: `scanner ${scan.scannerId} is not in the scanner configuration` };
    const fixedSlot = this.fixed.get(scan.scannerId) ?? null;
    const m = this.slotBarcode.exec(scan.text);
    if (m) {
      const slot = Number(m[1]);
      if (fixedSlot !== null) return { kind: 'rejected', reason: `slot barcode ignored: scanner ${scan.scannerId} belongs to slot ${fixedSlot}` };
      if (!Number.isInteger(slot) || slot < 1 || (this.opts.slotCount !== undefined && slot > this.opts.slotCount)) {
        const range = this.opts.slotCount !== undefined ? `slots 1-${this.opts.slotCount}` : 'slots from 1';
        return { kind: 'rejected', reason: `slot barcode names slot ${m[1]}; this station has ${range}` };
      }
      this.selections.set(scan.scannerId, { slot, until: this.now() + this.ttlMs });
      return { kind: 'selected', slot };
    }
    if (fixedSlot !== null) return { kind: 'routed', slot: fixedSlot };
    const selected = this.selectedSlot(scan.scannerId);
    if (selected === null) return { kind: 'rejected', reason: 'scan a slot barcode first' };
    this.selections.delete(scan.scannerId); // the selection is for the next scan only
    return { kind: 'routed', slot: selected };
  }
}
