// The simulated Zephyr shell unit (drivers/dut/simulator/shell-adapter.ts) behind the shell
// console, on the in-memory cable: boot and ready, its command set, errors, faults and bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { type DutConsoleEvents } from '../../drivers/console/console.js';
import { ShellConsole } from '../../drivers/console/shell-console.js';
import { SimulatedNest, type NestBehaviour } from '../../drivers/dut/simulator/firmware.js';
import { NestShellAdapter } from '../../drivers/dut/simulator/shell-adapter.js';
import { duplexPair, MemoryLink } from '../../drivers/transport/memory-link.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { silentLogger } from '../../station/log.js';
import { nextEvent, rejectionOf } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const quiet = { event: () => undefined, raw: () => undefined, unplug: () => undefined };

interface Sim {
  nest: SimulatedNest;
  adapter: NestShellAdapter;
  console: ShellConsole;
  events: DutConsoleEvents['event'][];
}

async function simulated(opts: { behaviour?: Partial<NestBehaviour>; chatterEveryMs?: number; latencyMs?: number } = {}): Promise<Sim> {
  const nest = new SimulatedNest('sim:shell', { bootMs: 5, handlingMs: 30, cellularRate: 0, retestRate: 0, idleReseatMs: 60_000, unplugMs: 100, ...opts.behaviour }, 11, quiet);
  const adapter = new NestShellAdapter(nest, { latencyMs: opts.latencyMs ?? 1, chatterEveryMs: opts.chatterEveryMs ?? 0, seed: 11 });
  const link = new MemoryLink('sim:shell', adapter);
  const console = new ShellConsole({ label: 'sim:shell', open: link.open, log: silentLogger(), maxLineBytes: 512, reconnectInitialMs: 10, reconnectMaxMs: 40, promptSettleMs: 10 });
  const events: DutConsoleEvents['event'][] = [];
  console.events.on('event', (e) => events.push(e));
  cleanups.push(
    () => nest.stop(),
    () => console.stop(),
  );
  await console.start();
  const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
  nest.start();
  await ready;
  return { nest, adapter, console, events };
}

async function asRequestError(promise: Promise<unknown>): Promise<RequestError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe('simulated shell unit: boot and command set', () => {
  it('boots with the Zephyr banner (BOOT, build v3.7.0), a log line, and READY at its first prompt', async () => {
    const { events } = await simulated();
    expect(events.map((e) => e.name)).toEqual(['BOOT', 'LOG', 'LOG', 'READY']);
    expect(events[0]).toEqual({ name: 'BOOT', payload: '*** Booting Zephyr OS build v3.7.0 ***', fields: { build: 'v3.7.0' } });
    expect(events[2]?.payload).toBe('ready for test');
  });

  it('answers factory ident, meas, selftest, led and kernel version', async () => {
    const { nest, console } = await simulated({ behaviour: { cellularRate: 1 } });
    const unit = nest.currentUnit;
    await expect(console.request('factory ident', 1000)).resolves.toBe(
      `id: ${unit?.deviceId}\nmac: ${unit?.mac}\nfw: factory-2.3.1\nmodel: imp006\nblessed: 0\niccid: ${unit?.iccid}\nimei: ${unit?.imei}`,
    );
    await expect(console.request('factory meas vbat', 1000)).resolves.toMatch(/^vbat: 3\.\d{3} V$/);
    await expect(console.request('factory meas rssi', 1000)).resolves.toMatch(/^rssi: -\d+ dBm$/);
    await expect(console.request('factory selftest flash', 1000)).resolves.toBe('flash: PASS');
    await expect(console.request('factory led green', 1000)).resolves.toBe('led: GREEN');
    await expect(console.request('kernel version', 1000)).resolves.toBe('Zephyr version 3.7.0');
  });

  it('identifies a Wi-Fi unit without cellular lines', async () => {
    const { nest, console } = await simulated();
    await expect(console.request('factory ident', 1000)).resolves.toBe(`id: ${nest.currentUnit?.deviceId}\nmac: ${nest.currentUnit?.mac}\nfw: factory-2.3.1\nmodel: imp004m\nblessed: 0`);
  });

  it('blesses, and the next unit boots to READY', async () => {
    const { console, events } = await simulated();
    await expect(console.request('factory bless', 1000)).resolves.toBe('blessed: 1');
    const readies = events.filter((e) => e.name === 'READY').length;
    await waitFor('the next unit', () => events.filter((e) => e.name === 'READY').length > readies, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('factory fail BATTERY_VOLTAGE', 1000)).resolves.toBe('led: RED');
  });

  it('refuses an unknown command, a wrong parameter count and a bad argument, as Zephyr words them', async () => {
    const { console } = await simulated();
    expect((await asRequestError(console.request('frobnicate now', 1000))).message).toBe('DUT refused "frobnicate now": "frobnicate now: command not found"');
    expect((await asRequestError(console.request('factory meas', 1000))).message).toBe('DUT refused "factory meas": "factory meas: wrong parameter count"');
    expect((await asRequestError(console.request('factory meas xyz', 1000))).message).toBe('DUT refused "factory meas xyz": "error: no channel XYZ"');
    await expect(console.request('factory', 1000)).resolves.toMatch(/^factory - Factory test commands\nSubcommands:\n {2}ident/);
  });

  it('keeps log lines out of answers when they come during commands and over the prompt', async () => {
    const { console, events } = await simulated({ chatterEveryMs: 4, latencyMs: 15 });
    for (let i = 0; i < 10; i++) await expect(console.request('factory meas vbat', 1000)).resolves.toMatch(/^vbat: 3\.\d{3} V$/);
    const logs = events.filter((e) => e.name === 'LOG' && (e.fields.module === 'sensor' || e.fields.module === 'net'));
    expect(logs.length).toBeGreaterThan(2);
  });
});

describe('simulated shell unit: faults', () => {
  it('never shows its prompt after the next boot with the no-prompt fault: BOOT but no READY, and commands time out naming the prompt', async () => {
    const { nest, adapter, console, events } = await simulated();
    adapter.injectFault('no-prompt');
    const boots = events.filter((e) => e.name === 'BOOT').length;
    nest.boot();
    await waitFor('the reboot', () => events.filter((e) => e.name === 'BOOT').length > boots, { timeoutMs: 2000, intervalMs: 2 });
    await waitFor('the firmware ready', () => events.some((e) => e.payload === 'ready for test' && events.indexOf(e) > boots + 1), { timeoutMs: 2000, intervalMs: 2 });
    const err = await asRequestError(console.request('kernel version', 150));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('no prompt ("uart:~$ ") after "kernel version" within 150 ms; last line: "Zephyr version 3.7.0"');
    expect(events.filter((e) => e.name === 'READY')).toHaveLength(1);
  });

  it('sends an over-long line with the overlong fault, and noise with the garbage fault: never an answer', async () => {
    const { nest, console } = await simulated();
    nest.injectFault('overlong');
    expect((await asRequestError(console.request('factory meas vbat', 1000))).message).toContain('exceeds the 512-byte limit');
    for (let i = 0; i < 6; i++) {
      nest.injectFault('garbage');
      expect(['garbage', 'timeout']).toContain((await asRequestError(console.request('factory meas vbat', 150))).kind);
    }
  });

  it('goes silent when hung (no echo either), then reboots to READY', async () => {
    const { nest, console, events } = await simulated({ behaviour: { hangMs: 300 } });
    nest.injectFault('hang');
    await expect(console.request('factory meas vbat', 100)).rejects.toMatchObject({ kind: 'timeout' });
    const err = await asRequestError(console.request('factory meas vbat', 50));
    expect(err.message).toContain('the shell never echoed the command');
    await waitFor('READY after the watchdog', () => events.filter((e) => e.name === 'READY').length === 2, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('factory meas vbat', 1000)).resolves.toMatch(/^vbat/);
  });

  it('pulls its cable with the unplug fault: disconnected, then the console reconnects and the unit boots', async () => {
    const { nest, console } = await simulated();
    nest.injectFault('unplug');
    expect((await asRequestError(console.request('factory ident', 1000))).kind).toBe('disconnected');
    await nextEvent(console.events, 'event', (e) => e.name === 'READY', 3000);
    await expect(console.request('kernel version', 1000)).resolves.toBe('Zephyr version 3.7.0');
  });
});

describe('simulated shell unit: bytes on the wire', () => {
  it('draws the prompt in green, echoes after it, resets colours after the line end, and draws log lines over the prompt', async () => {
    const nest = new SimulatedNest('sim:raw', { bootMs: 1, cellularRate: 0, idleReseatMs: 60_000 }, 5, quiet);
    const adapter = new NestShellAdapter(nest, { latencyMs: 0 });
    const [station, far] = duplexPair();
    const handle = adapter.attach(far, () => undefined);
    cleanups.push(
      () => nest.stop(),
      () => handle.detach(),
      () => void station.destroy(),
    );
    let seen = '';
    station.on('data', (b: Buffer) => (seen += b.toString('latin1')));
    nest.start();
    await waitFor('the first prompt', () => seen.endsWith('\x1b[1;32muart:~$ \x1b[m'), { timeoutMs: 2000, intervalMs: 2 });
    expect(seen).toMatch(/^\r\n\*\*\* Booting Zephyr OS build v3\.7\.0 \*\*\*\r\n\[00:00:00\.\d{3},000\] \x1b\[0m<inf> factory: /);
    seen = '';
    station.write('factory selftest flash\r\n');
    await waitFor('the answer', () => seen.endsWith('uart:~$ \x1b[m'), { timeoutMs: 2000, intervalMs: 2 });
    expect(seen).toBe('factory selftest flash\r\n\x1b[1;32mflash: PASS\r\n\x1b[m\x1b[1;32muart:~$ \x1b[m');
    seen = '';
    station.write('\r');
    await waitFor('an empty command', () => seen.endsWith('uart:~$ \x1b[m'), { timeoutMs: 2000, intervalMs: 2 });
    expect(seen).toBe('\r\n\x1b[1;32muart:~$ \x1b[m');
  });
});
