// Who can log in, and with what: the engineer password and the operator PIN, from the environment
// (plain, for tests and demos), else from the configuration (scrypt hashes made by `npm run passwd`).
// In production mode a role with neither cannot log in at all (an alarm says how to set it); in
// test mode one is generated at each start and written to <dataDir>/credentials.txt (0600), which
// is rewritten at every test-mode start (and removed at a production start), never left stale.
// Nothing here logs a secret: only which source each role uses and the credentials file's path.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { constantTimeEqual, verifySecret } from './passwords.js';
import type { Role } from './sessions.js';
import { writeFileAtomicSync } from '../../lib/atomic-file.js';

export const ENGINEER_PASSWORD_ENV = 'STATION_ENGINEER_PASSWORD';
export const OPERATOR_PIN_ENV = 'STATION_OPERATOR_PIN';
export const CREDENTIALS_FILE = 'credentials.txt';
const PIN_FORMAT = /^\d{4,12}$/;

export type CredentialSource = 'env' | 'config' | 'generated' | 'unset';

type Verifier = { kind: 'plain'; secret: string } | { kind: 'hash'; hash: string } | { kind: 'none' };

export class CredentialsError extends Error {}

export interface CredentialOptions {
  mode: 'production' | 'test';
  env: NodeJS.ProcessEnv;
  auth: { engineerPasswordHash?: string | undefined; operatorPinHash?: string | undefined };
  dataDir: string;
}

export class Credentials {
  private constructor(
    private readonly verifiers: Record<Role, Verifier>,
    readonly sources: Record<Role, CredentialSource>,
    /** Where the credentials file was written (test mode, at every start), else null. */
    readonly credentialsFile: string | null,
  ) {}

  /** Resolves each role's credential; in test mode writes the generated ones. Throws CredentialsError for a bad PIN. */
  static resolve(opts: CredentialOptions): Credentials {
    const envPassword = opts.env[ENGINEER_PASSWORD_ENV];
    const envPin = opts.env[OPERATOR_PIN_ENV];
    if (envPin !== undefined && envPin !== '' && !PIN_FORMAT.test(envPin)) {
      throw new CredentialsError(`${OPERATOR_PIN_ENV} must be 4 to 12 digits`);
    }
    const pick = (plain: string | undefined, hash: string | undefined): [Verifier, CredentialSource] => {
      if (plain !== undefined && plain !== '') return [{ kind: 'plain', secret: plain }, 'env'];
      if (hash !== undefined) return [{ kind: 'hash', hash }, 'config'];
      return [{ kind: 'none' }, 'unset'];
    };
    const [engineer, engineerSource] = pick(envPassword, opts.auth.engineerPasswordHash);
    const [operator, operatorSource] = pick(envPin, opts.auth.operatorPinHash);
    const verifiers: Record<Role, Verifier> = { engineer, operator };
    const sources: Record<Role, CredentialSource> = { engineer: engineerSource, operator: operatorSource };
    let file: string | null = null;
    const credentialsPath = path.join(opts.dataDir, CREDENTIALS_FILE);
    if (opts.mode === 'test') {
      // Written anew at every start, whatever the sources: a file left from an earlier start would
      // show a PIN or password that no longer logs in. A role given from outside is named, not copied.
      const lines = ['# BlinkUp station credentials, generated at start because the station is in test mode.', '# New ones are written at every start. Set them for good: see docs/security.md.'];
      const given = (role: Role): string =>
        sources[role] === 'env'
          ? `from ${role === 'engineer' ? ENGINEER_PASSWORD_ENV : OPERATOR_PIN_ENV}`
          : `from the configuration (auth.${role === 'engineer' ? 'engineerPasswordHash' : 'operatorPinHash'})`;
      if (engineerSource === 'unset') {
        const secret = randomBytes(12).toString('base64url');
        verifiers.engineer = { kind: 'plain', secret };
        sources.engineer = 'generated';
        lines.push(`engineer password: ${secret}`);
      } else lines.push(`# engineer password: ${given('engineer')}`);
      if (operatorSource === 'unset') {
        const secret = String(randomInt(0, 1_000_000)).padStart(6, '0');
        verifiers.operator = { kind: 'plain', secret };
        sources.operator = 'generated';
        lines.push(`operator PIN: ${secret}`);
      } else lines.push(`# operator PIN: ${given('operator')}`);
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      file = credentialsPath;
      // A new file (mode 0600) renamed over the last start's: never half written, never readable by others.
      writeFileAtomicSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    } else {
      // Production: nothing is generated, and the logins a test-mode start wrote no longer work.
      rmSync(credentialsPath, { force: true });
    }
    return new Credentials(verifiers, sources, file);
  }

  /** Roles nobody can log in as (production mode, nothing set). */
  get unsetRoles(): Role[] {
    return (['engineer', 'operator'] as const).filter((r) => this.verifiers[r].kind === 'none');
  }

  /** True when `secret` is the role's password or PIN. Plain secrets compare in constant time; hashes through scrypt. */
  async check(role: Role, secret: string): Promise<boolean> {
    const v = this.verifiers[role];
    if (v.kind === 'plain') return constantTimeEqual(secret, v.secret);
    if (v.kind === 'hash') return verifySecret(secret, v.hash).catch(() => false);
    return false;
  }
}

/** The alarm text for a role nobody can log in as. */
export function unsetCredentialMessage(role: Role): string {
  return role === 'engineer'
    ? `nobody can log in as engineer: set ${ENGINEER_PASSWORD_ENV}, or auth.engineerPasswordHash in the configuration (make it with \`npm run passwd\`), then restart`
    : `nobody can log in as operator: set ${OPERATOR_PIN_ENV}, or auth.operatorPinHash in the configuration (make it with \`npm run passwd\`), then restart`;
}
