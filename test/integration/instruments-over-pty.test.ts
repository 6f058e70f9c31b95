// Bench instruments over real serial ports: a socat pseudo-terminal pair, the instrument simulator
// on one end (its CLI in its own process, or in process), the real serialport path on the other,
// with CR LF line ends as RS-232 instruments are often set. The cable pulled and put back.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInstrument, InstrumentError, Psu, Switch, type AnyInstrument, type InstrumentConfigInput } from '../../drivers/instrument/index.js';
import { createSimulatedInstrument } from '../../drivers/instrument/simulator/devices.js';
import { ResistiveLoad } from '../../drivers/instrument/simulator/electrical-load.js';
import type { SimulatedPsu } from '../../drivers/instrument/simulator/psu-sim.js';
import { serveSerial } from '../../drivers/instrument/simulator/serve.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { silentLogger } from '../../station/log.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

let dir: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'instruments-pty-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function pair(name: string): Promise<PtyPair> {
  const pty = await new PtyPair(dir, name).open();
  cleanups.push(() => pty.close());
  return pty;
}

async function connect<T extends AnyInstrument>(config: Omit<InstrumentConfigInput, 'reconnectInitialMs' | 'reconnectMaxMs'>): Promise<T> {
  const instrument = createInstrument({ ...config, reconnectInitialMs: 50, reconnectMaxMs: 200 } as InstrumentConfigInput, { log: silentLogger() });
  cleanups.push(() => instrument.stop());
  await instrument.start();
  return instrument as T;
}

describe('instruments over a socat pty pair', () => {
  it('drives the CLI simulator on a pty with CR LF line ends', async () => {
    const pty = await pair('mux');
    const proc: ChildProcess = spawn(
      process.execPath,
      [path.join(PROJECT_ROOT, 'dist/drivers/instrument/simulator/cli.js'), '--model', 'scpi-switch', '--serial', pty.simPath, '--baud', '115200', '--terminator', 'CRLF'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(async () => {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(
      'the CLI on the pty',
      () => {
        if (proc.exitCode !== null) throw new Error(`the CLI exited ${proc.exitCode}`);
        return out.includes(`on ${pty.simPath}`);
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    const mux = await connect<Switch>({ id: 'mux1', kind: 'switch', model: 'scpi-switch', transport: { kind: 'serial', path: pty.stationPath, baudRate: 115200 }, terminator: 'CRLF' });
    await mux.waitReady(5000);
    await mux.openAll();
    await mux.close(3);
    expect(await mux.isClosed(3)).toBe(true);
    expect(await mux.isClosed(4)).toBe(false);
    const err = (await mux.close(10_000).catch((e: unknown) => e)) as InstrumentError;
    expect(err.kind).toBe('invalid');
  });

  it('notices a pulled cable, refuses commands meanwhile, and is back with *IDN? and *CLS when it is plugged in again', async () => {
    const device = createSimulatedInstrument('rigol-dp832', { seed: 9 }) as SimulatedPsu;
    device.keepReceived = true;
    device.attachLoad(1, new ResistiveLoad(50));
    const pty = await pair('psu');
    let served = await serveSerial(device, { path: pty.simPath, baudRate: 9600, terminator: 'CRLF' });
    cleanups.push(() => served.close());
    const psu = await connect<Psu>({ id: 'psu1', kind: 'psu', model: 'rigol-dp832', transport: { kind: 'serial', path: pty.stationPath, baudRate: 9600 }, terminator: 'CRLF', timeoutMs: 1000 });
    await psu.waitReady(5000);
    await psu.configure(1, { volts: 5, currentLimitA: 0.5 });
    await psu.output(1, true);
    expect((await psu.measure(1, 'current')).value).toBeCloseTo(0.1, 3);

    await served.close();
    await pty.pull();
    await waitFor('the supply to go offline', () => psu.state === 'offline', { timeoutMs: 5000, intervalMs: 10 });
    expect(((await psu.tripped(1).catch((e: unknown) => e)) as InstrumentError).kind).toBe('disconnected');

    await pty.open(); // the same paths again
    served = await serveSerial(device, { path: pty.simPath, baudRate: 9600, terminator: 'CRLF' });
    const before = device.received.length;
    await psu.waitReady(10_000);
    expect(await psu.tripped(1)).toBe(false);
    expect(device.received.slice(before)).toEqual(['*IDN?', '*CLS', 'SYST:ERR?', ':OUTP:OCP:QUES? CH1']);
  });
});
