// The token vault: factory enrollment tokens are stored only as AES-256-GCM ciphertext, so a copy
// of the database (a backup, a support bundle, a stolen disk image without the key) gives away no
// token that could enroll a device. The key comes from STATION_TOKEN_KEY or a key file beside the
// database; it never leaves this module, and the token text leaves it only through `unseal`, which
// the ledger calls on the one path that feeds the emitter.
//
// A sealed token is: version (1 byte) | key id (8 bytes) | IV (12 bytes) | GCM tag (16 bytes) |
// ciphertext. The token_id is the associated data, so a ciphertext copied onto another row fails
// authentication instead of decrypting to a token that row never held. The key id lets a wrong key
// be named as such instead of reported as tampering.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomicSync } from '../../lib/atomic-file.js';
import type { StationConfig } from '../config/load.js';

const VERSION = 1;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES + TAG_BYTES;

export const TOKEN_KEY_ENV = 'STATION_TOKEN_KEY';
export const DEFAULT_KEY_FILE = 'token.key';

export class TokenVaultError extends Error {
  constructor(
    readonly kind: 'key' | 'wrong-key' | 'corrupt' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'TokenVaultError';
  }
}

export interface VaultOptions {
  /** The station's data folder: the default key file is `<dataDir>/token.key`. */
  dataDir: string;
  /** Another key file (absolute, or relative to the process's working folder). */
  keyFile?: string | null;
  /** Where STATION_TOKEN_KEY is looked up (process.env in the daemon). */
  env: NodeJS.ProcessEnv;
  log: Logger;
}

export class TokenVault {
  private key: Buffer | null = null;
  private digestKey: Buffer | null = null;
  private id: Buffer | null = null;
  readonly keyFile: string;

  constructor(private readonly opts: VaultOptions) {
    this.keyFile = path.resolve(opts.dataDir, opts.keyFile ?? DEFAULT_KEY_FILE);
  }

  /** Loads the key (from the environment, else the key file, created on first start). */
  start(): void {
    const fromEnv = this.opts.env[TOKEN_KEY_ENV];
    let source: string;
    if (fromEnv !== undefined && fromEnv !== '') {
      this.key = parseEnvKey(fromEnv);
      source = TOKEN_KEY_ENV;
    } else {
      this.key = loadOrCreateKeyFile(this.keyFile, this.opts.log);
      source = this.keyFile;
    }
    // Separate keys per purpose, derived from the one secret: the key id is public (stored in each
    // ciphertext), the digest key makes token fingerprints that reveal nothing without the key.
    this.id = createHmac('sha256', this.key).update('blinkup-station token key id v1').digest().subarray(0, KEY_ID_BYTES);
    this.digestKey = createHmac('sha256', this.key).update('blinkup-station token digest v1').digest();
    this.opts.log.info({ keySource: source, keyId: this.keyId }, 'token key loaded');
  }

  /** Forgets the key; sealing and unsealing fail until the next start(). */
  stop(): void {
    this.key?.fill(0);
    this.digestKey?.fill(0);
    this.key = null;
    this.digestKey = null;
  }

  /** A public name for the key in use (hex), stored beside each ciphertext. */
  get keyId(): string {
    return this.requireOpen().id.toString('hex');
  }

  /** Encrypts a token's text for the row `tokenId`; a fresh random IV every time. */
  seal(tokenId: string, tokenText: string): Buffer {
    const { key, id } = this.requireOpen();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(tokenId, 'utf8'));
    const body = Buffer.concat([cipher.update(tokenText, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), id, iv, cipher.getAuthTag(), body]);
  }

  /**
   * Decrypts the token of row `tokenId`. Only the ledger's markSent calls this: the text goes from
   * here to the emitter and nowhere else.
   */
  unseal(tokenId: string, sealed: Buffer): string {
    const { key, id } = this.requireOpen();
    if (sealed.length <= HEADER_BYTES || sealed[0] !== VERSION) {
      throw new TokenVaultError('corrupt', `the stored ciphertext of token ${tokenId} is not in a format this station writes (damaged row?)`);
    }
    const keyId = sealed.subarray(1, 1 + KEY_ID_BYTES);
    if (!keyId.equals(id)) {
      throw new TokenVaultError(
        'wrong-key',
        `token ${tokenId} was encrypted with token key ${keyId.toString('hex')}, but this station's key is ${id.toString('hex')}: ` +
          `restore the original key (${TOKEN_KEY_ENV} or ${this.keyFile}) to use it`,
      );
    }
    const iv = sealed.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + IV_BYTES);
    const tag = sealed.subarray(1 + KEY_ID_BYTES + IV_BYTES, HEADER_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(tokenId, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenVaultError('corrupt', `the stored ciphertext of token ${tokenId} failed authentication: it was altered or copied from another row; the token cannot be used`);
    }
  }

  /**
   * A keyed fingerprint of a token's text: equal texts give equal digests, so the ledger can refuse
   * the same token arriving under two tokenIds without ever storing the text.
   */
  digest(tokenText: string): Buffer {
    const { digestKey } = this.requireOpen();
    return createHmac('sha256', digestKey).update(tokenText, 'utf8').digest();
  }

  private requireOpen(): { key: Buffer; id: Buffer; digestKey: Buffer } {
    if (!this.key || !this.id || !this.digestKey) throw new TokenVaultError('closed', 'the token vault is not started (no key loaded)');
    return { key: this.key, id: this.id, digestKey: this.digestKey };
  }
}

/** Vault options from the station config: `tokens.keyFile` is relative to the config file. */
export function vaultOptionsFromConfig(cfg: Pick<StationConfig, 'configPath' | 'storage' | 'tokens'>, env: NodeJS.ProcessEnv, log: Logger): VaultOptions {
  const base = cfg.configPath ? path.dirname(cfg.configPath) : process.cwd();
  return {
    dataDir: cfg.storage.dataDir,
    keyFile: cfg.tokens.keyFile ? path.resolve(base, cfg.tokens.keyFile) : null,
    env,
    log,
  };
}

function parseEnvKey(text: string): Buffer {
  const key = Buffer.from(text, 'base64');
  // Buffer.from ignores junk; a round trip is the strict check. The value is never echoed.
  if (key.length !== KEY_BYTES || key.toString('base64') !== text) {
    throw new TokenVaultError(
      'key',
      `${TOKEN_KEY_ENV} must be the standard base64 of exactly ${KEY_BYTES} random bytes (44 characters ending in "="), ` +
        `e.g. from \`openssl rand -base64 32\`; the value given is ${text.length} characters${key.length > 0 ? ` and decodes to ${key.length} bytes` : ''}`,
    );
  }
  return key;
}

function loadOrCreateKeyFile(file: string, log: Logger): Buffer {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TokenVaultError('key', `cannot read the token key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return createKeyFile(file, log);
  }
  if (!stat.isFile()) throw new TokenVaultError('key', `the token key file ${file} is not a regular file`);
  checkPermissions(file, stat.mode);
  const key = readFileSync(file);
  if (key.length !== KEY_BYTES) {
    throw new TokenVaultError(
      'key',
      `the token key file ${file} is ${key.length} bytes; it must be exactly ${KEY_BYTES} raw bytes. ` +
        'Restore it from a backup; or, giving up every token in the pool, delete it and the station makes a new key on its next start',
    );
  }
  return key;
}

function checkPermissions(file: string, mode: number): void {
  // POSIX permission bits mean nothing on Windows; there the folder's ACL protects the key.
  if (process.platform === 'win32') return;
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, '0');
    throw new TokenVaultError(
      'key',
      `the token key file ${file} is readable or writable by group or others (mode ${octal}); ` + `only the station's user may have it: run \`chmod 600 ${file}\` and start again`,
    );
  }
}

function createKeyFile(file: string, log: Logger): Buffer {
  const key = randomBytes(KEY_BYTES);
  // Written whole under a temporary name, fsynced, then linked into place and the folder fsynced
  // (lib/atomic-file.ts): a crash never leaves a short key file behind, and the link fails if
  // another start got there first (never two different keys).
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(file, key, { mode: 0o600, exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateKeyFile(file, log);
    throw new TokenVaultError('key', `cannot create the token key file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  checkPermissions(file, statSync(file).mode);
  log.warn({ keyFile: file }, 'created a new token key file; back it up: without it the stored tokens cannot be decrypted');
  return key;
}
