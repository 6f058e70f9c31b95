// Backups and restores against a running station (npm run backup / npm run restore, the real CLI):
// a backup taken while the simulated line blesses units holds every blessing committed before it
// began and passes its integrity check, and the line goes on; a destination that is missing,
// read-only, too small or fails mid-way gives a clear error, leaves nothing, and the station does
// not notice; a restore is refused while the station runs and for a file that is not a station
// database (nothing overwritten), and otherwise puts the backup back, keeping what it replaced.
// A database of the oldest layout, restored, is upgraded by the station and runs the line.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { BackupError, backupDatabase } from '../../station/store/backup.js';
import { MIGRATIONS } from '../../station/store/migrations.js';
import { FIXTURE_BLESSED } from '../fixtures/db/rows.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { copyDbFixture, dbFixtures } from '../support/db-fixtures.js';
import { waitFor } from '../support/wait.js';

const CLI = path.join(PROJECT_ROOT, 'dist/station/backup-cli.js');
const NEWEST = MIGRATIONS.at(-1)?.version ?? 0;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line (for the mount namespaces and limits some cases need). */
function sh(script: string, args: string[] = []): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** `unshare --mount`: the mounts a case makes live and die with its one command (root, or a user namespace). */
const UNSHARE = process.getuid?.() === 0 ? 'unshare --mount' : 'unshare --user --map-root-user --mount';

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function blessedIn(dbPath: string): Set<string> {
  const db = new Database(dbPath, { readonly: true });
  try {
    return new Set((db.prepare(`SELECT device_id FROM devices WHERE status = 'blessed'`).all() as { device_id: string }[]).map((r) => r.device_id));
  } finally {
    db.close();
  }
}

interface Health {
  counts: { blessed: number };
  alarms: { alarmId: string; severity: string }[];
  slots: { state: string }[];
}
const health = async (d: Daemon): Promise<Health> => (await (await fetch(`${d.url}/api/health`)).json()) as Health;

describe('backup and restore of a running station', () => {
  let dir: string;
  let dataDir: string;
  let dbPath: string;
  let configPath: string;
  let daemon: Daemon;
  let backupFile: string;
  let blessedInBackup: Set<string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-backup-'));
    dataDir = path.join(dir, 'data');
    dbPath = path.join(dataDir, 'station.db');
    // A station with a past: 150,000 earlier units (about 20 MB), so each copy takes a while and the
    // line commits meanwhile.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    copyDbFixture(dbFixtures().find((f) => f.version === NEWEST && f.source !== 'superseded layout') ?? (dbFixtures().at(-1) as never), dbPath);
    const past = new Database(dbPath);
    const insert = past.prepare(
      `INSERT INTO devices (device_id, mac, status, attempts, last_run_id, first_seen_at, updated_at, blessed_at, first_verdict) VALUES (?, ?, 'blessed', 1, NULL, ?, ?, ?, 'blessed')`,
    );
    past.transaction(() => {
      for (let i = 0; i < 150_000; i++) {
        const id = (0xa000000000000000n + BigInt(i)).toString(16);
        insert.run(id, id.slice(4), 1_700_000_000_000 + i, 1_700_000_000_000 + i, 1_700_000_000_000 + i);
      }
    })();
    past.close();
    const cfg = simulatedStationConfig({ dataDir, slots: 4 }) as { simulation: Record<string, unknown> };
    Object.assign(cfg.simulation, { handlingMs: 40, bootMs: 20 });
    configPath = Daemon.writeConfig(dir, cfg);
    daemon = new Daemon(configPath);
    await daemon.start();
    const pastBlessed = blessedIn(dbPath).size;
    await waitFor('20 blessings', () => blessedIn(dbPath).size >= pastBlessed + 20, { timeoutMs: 60_000, intervalMs: 100 });
  });

  afterAll(async () => {
    await daemon?.kill9();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes backups while the line blesses: each holds every blessing committed before it began, intact, and the line goes on', async () => {
    const backups = path.join(dir, 'backups');
    mkdirSync(backups);
    const alarmsBefore = (await health(daemon)).alarms.map((a) => a.alarmId); // the fixture's dead letter's
    for (let i = 0; i < 3; i++) {
      const before = blessedIn(dbPath); // committed before the backup begins
      const countBefore = (await health(daemon)).counts.blessed;
      // Backups are named by the second: let each have its own.
      const second = Math.floor(Date.now() / 1000);
      await waitFor('the next second', () => Math.floor(Date.now() / 1000) > second, { intervalMs: 20 });
      const r = await cli(['backup', '--config', configPath, `${backups}/`]);
      expect(r.code, r.stderr).toBe(0);
      const file = /to (\S+station-\d{8}-\d{6}\.db)/.exec(r.stdout)?.[1] as string;
      expect(r.stdout).toContain('integrity check ok');
      process.stdout.write(`backup ${i}: ${r.stdout.split('\n')[1]?.trim()}\n`);
      expect(r.stdout).toMatch(/schema \d+: \d+ devices \(\d+ blessed\)/);
      const copy = new Database(file, { readonly: true });
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        expect(copy.pragma('journal_mode', { simple: true })).toBe('delete'); // one file, nothing beside it
        expect(copy.pragma('user_version', { simple: true })).toBe(NEWEST);
        const inCopy = new Set((copy.prepare(`SELECT device_id FROM devices WHERE status = 'blessed'`).all() as { device_id: string }[]).map((x) => x.device_id));
        for (const id of before) expect(inCopy.has(id), `blessed device ${id} missing from backup ${i}`).toBe(true);
        // Each blessing's cloud record came with it (same transaction).
        const records = copy
          .prepare(`SELECT count(*) AS n FROM devices d WHERE d.status = 'blessed' AND d.last_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.run_id = d.last_run_id)`)
          .get();
        expect(records).toEqual({ n: 0 });
        blessedInBackup = inCopy;
      } finally {
        copy.close();
      }
      backupFile = file;
      // The line did not stop: more blessings after the backup, no alarm.
      await waitFor('blessings after the backup', async () => (await health(daemon)).counts.blessed > countBefore + 2, { timeoutMs: 30_000, intervalMs: 100 });
    }
    expect(readdirSync(backups).filter((n) => n.startsWith('.'))).toEqual([]); // no temporary files left
    expect((await health(daemon)).alarms.map((a) => a.alarmId)).toEqual(alarmsBefore);
    // --keep: the newest N stay, older ones go.
    const kept = await cli(['backup', '--config', configPath, '--keep', '2', `${backups}/`]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/removed the older backup/);
    expect(readdirSync(backups).filter((n) => /^station-\d{8}-\d{6}\.db$/.test(n)).length).toBe(2);
    expect(existsSync(backupFile)).toBe(true); // the newest of the three, kept
  });

  it('a destination that is missing, read-only, too small or fails mid-way: a clear error, nothing left, the station unaffected', async () => {
    const countBefore = (await health(daemon)).counts.blessed;
    const alarmsBefore = (await health(daemon)).alarms.map((a) => a.alarmId);

    const missing = await cli(['backup', '--data', dataDir, path.join(dir, 'no-such-folder', 'x.db')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`the folder ${path.join(dir, 'no-such-folder')} does not exist`);

    // A read-only file system (a read-only bind mount, in a mount namespace of its own).
    const ro = path.join(dir, 'ro');
    mkdirSync(ro);
    const readOnly = await sh(`${UNSHARE} sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" backup --data "$4" "$1/copy.db"' sh "$@"`, [
      ro,
      process.execPath,
      CLI,
      dataDir,
    ]);
    expect(readOnly.code, readOnly.stderr).toBe(1);
    expect(readOnly.stderr).toContain(`cannot write the backup: cannot write in ${ro}: its file system is read-only`);
    expect(readdirSync(ro)).toEqual([]);

    // Too small: a 2 MB tmpfs for a database of more than that (a little data written to be sure).
    const small = path.join(dir, 'small');
    mkdirSync(small);
    const tooSmall = await sh(`${UNSHARE} sh -c 'mount -t tmpfs -o size=2m tmpfs "$1" && "$2" "$3" backup --data "$4" "$1/copy.db"; rc=$?; echo "left: $(ls -A "$1")"; exit $rc' sh "$@"`, [
      small,
      process.execPath,
      CLI,
      dataDir,
    ]);
    expect(tooSmall.code, tooSmall.stderr).toBe(1);
    expect(tooSmall.stderr).toMatch(new RegExp(`not enough space for the backup in ${small}: the database is [\\d.]+ MB and [\\d.]+ MB is free there .*nothing was written`));
    expect(tooSmall.stdout.trim()).toBe('left:');

    // Fails mid-way: the kernel refuses the copy's writes past 32 KB (a file-size limit: EFBIG
    // part-way through SQLite's copy of a database of more than 100 KB).
    const cut = path.join(dir, 'cut');
    mkdirSync(cut);
    const midway = await sh(`ulimit -f 64 && exec "$1" "$2" backup --data "$3" "$4/copy.db"`, [process.execPath, CLI, dataDir, cut]);
    expect(midway.code, midway.stderr).toBe(1);
    expect(midway.stderr).toContain(`backup: the backup to ${path.join(cut, 'copy.db')} failed, nothing was kept: the file system refused a write in ${cut}`);
    expect(readdirSync(cut)).toEqual([]);

    // The station did not notice: still blessing, no alarm.
    await waitFor('blessings after the failed backups', async () => (await health(daemon)).counts.blessed > countBefore + 2, { timeoutMs: 30_000, intervalMs: 100 });
    expect((await health(daemon)).alarms.map((a) => a.alarmId)).toEqual(alarmsBefore);
  });

  it('a restore is refused while the station runs, and for files that are not station databases, with nothing overwritten', async () => {
    const running = await cli(['restore', '--config', configPath, backupFile]);
    expect(running.code).toBe(1);
    expect(running.stderr).toMatch(new RegExp(`refused: a station is running on ${dataDir} \\(pid \\d+\\); stop it first`));
    expect(daemon.running).toBe(true);

    await daemon.terminate();
    const hash = sha256(dbPath);
    const files = readdirSync(dataDir).sort();
    const bad = path.join(dir, 'bad');
    mkdirSync(bad);
    const notSqlite = path.join(bad, 'notes.txt');
    writeFileSync(notSqlite, 'shift notes: nest 3 sticky\n'.repeat(50));
    const empty = path.join(bad, 'empty.db');
    writeFileSync(empty, '');
    const otherApp = path.join(bad, 'other.db');
    const o = new Database(otherApp);
    o.exec(`CREATE TABLE songs (title TEXT); INSERT INTO songs VALUES ('x')`);
    o.pragma('user_version = 3');
    o.close();
    const newer = path.join(bad, 'newer.db');
    copyFileSync(backupFile, newer);
    const n = new Database(newer);
    n.pragma(`user_version = ${NEWEST + 1}`);
    n.close();
    // Damaged: one of its pages overwritten with garbage (the header and schema intact).
    const damaged = path.join(bad, 'damaged.db');
    const bytes = readFileSync(backupFile);
    bytes.fill(0xa5, 4096 * 3, 4096 * 3 + 2048);
    writeFileSync(damaged, bytes);
    // A live database (its WAL beside it), not a backup.
    const live = path.join(bad, 'live.db');
    copyFileSync(backupFile, live);
    writeFileSync(`${live}-wal`, Buffer.alloc(4096, 1));
    const cases: [string, RegExp][] = [
      [damaged, /damaged\.db (is damaged \(integrity check: .+\)|cannot be read as a station database \(.+\)); nothing was changed/],
      [live, /live\.db has a write-ahead log beside it .*restore a file made by `npm run backup`; nothing was changed/],
      [notSqlite, /is not a SQLite database, so not a BlinkUp Station database; nothing was changed/],
      [empty, /is empty, not a BlinkUp Station database; nothing was changed/],
      [otherApp, /is a SQLite database but not a BlinkUp Station database \(no sequences, devices, runs, step_results, measurements, outbox, token_ledger, token_events table\); nothing was changed/],
      [newer, new RegExp(`made by a newer version of BlinkUp Station \\(schema ${NEWEST + 1}\\); this one knows up to ${NEWEST}`)],
      [path.join(bad, 'absent.db'), /does not exist; nothing was changed/],
    ];
    for (const [file, message] of cases) {
      const r = await cli(['restore', '--data', dataDir, file]);
      expect(r.code, `${file}: ${r.stdout}`).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(sha256(dbPath), file).toBe(hash);
      expect(readdirSync(dataDir).sort(), file).toEqual(files);
    }
  });

  it('restores a backup into the stopped station, keeping what it replaced, and the station runs on it', async () => {
    const oldHash = sha256(dbPath);
    const r = await cli(['restore', '--config', configPath, backupFile]);
    expect(r.code, r.stderr).toBe(0);
    const kept = /kept as (\S+before-restore-\d{8}-\d{6})/.exec(r.stdout)?.[1] as string;
    expect(sha256(kept)).toBe(oldHash); // the station stopped cleanly: nothing to fold in, byte for byte
    expect(sha256(dbPath)).toBe(sha256(backupFile));
    expect(readdirSync(dataDir).filter((f) => /station\.db-(wal|shm)$/.test(f))).toEqual([]);

    await daemon.start();
    const live = blessedIn(dbPath);
    for (const id of blessedInBackup) expect(live.has(id), id).toBe(true);
    // The station serves them: a unit the line blessed before the backup, through the API.
    const copy = new Database(backupFile, { readonly: true });
    const unit = copy.prepare(`SELECT device_id, last_run_id FROM devices WHERE status = 'blessed' AND last_run_id IS NOT NULL AND device_id NOT LIKE 'fb%' LIMIT 1`).get() as {
      device_id: string;
      last_run_id: string;
    };
    copy.close();
    const history = await daemon.api<{ device: { status: string; runId: string } }>(`/api/devices/${unit.device_id}/history`);
    expect(history.device).toMatchObject({ status: 'blessed', runId: unit.last_run_id });
    const countNow = (await health(daemon)).counts.blessed;
    await waitFor('blessings on the restored database', async () => (await health(daemon)).counts.blessed > countNow, { timeoutMs: 30_000, intervalMs: 100 });
    await daemon.terminate();
  });

  it('restores a database of the oldest layout: the station upgrades it at start and runs the line on it', async () => {
    const oldest = dbFixtures().find((f) => f.file === 'schema-v1-1f645f6.db.gz') ?? dbFixtures().find((f) => f.version === 1);
    if (!oldest) throw new Error('no schema-1 fixture');
    const file = path.join(dir, 'oldest.db');
    copyDbFixture(oldest, file);
    const r = await cli(['restore', '--data', dataDir, file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`schema 1: 4 devices (1 blessed), 5 runs, 3 cloud records; the station upgrades it to schema ${NEWEST} at its next start`);
    await daemon.start();
    const history = await daemon.api<{ device: { status: string }; runs: { runId: string; status: string }[] }>(`/api/devices/${FIXTURE_BLESSED.deviceId}/history`);
    expect(history.device.status).toBe('blessed');
    expect(history.runs.map((x) => x.runId)).toContain(FIXTURE_BLESSED.runId);
    await waitFor('blessings on the upgraded database', () => blessedIn(dbPath).size > 1, { timeoutMs: 30_000, intervalMs: 100 });
    await daemon.terminate();
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(NEWEST);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });
});

describe('a backup whose disk fills up while it copies', () => {
  it('stops with "no space left", removes its partial file, and leaves the database as it was', async () => {
    expect(process.getuid?.(), 'the tmpfs test runs as root (npm test installs packages as root too)').toBe(0);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'station-backup-full-'));
    const mnt = path.join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mnt]);
    try {
      // A database of about 3 MB: the space check (3 MB and a 4 MB margin) passes on 12 MB.
      const dataDir = path.join(dir, 'data');
      mkdirSync(dataDir);
      const dbPath = path.join(dataDir, 'station.db');
      copyDbFixture(dbFixtures().find((f) => f.version === 1 && f.source !== 'superseded layout') as never, dbPath);
      const db = new Database(dbPath);
      db.exec(`CREATE TABLE ballast (x BLOB)`);
      const insert = db.prepare(`INSERT INTO ballast VALUES (randomblob(4000))`);
      db.transaction(() => {
        for (let i = 0; i < 750; i++) insert.run();
      })();
      db.close();
      const hash = sha256(dbPath);
      // Something else fills the disk after the check, before the copy: 1 MB is left.
      const fill = (): void => {
        const fs = statfsSync(mnt);
        writeFileSync(path.join(mnt, 'filler.bin'), Buffer.alloc(Number(fs.bavail) * Number(fs.bsize) - 1048576));
      };
      const err = await backupDatabase({ dataDir, dest: path.join(mnt, 'copy.db'), beforeCopy: fill }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BackupError);
      expect((err as Error).message).toMatch(new RegExp(`the backup to ${mnt}/copy.db failed, nothing was kept: no space left on the file system of ${mnt} \\(the copy needs about 3\\.\\d MB`));
      expect(readdirSync(mnt)).toEqual(['filler.bin']);
      expect(sha256(dbPath)).toBe(hash);
    } finally {
      execFileSync('umount', ['-l', mnt]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
