// The fleet view (`npm run fleet`, fleet/cli.ts) as its own process, the way an operator starts it,
// for the browser test and the bench: started from dist/, ready when it prints its URL.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../station/paths.js';
import { waitFor } from './wait.js';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class FleetProcess {
  output = '';
  url = '';
  private exited: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    running.add(proc);
    proc.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  /** `node dist/fleet/cli.js --broker <broker> --port <port>`; resolves once it listens. */
  static async start(broker: string, port: number, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<FleetProcess> {
    const proc = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/fleet/cli.js'), '--broker', broker, '--port', String(port), ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    });
    const f = new FleetProcess(proc);
    f.url = await waitFor(
      'the fleet view to listen',
      () => {
        if (proc.exitCode !== null) throw new Error(`the fleet view exited ${proc.exitCode}: ${f.output.slice(-2000)}`);
        return /fleet view on (http:\/\/\S+)/.exec(f.output)?.[1] ?? null;
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    return f;
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  /** SIGTERM: the fleet view disconnects and exits. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }

  async kill9(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}
