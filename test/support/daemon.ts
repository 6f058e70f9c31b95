// Runs the real station daemon (dist/station/main.js) as a child process for integration tests:
// start, wait for ready, talk HTTP, SIGTERM or SIGKILL it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../station/paths.js';
import { waitFor } from './wait.js';

export const MAIN = path.join(PROJECT_ROOT, 'dist/station/main.js');

export class Daemon {
  private proc: ChildProcess | null = null;
  stdout = '';
  stderr = '';
  url = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  static writeConfig(dir: string, config: object, name = 'station.config.json'): string {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  /** Spawns the daemon; does not wait for ready. */
  spawn(extraArgs: string[] = []): this {
    this.stdout = '';
    this.stderr = '';
    this.exitCode = null;
    this.exitSignal = null;
    const proc = spawn(process.execPath, [MAIN, '--config', this.configPath, ...extraArgs], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
    this.proc = proc;
    return this;
  }

  async start(extraArgs: string[] = []): Promise<this> {
    this.spawn(extraArgs);
    const m = await waitFor(
      'the daemon to print its ready line',
      () => {
        if (this.exitCode !== null || this.exitSignal !== null) throw new Error(`daemon exited ${this.exitCode ?? this.exitSignal}: ${this.stderr}${this.stdout.slice(-2000)}`);
        return /ready: (http:\/\/\S+\/)/.exec(this.stderr);
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    this.url = (m[1] as string).replace(/\/$/, '');
    return this;
  }

  async api<T = unknown>(route: string): Promise<T> {
    const res = await fetch(`${this.url}${route}`);
    if (!res.ok) throw new Error(`${route}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  get running(): boolean {
    return this.proc !== null && this.exitCode === null && this.exitSignal === null;
  }

  /** Waits for the process to exit on its own (e.g. after a refused start). */
  async waitExit(timeoutMs = 20_000): Promise<number | null> {
    await waitFor('the daemon to exit', () => this.exitCode !== null || this.exitSignal !== null, { timeoutMs });
    return this.exitCode;
  }

  async terminate(timeoutMs = 20_000): Promise<number | null> {
    if (!this.running) return this.exitCode;
    this.proc?.kill('SIGTERM');
    await waitFor('the daemon to exit after SIGTERM', () => this.exitCode !== null || this.exitSignal !== null, { timeoutMs });
    return this.exitCode;
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.proc?.kill('SIGKILL');
    await this.exited;
  }
}
