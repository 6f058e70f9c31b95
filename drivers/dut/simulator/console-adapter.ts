// What the AT and shell adapters share: they carry a simulated nest's words over a byte stream
// for a protocol typed line by line, as an interactive console (a modem's AT interpreter, a
// firmware shell) reads its UART. One adapter serves one nest for its whole life and is the far
// end of its cable (a CableEnd): each time the cable is plugged in, the stream is attached; when
// it goes, nothing more is written and answers still being worked on are dropped.
//
// Command lines end at CR or LF (an LF straight after a CR ends nothing: CR LF is one line end),
// as V.250 modems and Zephyr's shell read them. Answers come after the firmware's latency.
// Output is written as latin1, so the nest's garbage lines reach the wire byte for byte.
import type { Duplex } from 'node:stream';
import type { CableEnd } from '../../transport/memory-link.js';
import type { SimulatedNest } from './firmware.js';
import { Random } from './random.js';

export interface ConsoleAdapterOptions {
  /** How long the firmware takes to carry out a command before it answers. */
  latencyMs: number;
  /** Unsolicited chatter (URCs, log lines) about this often while the unit is ready; 0: none. */
  chatterEveryMs?: number;
  /** Seeds the chatter's timing and content. */
  seed?: number;
}

/** The longest command line kept; a longer one is cut (a console's line buffer is finite). */
const MAX_COMMAND_CHARS = 1024;

export abstract class NestConsoleAdapter implements CableEnd {
  protected readonly rng: Random;
  private stream: Duplex | null = null;
  private unplugCable: ((ms: number) => void) | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private typed = '';
  private lastWasCr = false;
  private chatterTimer: NodeJS.Timeout | null = null;
  /** The unit said READY and has not booted again or had its verdict since. */
  protected unitReady = false;

  constructor(
    protected readonly nest: SimulatedNest,
    protected readonly opts: ConsoleAdapterOptions,
  ) {
    this.rng = new Random(opts.seed ?? 1);
    nest.setOutput({
      event: (name, fields) => {
        if (name === 'BOOT') this.unitReady = false;
        if (name === 'READY') this.unitReady = true;
        this.onNestEvent(name, fields);
      },
      raw: (text) => this.write(text),
      unplug: (ms) => this.unplugCable?.(ms),
    });
  }

  get attached(): boolean {
    return this.stream !== null;
  }

  attach(stream: Duplex, unplug: (ms: number) => void): { detach(): void } {
    this.stream = stream;
    this.unplugCable = unplug;
    this.typed = '';
    this.lastWasCr = false;
    const onData = (chunk: Buffer): void => this.onBytes(chunk);
    stream.on('data', onData);
    this.scheduleChatter();
    return {
      detach: () => {
        stream.off('data', onData);
        if (this.stream !== stream) return;
        this.stream = null;
        this.unplugCable = null;
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        if (this.chatterTimer) clearTimeout(this.chatterTimer);
        this.chatterTimer = null;
      },
    };
  }

  /** The cable is back after being pulled: the unit, powered through it, boots. */
  replugged(): void {
    this.nest.replugged();
  }

  /** A complete command line as typed (without its line end). */
  protected abstract onCommandLine(line: string): void;
  /** An unsolicited event from the firmware: BOOT, READY, BLINKUP, ... */
  protected abstract onNestEvent(name: string, fields: Record<string, string | number>): void;
  /** One piece of unsolicited chatter (a URC, a log line), sent now and then while ready. */
  protected abstract chatter(): void;

  protected write(text: string): void {
    const stream = this.stream;
    if (stream && !stream.destroyed && stream.writable) stream.write(Buffer.from(text, 'latin1'));
  }

  /** Runs `fn` after the firmware's latency, unless the cable goes first. */
  protected afterLatency(fn: () => void): void {
    this.after(this.opts.latencyMs, fn);
  }

  protected after(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.stream) fn();
    }, ms);
    this.timers.add(t);
  }

  private onBytes(chunk: Buffer): void {
    for (const ch of chunk.toString('latin1')) {
      if (ch === '\n' && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = ch === '\r';
      if (ch === '\r' || ch === '\n') {
        const line = this.typed;
        this.typed = '';
        this.onCommandLine(line);
      } else if (this.typed.length < MAX_COMMAND_CHARS) this.typed += ch;
    }
  }

  private scheduleChatter(): void {
    const every = this.opts.chatterEveryMs ?? 0;
    if (every <= 0 || this.chatterTimer) return;
    // Jittered, so chatter lands at any moment of a command, not in step with the station.
    this.chatterTimer = setTimeout(
      () => {
        this.chatterTimer = null;
        if (!this.stream) return;
        if (this.unitReady && !this.nest.hung) this.chatter();
        this.scheduleChatter();
      },
      every * (0.5 + this.rng.next()),
    );
    this.chatterTimer.unref();
  }
}
