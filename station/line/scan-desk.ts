// The station's scanners (built by the composition root: HID, serial, or a simulator behind the
// real driver), their scans routed to a slot (a fixed slot, or a slot barcode for a roaming
// scanner), and delivered there: to the slot's open scan prompt, or, with none open, as a start
// request for the slot. A command barcode (scan-commands.ts: CMD:PASS, CMD:FAIL, CMD:START[:n],
// CMD:CLEAR[:n]) answers the slot's yes/no question, starts it or clears its kept verdict instead.
// A scan that cannot be used is refused with the reason (a scan.rejected event and one log line)
// and never logged.
import type { Logger } from 'pino';
import { ScanRouter, type Scanner } from '../../drivers/scanner/index.js';
import type { StationConfig } from '../config/load.js';
import type { StationBus } from '../events.js';
import { PromptError, type PromptBroker } from './prompts.js';
import { answerFor, parseScanCommand } from './scan-commands.js';

/** A scanner of the station and the slot it is fixed to (0-based; null: roaming). */
export interface DeskScanner {
  id: string;
  slot: number | null;
  scanner: Scanner;
}

export interface ScanDeskDeps {
  cfg: StationConfig;
  scanners: DeskScanner[];
  prompts: PromptBroker;
  bus: StationBus;
  log: Logger;
  /** Starts slot `index` (0-based) for a scan with no prompt open; returns why not, or null. */
  requestStart(index: number): string | null;
  /** Clears slot `index`'s kept verdict (CMD:CLEAR); returns whether it had one. */
  clearVerdict?(index: number): boolean;
}

export class ScanDesk {
  private router: ScanRouter | null = null;
  private readonly offs: (() => void)[] = [];

  constructor(private readonly deps: ScanDeskDeps) {}

  start(): void {
    const { cfg, bus, log } = this.deps;
    if (this.deps.scanners.length === 0) return;
    const router = new ScanRouter(
      {
        scanners: cfg.scanners.map((s) => ({ id: s.id, ...(s.slot !== undefined ? { slot: s.slot } : {}) })),
        ...(cfg.labels.slotBarcodePattern ? { slotBarcodePattern: cfg.labels.slotBarcodePattern } : {}),
      },
      { log: log.child({ part: 'line.scans' }), slotCount: cfg.slots.length },
    );
    this.router = router;
    this.offs.push(
      router.events.on('routed', (r) => this.deliver(r.slot - 1, r.text)),
      router.events.on('rejected', (r) => bus.emit('scan.rejected', { slot: null, promptId: null, reason: `scanner ${r.scannerId}: ${r.reason}` })),
    );
    for (const sc of this.deps.scanners) {
      this.offs.push(router.attach(sc.scanner));
      this.offs.push(sc.scanner.events.on('rejected', (r) => bus.emit('scan.rejected', { slot: sc.slot, promptId: null, reason: `scanner ${sc.id}: ${r.reason}` })));
      sc.scanner.start().catch((err: unknown) => log.error({ err, scanner: sc.id }, 'the scanner could not start'));
    }
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
    await Promise.allSettled(this.deps.scanners.map((s) => s.scanner.stop()));
  }

  /** A scan for slot `index` (0-based), from a scanner or typed on the dashboard. */
  deliver(index: number, text: string): { ok: true } | { ok: false; reason: string } {
    const { prompts, bus, log } = this.deps;
    const command = parseScanCommand(text);
    if (command) return this.command(command.slot ?? index, command.verb);
    const promptId = prompts.scanPromptAt(index);
    if (promptId) {
      try {
        prompts.answer(promptId, text);
        return { ok: true };
      } catch (err) {
        if (!(err instanceof PromptError)) throw err;
        // the broker has told the dashboard (scan.rejected); the prompt stays open
        log.info({ part: 'line.scans', slot: index, reason: err.message }, 'scan refused: the prompt stays open');
        return { ok: false, reason: err.message };
      }
    }
    const why = this.deps.requestStart(index);
    if (why === null) {
      log.info({ part: 'line.scans', slot: index }, 'slot started by a scan');
      return { ok: true };
    }
    const reason = `no scan expected at slot ${index + 1}: ${why}`;
    bus.emit('scan.rejected', { slot: index, promptId: null, reason });
    return { ok: false, reason };
  }

  /** A command barcode for slot `index` (0-based): answers its yes/no question, or starts it. */
  private command(index: number, verb: 'pass' | 'fail' | 'start' | 'clear'): { ok: true } | { ok: false; reason: string } {
    const { prompts, bus, log } = this.deps;
    const refuse = (reason: string): { ok: false; reason: string } => {
      bus.emit('scan.rejected', { slot: index, promptId: null, reason });
      log.info({ part: 'line.scans', slot: index, verb, reason }, 'command barcode refused');
      return { ok: false, reason };
    };
    if (verb === 'clear') {
      if (!this.deps.clearVerdict) return refuse('CMD:CLEAR clears a verdict on a dashboard tile: scan it with the dashboard screen’s scanner');
      if (!this.deps.clearVerdict(index)) return refuse(`slot ${index + 1} has no verdict to clear`);
      log.info({ part: 'line.scans', slot: index, by: 'scanner' }, 'kept verdict cleared by a command barcode');
      return { ok: true };
    }
    if (verb === 'start') {
      const why = this.deps.requestStart(index);
      if (why !== null) return refuse(`slot ${index + 1} cannot start: ${why}`);
      log.info({ part: 'line.scans', slot: index }, 'slot started by a command barcode');
      return { ok: true };
    }
    const open = prompts.list().find((p) => p.slot === index && p.kind === 'choice');
    if (!open) return refuse(`slot ${index + 1} is not asking a yes/no question`);
    const answer = answerFor(open.answers, verb);
    if (!answer) return refuse(`the question at slot ${index + 1} has no ${verb === 'pass' ? 'yes' : 'no'} answer (${open.answers.join(', ')}): answer it on the dashboard`);
    prompts.answer(open.promptId, answer);
    log.info({ part: 'line.scans', slot: index, answer }, 'prompt answered by a command barcode');
    return { ok: true };
  }
}
