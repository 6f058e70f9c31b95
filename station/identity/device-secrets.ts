// A device's label secrets (the mobile secret), sealed with the token key before they are stored.
// Written when a run scans the label; read only by code that must hand the secret to the cloud or
// a provisioning step, never by the API, the dashboard or an export.
import { sealSecret, unsealSecret } from './secret.js';
import type { TokenVault } from '../tokens/vault.js';
import type { Store } from '../store/store.js';

export class DeviceSecrets {
  constructor(
    private readonly store: Store,
    private readonly vault: TokenVault,
  ) {}

  /** Seals and stores each secret field (durably: a label scanned is a label kept). */
  put(deviceId: string, runId: string, secrets: Record<string, string>): void {
    const sealed = Object.entries(secrets).map(([field, text]) => ({ field, sealed: sealSecret(this.vault, `${deviceId}:${field}`, text) }));
    const keyId = this.vault.keyId;
    this.store.durably(() => {
      const upsert = this.store.database.prepare(
        `INSERT INTO device_secrets (device_id, field, sealed, key_id, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id, field) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id, run_id = excluded.run_id, updated_at = excluded.updated_at`,
      );
      for (const s of sealed) upsert.run(deviceId, s.field, s.sealed, keyId, runId, Date.now());
    });
  }

  /** The fields stored for a device (names only: safe to show). */
  fields(deviceId: string): string[] {
    return (this.store.database.prepare(`SELECT field FROM device_secrets WHERE device_id = ? ORDER BY field`).all(deviceId) as { field: string }[]).map((r) => r.field);
  }

  /** The secret in clear, for the code that must use it; throws MobileSecretError when it cannot. */
  reveal(deviceId: string, field: string): string | null {
    const row = this.store.database.prepare(`SELECT sealed FROM device_secrets WHERE device_id = ? AND field = ?`).get(deviceId, field) as { sealed: Buffer } | undefined;
    return row ? unsealSecret(this.vault, `${deviceId}:${field}`, row.sealed) : null;
  }
}
