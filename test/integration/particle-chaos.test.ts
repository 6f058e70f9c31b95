// Chaos with the particle sink: a 32-slot simulated station of Argon units (a few Borons among
// them) blesses and fails units while the Particle API simulator (its own process, real HTTP)
// drops answers after applying them, answers 503, rate-limits, and the daemon is SIGKILLed at
// random moments. Afterwards every blessed unit is a product member once, its SIM activated
// once, claimed once, to the right owner; no dead letters; nothing else reached the cloud: no
// failed unit, and no unit of another platform (failed at identify), was ever named to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ParticleSimState } from '../../drivers/particle/simulator.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'chaos-particle-token-0123456789abcdef';
const CONTROL = 'chaos-particle-control-key';
const PRODUCT = 1234;
const ARGON = 12;
const MIN_RECORDS = 400;
const MIN_KILLS = 8;
/** Each injected fault hits this many requests. */
const FAULTS = 3;

class ParticleProcess {
  private proc: ChildProcess | null = null;
  url = '';
  private out = '';

  async start(): Promise<void> {
    this.proc = spawn(
      process.execPath,
      [path.join(PROJECT_ROOT, 'dist/drivers/particle/cli.js'), '--port', '0', '--product', String(PRODUCT), '--platform', String(ARGON), '--rate-limit', '150/1000', '--control'],
      { env: { ...process.env, PARTICLE_SIM_TOKEN: TOKEN, PARTICLE_SIM_CONTROL_KEY: CONTROL }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    const m = await waitFor('the Particle simulator to listen', () => /listening on (http:\/\/\S+)/.exec(this.out), { timeoutMs: 10_000, intervalMs: 20 });
    this.url = m[1] as string;
  }

  async control(route: string, body: object = {}): Promise<ParticleSimState> {
    const res = await fetch(`${this.url}/_control/${route}`, { method: 'POST', headers: { authorization: `Bearer ${CONTROL}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`control ${route}: HTTP ${res.status}`);
    return (await res.json()) as ParticleSimState;
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc?.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

interface OutboxRow {
  record_id: string;
  device_id: string;
  kind: string;
  payload: string;
}

function outbox(dbPath: string): OutboxRow[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare(`SELECT record_id, device_id, kind, payload FROM outbox`).all() as OutboxRow[];
  } finally {
    db.close();
  }
}

/** Devices failed at identify for being of another platform. */
function wrongPlatformDevices(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db.prepare(`SELECT DISTINCT device_id FROM runs WHERE status = 'failed' AND reason LIKE 'wrong device type%' AND device_id IS NOT NULL`).all() as { device_id: string }[];
    return rows.map((r) => r.device_id);
  } finally {
    db.close();
  }
}

function integrity(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe('particle sink chaos: SIGKILLs, lost answers, 503s and rate limits', () => {
  let dir: string;
  let particle: ParticleProcess;
  let daemon: Daemon;
  let drainOnly: Daemon;
  let dbPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-particle-chaos-'));
    dbPath = path.join(dir, 'data', 'station.db');
    particle = new ParticleProcess();
    await particle.start();
    const cfg = simulatedStationConfig({
      dataDir: path.join(dir, 'data'),
      slots: 32,
      extra: {
        uplink: {
          sinks: [{ kind: 'particle', product: PRODUCT, platformId: ARGON, apiUrl: particle.url, plasticSims: true, simBatchSize: 25, simConfirmMs: 60_000, claim: { mode: 'device' } }],
          batchMaxRecords: 50,
          batchMaxAgeMs: 100,
          requestTimeoutMs: 2000,
          backoffInitialMs: 50,
          backoffMaxMs: 800,
        },
      },
    }) as { simulation: Record<string, unknown>; sequence: { steps: Record<string, unknown>[] } };
    Object.assign(cfg.simulation, { handlingMs: 40, bootMs: 20, commandLatencyMs: 2, retestRate: 0.1, cellularRate: 0.5, platform: { otherRate: 0.05 } });
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 5 } : s.type === 'identify' ? { ...s, deviceIdHexLength: 24 } : s));
    const env = { PARTICLE_TOKEN: TOKEN };
    daemon = new Daemon(Daemon.writeConfig(dir, cfg), env);
    // The last start takes no units (slots wait for a start button), so the set of records is final.
    drainOnly = new Daemon(Daemon.writeConfig(dir, { ...cfg, line: { autoStart: 'manual', shutdownGraceMs: 2000 } }, 'drain.config.json'), env);
  });

  afterAll(async () => {
    await daemon?.kill9();
    await drainOnly?.kill9();
    await particle?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`every blessed unit ends a product member once, SIM activated once, claimed once, across ${MIN_KILLS}+ kills`, async () => {
    // Answers lost after the call was applied: the station must take "already" for done.
    for (const route of ['add-device', 'import-sims', 'get-sim', 'claim']) await particle.control('fault', { fault: { kind: 'commit-then-drop', route }, count: FAULTS });
    await particle.control('fault', { fault: { kind: 'status', status: 503 }, count: FAULTS });
    let kills = 0;
    let records = 0;
    for (let cycle = 0; cycle < 40 && (kills < MIN_KILLS || records < MIN_RECORDS); cycle++) {
      await daemon.start();
      // A random moment: mid-run, mid-batch, mid-call, whatever it happens to be doing.
      await new Promise((r) => setTimeout(r, 600 + Math.random() * 1400));
      await daemon.kill9();
      kills++;
      expect(integrity(dbPath), `integrity_check after kill ${kills}`).toBe('ok');
      records = outbox(dbPath).length;
    }
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(records).toBeGreaterThanOrEqual(MIN_RECORDS);

    await drainOnly.start();
    const health = await waitFor(
      'the outbox to drain',
      async () => {
        const h = (await (await fetch(`${drainOnly.url}/api/health`)).json()) as { uplink: { queued: number; deadLetters: number; sink: string } };
        return h.uplink.queued === 0 ? h : null;
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );
    expect(health.uplink.sink).toBe('particle');
    expect(health.uplink.deadLetters).toBe(0);
    await drainOnly.terminate();
    expect(integrity(dbPath)).toBe('ok');

    const rows = outbox(dbPath);
    const state = await particle.control('state');
    const blessed = new Map<string, string | null>();
    for (const r of rows) if (r.kind === 'blessed') blessed.set(r.device_id, (JSON.parse(r.payload) as { iccid: string | null }).iccid);
    const failedOnly = [...new Set(rows.filter((r) => r.kind === 'failed' && !blessed.has(r.device_id)).map((r) => r.device_id))];
    expect(blessed.size).toBeGreaterThan(0);
    expect(failedOnly.length).toBeGreaterThan(0);

    // Every blessed unit: a member once, claimed once to the product token's owner; its SIM active, activated once.
    expect(Object.keys(state.members).sort()).toEqual([...blessed.keys()].sort());
    for (const [deviceId, iccid] of blessed) {
      expect(state.membershipAdds[deviceId], `${deviceId} added once`).toBe(1);
      expect(state.claims[deviceId], `${deviceId} claimed once`).toBe(1);
      expect(state.owners[deviceId]).toBe('factory@example.com');
      if (iccid) expect([state.sims[iccid], state.activations[iccid]], `SIM ${iccid}`).toEqual(['active', 1]);
    }
    const iccids = [...blessed.values()].filter((i): i is string => i !== null);
    expect(iccids.length).toBeGreaterThan(0);
    expect(Object.keys(state.activations).sort()).toEqual([...new Set(iccids)].sort());

    // Nothing else reached the cloud: no failed unit, no unit of another platform.
    const seen = new Set(state.seenDeviceIds);
    expect(
      failedOnly.filter((d) => seen.has(d)),
      'failed units named to Particle',
    ).toEqual([]);
    const wrong = wrongPlatformDevices(dbPath);
    expect(wrong.length, 'units of another platform failed at identify').toBeGreaterThan(0);
    expect(
      wrong.filter((d) => seen.has(d)),
      'units of another platform named to Particle',
    ).toEqual([]);

    // The faults happened, and the station took them: lost answers asked again, 503s and 429s waited out.
    expect(state.faultsServed).toBe(5 * FAULTS);
    expect(state.rateLimited, 'answers 429 (over 150 calls a second)').toBeGreaterThan(0);
    expect(state.byRoute['add-device'] as number).toBeGreaterThan(blessed.size);
    // The token never reached a log line.
    expect(daemon.stdout + daemon.stderr + drainOnly.stdout + drainOnly.stderr).not.toContain(TOKEN);
  });
});
