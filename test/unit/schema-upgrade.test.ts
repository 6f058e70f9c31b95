// Upgrades: a database of every past schema version (the committed fixtures, made from git history
// by test/fixtures/db/make-fixtures.ts) migrates to today with its rows all there; a database from
// a newer station is refused and left byte for byte; a failed migration rolls the whole upgrade back.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../station/log.js';
import { MIGRATIONS, type Migration } from '../../station/store/migrations.js';
import { migrateSchema, SchemaError } from '../../station/store/schema.js';
import { Store, type DeviceRow } from '../../station/store/store.js';
import { FIXTURE_BLESSED, FIXTURE_OPEN_RUN, FIXTURE_ROWS } from '../fixtures/db/rows.js';
import { copyDbFixture, DB_FIXTURE_DIR, dbFixtures } from '../support/db-fixtures.js';

const NEWEST = MIGRATIONS.at(-1)?.version ?? 0;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'station-upgrade-'));
  dirs.push(dir);
  return dir;
}

/** A logger whose lines the test reads. */
function capturedLogger(): { log: ReturnType<typeof createLogger>['log']; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ level: 'info', destination }).log, lines };
}

type SchemaRow = { type: string; name: string; tbl_name: string; sql: string | null };
const schemaOf = (db: Database.Database): SchemaRow[] => db.prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name`).all() as SchemaRow[];
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function freshSchema(): SchemaRow[] {
  const db = new Database(':memory:');
  try {
    for (const m of MIGRATIONS) db.exec(m.sql);
    return schemaOf(db);
  } finally {
    db.close();
  }
}

/** Row counts of the fixture's tables, read before the upgrade (a table absent at its version: none). */
function fixtureCounts(file: string): Map<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const counts = new Map<string, number>();
    for (const table of Object.keys(FIXTURE_ROWS)) {
      if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table)) continue;
      counts.set(table, (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    }
    return counts;
  } finally {
    db.close();
  }
}

describe('database fixtures of every past schema version', () => {
  const fixtures = dbFixtures();

  it(`there is one for every version before today's (${NEWEST}), made from the git history`, () => {
    for (let v = 1; v < NEWEST; v++) {
      const f = fixtures.find((x) => x.version === v && x.source !== 'superseded layout');
      expect(f, `no fixture of schema ${v}: run \`npm run fixtures:db\` (migration ${v + 1} must be committed first)`).toBeDefined();
      expect(f?.commit).toMatch(/^[0-9a-f]{40}$/);
    }
    for (const f of fixtures) expect(existsSync(path.join(DB_FIXTURE_DIR, f.file)), f.file).toBe(true);
  });

  for (const fixture of fixtures) {
    it(`${fixture.file} (schema ${fixture.version} as of ${fixture.commit.slice(0, 7)}, ${fixture.source}) migrates to today with every row`, () => {
      const dataDir = tempDataDir();
      const dbPath = path.join(dataDir, 'station.db');
      copyDbFixture(fixture, dbPath);
      const before = fixtureCounts(dbPath);
      expect(before.get('devices')).toBe(FIXTURE_ROWS.devices?.length);

      const { log, lines } = capturedLogger();
      const store = new Store(dataDir, log);
      try {
        // The run a crash left open is closed by the first start after the upgrade.
        expect(store.open()).toEqual({ interruptedRuns: 1 });
        const db = store.database;
        expect(db.pragma('user_version', { simple: true })).toBe(NEWEST);
        const migrated = lines.filter((l) => l.msg === 'database migrated').map((l) => l.version);
        expect(migrated).toEqual(MIGRATIONS.filter((m) => m.version > fixture.version).map((m) => m.version));

        // Every row it had is there: the same counts, table by table.
        for (const [table, n] of before) expect((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n, table).toBe(n);

        // The blessed unit, its run, its steps and measurements, its uploaded record, as today's code reads them.
        const devices = store.listDevices({ limit: 10 }).devices;
        expect(devices.map((d) => d.deviceId).sort()).toEqual(['fb00000000000001', 'fb00000000000002', 'fb00000000000003', 'fb00000000000004']);
        const blessed = devices.find((d) => d.deviceId === FIXTURE_BLESSED.deviceId) as DeviceRow;
        expect(blessed).toMatchObject({ status: 'blessed', runId: FIXTURE_BLESSED.runId, blessedAt: new Date(FIXTURE_BLESSED.blessedAt).toISOString(), mac: '0c2a69000001' });
        const run = store.getRun(FIXTURE_BLESSED.runId) as {
          status: string;
          deviceId: string;
          steps: { name: string; status: string; measurements: { name: string; value: unknown; unit: string | null; outcome: string }[] }[];
        };
        expect(run.status).toBe('blessed');
        expect(run.deviceId).toBe(FIXTURE_BLESSED.deviceId);
        expect(run.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['Identify:pass', 'VBAT:pass', 'Bless:pass']);
        expect(run.steps[1]?.measurements).toEqual([expect.objectContaining({ name: 'VBAT', value: FIXTURE_BLESSED.vbat, unit: 'V', outcome: 'pass' })]);
        expect(db.prepare(`SELECT seq, record_id FROM outbox WHERE run_id = ?`).get(FIXTURE_BLESSED.runId)).toEqual({ seq: 1, record_id: FIXTURE_BLESSED.recordId });
        expect((db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(FIXTURE_OPEN_RUN) as { status: string }).status).toBe('interrupted');
        // The sequence numbers go on after the last one (AUTOINCREMENT kept its high-water mark).
        expect(db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'outbox'`).get()).toEqual({ seq: 3 });
        if (before.has('dead_letters')) expect(store.outbox.deadLetters().map((d) => d.recordId)).toEqual(['019aa000-0002-7000-8000-000000000002']);
        if (before.has('calibration_overrides')) expect(store.calibrationOverride('dmm-1', '2026-11-01')?.reason).toBe('recalibration booked for Monday');

        // Today's layout, as a new database has it (the first layout of migration 1 keeps its
        // devices and outbox tables: rebuilding them is not worth it, and today's code works with both).
        const firstLayout = fixture.file === 'schema-v1-1f645f6.db.gz';
        const keep = (r: SchemaRow): boolean => !firstLayout || !['devices', 'outbox'].includes(r.tbl_name) || r.type === 'index';
        const named = (r: SchemaRow): boolean => keep(r) && !(firstLayout && r.name.startsWith('sqlite_autoindex_'));
        expect(schemaOf(db).filter(named)).toEqual(freshSchema().filter(named));
        expect(store.integrityCheck()).toBe('ok');
        // What today's code writes fits (the columns and tables some old layouts lacked included).
        store.durably(() => db.prepare(`INSERT INTO sequences (hash, name, body, created_at, scripts) VALUES ('h2', 'n', '{}', 0, NULL)`).run());
        store.recordCalibrationOverride({ instrumentId: 'dmm-2', due: '2027-01-01', reason: 'test', byRole: 'engineer' });
      } finally {
        store.close();
      }

      // A second start finds nothing to do.
      const again = capturedLogger();
      const store2 = new Store(dataDir, again.log);
      try {
        store2.open();
        expect(again.lines.filter((l) => l.msg === 'database migrated' || String(l.msg).startsWith('database layout repaired'))).toEqual([]);
      } finally {
        store2.close();
      }
    });
  }
});

describe('a database from a newer station', () => {
  function newerDb(dataDir: string): string {
    const dbPath = path.join(dataDir, 'station.db');
    const today = dbFixtures().find((f) => f.version === dbFixtures().reduce((m, x) => Math.max(m, x.version), 0) && f.source !== 'superseded layout');
    if (!today) throw new Error('no fixture');
    copyDbFixture(today, dbPath);
    const db = new Database(dbPath);
    db.pragma(`user_version = ${NEWEST + 1}`);
    db.close();
    return dbPath;
  }

  it('is refused with what made it and what this one knows, and left byte for byte, no side files', () => {
    const dataDir = tempDataDir();
    const dbPath = newerDb(dataDir);
    const hash = sha256(dbPath);
    for (let attempt = 0; attempt < 2; attempt++) {
      const store = new Store(dataDir, capturedLogger().log);
      expect(() => store.open()).toThrow(`made by a newer version of BlinkUp Station (schema ${NEWEST + 1}); this one knows up to ${NEWEST}`);
    }
    expect(sha256(dbPath)).toBe(hash);
    expect(existsSync(`${dbPath}-wal`)).toBe(false);
    expect(existsSync(`${dbPath}-shm`)).toBe(false);
  });

  it('is refused too when a crash left its newest pages in the WAL, and neither file changes', () => {
    const src = tempDataDir();
    const live = path.join(src, 'station.db');
    copyDbFixture(dbFixtures().find((f) => f.version === 1 && f.source !== 'superseded layout') as never, live);
    // A station of the newer version wrote its schema and died before any checkpoint.
    const db = new Database(live);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`user_version = ${NEWEST + 1}`);
    const dataDir = tempDataDir();
    const dbPath = path.join(dataDir, 'station.db');
    copyFileSync(live, dbPath);
    copyFileSync(`${live}-wal`, `${dbPath}-wal`);
    db.close();
    const hashes = [sha256(dbPath), sha256(`${dbPath}-wal`)];
    const store = new Store(dataDir, capturedLogger().log);
    expect(() => store.open()).toThrow(`(schema ${NEWEST + 1}); this one knows up to ${NEWEST}`);
    expect([sha256(dbPath), sha256(`${dbPath}-wal`)]).toEqual(hashes);
  });
});

describe('a failed migration', () => {
  it('rolls the whole upgrade back: the version, the schema and the rows are as they were', () => {
    const dataDir = tempDataDir();
    const dbPath = path.join(dataDir, 'station.db');
    copyDbFixture(dbFixtures().find((f) => f.version === 2 && f.source !== 'superseded layout') as never, dbPath);
    const failing: Migration = { version: NEWEST + 1, name: 'a migration that fails half-way', sql: `CREATE TABLE half_way (x); INSERT INTO no_such_table VALUES (1);` };
    const db = new Database(dbPath);
    try {
      const schema = schemaOf(db);
      const counts = fixtureCounts(dbPath);
      let error: unknown;
      try {
        migrateSchema(db, [...MIGRATIONS, failing], dbPath);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SchemaError);
      expect((error as SchemaError).message).toContain(`from schema 2 to ${NEWEST + 1} failed in migration ${NEWEST + 1} (a migration that fails half-way): no such table: no_such_table`);
      expect((error as SchemaError).message).toContain('Nothing was changed: the database is still at schema 2');
      // Migrations 3..N ran before it, in the same transaction: gone with it.
      expect(db.pragma('user_version', { simple: true })).toBe(2);
      expect(schemaOf(db)).toEqual(schema);
      expect(fixtureCounts(dbPath)).toEqual(counts);
    } finally {
      db.close();
    }
    // And the real upgrade still works on it afterwards.
    const store = new Store(dataDir, capturedLogger().log);
    try {
      store.open();
      expect(store.database.pragma('user_version', { simple: true })).toBe(NEWEST);
    } finally {
      store.close();
    }
  });
});

describe('a file that is not a station database', () => {
  it('is refused at open and left as it was: not SQLite at all', () => {
    const dataDir = tempDataDir();
    const dbPath = path.join(dataDir, 'station.db');
    writeFileSync(dbPath, 'these are not the pages you are looking for\n'.repeat(20));
    const hash = sha256(dbPath);
    expect(() => new Store(dataDir, capturedLogger().log).open()).toThrow(`${dbPath} is not a SQLite database`);
    expect(sha256(dbPath)).toBe(hash);
  });

  it('is refused at open and left as it was: another program’s SQLite file', () => {
    const dataDir = tempDataDir();
    mkdirSync(dataDir, { recursive: true });
    const dbPath = path.join(dataDir, 'station.db');
    const other = new Database(dbPath);
    other.exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('hello')`);
    other.close();
    const hash = sha256(dbPath);
    expect(() => new Store(dataDir, capturedLogger().log).open()).toThrow('has tables but no schema version: it is not a BlinkUp Station database');
    expect(sha256(dbPath)).toBe(hash);
  });
});
