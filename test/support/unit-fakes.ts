// Shared fakes and helpers for the unit tests (test/unit). Nothing here sleeps for a fixed time:
// waiting is done on events or promises (polling a predicate up to a deadline: test/support/wait.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable, type Duplex } from 'node:stream';
import { RequestError } from '../../drivers/transport/request-error.js';
import { type DutConsole, type DutConsoleEvents } from '../../drivers/console/console.js';
import { duplexPair } from '../../drivers/transport/memory-link.js';
import type { OpenedPort, PortOpener } from '../../drivers/transport/port.js';
import { EventBus } from '../../lib/event-bus.js';
import { loadSequence, type CompiledSequence } from '../../station/sequence/sequence.js';

// ---- waiting ---------------------------------------------------------------------------------

/** Polls `predicate` until it is true; rejects with `what` once `timeoutMs` has passed. */
/** Resolves with the next payload of `name` on `bus` that satisfies `match`; rejects after `timeoutMs`. */
export function nextEvent<M extends object, K extends keyof M>(bus: EventBus<M>, name: K, match: (payload: M[K]) => boolean = () => true, timeoutMs = 5000): Promise<M[K]> {
  return new Promise<M[K]>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for event ${String(name)}`));
    }, timeoutMs);
    const off = bus.on(name, (payload) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Settles with the rejection of `promise` (fails if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    const value = await promise;
    throw new Error(`expected a rejection, got a resolution with ${JSON.stringify(value)}`);
  } catch (err) {
    return err;
  }
}

// ---- temp folders ----------------------------------------------------------------------------

/** A fresh folder under the OS temp dir; `cleanup()` removes every folder made by this tracker. */
export class TempDirs {
  private readonly made: string[] = [];

  make(prefix = 'blinkup-unit-'): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

// ---- sequences -------------------------------------------------------------------------------

/** A small valid sequence definition (raw JSON form): identify, VBAT, 3V3, flash self-test, bless. */
export function smallSequenceDef(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'unit-test-sequence',
    stopOnFailure: true,
    defaultTimeoutMs: 2000,
    steps: [
      { type: 'identify', name: 'Identify', deviceIdHexLength: 16 },
      {
        type: 'measure',
        name: 'Battery voltage',
        command: 'MEAS VBAT',
        capture: 'v=(-?[0-9.]+)',
        unit: 'V',
        limit: { kind: 'range', low: 3.4, high: 4.2, marginalLow: 3.5, marginalHigh: 4.1 },
      },
      { type: 'measure', name: '3V3 rail', command: 'MEAS V3V3', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: 3.2, high: 3.4 } },
      { type: 'measure', name: 'Flash self-test', command: 'SELFTEST FLASH', capture: 'result=([A-Z]+)', as: 'string', limit: { kind: 'equals', value: 'PASS' } },
      { type: 'bless', name: 'Bless' },
    ],
    ...overrides,
  };
}

export function compileSmallSequence(overrides: Record<string, unknown> = {}): CompiledSequence {
  return loadSequence(smallSequenceDef(overrides), 'unit-test');
}

// ---- a scripted DUT console (no bytes, exact control) ------------------------------------------

export type ScriptedAnswer = string | RequestError | ((command: string, signal: AbortSignal | undefined) => Promise<string>);

/**
 * A DutConsole whose answers are scripted per command: a queue of answers per exact command, each
 * a payload (OK), a RequestError (thrown), or a function. The last answer of a queue repeats.
 * Every request is recorded in `commands`.
 */
export class ScriptedConsole implements DutConsole {
  readonly readyProbe = { command: 'PING', ready: /(^| )ready=1( |$)/ };
  readonly events = new EventBus<DutConsoleEvents>();
  readonly label = 'scripted';
  readonly connected = true;
  readonly commands: string[] = [];
  private readonly script = new Map<string, ScriptedAnswer[]>();

  constructor(script: Record<string, ScriptedAnswer | ScriptedAnswer[]> = {}) {
    for (const [command, answers] of Object.entries(script)) this.script.set(command, Array.isArray(answers) ? [...answers] : [answers]);
  }

  on(command: string, ...answers: ScriptedAnswer[]): this {
    this.script.set(command, answers);
    return this;
  }

  async start(): Promise<void> {
    this.events.emit('connection', { connected: true, reason: null });
  }

  async stop(): Promise<void> {
    // nothing to close
  }

  async request(command: string, _timeoutMs: number, signal?: AbortSignal): Promise<string> {
    this.commands.push(command);
    if (signal?.aborted) throw new RequestError('aborted', `"${command}" not sent: the run was interrupted`);
    const queue = this.script.get(command) ?? this.script.get(command.split(' ')[0] ?? '');
    if (!queue || queue.length === 0) throw new RequestError('rejected', `DUT refused "${command}" with UNKNOWN_COMMAND`, 'UNKNOWN_COMMAND');
    const answer = (queue.length > 1 ? queue.shift() : queue[0]) as ScriptedAnswer;
    if (typeof answer === 'string') return answer;
    if (answer instanceof RequestError) throw answer;
    return answer(command, signal);
  }
}

/** An answer that never comes until the request's signal aborts (then rejects `aborted`). */
export function hangUntilAborted(command: string, signal: AbortSignal | undefined): Promise<string> {
  return new Promise<string>((_resolve, reject) => {
    const abort = (): void => reject(new RequestError('aborted', `"${command}" abandoned: the run was interrupted`));
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** Wraps any console and records the commands sent through it. */
export class RecordingConsole implements DutConsole {
  readonly readyProbe = { command: 'PING', ready: /(^| )ready=1( |$)/ };
  readonly commands: string[] = [];

  constructor(private readonly inner: DutConsole) {}

  get label(): string {
    return this.inner.label;
  }

  get connected(): boolean {
    return this.inner.connected;
  }

  get events(): EventBus<DutConsoleEvents> {
    return this.inner.events;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  request(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    this.commands.push(command);
    return this.inner.request(command, timeoutMs, signal);
  }
}

// ---- a fake DUT at the far end of an in-memory byte link ----------------------------------------

export function captureStream(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

// ---- a fake untagged DUT (AT commands, a firmware shell) at the far end of a byte link ---------

/**
 * The DUT end of a duplexPair for the untagged consoles: collects the command lines the station
 * writes (each ended by CR, LF or CR LF, recorded without it) and hands each to `onCommand`;
 * `send` writes raw bytes back, whole or in the chunks given.
 */
export class FakeTerminal {
  readonly commands: string[] = [];
  /** Every byte the station wrote, as latin1 text (line ends included). */
  written = '';
  onCommand: (command: string, dut: FakeTerminal) => void = () => undefined;
  private typed = '';
  private lastWasCr = false;

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      this.written += text;
      for (const ch of text) {
        if (ch === '\n' && this.lastWasCr) {
          this.lastWasCr = false;
          continue;
        }
        this.lastWasCr = ch === '\r';
        if (ch !== '\r' && ch !== '\n') {
          this.typed += ch;
          continue;
        }
        const command = this.typed;
        this.typed = '';
        this.commands.push(command);
        this.onCommand(command, this);
      }
    });
  }

  /** Writes each piece as its own chunk, in order (a string is latin1: one char per byte). */
  send(...pieces: (string | Buffer)[]): void {
    for (const piece of pieces) {
      if (this.stream.destroyed) return;
      this.stream.write(typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece);
    }
  }

  /** Pulls the cable: both ends of the pair are destroyed. */
  unplug(): void {
    this.stream.destroy();
  }
}

/** A PortOpener making a fresh duplexPair and a FakeTerminal on its far end at every open. */
export class FakeTerminalLink {
  readonly terminals: FakeTerminal[] = [];
  opens = 0;

  constructor(private readonly configure: (dut: FakeTerminal) => void = () => undefined) {}

  readonly open: PortOpener = async (): Promise<OpenedPort> => {
    this.opens++;
    const [station, far] = duplexPair();
    const terminal = new FakeTerminal(far);
    this.configure(terminal);
    this.terminals.push(terminal);
    return {
      stream: station,
      close: async () => {
        station.destroy();
      },
    };
  };

  get current(): FakeTerminal {
    const terminal = this.terminals.at(-1);
    if (!terminal) throw new Error('the link was never opened');
    return terminal;
  }
}
