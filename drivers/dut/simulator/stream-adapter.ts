// Carries a simulated nest's words over a byte stream, exactly as factory firmware would over its
// UART: request lines in, tagged answers and events out, with the configured answer latency.
import type { Duplex } from 'node:stream';
import { ReadlineParser } from '@serialport/parser-readline';
import { formatEvent, formatReply, parseRequest } from '../../console/tagged-protocol.js';
import type { SimulatedNest } from './firmware.js';

export interface StreamAdapterOptions {
  latencyMs: number;
  /** Called when the nest pulls its own cable. */
  onUnplug(ms: number): void;
}

export class NestStreamAdapter {
  private readonly parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
  private readonly timers = new Set<NodeJS.Timeout>();
  private attached = true;

  constructor(
    private readonly nest: SimulatedNest,
    private readonly stream: Duplex,
    private readonly opts: StreamAdapterOptions,
  ) {
    nest.setOutput({
      event: (name, fields) => this.write(formatEvent(name, fields)),
      raw: (text) => this.write(text),
      unplug: (ms) => this.opts.onUnplug(ms),
    });
    stream.pipe(this.parser);
    this.parser.on('data', (line: string) => this.onRequest(line));
  }

  detach(): void {
    this.attached = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.stream.unpipe(this.parser);
  }

  private onRequest(line: string): void {
    const req = parseRequest(line);
    if (!req) {
      // No tag to answer to: firmware reports it as an event, as ours does.
      this.write(formatEvent('ERROR', { reason: 'bad-request' }));
      return;
    }
    // The firmware takes its latency to carry out the command, then answers: what the command
    // causes (a blessed unit being swapped for the next) happens after the answer, not before.
    if (this.opts.latencyMs <= 0) {
      this.answer(req.tag, req.command, req.args);
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.attached) this.answer(req.tag, req.command, req.args);
    }, this.opts.latencyMs);
    this.timers.add(t);
  }

  private answer(tag: number, command: string, args: string[]): void {
    const outcome = this.nest.execute(command, args);
    switch (outcome.kind) {
      case 'ok':
        this.write(formatReply(tag, { ok: true, payload: outcome.payload }));
        return;
      case 'err':
        this.write(formatReply(tag, { ok: false, code: outcome.code, message: outcome.message }));
        return;
      case 'garbage':
        this.write(`${outcome.line}\n`);
        return;
      case 'silent':
      case 'unplug':
        return;
    }
  }

  private write(text: string): void {
    if (this.attached && !this.stream.destroyed && this.stream.writable) this.stream.write(Buffer.from(text, 'latin1'));
  }
}
