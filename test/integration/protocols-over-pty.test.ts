// The AT and shell consoles over real pseudo-terminals: a socat pty pair, the simulated unit
// (runNestOnSerial) speaking AT commands or a Zephyr shell on one end, the console the station
// would build (createDutConsole on a serial port) on the other; and the tagged default, the same way. Commands, refusals, the
// protocols' own faults, an over-long line, and a pulled cable mid-command: the request fails
// `disconnected`, and once the cable is back the console reconnects and the unit is ready again.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DutConsole, DutConsoleEvents } from '../../drivers/console/console.js';
import { createDutConsole } from '../../drivers/console/index.js';
import type { DutProtocolInput } from '../../drivers/console/options.js';
import { runNestOnSerial, type SerialNest, type SimProtocol } from '../../drivers/dut/simulator/cli.js';
import { serialOpener } from '../../drivers/transport/serial.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { silentLogger } from '../../station/log.js';
import { PtyPair } from '../support/pty.js';
import { nextEvent, rejectionOf } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const BEHAVIOUR = { bootMs: 30, handlingMs: 100, retestRate: 0, failureRates: {}, hangMs: 60_000, unplugMs: 300, idleReseatMs: 120_000 };

/** One protocol's rig: the pty pair, the simulated unit on its far end, the console on the near one. */
class Rig {
  dir = '';
  pair!: PtyPair;
  sim!: SerialNest;
  console!: DutConsole;
  readonly events: DutConsoleEvents['event'][] = [];
  private seed = 4000;

  constructor(
    private readonly protocol: SimProtocol,
    private readonly options: DutProtocolInput | undefined,
  ) {}

  async open(): Promise<void> {
    this.dir = mkdtempSync(path.join(os.tmpdir(), `protocols-${this.protocol}-`));
    this.pair = await new PtyPair(this.dir, this.protocol).open();
    this.console = createDutConsole({
      protocol: this.options,
      label: this.pair.stationPath,
      open: serialOpener({ path: this.pair.stationPath, baudRate: 115200 }),
      log: silentLogger(),
      maxLineBytes: 512,
      reconnectInitialMs: 50,
      reconnectMaxMs: 200,
    });
    this.console.events.on('event', (e) => this.events.push(e));
    const connected = nextEvent(this.console.events, 'connection', (c) => c.connected, 10_000);
    await this.console.start();
    await connected;
    await this.startUnit();
  }

  /** Starts a fresh simulated unit on the far end and waits for the console to see it ready. */
  async startUnit(): Promise<void> {
    const ready = nextEvent(this.console.events, 'event', (e) => e.name === 'READY', 10_000);
    this.sim = await runNestOnSerial({ path: this.pair.simPath, latencyMs: 5, seed: this.seed++, behaviour: BEHAVIOUR, protocol: this.protocol, chatterEveryMs: 40 });
    await ready;
  }

  async close(): Promise<void> {
    await this.console?.stop();
    await this.sim?.close();
    await this.pair?.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Pulls the cable while `command` is in flight on a hung unit; returns how the request ended. */
  async pullMidCommand(command: string): Promise<RequestError> {
    this.sim.nest.injectFault('hang');
    const pending = rejectionOf(this.console.request(command, 30_000));
    await waitFor('the unit to take the command and hang', () => this.sim.nest.hung, { timeoutMs: 5000, intervalMs: 5 });
    const lost = nextEvent(this.console.events, 'connection', (c) => !c.connected, 10_000);
    await this.pair.pull(); // socat killed: both pseudo-terminals vanish
    await lost;
    await this.sim.close();
    return (await pending) as RequestError;
  }

  /** Plugs the cable back in (socat again, on the same paths) with a unit that boots. */
  async replug(): Promise<void> {
    const connected = nextEvent(this.console.events, 'connection', (c) => c.connected, 15_000);
    await this.pair.open();
    await connected;
    await this.startUnit();
  }
}

async function asRequestError(promise: Promise<unknown>): Promise<RequestError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe('AT console over a real pseudo-terminal', () => {
  const rig = new Rig('at', { kind: 'at', readyUrc: 'RDY', urcPrefixes: ['+CREG:', '+CEREG:', 'RDY', '+CFUN:', '+QIND:', '+CPIN:'] });

  beforeAll(() => rig.open());
  afterAll(() => rig.close());

  it('identifies and measures the unit, URCs arriving between and during commands', async () => {
    const unit = rig.sim.nest.currentUnit;
    await expect(rig.console.request('AT+CGSN', 2000)).resolves.toBe(unit?.imei);
    await expect(rig.console.request('AT+QCCID', 2000)).resolves.toBe(`+QCCID: ${unit?.iccid}`);
    await expect(rig.console.request('AT#DEVID', 2000)).resolves.toBe(`#DEVID: ${unit?.deviceId}`);
    for (let i = 0; i < 8; i++) {
      await expect(rig.console.request('AT#MEAS VBAT', 2000)).resolves.toMatch(/^#MEAS: 3\.\d{3},V$/);
      await expect(rig.console.request('AT+CSQ', 2000)).resolves.toMatch(/^\+CSQ: \d{1,2},99$/);
    }
    expect(rig.events.some((e) => ['CREG', 'CEREG', 'QIND'].includes(e.name))).toBe(true);
    expect(rig.events.filter((e) => e.name === 'READY')).toHaveLength(1);
  });

  it('refuses a bad argument with +CME ERROR: 50 and an identity command with ERROR (the identity-error fault)', async () => {
    const bad = await asRequestError(rig.console.request('AT#SELFTEST WARP', 2000));
    expect(bad.kind).toBe('rejected');
    expect(bad.message).toBe('DUT refused "AT#SELFTEST WARP" with +CME ERROR: 50 (incorrect parameters)');
    rig.sim.at?.injectFault('identity-error');
    const ident = await asRequestError(rig.console.request('AT+CGSN', 2000));
    expect(ident.code).toBe('ERROR');
    await expect(rig.console.request('AT+CGSN', 2000)).resolves.toMatch(/^\d{15}$/);
  });

  it('fails a request answered with an over-long line, naming the limit, and goes on', async () => {
    rig.sim.nest.injectFault('overlong');
    const err = await asRequestError(rig.console.request('AT#MEAS VBAT', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('exceeds the 512-byte limit');
    await expect(rig.console.request('AT#MEAS VBAT', 2000)).resolves.toMatch(/^#MEAS/);
  });

  it('on a cable pulled mid-command: the request fails "disconnected", and the console reconnects to a unit that says RDY', async () => {
    const err = await rig.pullMidCommand('AT#SELFTEST RADIO');
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain(rig.pair.stationPath);
    expect(rig.console.connected).toBe(false);
    await rig.replug();
    await expect(rig.console.request('AT#SELFTEST RADIO', 2000)).resolves.toBe('#SELFTEST: PASS');
  });
});

describe('shell console over a real pseudo-terminal', () => {
  const rig = new Rig('shell', { kind: 'shell', prompt: 'uart:~$ ' });

  beforeAll(() => rig.open());
  afterAll(() => rig.close());

  it('saw the Zephyr banner as BOOT and the first prompt as READY', () => {
    expect(rig.events.find((e) => e.name === 'BOOT')).toMatchObject({ fields: { build: 'v3.7.0' } });
    expect(rig.events.map((e) => e.name).indexOf('READY')).toBeGreaterThan(rig.events.map((e) => e.name).indexOf('BOOT'));
  });

  it('identifies and measures the unit, log lines kept out of the answers', async () => {
    const unit = rig.sim.nest.currentUnit;
    await expect(rig.console.request('factory ident', 2000)).resolves.toMatch(new RegExp(`^id: ${unit?.deviceId}\nmac: ${unit?.mac}\nfw: factory-2\\.3\\.1\nmodel: imp00(6|4m)\nblessed: 0`));
    for (let i = 0; i < 8; i++) {
      await expect(rig.console.request('factory meas vbat', 2000)).resolves.toMatch(/^vbat: 3\.\d{3} V$/);
      await expect(rig.console.request('factory selftest flash', 2000)).resolves.toBe('flash: PASS');
    }
    await expect(rig.console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.7.0');
    expect(rig.events.some((e) => e.name === 'LOG' && (e.fields.module === 'sensor' || e.fields.module === 'net'))).toBe(true);
  });

  it('refuses an unknown command and a bad argument as the shell words them', async () => {
    expect((await asRequestError(rig.console.request('reboot now', 2000))).message).toBe('DUT refused "reboot now": "reboot now: command not found"');
    expect((await asRequestError(rig.console.request('factory meas warp', 2000))).message).toBe('DUT refused "factory meas warp": "error: no channel WARP"');
  });

  it('fails a request answered with an over-long line, naming the limit, and goes on', async () => {
    rig.sim.nest.injectFault('overlong');
    expect((await asRequestError(rig.console.request('factory meas vbat', 2000))).message).toContain('exceeds the 512-byte limit');
    await expect(rig.console.request('factory meas vbat', 2000)).resolves.toMatch(/^vbat/);
  });

  it('times out naming the prompt when the shell never shows it after a reboot (the no-prompt fault)', async () => {
    rig.sim.shell?.injectFault('no-prompt');
    const mark = rig.events.length;
    rig.sim.nest.boot();
    await waitFor('the firmware to log that it is ready', () => rig.events.slice(mark).some((e) => e.payload === 'ready for test'), { timeoutMs: 5000, intervalMs: 10 });
    expect(rig.events.slice(mark).map((e) => e.name)).toContain('BOOT');
    const err = await asRequestError(rig.console.request('kernel version', 500));
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/^no prompt \("uart:~\$ "\) after "kernel version" within 500 ms; last line: "Zephyr version 3\.7\.0"/);
    // The next boot has its prompt again.
    const ready = nextEvent(rig.console.events, 'event', (e) => e.name === 'READY', 5000);
    rig.sim.nest.boot();
    await ready;
    await expect(rig.console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.7.0');
  });

  it('on a cable pulled mid-command: the request fails "disconnected", and the console reconnects to a unit at its prompt', async () => {
    const err = await rig.pullMidCommand('factory selftest radio');
    expect(err.kind).toBe('disconnected');
    expect(rig.console.connected).toBe(false);
    await rig.replug();
    await expect(rig.console.request('factory selftest radio', 2000)).resolves.toBe('radio: PASS');
  });
});

describe('tagged console (the default) over a real pseudo-terminal', () => {
  const rig = new Rig('tagged', undefined);

  beforeAll(() => rig.open());
  afterAll(() => rig.close());

  it('identifies and measures, and on a cable pulled mid-command fails "disconnected" and reconnects', async () => {
    await expect(rig.console.request('IDENT', 2000)).resolves.toMatch(new RegExp(`^id=${rig.sim.nest.currentUnit?.deviceId} `));
    await expect(rig.console.request('MEAS VBAT', 2000)).resolves.toMatch(/^v=3\.\d{3} unit=V$/);
    expect((await rig.pullMidCommand('SELFTEST RADIO')).kind).toBe('disconnected');
    await rig.replug();
    await expect(rig.console.request('SELFTEST RADIO', 2000)).resolves.toBe('result=PASS');
  });
});
