// The token vault: AES-256-GCM at rest, the token_id bound in as associated data, and a key that
// is refused unless it is exactly 32 bytes that only the station's user can read.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../station/log.js';
import { TokenVault, TokenVaultError } from '../../station/tokens/vault.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

function startedVault(dataDir: string, env: NodeJS.ProcessEnv = {}, keyFile?: string): TokenVault {
  const vault = new TokenVault({ dataDir, env, log: silentLogger(), keyFile: keyFile ?? null });
  vault.start();
  return vault;
}

/** The error `fn` throws; fails the test when it does not throw. */
function errorOf(fn: () => unknown): TokenVaultError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenVaultError);
    return err as TokenVaultError;
  }
  throw new Error('expected a TokenVaultError');
}

const TOKEN = 'ft_Zm9vYmFyYmF6cXV4MTIzNDU2';

describe('TokenVault: sealing', () => {
  it('decrypts what it encrypted, and never writes the same ciphertext twice', () => {
    const vault = startedVault(dirs.make());
    const a = vault.seal('tok-1', TOKEN);
    const b = vault.seal('tok-1', TOKEN);
    expect(a.equals(b)).toBe(false); // a fresh IV each time
    expect(a.includes(Buffer.from(TOKEN))).toBe(false);
    expect(vault.unseal('tok-1', a)).toBe(TOKEN);
    expect(vault.unseal('tok-1', b)).toBe(TOKEN);
  });

  it('refuses a ciphertext moved to another row: the token_id is authenticated', () => {
    const vault = startedVault(dirs.make());
    const sealed = vault.seal('tok-1', TOKEN);
    const err = errorOf(() => vault.unseal('tok-2', sealed));
    expect(err.kind).toBe('corrupt');
    expect(err.message).toContain('tok-2');
    expect(err.message).toMatch(/altered or copied from another row/);
    expect(err.message).not.toContain(TOKEN);
  });

  it('refuses a ciphertext with a flipped bit', () => {
    const vault = startedVault(dirs.make());
    const sealed = vault.seal('tok-1', TOKEN);
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] as number) ^ 0x01;
    expect(errorOf(() => vault.unseal('tok-1', sealed)).kind).toBe('corrupt');
    expect(errorOf(() => vault.unseal('tok-1', Buffer.from('short'))).kind).toBe('corrupt');
  });

  it('names a wrong key as such, with both key ids and where the key comes from', () => {
    const sealed = startedVault(dirs.make()).seal('tok-1', TOKEN);
    const other = startedVault(dirs.make());
    const err = errorOf(() => other.unseal('tok-1', sealed));
    expect(err.kind).toBe('wrong-key');
    expect(err.message).toContain(other.keyId);
    expect(err.message).toMatch(/STATION_TOKEN_KEY/);
    expect(err.message).toContain('token.key');
    expect(err.message).not.toContain(TOKEN);
  });

  it('gives equal digests for equal tokens and different ones under another key', () => {
    const vault = startedVault(dirs.make());
    expect(vault.digest(TOKEN).equals(vault.digest(TOKEN))).toBe(true);
    expect(vault.digest(TOKEN).equals(vault.digest(`${TOKEN}x`))).toBe(false);
    expect(startedVault(dirs.make()).digest(TOKEN).equals(vault.digest(TOKEN))).toBe(false);
  });

  it('refuses to seal or unseal once stopped', () => {
    const vault = startedVault(dirs.make());
    const sealed = vault.seal('tok-1', TOKEN);
    vault.stop();
    expect(errorOf(() => vault.unseal('tok-1', sealed)).kind).toBe('closed');
    expect(errorOf(() => vault.seal('tok-1', TOKEN)).kind).toBe('closed');
  });
});

describe('TokenVault: the key file', () => {
  it('creates <dataDir>/token.key with 32 random bytes and mode 0600 on first start, and reuses it', () => {
    const dataDir = dirs.make();
    const first = startedVault(dataDir);
    const file = path.join(dataDir, 'token.key');
    expect(readFileSync(file)).toHaveLength(32);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const sealed = first.seal('tok-1', TOKEN);
    const second = startedVault(dataDir);
    expect(second.keyId).toBe(first.keyId);
    expect(second.unseal('tok-1', sealed)).toBe(TOKEN);
  });

  it('uses a configured key file path instead of the default', () => {
    const dataDir = dirs.make();
    const keyFile = path.join(dirs.make(), 'keys', 'station.key');
    const vault = startedVault(dataDir, {}, keyFile);
    expect(vault.keyFile).toBe(keyFile);
    expect(existsSync(keyFile)).toBe(true);
    expect(existsSync(path.join(dataDir, 'token.key'))).toBe(false);
  });

  it.skipIf(process.platform === 'win32')('refuses a key file readable by group or others, saying how to fix it', () => {
    const dataDir = dirs.make();
    const file = path.join(dataDir, 'token.key');
    writeFileSync(file, randomBytes(32), { mode: 0o600 });
    chmodSync(file, 0o644);
    const err = errorOf(() => startedVault(dataDir));
    expect(err.kind).toBe('key');
    expect(err.message).toContain(file);
    expect(err.message).toContain('644');
    expect(err.message).toContain(`chmod 600 ${file}`);
    chmodSync(file, 0o640);
    expect(errorOf(() => startedVault(dataDir)).message).toContain('640');
    chmodSync(file, 0o600);
    expect(startedVault(dataDir).keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a key file of the wrong length instead of making a new key over it', () => {
    const dataDir = dirs.make();
    const file = path.join(dataDir, 'token.key');
    writeFileSync(file, randomBytes(16), { mode: 0o600 });
    const err = errorOf(() => startedVault(dataDir));
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/is 16 bytes; it must be exactly 32/);
    expect(readFileSync(file)).toHaveLength(16); // untouched
  });
});

describe('TokenVault: STATION_TOKEN_KEY', () => {
  it('uses the environment key instead of a key file', () => {
    const key = randomBytes(32);
    const dataDir = dirs.make();
    const a = startedVault(dataDir, { STATION_TOKEN_KEY: key.toString('base64') });
    expect(existsSync(path.join(dataDir, 'token.key'))).toBe(false);
    const b = startedVault(dirs.make(), { STATION_TOKEN_KEY: key.toString('base64') });
    expect(b.unseal('tok-1', a.seal('tok-1', TOKEN))).toBe(TOKEN);
  });

  it.each([
    ['16 bytes', randomBytes(16).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['hex text', randomBytes(32).toString('hex')],
    ['base64url', Buffer.alloc(32, 0xfb).toString('base64url')],
    ['base64 with junk', `${randomBytes(32).toString('base64')}!!`],
    ['a passphrase', 'correct horse battery staple'],
  ])('refuses a key that is not base64 of 32 bytes (%s), without echoing it', (_what, value) => {
    const err = errorOf(() => startedVault(dirs.make(), { STATION_TOKEN_KEY: value }));
    expect(err.kind).toBe('key');
    expect(err.message).toMatch(/STATION_TOKEN_KEY must be the standard base64 of exactly 32 random bytes/);
    expect(err.message).toContain('openssl rand -base64 32');
    expect(err.message).not.toContain(value);
  });
});
