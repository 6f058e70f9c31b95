// Real pseudo-terminal pairs made with socat: the station opens one end with serialport, a
// simulator the other. Killing socat makes both ends vanish, which is what a pulled USB cable does.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { SerialPort } from 'serialport';
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
    this.removeLinks();
    const proc = spawn('socat', [`pty,raw,echo=0,link=${this.stationPath}`, `pty,raw,echo=0,link=${this.simPath}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    this.proc = proc;
    await waitFor(
      `socat to create ${this.stationPath} and ${this.simPath}`,
      () => {
        if (proc.exitCode !== null) throw new Error(`socat exited ${proc.exitCode}: ${stderr}`);
        return existsSync(this.stationPath) && existsSync(this.simPath);
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    return this;
  }

  /**
   * Opens the simulator's end with serialport (no lock), as a device on the far side of the cable
   * would. Errors are swallowed: the port dies with the cable, and whoever opened it closes it.
   */
  openFarEnd(baudRate = 115200): Promise<SerialPort> {
    const port = new SerialPort({ path: this.simPath, baudRate, autoOpen: false, lock: false });
    port.on('error', () => undefined);
    return new Promise((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open ${this.simPath}: ${err.message}`)) : resolve(port))));
  }

  /**
   * Pulls the cable: socat dies, both pseudo-terminals disappear. The SIGKILL is sent before this
   * returns (the promise then waits for socat to exit), so a caller can time the pull exactly.
   * `open()` again puts the cable back: new pseudo-terminals behind the same link paths.
   */
  async pull(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    // A killed socat cannot remove its links. Remove them now, before the kernel frees the pty
    // numbers: a stale link would lead to whichever pty gets that number next (another pair's,
    // another test's), and a station reconnecting through it would talk to the wrong device.
    this.removeLinks();
    await exited;
  }

  private removeLinks(): void {
    rmSync(this.stationPath, { force: true });
    rmSync(this.simPath, { force: true });
  }

  async close(): Promise<void> {
    await this.pull();
  }
}
