// Mobile secrets are stored like factory tokens: sealed with the station's token key (AES-256-GCM),
// bound to their device, and never readable from the stored bytes or from an error message.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MobileSecretError, sealSecret, unsealSecret } from '../../station/identity/secret.js';
import { silentLogger } from '../../station/log.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

function startedVault(env: NodeJS.ProcessEnv = {}): TokenVault {
  const vault = new TokenVault({ dataDir: dirs.make(), env, log: silentLogger() });
  vault.start();
  return vault;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

const secret = (): string => randomBytes(12).toString('base64url').slice(0, 15).toUpperCase();

describe('mobile secrets at rest', () => {
  it('round-trips, and the sealed bytes hold neither the secret nor any encoding of it', () => {
    const vault = startedVault();
    for (let i = 0; i < 20; i++) {
      const deviceId = randomBytes(12).toString('hex');
      const text = secret();
      const sealed = sealSecret(vault, deviceId, text);
      expect(unsealSecret(vault, deviceId, sealed)).toBe(text);
      for (const encoding of ['utf8', 'utf16le', 'latin1'] as const) expect(sealed.includes(Buffer.from(text, encoding))).toBe(false);
      for (const form of [sealed.toString('hex'), sealed.toString('base64'), sealed.toString('latin1')]) expect(form).not.toContain(text);
      // A fresh IV each time: the same secret never seals to the same bytes.
      expect(sealSecret(vault, deviceId, text).equals(sealed)).toBe(false);
    }
  });

  it('is bound to its device: moved to another device it does not decrypt', () => {
    const vault = startedVault();
    const text = secret();
    const sealed = sealSecret(vault, 'aaaaaaaaaaaaaaaaaaaaaaaa', text);
    const err = thrown(() => unsealSecret(vault, 'bbbbbbbbbbbbbbbbbbbbbbbb', sealed));
    expect(err).toBeInstanceOf(MobileSecretError);
    expect(err.message).toMatch(/bbbbbbbbbbbbbbbbbbbbbbbb cannot be decrypted: it is damaged, or was copied from another device/);
    expect(err.message).not.toContain(text);
  });

  it('is not a factory token: a token sealed under the same id does not unseal as a mobile secret', () => {
    const vault = startedVault();
    const id = 'cccccccccccccccccccccccc';
    const asToken = vault.seal(id, 'FACTORY-TOKEN-TEXT');
    expect(thrown(() => unsealSecret(vault, id, asToken))).toBeInstanceOf(MobileSecretError);
    const asSecret = sealSecret(vault, id, secret());
    expect(() => vault.unseal(id, asSecret)).toThrow(/failed authentication/);
  });

  it('needs the key it was sealed with, and says so', () => {
    const key = (): string => randomBytes(32).toString('base64');
    const first = startedVault({ STATION_TOKEN_KEY: key() });
    const text = secret();
    const sealed = sealSecret(first, 'dddddddddddddddd', text);
    const other = startedVault({ STATION_TOKEN_KEY: key() });
    const err = thrown(() => unsealSecret(other, 'dddddddddddddddd', sealed));
    expect(err).toBeInstanceOf(MobileSecretError);
    expect(err.message).toMatch(/another token key/);
    expect(err.message).not.toContain(text);
  });

  it('refuses a malformed secret without quoting it', () => {
    const vault = startedVault();
    for (const bad of ['', 'has a space', 'x'.repeat(129), 'tab\there', 'ünïcode']) {
      const err = thrown(() => sealSecret(vault, 'eeeeeeeeeeeeeeee', bad));
      expect(err).toBeInstanceOf(MobileSecretError);
      if (bad.length > 3) expect(err.message).not.toContain(bad);
    }
  });
});
