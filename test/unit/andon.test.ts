// The andon: the state -> light mapping (docs/andon.md), the blinking done by the job, the USB-HID
// relay through the simulator seam (as the HID emitter's test does), and the `andon` config's errors
// with their key paths.
import { describe, expect, it } from 'vitest';
import { HidRelayDriver, relayReport } from '../../drivers/andon/hid-relay.js';
import { AndonOutput, LampUnavailableError } from '../../drivers/andon/lamps.js';
import { coilWrites } from '../../drivers/andon/modbus-tcp.js';
import { lcusFrame, parseLcusFrame } from '../../drivers/andon/serial-relay.js';
import { HidRelaySim } from '../../drivers/andon/simulator/hid-relay-sim.js';
import { decideLight, lampsAt, type AndonInputs } from '../../jobs/andon.js';
import type { AlarmEntry } from '../../station/alarms.js';
import { ConfigError, parseConfig } from '../../station/config/load.js';
import { READY_TO_START_REASON } from '../../station/line/slot.js';
import { silentLogger } from '../../station/log.js';
import { shippedConfig } from '../support/configs.js';
import { waitFor } from '../support/wait.js';

const slot = (i: number, state: string, reason: string | null = null): AndonInputs['slots'][number] => ({ slot: i, name: `Nest ${i + 1}`, state: state as never, reason });
const alarm = (id: string, severity: 'warning' | 'critical', more: Partial<AlarmEntry> = {}): AlarmEntry => ({
  alarmId: id,
  severity,
  message: id,
  slot: null,
  since: new Date().toISOString(),
  acknowledged: false,
  cleared: false,
  shelved: null,
  ...more,
});
const light = (i: Partial<AndonInputs>, amberBeep = false) => decideLight({ slots: [], prompts: [], alarms: [], ...i }, { amberBeep });

describe('andon: the state -> light mapping', () => {
  it('is off with nothing under test, green with a unit under test', () => {
    expect(light({ slots: [slot(0, 'idle'), slot(1, 'pass'), slot(2, 'offline')] })).toMatchObject({ colour: 'off', blink: false, buzzer: 'off' });
    expect(light({ slots: [slot(0, 'testing'), slot(1, 'idle')] })).toMatchObject({ colour: 'green', blink: false, buzzer: 'off' });
  });

  it('is amber while a person is needed: a prompt, a unit waiting to be started, a warning (blinking until acknowledged)', () => {
    expect(light({ slots: [slot(0, 'testing')], prompts: [0] })).toMatchObject({ colour: 'amber', blink: false, buzzer: 'off' });
    expect(light({ slots: [slot(0, 'idle', READY_TO_START_REASON)] })).toMatchObject({ colour: 'amber', blink: false });
    expect(light({ slots: [slot(0, 'testing')], alarms: [alarm('disk.budget', 'warning')] })).toMatchObject({ colour: 'amber', blink: true, buzzer: 'off' });
    expect(light({ slots: [slot(0, 'testing')], alarms: [alarm('disk.budget', 'warning', { acknowledged: true })] })).toMatchObject({ colour: 'amber', blink: false });
    // With amberBeep: beeps while someone must act, silent once a lone warning is acknowledged.
    expect(light({ prompts: [1] }, true).buzzer).toBe('beep');
    expect(light({ alarms: [alarm('disk.budget', 'warning', { acknowledged: true })] }, true).buzzer).toBe('off');
  });

  it('is red on a critical alarm (blinking with the buzzer until acknowledged) or a stopped nest, over everything else', () => {
    const busy = { slots: [slot(0, 'testing')], prompts: [0], alarms: [alarm('disk.budget', 'warning')] };
    expect(light({ ...busy, alarms: [...busy.alarms, alarm('store.fault', 'critical')] })).toMatchObject({ colour: 'red', blink: true, buzzer: 'on' });
    expect(light({ ...busy, alarms: [alarm('store.fault', 'critical', { acknowledged: true })] })).toMatchObject({ colour: 'red', blink: false, buzzer: 'off' });
    expect(light({ slots: [slot(0, 'refused', 'stopped: bad config')] })).toMatchObject({ colour: 'red', blink: false, buzzer: 'off', why: 'Nest 1 stopped (stopped: bad config)' });
  });

  it("ignores cleared and shelved alarms and the andon's own", () => {
    const alarms = [
      alarm('store.fault', 'critical', { cleared: true }),
      alarm('mes.unreachable', 'critical', { shelved: { by: 'engineer', reason: 'known', at: '', until: '' } }),
      alarm('andon.tower.unreachable', 'warning'),
    ];
    expect(light({ slots: [slot(0, 'testing')], alarms })).toMatchObject({ colour: 'green' });
  });

  it('blinks by phase: the lamp on in even phases, the beep one phase in four, a steady buzzer always', () => {
    const red = { colour: 'red' as const, blink: true, buzzer: 'on' as const, why: '' };
    expect([0, 1, 2, 3].map((p) => lampsAt(red, p).red)).toEqual([true, false, true, false]);
    expect([0, 1, 2, 3].map((p) => lampsAt(red, p).buzzer)).toEqual([true, true, true, true]);
    const amber = { colour: 'amber' as const, blink: false, buzzer: 'beep' as const, why: '' };
    expect([0, 1, 2, 3, 4].map((p) => [lampsAt(amber, p).amber, lampsAt(amber, p).buzzer])).toEqual([
      [true, true],
      [true, false],
      [true, false],
      [true, false],
      [true, true],
    ]);
  });
});

describe('andon: frames and coils', () => {
  it('makes LCUS frames with their checksum and reads them back', () => {
    expect([...lcusFrame(1, true)]).toEqual([0xa0, 0x01, 0x01, 0xa2]);
    expect([...lcusFrame(1, false)]).toEqual([0xa0, 0x01, 0x00, 0xa1]);
    expect([...lcusFrame(4, true)]).toEqual([0xa0, 0x04, 0x01, 0xa5]);
    expect(parseLcusFrame(lcusFrame(3, true))).toEqual({ channel: 3, on: true });
    expect(parseLcusFrame(Buffer.from([0xa0, 0x01, 0x01, 0xa3]))).toBeNull();
  });

  it('writes neighbouring coils in one request and never a coil it does not own', () => {
    const lamps = { green: true, amber: false, red: true, buzzer: false };
    expect(coilWrites({ green: 0, amber: 1, red: 2, buzzer: 3 }, lamps)).toEqual([[0, [true, false, true, false]]]);
    expect(coilWrites({ green: 16, amber: 17, red: 20 }, lamps)).toEqual([
      [16, [true, false]],
      [20, [true]],
    ]);
  });
});

describe('andon: USB-HID relay (dcttech feature reports) through the simulator seam', () => {
  const channels = { green: 1, amber: 2, red: 3, buzzer: 4 };

  it('switches only the relays that change, with the documented reports, and checks the read-back', async () => {
    const sim = new HidRelaySim(4);
    const device = await new HidRelayDriver({ path: '/dev/hidraw-test', channels }, async () => sim).open();
    await device.write({ green: true, amber: false, red: false, buzzer: false });
    expect(sim.reports).toEqual([relayReport(1, true), relayReport(2, false), relayReport(3, false), relayReport(4, false)]);
    expect(sim.reports[0]).toEqual([0x00, 0xff, 0x01, 0, 0, 0, 0, 0, 0]);
    sim.reports.length = 0;
    await device.write({ green: false, amber: false, red: true, buzzer: true });
    expect(sim.reports).toEqual([
      [0x00, 0xfd, 0x01, 0, 0, 0, 0, 0, 0],
      [0x00, 0xff, 0x03, 0, 0, 0, 0, 0, 0],
      [0x00, 0xff, 0x04, 0, 0, 0, 0, 0, 0],
    ]);
    expect([1, 2, 3, 4].map((n) => sim.relay(n))).toEqual([false, false, true, true]);
    // A relay that does not switch (a welded contact) is the write's failure, named.
    sim.stuck = 2;
    await expect(device.write({ green: false, amber: true, red: true, buzzer: true })).rejects.toThrow(/relay 2 did not switch/);
    await device.close();
  });

  it('reconnects after the board is pulled, writes the light again, and raises then clears its unreachability', async () => {
    let sim = new HidRelaySim(4);
    let plugged = true;
    const driver = new HidRelayDriver({ path: '/dev/hidraw-test', channels }, async () => {
      if (!plugged) throw new Error('cannot open HID relay /dev/hidraw-test: could not open device');
      sim = new HidRelaySim(4);
      return sim;
    });
    const problems: (string | null)[] = [];
    const out = new AndonOutput({ id: 'hid', driver, log: silentLogger(), reconnect: { initialMs: 20, maxMs: 40 }, onReachability: (p) => problems.push(p) });
    await out.start();
    out.show({ green: false, amber: true, red: false, buzzer: false });
    await waitFor('amber on the relay', () => sim.relay(2) && !sim.relay(1), { timeoutMs: 2000, intervalMs: 10 });
    plugged = false;
    sim.unplug();
    await waitFor('the output to see it gone', () => out.status().state === 'unreachable', { timeoutMs: 2000, intervalMs: 10 });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/andon output hid \(\/dev\/hidraw-test\) is unreachable/);
    plugged = true;
    await waitFor('the light written to the new board', () => sim.relay(2) && out.status().state === 'connected' && problems.length === 2, { timeoutMs: 3000, intervalMs: 10 });
    expect(problems[1]).toBeNull();
    await out.stop();
    expect([1, 2, 3, 4].map((n) => sim.relay(n))).toEqual([false, false, false, false]);
  });

  it('reads a steady light back: a board that stops answering is found without a light change', async () => {
    let sim = new HidRelaySim(4);
    const driver = new HidRelayDriver({ path: '/dev/hidraw-test', channels }, async () => (sim = new HidRelaySim(4)));
    const out = new AndonOutput({ id: 'hid', driver, log: silentLogger(), reconnect: { initialMs: 20, maxMs: 40 }, refreshMs: 30 });
    await out.start();
    out.show({ green: true, amber: false, red: false, buzzer: false });
    await waitFor('green on the relay', () => sim.relay(1), { timeoutMs: 2000, intervalMs: 10 });
    // A relay switched behind the station's back: reported, and the whole light written again.
    const first = sim;
    first.sendFeatureReport(relayReport(1, false));
    await waitFor('a new board opened with green on it', () => sim !== first && sim.relay(1), { timeoutMs: 2000, intervalMs: 10 });
    // A board that no longer answers (no error event): the read-back fails, the output is unreachable.
    let fails = 0;
    const stuck = sim;
    stuck.getFeatureReport = () => {
      fails++;
      throw new Error('could not get feature report from device');
    };
    await waitFor('the refresh to find it gone', () => fails > 0 && sim !== stuck, { timeoutMs: 2000, intervalMs: 10 });
    await out.stop();
  });

  it('says what to install when node-hid cannot load, once, without retrying', async () => {
    let opens = 0;
    const driver = new HidRelayDriver({ path: '/dev/hidraw9', channels }, async () => {
      opens++;
      throw new LampUnavailableError('USB-HID relays are unavailable: node-hid cannot load (libusb). Install hidapi');
    });
    const problems: (string | null)[] = [];
    const out = new AndonOutput({ id: 'hid', driver, log: silentLogger(), reconnect: { initialMs: 10, maxMs: 20 }, onReachability: (p) => problems.push(p) });
    await out.start();
    expect(out.status().state).toBe('unavailable');
    expect(problems).toHaveLength(1);
    expect(opens).toBe(1);
    await out.stop();
  });
});

describe('andon: configuration errors name the key', () => {
  const parse = (andon: unknown) => parseConfig({ ...shippedConfig(), andon }, { source: '/etc/station/test.json', baseDir: '/etc/station' });
  const problems = (andon: unknown): string[] => {
    try {
      parse(andon);
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    throw new Error('expected a ConfigError');
  };

  it('takes a valid section and fills the defaults (ids from the kind)', () => {
    const cfg = parse({
      outputs: [
        { kind: 'modbus-tcp', host: '10.0.0.9', coils: { green: 0, amber: 1, red: 2, buzzer: 3 } },
        { kind: 'serial-relay', path: '/dev/ttyUSB3', channels: { green: 1, amber: 2, red: 3 } },
      ],
    });
    expect(cfg.andon?.blinkMs).toBe(500);
    expect(cfg.andon?.outputs.map((o) => o.id)).toEqual(['modbus-tcp', 'serial-relay']);
    expect(cfg.andon?.outputs[0]).toMatchObject({ port: 502, unitId: 1, timeoutMs: 2000 });
  });

  it('refuses two lamps on one coil, with the key path', () => {
    expect(problems({ outputs: [{ kind: 'modbus-tcp', host: 'io', coils: { green: 0, amber: 1, red: 1, buzzer: 3 } }] })).toEqual([
      "andon.outputs[0].coils.red: coil 1 is also amber's: each lamp needs its own coil",
    ]);
  });

  it('refuses a port out of range and a relay channel past 8', () => {
    expect(problems({ outputs: [{ kind: 'modbus-tcp', host: 'io', port: 70000, coils: { green: 0, amber: 1, red: 2 } }] })).toEqual([expect.stringMatching(/^andon\.outputs\[0\]\.port: .*65535/)]);
    expect(problems({ outputs: [{ kind: 'hid-relay', path: '/dev/hidraw0', channels: { green: 1, amber: 2, red: 9 } }] })).toEqual([expect.stringMatching(/^andon\.outputs\[0\]\.channels\.red: .*8/)]);
  });

  it('refuses two outputs with one id, an unknown kind and an unknown key', () => {
    const two = { kind: 'serial-relay', path: '/dev/ttyUSB0', channels: { green: 1, amber: 2, red: 3 } };
    expect(problems({ outputs: [two, { ...two, path: '/dev/ttyUSB1' }] })).toEqual(['andon.outputs[1].id: outputs[0] is also called "serial-relay": give each output its own id']);
    expect(problems({ outputs: [{ kind: 'dmx', path: 'x' }] })[0]).toMatch(/^andon\.outputs\[0\]\.kind: /);
    expect(problems({ outputs: [{ ...two, colour: 'blue' }] })[0]).toMatch(/^andon\.outputs\[0\]: .*colour/);
  });
});
