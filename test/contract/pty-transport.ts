// The contract's real transport: a socat pseudo-terminal pair, the station opening its end with
// serialOpener and the real (hang-up-aware) binding, exactly as a slot's UART is opened. The device
// holds the other end with serialport. Pulling the cable kills socat, so both terminals hang up
// and their paths go, as with a USB adapter pulled out; plugging it back starts socat again on the
// same link paths, as a re-enumerated adapter comes back under the same name.
//
// Pseudo-terminal numbers are shared with every process on the machine. A process that reopens a
// dangling link to a /dev/pts number this harness has since been given (another suite's simulator
// plugging back in after its own socat was killed) reads and writes on this pair; such cross-talk
// shows as answers this device never sends. This harness removes its links when it pulls the
// cable, so its own retries never land on another suite's terminal.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SerialPort } from 'serialport';
import { hangupAwareBinding, serialOpener } from '../../drivers/transport/serial.js';
import { PtyPair } from '../support/pty.js';
import type { FarEnd, TransportKind } from './port-contract.js';

const BAUD = 115200;

class PtyDevice implements FarEnd {
  private port: SerialPort | null = null;
  private readonly listeners: ((bytes: Buffer) => void)[] = [];

  constructor(readonly pair: PtyPair) {}

  /** Opens the device's end (with the hang-up-aware binding, so a hung-up end never spins a core). */
  async connect(): Promise<void> {
    const port = new SerialPort({ path: this.pair.simPath, baudRate: BAUD, autoOpen: false, lock: false, binding: hangupAwareBinding() } as ConstructorParameters<typeof SerialPort>[0]);
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`the device cannot open ${this.pair.simPath}: ${err.message}`)) : resolve())));
    port.on('data', (bytes: Buffer) => {
      if (this.port === port) for (const listener of this.listeners) listener(bytes);
    });
    port.on('error', () => undefined); // a hang-up at cleanup; the station's side is what is tested
    this.port = port;
  }

  async disconnect(): Promise<void> {
    const port = this.port;
    this.port = null;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  async write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) throw new Error(`${this.pair.simPath}: the device's end is not open`);
    await new Promise<void>((resolve, reject) => port.write(bytes, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => port.drain((err) => (err ? reject(err) : resolve())));
  }

  onData(listener: (bytes: Buffer) => void): void {
    this.listeners.push(listener);
  }

  async pull(): Promise<void> {
    await this.disconnect();
    await this.pair.pull();
    // A killed socat leaves its links dangling at /dev/pts numbers the kernel hands out again, to
    // any process: retrying the path must find nothing (as a pulled adapter's node is gone), never
    // another test's terminal.
    for (const link of [this.pair.stationPath, this.pair.simPath]) rmSync(link, { force: true });
  }

  async plug(): Promise<void> {
    await this.pair.open();
    await this.connect();
  }
}

export const ptyTransport: TransportKind = {
  name: 'a real pseudo-terminal pair (socat) through serialport',
  cannot: {
    failWrite:
      'a pseudo-terminal fails a write (EIO) only once it has hung up, and the hang-up-aware read pending on it reports the hang-up as soon as it happens, so a failed write cannot be produced on its own',
  },
  async create() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'port-contract-'));
    const device = new PtyDevice(new PtyPair(dir, 'dut'));
    await device.plug();
    return {
      label: device.pair.stationPath,
      open: serialOpener({ path: device.pair.stationPath, baudRate: BAUD }),
      device: () => device,
      cleanup: async () => {
        await device.disconnect();
        await device.pair.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
