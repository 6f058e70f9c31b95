// The engineer password and operator PIN at rest (scrypt) and at the door (constant-time compare).
import { describe, expect, it } from 'vitest';
import { BadHashError, constantTimeEqual, hashSecret, parseHash, verifySecret } from '../../station/auth/passwords.js';

const FAST = { N: 2 ** 14, r: 8, p: 1 };

describe('scrypt password hashes', () => {
  it('verifies the secret it was made from and nothing else', async () => {
    const hash = await hashSecret('correct horse battery', FAST);
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifySecret('correct horse battery', hash)).toBe(true);
    expect(await verifySecret('correct horse batterY', hash)).toBe(false);
    expect(await verifySecret('', hash)).toBe(false);
  });

  it('salts every hash, so the same PIN never hashes the same twice', async () => {
    const [a, b] = await Promise.all([hashSecret('1234', FAST), hashSecret('1234', FAST)]);
    expect(a).not.toBe(b);
    expect(await verifySecret('1234', a)).toBe(true);
    expect(await verifySecret('1234', b)).toBe(true);
  });

  it('uses the cost recorded in the hash (the default is 2^15)', async () => {
    const hash = await hashSecret('pw-default-cost');
    expect(parseHash(hash).params).toEqual({ N: 32768, r: 8, p: 1 });
    expect(await verifySecret('pw-default-cost', hash)).toBe(true);
  });

  it('rejects a tampered hash: a changed digest no longer verifies', async () => {
    const hash = await hashSecret('engineer-pw', FAST);
    const parts = hash.split('$');
    const key = Buffer.from(parts[5] as string, 'base64');
    key[0] = (key[0] as number) ^ 1;
    parts[5] = key.toString('base64');
    expect(await verifySecret('engineer-pw', parts.join('$'))).toBe(false);
  });

  it('refuses malformed hashes with a message naming what to do', () => {
    expect(() => parseHash('plaintext')).toThrow(BadHashError);
    expect(() => parseHash('plaintext')).toThrow(/npm run passwd/);
    expect(() => parseHash('scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==')).toThrow(/power of two/);
    expect(() => parseHash('scrypt$16384$8$1$c2E=$aGFzaGhhc2hoYXNoaGFzaA==')).toThrow(/too short/);
  });

  it('refuses to hash an empty secret', async () => {
    await expect(hashSecret('', FAST)).rejects.toThrow(/empty/);
  });
});

describe('constant-time comparison', () => {
  it('is true only for identical strings, whatever the lengths', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('ü', 'u')).toBe(false);
  });

  it('compares values of any length (as 32-byte digests, so a length difference is no early exit)', () => {
    const big = 'x'.repeat(1_000_000);
    expect(constantTimeEqual(big, big)).toBe(true);
    expect(constantTimeEqual(big, `${big}y`)).toBe(false);
  });
});
