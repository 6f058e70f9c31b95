// Secrets at rest and at the door: scrypt hashes for the engineer password and the operator PIN
// (node:crypto, no dependency), and comparisons that take the same time whatever the input.
// Stored form: scrypt$<N>$<r>$<p>$<saltB64>$<hashB64>, so the cost can rise without a migration.
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. 2^15 takes about 100 ms and 32 MiB on the station's class of machine. */
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
const HASH_FORMAT = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function derive(secret: string, salt: Buffer, params: ScryptParams, keyBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: scrypt needs 128 * N * r bytes; Node's default cap (32 MiB) is exactly 2^15 * 8 * 128.
    scrypt(secret.normalize('NFC'), salt, keyBytes, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes a password or PIN for the configuration (`npm run passwd`). */
export async function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (secret.length === 0) throw new Error('cannot hash an empty password or PIN');
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(secret, salt, params, KEY_BYTES);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export class BadHashError extends Error {}

/** Parses a stored hash; throws BadHashError naming what is wrong (for config validation). */
export function parseHash(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } {
  const m = HASH_FORMAT.exec(stored);
  if (!m) throw new BadHashError('is not a scrypt hash of the form scrypt$N$r$p$salt$hash (make one with `npm run passwd`)');
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.N < 2 ** 14 || params.N > 2 ** 20 || (params.N & (params.N - 1)) !== 0) throw new BadHashError(`scrypt N ${params.N} must be a power of two from 2^14 to 2^20`);
  if (params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) throw new BadHashError('scrypt r must be 1-32 and p 1-16');
  const salt = Buffer.from(m[4] as string, 'base64');
  const key = Buffer.from(m[5] as string, 'base64');
  if (salt.length < 8 || key.length < 16 || key.length > 64) throw new BadHashError('the salt or the hash is too short');
  return { params, salt, key };
}

/** True when `secret` matches `stored`; the final comparison is constant-time. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const { params, salt, key } = parseHash(stored);
  const candidate = await derive(secret, salt, params, key.length);
  return timingSafeEqual(candidate, key);
}

/**
 * Constant-time string equality: both sides are hashed to 32 bytes first, so neither the content
 * nor the length of the expected value leaks through the time taken.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}
