// The disk under a running station fails (issue 17: under a simulated power loss at a WAL fsync the
// daemon died of an uncaught SqliteError from the uplink's status timer). The real daemon, with
// its line running and its uplink draining, meets (1) a file system gone: every SQLite call throws
// SQLITE_IOERR_FSYNC from a chosen moment (better-sqlite3 patched by a preload,
// test/support/sqlite-faults.ts); (2) a real full disk: a small tmpfs, filled. Each time the station
// fails closed: the daemon lives, /api/health answers 503 with the fault, every slot refuses DUTs
// with the critical alarm store.fault, and every blessing the station told of is in the database.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { daemonFaultEnv } from '../support/sqlite-faults.js';
import { waitFor } from '../support/wait.js';

interface Health {
  store: { state: 'ok' } | { state: 'fault'; code: string; message: string; since: string };
  slots: { state: string; reason: string | null }[];
  alarms: { alarmId: string; severity: string; message: string }[];
  counts: { blessed: number; running: number } | null;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function health(d: Daemon): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${d.url}/api/health`);
  return { status: res.status, body: (await res.json()) as Health };
}

function stationConfig(dataDir: string, uplinkDir: string): Record<string, unknown> {
  const cfg = simulatedStationConfig({ dataDir, slots: 4 }) as Record<string, unknown> & { simulation: Record<string, unknown> };
  // No floor: the disk budget must not stop the line before SQLite meets the full disk.
  cfg.storage = { dataDir, minFreeMb: 0, checkIntervalMs: 100 };
  // The uplink drains to files (outside the data folder): its status timer counts the outbox.
  cfg.uplink = { sink: 'file', dir: uplinkDir, batchMaxAgeMs: 100, batchMaxRecords: 20 };
  Object.assign(cfg.simulation, { handlingMs: 50, bootMs: 20 });
  return cfg;
}

/** The runs the daemon logged as blessed ('run finished' comes after the verdict's commit). */
function blessingsTold(d: Daemon): string[] {
  const ids: string[] = [];
  for (const line of d.stdout.split('\n')) {
    if (!line.includes('"run finished"')) continue;
    const entry = JSON.parse(line) as { verdict?: string; runId?: string };
    if (entry.verdict === 'blessed' && entry.runId) ids.push(entry.runId);
  }
  return ids;
}

function blessedInDatabase(dbPath: string, runIds: string[]): { missing: string[]; integrity: string } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const blessed = db.prepare(`SELECT r.status, d.blessed_at, o.record_id FROM runs r JOIN devices d ON d.device_id = r.device_id JOIN outbox o ON o.run_id = r.run_id WHERE r.run_id = ?`);
    const missing = runIds.filter((id) => {
      const row = blessed.get(id) as { status: string; blessed_at: number | null; record_id: string } | undefined;
      return !(row?.status === 'blessed' && row.blessed_at !== null);
    });
    return { missing, integrity: db.pragma('integrity_check', { simple: true }) as string };
  } finally {
    db.close();
  }
}

/** Waits until the station has failed closed with `code`: health 503 naming it, store.fault up, every slot refusing. */
async function failedClosed(d: Daemon, code: RegExp): Promise<Health> {
  return waitFor(
    'health 503 with the store fault, and every slot refusing DUTs',
    async () => {
      const h = await health(d);
      const alarm = h.body.alarms.find((a) => a.alarmId === 'store.fault');
      const fault = h.body.store.state === 'fault' && code.test(h.body.store.code);
      return h.status === 503 && fault && alarm?.severity === 'critical' && h.body.slots.every((s) => s.state === 'refused') ? h.body : null;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}

describe('a disk that fails under the running station', () => {
  it('the file system gone at a WAL fsync (SQLITE_IOERR_FSYNC everywhere): the daemon lives and fails closed; every blessing told of is stored', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-ioerr-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, 'data');
    const daemon = new Daemon(Daemon.writeConfig(dir, stationConfig(dataDir, path.join(dir, 'uplink'))), daemonFaultEnv('SQLITE_IOERR_FSYNC'));
    cleanups.push(() => daemon.kill9());
    await daemon.start();
    const uplinkDir = path.join(dir, 'uplink');
    await waitFor('a few blessings, and the uplink draining them', () => blessingsTold(daemon).length >= 8 && existsSync(uplinkDir) && readdirSync(uplinkDir).some((f) => f.endsWith('.ndjson')), {
      timeoutMs: 30_000,
    });

    daemon.signal('SIGUSR2'); // from now on every SQLite call fails
    const h = await failedClosed(daemon, /^SQLITE_IOERR_FSYNC$/);
    expect(h.slots[0]?.reason).toContain('store fault (SQLITE_IOERR_FSYNC');
    // The uplink's status timer meets the failed store (the daemon died of this) and the daemon lives on.
    await waitFor('the uplink status timer to meet the fault', () => daemon.stdout.includes('the uplink status refresh met the store fault'), { timeoutMs: 10_000 });
    expect((await health(daemon)).status).toBe(503);
    expect(daemon.running).toBe(true);
    const told = blessingsTold(daemon);

    await daemon.kill9(); // the power goes for good
    const { missing, integrity } = blessedInDatabase(path.join(dataDir, 'station.db'), told);
    expect(missing, 'blessings told of but not stored').toEqual([]);
    expect(integrity).toBe('ok');
  });

  it('a full disk (a tmpfs filled to the last byte): SQLITE_FULL fails the station closed; after space is freed a restart takes DUTs again and nothing told of is lost', async () => {
    expect(process.getuid?.(), 'the tmpfs test runs as root (npm test installs packages as root too)').toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-enospc-'));
    const mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
    cleanups.push(() => {
      execFileSync('umount', ['-l', mnt]);
      rmSync(dir, { recursive: true, force: true });
    });
    const dataDir = path.join(mnt, 'data');
    const dbPath = path.join(dataDir, 'station.db');
    const daemon = new Daemon(Daemon.writeConfig(dir, stationConfig(dataDir, path.join(dir, 'uplink'))));
    cleanups.push(() => daemon.kill9());
    await daemon.start();
    await waitFor('a few blessings', () => blessingsTold(daemon).length >= 8, { timeoutMs: 30_000 });

    const filler = path.join(mnt, 'filler.bin');
    fillToTheLastByte(filler);
    const h = await failedClosed(daemon, /^SQLITE_FULL$/);
    expect(h.alarms.find((a) => a.alarmId === 'store.fault')?.message).toContain(dataDir);
    expect(daemon.running).toBe(true);
    const told = blessingsTold(daemon);

    // Someone frees space and restarts the station: it takes DUTs again, and every blessing it
    // told of before is there.
    rmSync(filler);
    await daemon.terminate();
    expect(blessedInDatabase(dbPath, told)).toEqual({ missing: [], integrity: 'ok' });
    await daemon.start();
    await waitFor('new blessings after the restart', () => blessingsTold(daemon).length >= 2, { timeoutMs: 30_000 });
    const after = await health(daemon);
    expect(after.status).toBe(200);
    expect(after.body.store).toEqual({ state: 'ok' });
  });
});

/** Writes to `file` until its file system has no byte left (ENOSPC). */
function fillToTheLastByte(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1048576, 65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          if (writeSync(fd, chunk) < size) break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}
