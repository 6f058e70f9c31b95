// Mobile secrets (the per-device secret a phone app uses to set a device up over BLE) are secrets:
// stored only encrypted, with the same key and AES-256-GCM format as factory tokens
// (station/tokens/vault.ts), never logged, never printed on a label, never in an API answer.
//
// The associated data is "mobile-secret:<id>", not the bare id: a sealed mobile secret copied onto
// another device's row, or into the token ledger, fails authentication instead of decrypting.
import { TokenVaultError, type TokenVault } from '../tokens/vault.js';

const AAD_PREFIX = 'mobile-secret:';
const MAX_SECRET_CHARS = 128;

export class MobileSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MobileSecretError';
  }
}

/** Encrypts the mobile secret of device (or record) `id` for storage. */
export function sealSecret(vault: Pick<TokenVault, 'seal'>, id: string, text: string): Buffer {
  checkId(id);
  // The message says what is wrong with the secret, never what it is.
  if (text.length === 0 || text.length > MAX_SECRET_CHARS || !/^[\x21-\x7e]+$/.test(text)) {
    throw new MobileSecretError(`the mobile secret of ${id} must be 1 to ${MAX_SECRET_CHARS} printable ASCII characters without spaces (it has ${text.length} characters)`);
  }
  return vault.seal(AAD_PREFIX + id, text);
}

/** Decrypts what sealSecret stored for `id`; throws MobileSecretError (wrong key, damaged, moved). */
export function unsealSecret(vault: Pick<TokenVault, 'unseal'>, id: string, sealed: Buffer): string {
  checkId(id);
  try {
    return vault.unseal(AAD_PREFIX + id, sealed);
  } catch (err) {
    if (!(err instanceof TokenVaultError)) throw err;
    const why: Record<TokenVaultError['kind'], string> = {
      'wrong-key': 'it was encrypted with another token key; restore the original key (see docs/storage.md)',
      corrupt: 'it is damaged, or was copied from another device',
      closed: 'the token vault is not started',
      key: err.message,
    };
    throw new MobileSecretError(`the stored mobile secret of ${id} cannot be decrypted: ${why[err.kind]}`);
  }
}

function checkId(id: string): void {
  if (id.length === 0 || id.length > 128) throw new MobileSecretError('a mobile secret is sealed under a device or record id of 1 to 128 characters');
}
