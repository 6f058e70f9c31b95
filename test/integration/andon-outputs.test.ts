// The andon's outputs for real: the job drives the Modbus TCP simulator (jsmodbus's server on a
// real TCP port) through running -> a prompt waiting -> a critical alarm -> ack -> clear, and
// writes the light again after the module is killed and restarted; the LCUS relay board is driven
// over a socat pseudo-terminal pair, byte for byte.
import { mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AndonOutput, lampsText, type Lamps } from '../../drivers/andon/lamps.js';
import { ModbusLampDriver } from '../../drivers/andon/modbus-tcp.js';
import { SerialRelayDriver } from '../../drivers/andon/serial-relay.js';
import { ModbusLightSim } from '../../drivers/andon/simulator/modbus-sim.js';
import { runSerialRelayOnPort } from '../../drivers/andon/simulator/serial-relay-sim.js';
import { AndonJob } from '../../jobs/andon.js';
import { AlarmBoard } from '../../station/alarms.js';
import { StationBus, type SlotSnapshot } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'andon-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function snapshot(state: SlotSnapshot['state']): SlotSnapshot {
  return { slot: 0, name: 'Nest 1', state, connected: true, runId: null, deviceId: null, step: null, reason: null, detail: null, since: Date.now() };
}

const lit = (sim: ModbusLightSim): string => lampsText(sim.lamps());

describe('andon on Modbus TCP (jsmodbus client and server, real sockets)', () => {
  it('follows the station: running, a prompt, a critical alarm blinking with the buzzer, ack, clear; and writes the light again after the module restarts', async () => {
    const coils = { green: 0, amber: 1, red: 2, buzzer: 3 };
    const sim = new ModbusLightSim({ coils });
    const port = await sim.listen(0);
    cleanups.push(() => sim.kill());
    const bus = new StationBus();
    const board = new AlarmBoard();
    board.attach(bus);
    cleanups.push(async () => board.detach());
    let slots = [snapshot('idle')];
    const job = new AndonJob({
      bus,
      alarms: board,
      slots: () => slots,
      prompts: () => [],
      outputs: [{ id: 'tower', driver: new ModbusLampDriver({ host: '127.0.0.1', port, unitId: 7, coils, timeoutMs: 500 }), reconnect: { initialMs: 50, maxMs: 200 } }],
      blinkMs: 100,
      amberBeep: false,
      log: silentLogger(),
    });
    await job.start();
    cleanups.push(() => job.stop());
    const setSlot = (state: SlotSnapshot['state']): void => {
      slots = [snapshot(state)];
      bus.emit('slot.state', slots[0] as SlotSnapshot);
    };
    const coilsShow = (what: string, probe: () => boolean): Promise<unknown> => waitFor(what, () => (probe() ? true : null), { timeoutMs: 5000, intervalMs: 10 });

    await coilsShow('the output connected and the light written (off)', () => job.status().outputs[0]?.state === 'connected' && sim.writes > 0);
    expect(lit(sim)).toBe('off');
    expect(sim.lastUnitId).toBe(7);

    setSlot('testing');
    await coilsShow('green while a unit is under test', () => lit(sim) === 'green');

    bus.emit('prompt.opened', { promptId: 'p1', slot: 0, runId: 'r1', text: 'LED lit?', answers: ['yes', 'no'] });
    await coilsShow('amber while the prompt waits', () => lit(sim) === 'amber');

    bus.emit('alarm.raised', { alarmId: 'store.fault', severity: 'critical', message: 'the disk failed', slot: null });
    // Every light the module took, in order: the blink is seen even if a poll would miss a half.
    const took: string[] = [];
    sim.on('light', (l) => took.push(lampsText(l)));
    await coilsShow('red with the buzzer', () => took.includes('red+buzzer'));
    await coilsShow('red blinking (dark half), the buzzer still on', () => took.slice(took.indexOf('red+buzzer')).includes('buzzer'));
    await coilsShow('red lit again', () => took.slice(took.indexOf('buzzer')).includes('red+buzzer'));
    expect(took.every((t) => t === 'red+buzzer' || t === 'buzzer')).toBe(true);
    expect(job.status()).toMatchObject({ colour: 'red', blink: true, buzzer: 'on' });

    board.acknowledgeAndTell('store.fault', 'operator');
    await coilsShow('red steady and silent after the acknowledge', () => lit(sim) === 'red' && job.status().blink === false);
    const writesAfterAck = sim.writes;

    bus.emit('alarm.cleared', { alarmId: 'store.fault' });
    await coilsShow('amber again: the prompt still waits', () => lit(sim) === 'amber');
    expect(sim.writes).toBe(writesAfterAck + 1); // steady red took no writes: the blinking stopped with the ack
    bus.emit('prompt.closed', { promptId: 'p1', slot: 0, answer: 'yes' });
    await coilsShow('green once answered', () => lit(sim) === 'green');

    // The module goes away: the output is unreachable (a warning that leaves the light alone) ...
    await sim.kill();
    await coilsShow('the output unreachable and its alarm raised', () => job.status().outputs[0]?.state === 'unreachable' && board.get('andon.tower.unreachable') !== null);
    expect(board.get('andon.tower.unreachable')).toMatchObject({ severity: 'warning' });
    expect(job.status().colour).toBe('green');
    bus.emit('prompt.opened', { promptId: 'p2', slot: 0, runId: 'r1', text: 'Scan the label', answers: [] });
    expect(job.status().colour).toBe('amber');
    // ... and back after a power cycle (its coils all off): reconnected, the current light written.
    await sim.listen(port, '127.0.0.1', { powerCycle: true });
    await coilsShow('amber written to the restarted module', () => lit(sim) === 'amber' && job.status().outputs[0]?.state === 'connected');
    await coilsShow('its alarm cleared', () => board.active().every((a) => a.alarmId !== 'andon.tower.unreachable'));

    await job.stop();
    expect(lit(sim)).toBe('off');
  });

  it('keeps an unreachable output from changing the light of the others', async () => {
    const a = new ModbusLightSim();
    const port = await a.listen(0);
    cleanups.push(() => a.kill());
    const bus = new StationBus();
    const board = new AlarmBoard();
    board.attach(bus);
    cleanups.push(async () => board.detach());
    const slots = [snapshot('testing')];
    const coils = { green: 0, amber: 1, red: 2, buzzer: 3 };
    const job = new AndonJob({
      bus,
      alarms: board,
      slots: () => slots,
      prompts: () => [],
      outputs: [
        { id: 'a', driver: new ModbusLampDriver({ host: '127.0.0.1', port, unitId: 1, coils, timeoutMs: 500 }), reconnect: { initialMs: 50, maxMs: 100 } },
        // Nothing listens here: a refused connection at every try.
        { id: 'b', driver: new ModbusLampDriver({ host: '127.0.0.1', port: 1, unitId: 1, coils, timeoutMs: 500 }), reconnect: { initialMs: 50, maxMs: 100 } },
      ],
      blinkMs: 100,
      amberBeep: false,
      log: silentLogger(),
    });
    await job.start();
    cleanups.push(() => job.stop());
    await waitFor('b unreachable, its warning raised', () => board.get('andon.b.unreachable') !== null, { timeoutMs: 5000, intervalMs: 10 });
    await waitFor('a green', () => (lampsText(a.lamps()) === 'green' ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    const writes = a.writes;
    // Several reconnect attempts of b later, a has taken no other light.
    await waitFor('b to retry a few times', () => (job.status().outputs[1]?.lastError ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(job.status()).toMatchObject({ colour: 'green', blink: false });
    expect(a.writes).toBe(writes);
  });
});

describe('andon on Modbus TCP: a steady light is refreshed', () => {
  it('writes the coils again while nothing changes, so a module that lost them shows the light again', async () => {
    const coils = { green: 0, amber: 1, red: 2, buzzer: 3 };
    const sim = new ModbusLightSim({ coils });
    const port = await sim.listen(0);
    cleanups.push(() => sim.kill());
    const out = new AndonOutput({
      id: 'tower',
      driver: new ModbusLampDriver({ host: '127.0.0.1', port, unitId: 1, coils, timeoutMs: 500 }),
      log: silentLogger(),
      reconnect: { initialMs: 50, maxMs: 100 },
      refreshMs: 100,
    });
    await out.start();
    cleanups.push(() => out.stop());
    out.show({ green: false, amber: true, red: false, buzzer: false });
    await waitFor('amber', () => (lampsText(sim.lamps()) === 'amber' ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    // The module's own watchdog (or a person with its web page) clears the outputs.
    sim.coils.fill(0);
    expect(lampsText(sim.lamps())).toBe('off');
    await waitFor('amber again from a refresh', () => (lampsText(sim.lamps()) === 'amber' ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(out.status().writes).toBe(2); // off at connect, then amber: refreshes are not new lights
  });
});

describe('andon on an LCUS USB-serial relay board (socat pty)', () => {
  it('writes the exact 4-byte frames, only the channels that change, and every channel again after the cable is back', async () => {
    const pair = await new PtyPair(dir, 'relay').open();
    cleanups.push(() => pair.close());
    let board = await runSerialRelayOnPort({ path: pair.simPath });
    cleanups.push(() => board.close());
    const problems: (string | null)[] = [];
    const out = new AndonOutput({
      id: 'relay',
      driver: new SerialRelayDriver({ path: pair.stationPath, baudRate: 9600, channels: { green: 1, amber: 2, red: 3, buzzer: 4 } }),
      log: silentLogger(),
      reconnect: { initialMs: 50, maxMs: 200 },
      onReachability: (p) => problems.push(p),
    });
    await out.start();
    cleanups.push(() => out.stop());
    const hex = (): string[] => board.sim.frames.map((f) => f.toString('hex'));
    const green: Lamps = { green: true, amber: false, red: false, buzzer: false };

    // Opened: every channel set to the light asked for (none yet: all off).
    await waitFor('four frames', () => (board.sim.frames.length >= 4 ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(hex()).toEqual(['a00100a1', 'a00200a2', 'a00300a3', 'a00400a4']);

    out.show(green);
    await waitFor('one more frame', () => (board.sim.frames.length >= 5 ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    out.show({ green: false, amber: false, red: true, buzzer: true });
    await waitFor('three more frames', () => (board.sim.frames.length >= 8 ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(hex().slice(4)).toEqual(['a00101a2', 'a00100a1', 'a00301a4', 'a00401a5']);
    expect(board.sim.garbage).toBe(0);
    expect(board.sim.lamps()).toEqual({ green: false, amber: false, red: true, buzzer: true });

    // The cable is pulled: the port hangs up, the output is unreachable.
    await board.close();
    await pair.pull();
    await waitFor('the output to notice', () => (out.status().state === 'unreachable' ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(problems).toEqual([expect.stringMatching(/andon output relay .* is unreachable/)]);
    out.show(green);
    // Back: a fresh board (relays all open) gets every channel of the current light. The new cable
    // is another pair whose station end appears under the configured path only once the board
    // listens on its end (opening a tty flushes what was written to it before).
    const pair2 = await new PtyPair(dir, 'relay-b').open();
    cleanups.push(() => pair2.close());
    board = await runSerialRelayOnPort({ path: pair2.simPath });
    symlinkSync(realpathSync(pair2.stationPath), pair.stationPath);
    cleanups.push(async () => rmSync(pair.stationPath, { force: true }));
    await waitFor('four frames on the new board', () => (board.sim.frames.length >= 4 && out.status().state === 'connected' ? true : null), { timeoutMs: 10_000, intervalMs: 10 });
    expect(hex()).toEqual(['a00101a2', 'a00200a2', 'a00300a3', 'a00400a4']);
    await waitFor('reachable again', () => (problems.length === 2 ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(problems[1]).toBeNull();
  });
});
