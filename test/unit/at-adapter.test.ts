// The simulated AT unit (drivers/dut/simulator/at-adapter.ts) behind the AT console, on the
// in-memory cable: its command set, its errors and faults, and the bytes it puts on the wire.
import { afterEach, describe, expect, it } from 'vitest';
import { AtConsole, type AtConsoleOptions } from '../../drivers/console/at-console.js';
import { type DutConsoleEvents } from '../../drivers/console/console.js';
import { NestAtAdapter } from '../../drivers/dut/simulator/at-adapter.js';
import { SimulatedNest, type NestBehaviour } from '../../drivers/dut/simulator/firmware.js';
import { duplexPair, MemoryLink } from '../../drivers/transport/memory-link.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { luhnCheckDigit } from '../../lib/luhn.js';
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
  adapter: NestAtAdapter;
  console: AtConsole;
  events: DutConsoleEvents['event'][];
}

/** A nest served over AT on a memory link, an AT console on the other end, the first unit ready. */
async function simulated(opts: { behaviour?: Partial<NestBehaviour>; chatterEveryMs?: number; latencyMs?: number; console?: Partial<AtConsoleOptions> } = {}): Promise<Sim> {
  const nest = new SimulatedNest('sim:at', { bootMs: 5, handlingMs: 30, cellularRate: 1, retestRate: 0, idleReseatMs: 60_000, unplugMs: 100, ...opts.behaviour }, 7, quiet);
  const adapter = new NestAtAdapter(nest, { latencyMs: opts.latencyMs ?? 1, chatterEveryMs: opts.chatterEveryMs ?? 0, seed: 7 });
  const link = new MemoryLink('sim:at', adapter);
  const console = new AtConsole({ label: 'sim:at', open: link.open, log: silentLogger(), maxLineBytes: 512, reconnectInitialMs: 10, reconnectMaxMs: 40, readyUrc: 'RDY', ...opts.console });
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

describe('simulated AT unit: command set', () => {
  it('answers identity commands with the unit in the nest: ATI, +CGMM, +CGSN (IMEI), +CCID / +QCCID, #DEVID, #MAC', async () => {
    const { nest, console } = await simulated();
    const unit = nest.currentUnit;
    if (!unit?.imei || !unit.iccid) throw new Error('an AT unit is cellular');
    await expect(console.request('AT', 1000)).resolves.toBe('');
    await expect(console.request('ATI', 1000)).resolves.toBe('Electric Imp\nimp006\nRevision: factory-2.3.1');
    await expect(console.request('AT+CGMI', 1000)).resolves.toBe('Electric Imp');
    await expect(console.request('AT+CGMM', 1000)).resolves.toBe('imp006');
    await expect(console.request('AT+CGSN', 1000)).resolves.toBe(unit.imei);
    expect(unit.imei).toMatch(/^\d{15}$/);
    expect(luhnCheckDigit(unit.imei.slice(0, -1))).toBe(unit.imei.slice(-1));
    await expect(console.request('AT+CCID', 1000)).resolves.toBe(`+CCID: ${unit.iccid}`);
    await expect(console.request('AT+QCCID', 1000)).resolves.toBe(`+QCCID: ${unit.iccid}`);
    await expect(console.request('AT#DEVID', 1000)).resolves.toBe(`#DEVID: ${unit.deviceId}`);
    await expect(console.request('AT#MAC', 1000)).resolves.toBe(`#MAC: ${unit.mac}`);
  });

  it('answers +CSQ on 27.007 scale from the RSSI reading, and the factory test commands', async () => {
    const { console } = await simulated();
    const csq = await console.request('AT+CSQ', 1000);
    expect(csq).toMatch(/^\+CSQ: \d{1,2},99$/);
    // Nominal RSSI is -52 dBm (sd 4): index (dBm + 113) / 2, about 30.
    expect(Number(/: (\d+),/.exec(csq)?.[1])).toBeGreaterThanOrEqual(24);
    await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS: 3\.\d{3},V$/);
    await expect(console.request('AT#MEAS=V3V3', 1000)).resolves.toMatch(/^#MEAS: 3\.\d{3},V$/);
    await expect(console.request('at#meas temp', 1000)).resolves.toMatch(/^#MEAS: \d+\.\d,C$/);
    await expect(console.request('AT#SELFTEST FLASH', 1000)).resolves.toBe('#SELFTEST: PASS');
    await expect(console.request('AT#LED GREEN', 1000)).resolves.toBe('#LED: GREEN');
    await expect(console.request('AT#SLEEP', 1000)).resolves.toBe('');
  });

  it('reports a self-test failure in the answer, not as an error', async () => {
    const { console } = await simulated({ behaviour: { failureRates: { FLASH: 1 } } });
    await expect(console.request('AT#SELFTEST FLASH', 1000)).resolves.toBe('#SELFTEST: FAIL');
  });

  it('blesses, then the next unit boots and says RDY', async () => {
    const { console, events } = await simulated();
    await expect(console.request('AT#BLESS', 1000)).resolves.toBe('#BLESS: 1');
    const before = events.filter((e) => e.name === 'READY').length;
    await waitFor('the next unit', () => events.filter((e) => e.name === 'READY').length > before, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('AT#FAIL BATTERY_VOLTAGE', 1000)).resolves.toBe('#LED: RED');
  });

  it('refuses bad arguments with +CME ERROR: 50, unsupported test commands with 4, unknown commands with ERROR', async () => {
    const { console } = await simulated();
    const bad = await asRequestError(console.request('AT#MEAS XYZ', 1000));
    expect(bad.code).toBe('+CME ERROR: 50');
    expect(bad.message).toBe('DUT refused "AT#MEAS XYZ" with +CME ERROR: 50 (incorrect parameters)');
    expect((await asRequestError(console.request('AT#SELFTEST', 1000))).code).toBe('+CME ERROR: 50');
    expect((await asRequestError(console.request('AT+CSQ=?', 1000))).code).toBe('+CME ERROR: 4');
    expect((await asRequestError(console.request('AT+CFOO', 1000))).code).toBe('ERROR');
  });

  it('words errors as +CMEE says: verbose with 2, plain ERROR with 0', async () => {
    const { console } = await simulated();
    await expect(console.request('AT+CMEE?', 1000)).resolves.toBe('+CMEE: 1');
    await console.request('AT+CMEE=2', 1000);
    expect((await asRequestError(console.request('AT#MEAS XYZ', 1000))).code).toBe('+CME ERROR: Incorrect parameters');
    await console.request('AT+CMEE=0', 1000);
    expect((await asRequestError(console.request('AT#MEAS XYZ', 1000))).code).toBe('ERROR');
  });

  it('stops echoing after ATE0: a console that requires the echo then times out saying so', async () => {
    const { console } = await simulated({ console: { echo: 'on' } });
    await expect(console.request('AT+CGMM', 1000)).resolves.toBe('imp006');
    await expect(console.request('ATE0', 1000)).resolves.toBe('');
    const err = await asRequestError(console.request('AT+CGMM', 200));
    expect(err.message).toContain('its echo never came (echo is "on")');
  });

  it('answers nothing to a line that is not an AT command', async () => {
    const { console } = await simulated();
    const err = await asRequestError(console.request('PING', 100));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('no answer to "PING" within 100 ms: only its echo came back');
  });
});

describe('simulated AT unit: URCs and faults', () => {
  it('sends RDY then +CFUN and +CPIN URCs at boot, and +CREG / +CEREG / +QIND now and then, during commands too', async () => {
    const { console, events } = await simulated({ chatterEveryMs: 4, latencyMs: 15 });
    for (let i = 0; i < 10; i++) await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS: 3\.\d{3},V$/);
    const names = new Set(events.map((e) => e.name));
    for (const name of ['RDY', 'READY', 'CFUN', 'CPIN', 'QIND']) expect(names).toContain(name);
    expect(names.has('CREG') || names.has('CEREG')).toBe(true);
  });

  it('answers ERROR to the next identity command with the identity-error fault, then recovers', async () => {
    const { adapter, console } = await simulated();
    await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS/);
    adapter.injectFault('identity-error');
    await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS/);
    const err = await asRequestError(console.request('AT+CGSN', 1000));
    expect(err.code).toBe('ERROR');
    expect(err.message).toBe('DUT refused "AT+CGSN" with ERROR');
    await expect(console.request('AT+CGSN', 1000)).resolves.toMatch(/^\d{15}$/);
  });

  it('sends an over-long line with the overlong fault: the request fails naming the limit', async () => {
    const { nest, console } = await simulated();
    nest.injectFault('overlong');
    const err = await asRequestError(console.request('AT#MEAS VBAT', 1000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('exceeds the 512-byte limit');
    await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS/);
  });

  it('sends noise with the garbage fault: never an answer, always a clear error', async () => {
    const { nest, console } = await simulated();
    for (let i = 0; i < 6; i++) {
      nest.injectFault('garbage');
      const err = await asRequestError(console.request('AT#MEAS VBAT', 150));
      // Control bytes are garbage; a printable panic line is an information line with no final result code.
      expect(['garbage', 'timeout']).toContain(err.kind);
    }
  });

  it('goes silent with the hang fault until its watchdog restarts it with RDY', async () => {
    const { nest, console, events } = await simulated({ behaviour: { hangMs: 150 } });
    nest.injectFault('hang');
    const err = await asRequestError(console.request('AT#SELFTEST RADIO', 100));
    expect(err.message).toBe('no answer to "AT#SELFTEST RADIO" within 100 ms: only its echo came back');
    const readies = events.filter((e) => e.name === 'READY').length;
    await waitFor('RDY after the watchdog', () => events.filter((e) => e.name === 'READY').length > readies, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('AT#SELFTEST RADIO', 1000)).resolves.toBe('#SELFTEST: PASS');
  });

  it('pulls its cable with the unplug fault: the request fails disconnected, the console reconnects, the unit boots', async () => {
    const { nest, console } = await simulated();
    nest.injectFault('unplug');
    expect((await asRequestError(console.request('AT#MEAS VBAT', 1000))).kind).toBe('disconnected');
    await nextEvent(console.events, 'event', (e) => e.name === 'READY', 3000);
    await expect(console.request('AT#MEAS VBAT', 1000)).resolves.toMatch(/^#MEAS/);
  });
});

describe('simulated AT unit: bytes on the wire', () => {
  it('echoes the command line with its CR and frames the answer as V.250 does', async () => {
    const nest = new SimulatedNest('sim:raw', { bootMs: 1, cellularRate: 1, idleReseatMs: 60_000 }, 3, quiet);
    const adapter = new NestAtAdapter(nest, { latencyMs: 0 });
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
    await waitFor('RDY', () => seen.includes('RDY'), { timeoutMs: 2000, intervalMs: 2 });
    await waitFor('the boot URCs', () => seen.includes('+QIND: PB DONE'), { timeoutMs: 2000, intervalMs: 2 });
    seen = '';
    station.write('AT#LED BLUE\r');
    await waitFor('the answer', () => seen.endsWith('OK\r\n'), { timeoutMs: 2000, intervalMs: 2 });
    expect(seen).toBe('AT#LED BLUE\r\r\n#LED: BLUE\r\n\r\nOK\r\n');
    seen = '';
    station.write('ATE0\r\nAT\r\n');
    await waitFor('both answers', () => seen.split('OK').length === 3, { timeoutMs: 2000, intervalMs: 2 });
    // The echo of ATE0 itself still comes (echo was on as it was typed); the LF after CR is not a line.
    expect(seen).toBe('ATE0\r\r\nOK\r\n\r\nOK\r\n');
  });
});
