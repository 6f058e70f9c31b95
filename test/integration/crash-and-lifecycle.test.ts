// The daemon's life: SIGKILL mid-run and restart (the run is interrupted, the database intact,
// nothing confirmed blessed is lost), one daemon per data folder, invalid configuration refused,
// and the shipped configuration running a simulated station as `npm start` does.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNestOnSerial, type SerialNest } from '../../drivers/dut/simulator/cli.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { coreConfig, serialStationConfig, shippedConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { slot: number; state: string; runId: string | null; deviceId: string | null; connected: boolean }[];
  counts: { blessed: number; devicesBlessed: number; interrupted: number };
}
interface DevicesPage {
  devices: { deviceId: string; status: string; runId: string; blessedAt: string | null }[];
  nextCursor: string | null;
}

async function allBlessed(daemon: Daemon): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: DevicesPage = await daemon.api<DevicesPage>(`/api/devices?status=blessed&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    for (const d of page.devices) ids.add(d.deviceId);
    cursor = page.nextCursor;
  } while (cursor);
  return ids;
}

describe('SIGKILL mid-run and restart', () => {
  let dir: string;
  const pairs: PtyPair[] = [];
  const nests: SerialNest[] = [];
  let daemon: Daemon;
  let dbPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-kill-'));
    dbPath = path.join(dir, 'data', 'station.db');
    for (let i = 0; i < 3; i++) pairs.push(await new PtyPair(dir, `slot${i}`).open());
    const config = Daemon.writeConfig(dir, serialStationConfig({ dataDir: path.join(dir, 'data'), ports: pairs.map((p) => p.stationPath) }));
    daemon = new Daemon(config);
    await daemon.start();
    for (let i = 0; i < 3; i++) {
      nests.push(
        await runNestOnSerial({
          path: (pairs[i] as PtyPair).simPath,
          latencyMs: 3,
          seed: 77 + i,
          behaviour: { bootMs: 10, handlingMs: 60, retestRate: 0.3, failureRates: { VBAT: 0.1 }, hangMs: 2500, idleReseatMs: 2500 },
        }),
      );
    }
  });

  afterAll(async () => {
    await daemon?.kill9();
    for (const n of nests) await n.close();
    for (const p of pairs) await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('interrupts the run in flight, keeps every confirmed blessing, and stays intact across 6 kills', async () => {
    const confirmed = new Set<string>();
    for (let cycle = 0; cycle < 6; cycle++) {
      await waitFor('more blessings this cycle', async () => (await daemon.api<Health>('/api/health')).counts.blessed > confirmed.size + 2, { timeoutMs: 30_000 });
      // Hang one unit so its run is certainly open when the daemon dies.
      const victim = nests[cycle % nests.length] as SerialNest;
      const slotIndex = cycle % nests.length;
      await waitFor(`slot ${slotIndex} testing`, async () => {
        const s = (await daemon.api<Health>('/api/health')).slots[slotIndex];
        return s?.state === 'testing' && s.deviceId !== null;
      });
      victim.nest.injectFault('hang');
      await waitFor('the unit to hang', () => victim.nest.hung, { intervalMs: 5 });
      const health = await daemon.api<Health>('/api/health');
      const openRun = health.slots[slotIndex]?.runId;
      // The hang may have caught a test step or the BLESS itself: either way the run is open.
      expect(['testing', 'blessing']).toContain(health.slots[slotIndex]?.state);
      for (const id of await allBlessed(daemon)) confirmed.add(id);

      await daemon.kill9();

      const db = new Database(dbPath, { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        db.close();
      }
      await daemon.start();

      const run = await daemon.api<{ status: string; reason: string }>(`/api/runs/${openRun}`);
      expect(run.status).toBe('interrupted');
      expect(run.reason).toMatch(/station stopped during the run/);
      const blessedNow = await allBlessed(daemon);
      for (const id of confirmed) expect(blessedNow.has(id), `blessed device ${id} lost after kill ${cycle}`).toBe(true);
    }

    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      // Every verdict on an identified unit has exactly one outbox record; interrupted runs none.
      const missing = db
        .prepare(`SELECT count(*) AS n FROM runs r WHERE r.status IN ('blessed','failed') AND r.device_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = r.run_id)`)
        .get();
      expect(missing).toEqual({ n: 0 });
      const extra = db.prepare(`SELECT count(*) AS n FROM outbox o JOIN runs r ON r.run_id = o.run_id WHERE r.status NOT IN ('blessed','failed')`).get();
      expect(extra).toEqual({ n: 0 });
      const interrupted = db.prepare(`SELECT count(*) AS n FROM runs WHERE status = 'interrupted'`).get() as { n: number };
      expect(interrupted.n).toBeGreaterThanOrEqual(6);
    } finally {
      db.close();
    }
  });
});

describe('daemon lifecycle', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-life-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the shipped configuration as a simulated station, blessing units, and stops on SIGINT-like SIGTERM with exit 0', async () => {
    const daemon = new Daemon(path.join(PROJECT_ROOT, 'station.config.json'), { STATION_PORT: '0', STATION_DATA_DIR: path.join(dir, 'shipped') });
    await daemon.start();
    try {
      const h = await waitFor(
        'the simulated station to bless a unit',
        async () => {
          const health = await daemon.api<Health>('/api/health');
          return health.counts.devicesBlessed > 0 ? health : null;
        },
        { timeoutMs: 60_000 },
      );
      expect(h.slots).toHaveLength(4);
      expect(h.slots.every((s) => s.connected)).toBe(true);

      // Faults on demand: pull slot 2's simulated cable; it goes offline and comes back.
      const post = (route: string, body: string): Promise<Response> => daemon.request(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect((await post('/api/sim/slots/2/faults', '{"kind":"unplug"}')).status).toBe(202);
      await waitFor('slot 2 to lose its cable', async () => (await daemon.api<Health>('/api/health')).slots[2]?.connected === false, { timeoutMs: 30_000, intervalMs: 10 });
      await waitFor('slot 2 to reconnect', async () => (await daemon.api<Health>('/api/health')).slots[2]?.connected === true, { timeoutMs: 30_000 });
      // Bad input gets a clear error and the server keeps serving.
      expect((await post('/api/sim/slots/2/faults', '{"kind":"fire"}')).status).toBe(400);
      expect((await post('/api/sim/slots/2/faults', '{"kind":')).status).toBe(400);
      expect((await post('/api/sim/slots/9/faults', '{"kind":"hang"}')).status).toBe(404);
      expect((await post('/api/sim/slots/2/faults', JSON.stringify({ kind: 'hang', pad: 'x'.repeat(5000) }))).status).toBe(413);
      const missing = await fetch(`${daemon.url}/api/nope?x=1`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: 'no such API route: GET /api/nope' });
    } finally {
      expect(await daemon.terminate()).toBe(0);
    }
  });

  it('refuses a second daemon on the same data folder, naming the running one', async () => {
    const cfg = shippedConfig();
    const config = Daemon.writeConfig(dir, { ...cfg, server: { host: '127.0.0.1', port: 0 }, storage: { dataDir: path.join(dir, 'shared-data') } }, 'two.json');
    const first = await new Daemon(config).start();
    try {
      const second = new Daemon(config).spawn();
      const code = await second.waitExit();
      expect(code).not.toBe(0);
      expect(second.stdout + second.stderr).toMatch(/data folder .*shared-data is in use by another station daemon \(pid \d+\)/);
      expect(first.running).toBe(true);
    } finally {
      await first.terminate();
    }
  });

  it('refuses an invalid configuration with one line per problem and exit code 2, starting nothing', async () => {
    const cfg = coreConfig() as Record<string, unknown> & { sequence: { steps: Record<string, unknown>[] } };
    const steps = cfg.sequence.steps.map((s) => ({ ...s }));
    (steps[1] as Record<string, unknown>).limit = { kind: 'range', low: 5, high: 1 };
    steps.splice(3, 0, { type: 'teleport', name: 'Beam me up' });
    const bad = {
      ...cfg,
      station: { id: 'bad id with spaces' },
      server: { port: 70000 },
      storage: { dataDir: path.join(dir, 'never-created') },
      slots: [{ dut: { kind: 'serial' } }],
      sequence: { ...cfg.sequence, steps },
    };
    const config = Daemon.writeConfig(dir, bad, 'bad.json');
    const daemon = new Daemon(config).spawn();
    expect(await daemon.waitExit()).toBe(2);
    const out = daemon.stderr;
    expect(out).toMatch(/station\.id: must be 1-64 letters/);
    expect(out).toMatch(/server\.port: .*65535/);
    expect(out).toMatch(/slots\[0\]\.dut\.path: /);
    expect(out).toMatch(/sequence\.steps\[3\]\.type: /);
    expect(() => readFileSync(path.join(dir, 'never-created', 'station.db'))).toThrow();

    // A sequence with an impossible limit is rejected at load, with its path.
    const onlyLimit = {
      ...cfg,
      server: { host: '127.0.0.1', port: 0 },
      storage: { dataDir: path.join(dir, 'never-created') },
      sequence: { ...cfg.sequence, steps: cfg.sequence.steps.map((s, i) => (i === 1 ? { ...s, limit: { kind: 'range', low: 5, high: 1 } } : s)) },
    };
    const second = new Daemon(Daemon.writeConfig(dir, onlyLimit, 'limit.json')).spawn();
    expect(await second.waitExit()).toBe(2);
    expect(second.stderr).toMatch(/sequence\.steps\[1\]\.limit\.low: low 5 is above high 1/);
  });

  it('refuses a config file that is not JSON, naming the file', async () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "station": ');
    const daemon = new Daemon(file).spawn();
    expect(await daemon.waitExit()).toBe(2);
    expect(daemon.stderr).toMatch(/broken\.json is invalid:\n\s+- not valid JSON/);
  });
});
