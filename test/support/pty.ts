// Real pseudo-terminal pairs made with socat: the station opens one end with serialport, a
// simulator the other. Killing socat makes both ends vanish, which is what a pulled USB cable does.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './wait.js';

export class PtyPair {
  readonly stationPath: string;
  readonly simPath: string;
  private proc: ChildProcess | null = null;

  constructor(dir: string, name: string) {
    this.stationPath = path.join(dir, `${name}-station`);
    this.simPath = path.join(dir, `${name}-sim`);
  }

  async open(): Promise<this> {
    const proc = spawn('socat', [`pty,raw,echo=0,link=${this.stationPath}`, `pty,raw,echo=0,link=${this.simPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.proc = proc;
    await waitFor(`socat to create ${this.stationPath} and ${this.simPath}`, () => {
      if (proc.exitCode !== null) throw new Error(`socat exited ${proc.exitCode}: ${stderr}`);
      return existsSync(this.stationPath) && existsSync(this.simPath);
    }, { timeoutMs: 10_000, intervalMs: 20 });
    return this;
  }

  /** Pulls the cable: socat dies, both pseudo-terminals disappear. */
  async pull(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    await waitFor('the pty links to go', () => !existsSync(this.stationPath) || !existsSync(this.simPath), { timeoutMs: 5000, intervalMs: 20 }).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.pull();
  }
}
