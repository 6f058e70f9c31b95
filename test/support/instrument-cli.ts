// Bench instruments outside the station, for tests of the station's fixture: the instrument
// simulator's CLI (compiled) in a process of its own on a real TCP port, so it outlives a daemon
// that is killed, and can be stopped and started again on the same port (the instrument unplugged,
// or another one put at its address); and a plain SCPI client the test uses to ask the instrument
// what the station left it doing (`OUTP? (@1)`), over its own connection.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { PROJECT_ROOT } from '../../station/paths.js';
import { waitFor } from './wait.js';

const CLI = path.join(PROJECT_ROOT, 'dist/drivers/instrument/simulator/cli.js');

/** Every simulator a test started: any still running when the worker exits is killed. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class InstrumentProcess {
  private constructor(
    private readonly proc: ChildProcess,
    readonly model: string,
    readonly port: number,
    /** The serial number its *IDN? answers with. */
    readonly serial: string,
    private readonly exited: Promise<void>,
  ) {}

  /** Runs the CLI for `model` on `port` (0: any free one); resolves once it listens. */
  static async start(model: string, opts: { port?: number; seed?: number; readingMs?: number } = {}): Promise<InstrumentProcess> {
    const args = [CLI, '--model', model, '--port', String(opts.port ?? 0), '--seed', String(opts.seed ?? 1), '--reading-ms', String(opts.readingMs ?? 2)];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    void exited.then(() => running.delete(proc));
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const line = await waitFor(
      `the ${model} simulator to say where it listens`,
      () => {
        if (proc.exitCode !== null) throw new Error(`the ${model} simulator exited ${proc.exitCode}: ${err}`);
        return /^simulated \S+ \(([^)]*)\) listening on [\d.]+:(\d+)/m.exec(out);
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    return new InstrumentProcess(proc, model, Number(line[2]), line[1] as string, exited);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Stops it (SIGTERM: it closes its connections and its port) and waits for it to exit. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }
}

/** One SCPI conversation over TCP: a query at a time, each answered by one line. */
export class ScpiProbe {
  private buffer = '';
  private waiting: ((line: string) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf('\n'); end >= 0; end = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, end).replace(/\r$/, '');
        this.buffer = this.buffer.slice(end + 1);
        const answer = this.waiting;
        this.waiting = null;
        answer?.(line);
      }
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<ScpiProbe> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        resolve(new ScpiProbe(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends `command` and resolves with its answer line; rejects after `timeoutMs`. */
  query(command: string, timeoutMs = 2000): Promise<string> {
    const asked = this.queue.then(
      () =>
        new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.waiting = null;
            reject(new Error(`no answer to "${command}" within ${timeoutMs} ms`));
          }, timeoutMs);
          this.waiting = (line) => {
            clearTimeout(timer);
            resolve(line);
          };
          this.socket.write(`${command}\n`);
        }),
    );
    this.queue = asked.catch(() => undefined);
    return asked;
  }

  close(): void {
    this.socket.destroy();
  }
}
