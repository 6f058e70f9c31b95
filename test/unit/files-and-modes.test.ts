// Files the station cannot live without are written whole or not at all (lib/atomic-file.ts), and
// the data folder is the station user's alone: the folder 0700, the database, its WAL and shared
// memory, the lock, the token key and test mode's credentials 0600, tightened at start if looser.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFileAtomicSync } from '../../lib/atomic-file.js';
import { Credentials } from '../../station/auth/credentials.js';
import { silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { compileSmallSequence, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
  dirs.cleanup();
});

const modeOf = (file: string): string => (statSync(file).mode & 0o777).toString(8);

describe('lib/atomic-file.ts', () => {
  it('writes the file whole with mode 0600 unless told otherwise, and leaves no temporary file', async () => {
    const dir = dirs.make();
    writeFileAtomicSync(path.join(dir, 'a.key'), Buffer.from([1, 2, 3]));
    await writeFileAtomic(path.join(dir, 'b.txt'), 'hello\n', { mode: 0o644 });
    expect(readFileSync(path.join(dir, 'a.key'))).toEqual(Buffer.from([1, 2, 3]));
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('hello\n');
    expect(modeOf(path.join(dir, 'a.key'))).toBe('600');
    expect(modeOf(path.join(dir, 'b.txt'))).toBe('644');
    expect(readdirSync(dir).sort()).toEqual(['a.key', 'b.txt']);
  });

  it('replaces a file in one step; exclusive refuses one that exists (EEXIST) and leaves it as it was', async () => {
    const dir = dirs.make();
    const file = path.join(dir, 'station.lock');
    writeFileAtomicSync(file, 'old\n');
    writeFileAtomicSync(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(() => writeFileAtomicSync(file, 'other\n', { exclusive: true })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    await expect(writeFileAtomic(file, 'other\n', { exclusive: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(readdirSync(dir)).toEqual(['station.lock']);
  });

  it('a full disk (a 1 MB tmpfs): the write fails with ENOSPC, the old file is whole, no temporary file is left', async () => {
    expect(process.getuid?.(), 'the tmpfs test runs as root (npm test installs packages as root too)').toBe(0);
    const mnt = path.join(dirs.make(), 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    cleanups.push(() => execFileSync('umount', ['-l', mnt]));
    const file = path.join(mnt, 'config.json');
    writeFileAtomicSync(file, '{"version":1}\n');
    const big = Buffer.alloc(2 * 1048576, 7);
    expect(() => writeFileAtomicSync(file, big)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    await expect(writeFileAtomic(file, big)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(readFileSync(file, 'utf8')).toBe('{"version":1}\n');
    expect(readdirSync(mnt)).toEqual(['config.json']);
  });
});

describe('the data folder is the station user alone', () => {
  it('a new data folder is 0700; station.db, its -wal and -shm, the lock, token.key and the credentials file are 0600', async () => {
    const dataDir = path.join(dirs.make(), 'data');
    const store = new Store(dataDir, silentLogger());
    store.open();
    cleanups.push(() => store.close());
    store.registerSequence(compileSmallSequence()); // a durable write: the WAL and shared memory exist now
    const vault = new TokenVault({ dataDir, env: {}, log: silentLogger() });
    vault.start();
    cleanups.push(() => vault.stop());
    const credentials = Credentials.resolve({ mode: 'test', env: {}, auth: {}, dataDir });
    expect(modeOf(dataDir)).toBe('700');
    for (const name of ['station.db', 'station.db-wal', 'station.db-shm', 'station.lock', 'token.key']) expect(modeOf(path.join(dataDir, name)), name).toBe('600');
    expect(modeOf(credentials.credentialsFile as string)).toBe('600');
  });

  it('a data folder left 0755 with station.db 0644 (an older version) is tightened at start', () => {
    const dataDir = path.join(dirs.make(), 'data');
    const first = new Store(dataDir, silentLogger());
    first.open();
    first.registerSequence(compileSmallSequence());
    first.close();
    chmodSync(dataDir, 0o755);
    chmodSync(path.join(dataDir, 'station.db'), 0o644);
    writeFileSync(path.join(dataDir, 'station.db-wal'), '', { mode: 0o644 });
    chmodSync(path.join(dataDir, 'station.db-wal'), 0o644);
    const again = new Store(dataDir, silentLogger());
    again.open();
    cleanups.push(() => again.close());
    expect(modeOf(dataDir)).toBe('700');
    expect(modeOf(path.join(dataDir, 'station.db'))).toBe('600');
    expect(modeOf(path.join(dataDir, 'station.db-wal'))).toBe('600');
  });
});
