// Chaos: a 32-slot simulated station blesses and fails thousands of DUTs while the ingest (its own
// process, real HTTP) flaps up and down and the daemon is SIGKILLed at random moments. Afterwards
// every record the station committed is in the ingest exactly once (none missing, none extra), every
// batch sent again was the same bytes under the same batchId, and the database passes
// integrity_check after every kill.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { IngestStats } from '../../drivers/cloud/ingest.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const KEY = 'chaos-api-key-0123456789';
const SECRET = 'chaos-hmac-secret-0123456789abcdef';
const MIN_RECORDS = 2000;
const MIN_KILLS = 10;
/** Each injected fault (commit-then-drop, 503) hits this many batch requests. */
const FAULTS = 4;

class IngestProcess {
  private proc: ChildProcess | null = null;
  url = '';
  private out = '';

  constructor(private readonly dbPath: string) {}

  async start(): Promise<void> {
    this.proc = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/drivers/cloud/cli.js'), '--port', '0', '--db', this.dbPath, '--control'], {
      env: { ...process.env, INGEST_API_KEY: KEY, INGEST_HMAC_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    this.proc.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    const m = await waitFor('the ingest to listen', () => /listening on (http:\/\/\S+)/.exec(this.out), { timeoutMs: 10_000, intervalMs: 20 });
    this.url = m[1] as string;
  }

  /** Control calls go to the same port, which is closed while the ingest is "down": retry until it answers. */
  async control(route: string, body: object = {}): Promise<IngestStats> {
    return waitFor(
      `ingest control ${route}`,
      async () => {
        const res = await fetch(`${this.url}/_control/${route}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        return (await res.json()) as IngestStats;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  async stop(): Promise<void> {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc?.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
  }
}

function stationRecordIds(dbPath: string): { all: string[]; blessed: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const rows = db.prepare(`SELECT record_id, kind FROM outbox`).all() as { record_id: string; kind: string }[];
    return { all: rows.map((r) => r.record_id), blessed: rows.filter((r) => r.kind === 'blessed').length };
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

describe('uplink chaos: SIGKILLs and a flapping ingest', () => {
  let dir: string;
  let ingest: IngestProcess;
  let daemon: Daemon;
  let drainOnly: Daemon;
  let dbPath: string;
  let ingestDb: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-chaos-'));
    dbPath = path.join(dir, 'data', 'station.db');
    ingestDb = path.join(dir, 'ingest', 'ingest.db');
    ingest = new IngestProcess(ingestDb);
    await ingest.start();
    const cfg = simulatedStationConfig({
      dataDir: path.join(dir, 'data'),
      slots: 32,
      extra: {
        uplink: { url: ingest.url, apiKey: KEY, hmacSecret: SECRET, batchMaxRecords: 100, batchMaxAgeMs: 100, requestTimeoutMs: 2000, backoffInitialMs: 50, backoffMaxMs: 800 },
      },
    }) as { simulation: Record<string, unknown>; sequence: { steps: Record<string, unknown>[] } };
    Object.assign(cfg.simulation, { handlingMs: 40, bootMs: 20, commandLatencyMs: 2, retestRate: 0.1 });
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 5 } : s));
    daemon = new Daemon(Daemon.writeConfig(dir, cfg));
    // The last start takes no DUTs (slots wait for a start button), so the set of records is final.
    drainOnly = new Daemon(Daemon.writeConfig(dir, { ...cfg, line: { autoStart: 'manual', shutdownGraceMs: 2000 } }, 'drain.config.json'));
  });

  afterAll(async () => {
    await daemon?.kill9();
    await drainOnly?.kill9();
    await ingest?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`every committed record reaches the ingest exactly once across ${MIN_KILLS}+ kills and ${MIN_RECORDS}+ DUTs`, async () => {
    // Besides the flapping: batches the ingest stores and then drops the answer of, and batches it
    // reads whole and answers 503. Each of those is certainly sent again (whatever the kills do),
    // and the ingest compares the retry's bytes with the first send's.
    await ingest.control('fault', { fault: { kind: 'commit-then-drop' }, count: FAULTS });
    await ingest.control('fault', { fault: { kind: 'status', status: 503 }, count: FAULTS });
    await ingest.control('flap', { upMs: 700, downMs: 500 });
    let kills = 0;
    let records = 0;
    for (let cycle = 0; cycle < 40 && (kills < MIN_KILLS || records < MIN_RECORDS); cycle++) {
      await daemon.start();
      // A random moment: mid-run, mid-batch, mid-commit, whatever it happens to be doing.
      await new Promise((r) => setTimeout(r, 800 + Math.random() * 2200));
      await daemon.kill9();
      kills++;
      expect(integrity(dbPath), `integrity_check after kill ${kills}`).toBe('ok');
      records = stationRecordIds(dbPath).all.length;
    }
    expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(records).toBeGreaterThanOrEqual(MIN_RECORDS);

    // The ingest steadies; one last start, taking no DUTs, drains everything.
    await ingest.control('flap', {});
    const daemonRecords = stationRecordIds(dbPath).all.length;
    await drainOnly.start();
    const health = await waitFor(
      'the outbox to drain',
      async () => {
        const h = (await (await fetch(`${drainOnly.url}/api/health`)).json()) as { uplink: { queued: number; deadLetters: number; state: string } };
        return h.uplink.queued === 0 ? h : null;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(health.uplink.deadLetters).toBe(0);
    await drainOnly.terminate();
    expect(stationRecordIds(dbPath).all.length).toBe(daemonRecords);
    expect(integrity(dbPath)).toBe('ok');

    const station = stationRecordIds(dbPath);
    const stats = await ingest.control('stats');
    const idb = new Database(ingestDb, { readonly: true });
    let stored: string[];
    try {
      stored = (idb.prepare(`SELECT record_id FROM records`).all() as { record_id: string }[]).map((r) => r.record_id);
    } finally {
      idb.close();
    }
    expect(new Set(stored).size).toBe(stored.length);
    const inStation = new Set(station.all);
    const missing = station.all.filter((id) => !new Set(stored).has(id));
    const extra = stored.filter((id) => !inStation.has(id));
    expect(missing, 'records committed at the station but not in the ingest').toEqual([]);
    expect(extra, 'records in the ingest the station never committed').toEqual([]);
    expect(stored.length).toBe(station.all.length);
    expect(station.blessed).toBeGreaterThan(0);
    // The flapping and kills did make the station send batches again; the ingest stored them once,
    // and every batch sent again under its batchId was the same bytes as its first send.
    expect(stats.records).toBe(station.all.length);
    expect(stats.stored, 'deliveries that stored a row').toBe(station.all.length);
    expect(stats.deliveries).toBeGreaterThanOrEqual(station.all.length);
    expect(stats.mismatchedRetries, 'batches sent again with other bytes under the same batchId').toBe(0);
    expect(stats.faultsServed).toBe(2 * FAULTS);
    expect(stats.repeatedBatches, 'batches sent again after the ingest had read them whole').toBeGreaterThanOrEqual(1);
    // The committed-then-dropped batches came again: delivered twice, stored once.
    expect(stats.duplicates).toBeGreaterThan(0);
    expect(stats.deliveries).toBeGreaterThan(stats.stored);
  });
});
