// The disk budget, fail closed: when the data folder's disk runs short (a small tmpfs, filled) or
// the folder reaches its configured budget, the station refuses new DUTs with a critical alarm,
// drops and overwrites nothing, and takes DUTs again by itself once space returns.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { state: string; reason: string | null }[];
  alarms: { alarmId: string; severity: string; message: string }[];
  disk: { state: string; usedMb: number; freeMb: number };
  counts: { blessed: number; failed: number; running: number };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function health(d: Daemon): Promise<Health> {
  return (await (await fetch(`${d.url}/api/health`)).json()) as Health;
}

function finishedRuns(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM runs WHERE status IN ('blessed','failed')`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function outboxCount(dbPath: string): number {
  const db = new Database(dbPath, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM outbox`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function stationConfig(dataDir: string, storage: Record<string, unknown>): Record<string, unknown> {
  const cfg = simulatedStationConfig({ dataDir, slots: 4 }) as { storage: Record<string, unknown>; simulation: Record<string, unknown> };
  cfg.storage = { dataDir, checkIntervalMs: 100, ...storage };
  Object.assign(cfg.simulation, { handlingMs: 50, bootMs: 20 });
  return cfg;
}

/** Waits until the station refuses DUTs on every slot with the disk alarm up, and nothing runs. */
async function refusing(d: Daemon): Promise<Health> {
  return waitFor(
    'every slot to refuse DUTs with the disk alarm',
    async () => {
      const h = await health(d);
      const alarm = h.alarms.find((a) => a.alarmId === 'disk.full');
      return alarm && h.slots.every((s) => s.state === 'refused') && h.counts.running === 0 ? h : null;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

async function takingDutsAgain(d: Daemon, dbPath: string, after: number): Promise<Health> {
  return waitFor(
    'the station to take DUTs again',
    async () => {
      const h = await health(d);
      return !h.alarms.some((a) => a.alarmId === 'disk.full') && finishedRuns(dbPath) > after ? h : null;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

describe('disk budget: fail closed, recover by itself', () => {
  it('a full disk (a 24 MB tmpfs, filled): refuses new DUTs with a critical alarm, loses nothing, resumes when space returns', async () => {
    expect(process.getuid?.(), 'the tmpfs test runs as root (npm test installs packages as root too)').toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-diskfull-'));
    const mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
    cleanups.push(() => {
      execFileSync('umount', ['-l', mnt]);
      rmSync(dir, { recursive: true, force: true });
    });
    const dataDir = path.join(mnt, 'data');
    const dbPath = path.join(dataDir, 'station.db');
    const daemon = new Daemon(Daemon.writeConfig(dir, stationConfig(dataDir, { minFreeMb: 6 })));
    cleanups.push(() => daemon.kill9());
    await daemon.start();
    await waitFor('a few verdicts', () => finishedRuns(dbPath) >= 4, { timeoutMs: 30_000 });

    // Fill the disk to 3 MB short of the floor: below minFreeMb, above what runs in flight need.
    const filler = path.join(mnt, 'filler.bin');
    const fs = statfsSync(mnt);
    const free = Number(fs.bavail) * Number(fs.bsize);
    writeFileSync(filler, Buffer.alloc(Math.max(0, free - 3 * 1048576)));
    const full = await refusing(daemon);
    expect(full.alarms.find((a) => a.alarmId === 'disk.full')?.severity).toBe('critical');
    expect(full.slots[0]?.reason).toContain('disk budget reached');
    expect(full.disk.state).toBe('full');
    const runsWhenFull = finishedRuns(dbPath);
    const recordsWhenFull = outboxCount(dbPath);
    // Refusing holds: the simulated nests keep offering DUTs and none is taken.
    const again = await health(daemon);
    expect(again.slots.every((s) => s.state === 'refused')).toBe(true);
    expect(finishedRuns(dbPath)).toBe(runsWhenFull);

    rmSync(filler);
    await takingDutsAgain(daemon, dbPath, runsWhenFull);
    expect(outboxCount(dbPath)).toBeGreaterThanOrEqual(recordsWhenFull);
    await daemon.terminate();
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('the data folder at its budget: a warning at 80 %, refusal at 100 %, and DUTs again once under it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-budget-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'data');
    const dbPath = path.join(dataDir, 'station.db');
    const daemon = new Daemon(Daemon.writeConfig(dir, stationConfig(dataDir, { budgetMb: 40, minFreeMb: 0 })));
    cleanups.push(() => daemon.kill9());
    await daemon.start();
    await waitFor('a verdict', () => finishedRuns(dbPath) >= 1, { timeoutMs: 30_000 });
    // Something else in the data folder (an export, say) takes it to 85 %, then past the budget.
    const filler = path.join(dataDir, 'export-filler.bin');
    writeFileSync(filler, Buffer.alloc(34 * 1048576));
    const warned = await waitFor('the 80 % warning', async () => {
      const h = await health(daemon);
      return h.alarms.find((a) => a.alarmId === 'disk.warning') ? h : null;
    });
    expect(warned.disk.state).toBe('warning');
    writeFileSync(filler, Buffer.alloc(41 * 1048576));
    await refusing(daemon);
    const runsWhenFull = finishedRuns(dbPath);
    rmSync(filler);
    const h = await takingDutsAgain(daemon, dbPath, runsWhenFull);
    expect(h.disk.state).toBe('ok');
    expect(h.alarms.some((a) => a.alarmId === 'disk.warning')).toBe(false);
  });
});
