// A simulated DUT run in the test process on the far end of a socat pseudo-terminal pair, through
// the simulator's own NestStreamAdapter (as `npm run sim` runs it), that reports every request line
// the station writes the moment it arrives. A test can then pull the cable (SIGKILL socat) a chosen
// time after a given write, put it back (socat again, same link paths) and plug in the next unit.
import type { SerialPort } from 'serialport';
import type { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { NestStreamAdapter } from '../../drivers/dut/simulator/stream-adapter.js';
import { tapLines, watchWrites } from './line-tap.js';
import type { PtyPair } from './pty.js';

export interface SeenRequest {
  tag: number;
  /** The command and its arguments, as sent: `MEAS VBAT`. */
  command: string;
  /** performance.now() when the line arrived. */
  at: number;
}

export class NestOnPty {
  private port: SerialPort | null = null;
  private adapter: NestStreamAdapter | null = null;
  private untap: (() => void) | null = null;
  nest: SimulatedNest | null = null;
  /** What crossed the cable since the last plug(), for failure messages: `> ` station to DUT, `< ` back, with ms since the plug. */
  transcript: string[] = [];

  constructor(
    readonly pair: PtyPair,
    private readonly opts: {
      latencyMs: number;
      /** A request line arrived from the station. */
      onRequest(req: SeenRequest): void;
      /** Lines the DUT wrote (an answer, an event) are on the wire: the far end's write completed. */
      onWritten?(lines: string[]): void;
    },
  ) {}

  /** Opens the far end (the pty pair must be up) and powers `nest` behind it: its unit boots. */
  async plug(nest: SimulatedNest): Promise<void> {
    const port = await this.pair.openFarEnd();
    this.port = port;
    const t0 = performance.now();
    const stamp = (dir: string, line: string): void => void this.transcript.push(`${(performance.now() - t0).toFixed(1)} ${dir} ${line}`);
    this.transcript = [];
    watchWrites(port, (lines) => {
      for (const line of lines) stamp('<', line);
      if (port === this.port) this.opts.onWritten?.(lines);
    });
    this.nest = nest;
    this.adapter = new NestStreamAdapter(nest, port, { latencyMs: this.opts.latencyMs, onUnplug: () => undefined });
    this.untap = tapLines(port, (line) => {
      stamp('>', line);
      const m = /^@(\d{1,4}) (.+)$/.exec(line);
      if (m) this.opts.onRequest({ tag: Number(m[1]), command: m[2] as string, at: performance.now() });
    });
    nest.start();
  }

  /** Pulls the cable now (socat is SIGKILLed before this returns), then powers the nest off and
   *  closes the far end. */
  pull(): Promise<void> {
    const gone = this.pair.pull();
    this.untap?.();
    this.untap = null;
    this.adapter?.detach();
    this.adapter = null;
    this.nest?.stop();
    return gone.then(() => this.closeFarEnd());
  }

  /** Puts the cable back: socat again behind the same link paths. `plug()` the next unit after. */
  async restore(): Promise<void> {
    await this.pair.open();
  }

  async close(): Promise<void> {
    await this.pull();
  }

  private closeFarEnd(): Promise<void> {
    const port = this.port;
    this.port = null;
    return new Promise((resolve) => {
      if (!port?.isOpen) return resolve();
      port.close(() => resolve());
    });
  }
}
