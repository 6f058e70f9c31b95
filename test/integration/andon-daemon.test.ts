// The andon in the real daemon: a station with one nest on a socat pty (a simulated DUT behind it)
// and a Modbus TCP stack light (the simulator in this process, on a real TCP port). A unit's run
// turns the light green and, once its verdict is in, back to what it was; health shows the
// output; a stopped daemon leaves the light dark.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lampsText } from '../../drivers/andon/lamps.js';
import { ModbusLightSim } from '../../drivers/andon/simulator/modbus-sim.js';
import { runNestOnSerial, type SerialNest } from '../../drivers/dut/simulator/cli.js';
import { serialStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { state: string }[];
  counts: { blessed: number; failed: number };
  andon?: {
    colour: string;
    blink: boolean;
    buzzer: string;
    why: string;
    lamps: string;
    outputs: { id: string; kind: string; target: string; state: string; showing: string | null; writes: number }[];
  };
}

describe('andon in the daemon', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'andon-daemon-'));
  const sim = new ModbusLightSim();
  let pair: PtyPair | null = null;
  let nest: SerialNest | null = null;
  let daemon: Daemon | null = null;

  afterAll(async () => {
    await daemon?.kill9();
    await nest?.close();
    await pair?.close();
    await sim.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('goes green while a unit is under test and back when its verdict is in', async () => {
    const port = await sim.listen(0);
    const seen: string[] = [];
    sim.on('light', (l) => {
      const text = lampsText(l);
      if (seen.at(-1) !== text) seen.push(text);
    });
    pair = await new PtyPair(dir, 'nest').open();
    const config = {
      ...serialStationConfig({ dataDir: path.join(dir, 'data'), ports: [pair.stationPath] }),
      andon: {
        blinkMs: 200,
        outputs: [{ kind: 'modbus-tcp', id: 'tower', host: '127.0.0.1', port, unitId: 1, coils: { green: 0, amber: 1, red: 2, buzzer: 3 }, reconnectInitialMs: 100, reconnectMaxMs: 500 }],
      },
    };
    daemon = await new Daemon(Daemon.writeConfig(dir, config)).start();
    const d = daemon;
    const health = (): Promise<Health> => d.api<Health>('/api/health');

    // Connected, and the light as the idle station has it, before any unit.
    const before = await waitFor(
      'the andon output connected with the idle light written',
      async () => {
        const h = await health();
        const out = h.andon?.outputs[0];
        return out?.state === 'connected' && out.showing !== null && h.slots[0]?.state === 'idle' ? h : null;
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(before.andon?.outputs[0]).toMatchObject({ id: 'tower', kind: 'modbus-tcp', target: `127.0.0.1:${port} unit 1` });
    const idle = before.andon?.lamps as string;
    expect(idle).not.toContain('green');
    expect(lampsText(sim.lamps())).toBe(idle);

    // One unit, then the nest stays empty for a minute.
    nest = await runNestOnSerial({ path: pair.simPath, latencyMs: 2, seed: 42, behaviour: { bootMs: 20, handlingMs: 60_000, failureRates: {} } });
    await waitFor('green on the coils while the unit is under test', () => (sim.lamps().green ? true : null), { timeoutMs: 20_000, intervalMs: 5 });
    const done = await waitFor(
      'the verdict',
      async () => {
        const h = await health();
        return h.counts.blessed + h.counts.failed >= 1 && ['pass', 'fail'].includes(h.slots[0]?.state ?? '') ? h : null;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    await waitFor(`the light back to ${idle}`, () => (lampsText(sim.lamps()) === idle ? true : null), { timeoutMs: 5000, intervalMs: 10 });
    expect(done.andon?.colour).not.toBe('green');
    expect(seen.indexOf('green')).toBeGreaterThan(-1);
    expect(seen.at(-1)).toBe(idle);

    // Stopped: the light goes dark.
    expect(await d.terminate()).toBe(0);
    expect(lampsText(sim.lamps())).toBe('off');
  });
});
