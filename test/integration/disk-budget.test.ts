// The disk budget, fail closed: when the data folder's disk runs short (a small tmpfs, filled) or
// the folder reaches its configured budget, the station refuses new DUTs with a critical alarm,
// drops and overwrites nothing, and takes DUTs again by itself once space returns.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { folderBytes } from '../../jobs/disk-budget.js';
import { silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { deliverQueued, writeHistory } from '../support/records.js';
import { compileSmallSequence } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { state: string; reason: string | null }[];
  retention?: { enabled: boolean; days: number | null; state: string; lastPruned: { runs: number } | null; lastVacuumBytes: number | null; heldUndelivered: number | null };
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

  it('the data folder at its budget with old, delivered history: retention and a vacuum free it, and the line never stops', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-retention-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'data');
    const dbPath = path.join(dataDir, 'station.db');
    // A station's last months: 8,000 runs ended 30 days ago, every record delivered.
    const seeded = new Store(dataDir, silentLogger());
    seeded.open();
    const seq = compileSmallSequence();
    seeded.registerSequence(seq);
    for (let i = 0; i < 4; i++) await writeHistory(seeded, seq, 2000, { endedAt: Date.now() - 30 * 86_400_000 });
    deliverQueued(seeded);
    seeded.checkpoint();
    seeded.close();
    const seededMb = folderBytes(dataDir) / 1048576;
    expect(seededMb).toBeGreaterThan(8);
    const budgetMb = Math.floor(seededMb * 0.8);

    const daemon = new Daemon(Daemon.writeConfig(dir, stationConfig(dataDir, { budgetMb, minFreeMb: 0, retention: { days: 7, intervalMinutes: 1440 } })));
    cleanups.push(() => daemon.kill9());
    await daemon.start();
    const relieved = await waitFor(
      'retention to prune the old history and the folder to be under its budget',
      async () => {
        const h = await health(daemon);
        return h.retention?.lastPruned && h.retention.lastPruned.runs >= 8000 && h.disk.state !== 'full' ? h : null;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(relieved.retention).toMatchObject({ enabled: true, days: 7, state: 'idle', heldUndelivered: 0 });
    expect(relieved.retention?.lastVacuumBytes).toBeGreaterThan(0);
    const runsThen = finishedRuns(dbPath);
    await waitFor('more verdicts', () => finishedRuns(dbPath) >= runsThen + 8, { timeoutMs: 30_000 });
    const h = await health(daemon);
    expect(h.alarms.some((a) => a.alarmId === 'disk.full')).toBe(false);
    expect(h.slots.some((s) => s.state === 'refused')).toBe(false);
    // It never failed closed on the way: retention ran before the budget would have refused DUTs.
    expect(daemon.stdout).toContain('disk budget reached: running retention and a vacuum before refusing DUTs');
    expect(daemon.stdout).toContain('retention pass: history pruned');
    expect(daemon.stdout).not.toContain('disk budget reached: refusing new DUTs');
    await daemon.terminate();
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect((db.prepare(`SELECT count(*) AS n FROM devices`).get() as { n: number }).n).toBeGreaterThanOrEqual(8000);
    } finally {
      db.close();
    }
  });
});
