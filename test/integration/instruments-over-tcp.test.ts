// Bench instruments over real TCP: the instrument simulator's CLI (compiled, its own process) and
// its in-process listener, with the real drivers connecting as they would to a LAN instrument on
// port 5025. A simulator restarted on the same port, a connection dropped in the middle of a
// command, and the wrong instrument at the address.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createInstrument, Dmm, InstrumentError, Psu, type AnyInstrument, type InstrumentConfigInput } from '../../drivers/instrument/index.js';
import { createSimulatedInstrument } from '../../drivers/instrument/simulator/devices.js';
import type { SimulatedPsu } from '../../drivers/instrument/simulator/psu-sim.js';
import { ResistiveLoad } from '../../drivers/instrument/simulator/electrical-load.js';
import { serveTcp } from '../../drivers/instrument/simulator/serve.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { silentLogger } from '../../station/log.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const CLI = path.join(PROJECT_ROOT, 'dist/drivers/instrument/simulator/cli.js');

/** Runs the simulator CLI; resolves with where it listens (its first stdout line). */
async function runCli(args: string[]): Promise<{ proc: ChildProcess; port: number; serial: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const line = await waitFor(
    'the simulator CLI to say where it listens',
    () => {
      if (proc.exitCode !== null) throw new Error(`the CLI exited ${proc.exitCode}: ${err}`);
      return /listening on [\d.]+:(\d+)/.exec(out);
    },
    { timeoutMs: 15_000, intervalMs: 20 },
  );
  const serial = /\(([^)]+)\)/.exec(out)?.[1] ?? '';
  return { proc, port: Number(line[1]), serial };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

async function connect<T extends AnyInstrument>(config: Omit<InstrumentConfigInput, 'reconnectInitialMs' | 'reconnectMaxMs'>): Promise<T> {
  const instrument = createInstrument({ ...config, reconnectInitialMs: 50, reconnectMaxMs: 200 } as InstrumentConfigInput, { log: silentLogger() });
  cleanups.push(() => instrument.stop());
  await instrument.start();
  return instrument as T;
}

describe('instruments over real TCP', () => {
  it('drives the CLI simulator on its port, and comes back by itself when it is restarted on the same port', async () => {
    const first = await runCli(['--model', 'keysight-34461a', '--port', '0', '--reading-ms', '1', '--seed', '7']);
    cleanups.push(() => stopProcess(first.proc));
    const dmm = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'tcp', host: '127.0.0.1', port: first.port } });
    await dmm.waitReady(5000);
    expect(dmm.identity?.serial).toBe(first.serial);
    const volts = await dmm.measure({ function: 'voltage-dc', range: 10, samples: 5 });
    expect(volts.samples).toBe(5);
    expect(Math.abs(volts.value as number)).toBeLessThan(1e-3); // nothing connected
    expect((await dmm.measure({ function: 'resistance' })).overload).toBe(true);

    await stopProcess(first.proc);
    await waitFor('the DMM to go offline', () => dmm.state === 'offline', { timeoutMs: 5000, intervalMs: 10 });
    const refused = await dmm.measure({ function: 'voltage-dc' }).catch((e: InstrumentError) => e);
    expect((refused as InstrumentError).kind).toBe('disconnected');

    const second = await runCli(['--model', 'keysight-34461a', '--port', String(first.port), '--reading-ms', '1', '--seed', '8']);
    cleanups.push(() => stopProcess(second.proc));
    await dmm.waitReady(10_000);
    expect(dmm.identity?.serial).toBe(second.serial); // a different unit is now there
    expect((await dmm.measure({ function: 'current-dc', samples: 2 })).samples).toBe(2);
  });

  it('fails a command whose connection drops mid-way as disconnected, then reconnects with *IDN? and *CLS first', async () => {
    const device = createSimulatedInstrument('keysight-e36312a', { seed: 3 }) as SimulatedPsu;
    device.keepReceived = true;
    device.attachLoad(1, new ResistiveLoad(100));
    const served = await serveTcp(device, { port: 0 });
    cleanups.push(() => served.close());
    const psu = await connect<Psu>({ id: 'psu1', kind: 'psu', model: 'keysight-e36312a', transport: { kind: 'tcp', host: served.host, port: served.port }, timeoutMs: 1000 });
    await psu.waitReady(5000);
    await psu.configure(1, { volts: 5, currentLimitA: 0.2 });
    await psu.output(1, true);
    expect((await psu.measure(1, 'current')).value).toBeCloseTo(0.05, 3);

    device.injectFault('hang-up');
    const err = (await psu.measure(1, 'voltage').catch((e: unknown) => e)) as InstrumentError;
    expect(err).toBeInstanceOf(InstrumentError);
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain('during "MEAS:VOLT? (@1)"');

    const before = device.received.length;
    await waitFor('the supply to reconnect', () => psu.state === 'ready' && device.received.length > before, { timeoutMs: 5000, intervalMs: 10 });
    expect((await psu.measure(1, 'voltage')).value).toBeCloseTo(5, 2);
    expect(device.received.slice(before)).toEqual(['*IDN?', '*CLS', 'SYST:ERR?', 'MEAS:VOLT? (@1)']);
  });

  it('reports the wrong instrument at the address, and takes the right one when it appears there', async () => {
    const wrong = await serveTcp(createSimulatedInstrument('rigol-dm3058', { seed: 1 }), { port: 0 });
    const port = wrong.port;
    const dmm = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'tcp', host: '127.0.0.1', port } });
    await waitFor('wrong-instrument', () => dmm.state === 'wrong-instrument', { timeoutMs: 5000, intervalMs: 10 });
    expect(dmm.stateReason).toMatch(/^expected a Keysight Truevolt DMM \(34460A, 34461A, 34465A or 34470A\), answered "Rigol Technologies,DM3058,DM3A1\d+,/);
    await wrong.close();
    const right = await serveTcp(createSimulatedInstrument('keysight-34461a', { seed: 2, readingMs: 0 }), { port });
    cleanups.push(() => right.close());
    await dmm.waitReady(10_000);
    expect(dmm.identity?.model).toBe('34461A');
  });
});
