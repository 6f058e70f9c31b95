// What every simulated device on a tagged-line serial link shares: attaching to a byte stream,
// reading request lines, timers that die with the link, and writing answers.
import type { Duplex } from 'node:stream';
import { ReadlineParser } from '@serialport/parser-readline';

export abstract class LineDeviceSim {
  private parser: ReadlineParser | null = null;
  private stream: Duplex | null = null;
  protected readonly timers = new Set<NodeJS.Timeout>();

  attach(stream: Duplex): void {
    this.detach();
    const parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
    stream.pipe(parser);
    parser.on('data', (line: string) => this.onRequest(line));
    this.parser = parser;
    this.stream = stream;
  }

  detach(): void {
    this.clearTimers();
    this.onDetach();
    if (this.stream && this.parser) this.stream.unpipe(this.parser);
    this.stream = null;
    this.parser = null;
  }

  protected abstract onRequest(line: string): void;

  /** The link went: forget what was in progress. */
  protected onDetach(): void {}

  protected clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  protected later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  protected write(text: string): void {
    if (this.stream && !this.stream.destroyed && this.stream.writable) this.stream.write(Buffer.from(text, 'latin1'));
  }
}
