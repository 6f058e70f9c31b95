// One login per person: operators with their own PIN, engineers with their own password, managed
// by engineers (the console's Users tab, /api/users). Accounts live in SQLite (station/store/people.ts),
// their secrets as scrypt hashes (passwords.ts).
//
// The built-in accounts: "operator" and "engineer" always exist; their PIN and password are the
// bootstrap ones (STATION_OPERATOR_PIN / STATION_ENGINEER_PASSWORD, the configuration's hashes, or
// credentials.txt in test mode: credentials.ts), never stored here. An engineer can disable them
// once everyone has an account of their own (and enable them again), not reset them: they change
// where they are set. A login without a name is a login to the role's built-in account.
import { hashSecret, verifySecret } from './passwords.js';
import type { Credentials } from './credentials.js';
import type { Actor, Role } from './sessions.js';

export const BUILTIN_USERS: Record<Role, string> = { operator: 'operator', engineer: 'engineer' };
/** A login name: letters (any script), digits, space, dot, hyphen, underscore, apostrophe; 1 to 40. */
export const USER_NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._'-]{0,39}$/u;
export const PIN_FORMAT = /^\d{4,12}$/;
export const MIN_PASSWORD = 8;

/** An account as it is stored (station/store/people.ts: UserTable). */
export interface UserRow {
  name: string;
  role: Role;
  /** The scrypt hash; null for a built-in account (its secret comes from credentials.ts). */
  secretHash: string | null;
  disabled: boolean;
  createdAt: number;
  createdBy: string;
  updatedAt: number;
  updatedBy: string;
}

export class UserExistsError extends Error {}

/** Where accounts are kept (station/store/people.ts: UserTable). Names match in any case. */
export interface UserStore {
  get(name: string): UserRow | null;
  all(): UserRow[];
  /** Throws UserExistsError when the name is taken. */
  insert(u: { name: string; role: Role; secretHash: string | null; by: string }): UserRow;
  ensure(u: { name: string; role: Role; by: string }): void;
  setSecret(name: string, secretHash: string, by: string): boolean;
  setDisabled(name: string, disabled: boolean, by: string): boolean;
}

export class UserError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** An account as the API shows it: never its secret or its hash. */
export interface UserView {
  name: string;
  role: Role;
  builtin: boolean;
  disabled: boolean;
  /** Where a built-in account's secret comes from ("env", "config", "generated", "unset"); null for a person's. */
  secretSource: string | null;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
}

/** A hash to check unknown names against, so a wrong name takes as long as a wrong PIN. */
let decoy: Promise<string> | null = null;

export class UserDirectory {
  constructor(
    private readonly table: UserStore,
    private readonly credentials: Credentials,
    private readonly opts: { hash?: (secret: string) => Promise<string> } = {},
  ) {
    // The built-in accounts exist from the first start on (created by the station itself).
    for (const role of ['operator', 'engineer'] as const) table.ensure({ name: BUILTIN_USERS[role], role, by: 'station' });
  }

  private hash(secret: string): Promise<string> {
    return (this.opts.hash ?? hashSecret)(secret);
  }

  /**
   * The person a login is for, or null: `name` (any case) with `role` and this secret, enabled.
   * Without a name: the role's built-in account.
   */
  async verify(role: Role, name: string | null, secret: string): Promise<Actor | null> {
    const row = this.table.get(name ?? BUILTIN_USERS[role]);
    if (!row || row.role !== role) {
      decoy ??= this.hash('decoy secret');
      await verifySecret(secret, await decoy).catch(() => false);
      return null;
    }
    const ok = row.secretHash === null ? await this.credentials.check(role, secret) : await verifySecret(secret, row.secretHash).catch(() => false);
    if (!ok || row.disabled) return null;
    return { name: row.name, role: row.role };
  }

  /** Whether `name` may still act (an account disabled meanwhile may not). */
  enabled(name: string): boolean {
    const row = this.table.get(name);
    return row !== null && !row.disabled;
  }

  list(): UserView[] {
    return this.table.all().map((u) => this.view(u));
  }

  /** The names operators pick from at the login (enabled operator accounts). */
  operatorNames(): string[] {
    return this.table
      .all()
      .filter((u) => u.role === 'operator' && !u.disabled)
      .map((u) => u.name);
  }

  get(name: string): UserView | null {
    const row = this.table.get(name);
    return row ? this.view(row) : null;
  }

  async add(u: { name: string; role: Role; secret: string }, by: Actor): Promise<UserView> {
    const name = u.name.trim();
    if (!USER_NAME.test(name)) throw new UserError(400, 'a name is 1 to 40 letters, digits, spaces, dots, hyphens, underscores or apostrophes, starting with a letter or digit');
    checkSecret(u.role, u.secret);
    if (this.table.get(name)) throw new UserError(409, `there is already a user named ${JSON.stringify(name)}`);
    const secretHash = await this.hash(u.secret);
    try {
      return this.view(this.table.insert({ name, role: u.role, secretHash, by: by.name }));
    } catch (err) {
      if (err instanceof UserExistsError) throw new UserError(409, err.message);
      throw err;
    }
  }

  /** A new PIN or password for a person's account (not a built-in one). */
  async reset(name: string, secret: string, by: Actor): Promise<UserView> {
    const row = this.must(name);
    if (row.secretHash === null)
      throw new UserError(409, `${JSON.stringify(row.name)} is a built-in account: its ${row.role === 'operator' ? 'PIN' : 'password'} is set where the station starts (docs/security.md)`);
    checkSecret(row.role, secret);
    this.table.setSecret(row.name, await this.hash(secret), by.name);
    return this.view(this.must(row.name));
  }

  setDisabled(name: string, disabled: boolean, by: Actor): UserView {
    const row = this.must(name);
    if (disabled && row.name.toLowerCase() === by.name.toLowerCase()) throw new UserError(409, 'you cannot disable your own account');
    if (disabled && row.role === 'engineer' && !this.table.all().some((u) => u.role === 'engineer' && !u.disabled && u.name !== row.name)) {
      throw new UserError(409, 'this is the last enabled engineer account: nobody could manage users after');
    }
    this.table.setDisabled(row.name, disabled, by.name);
    return this.view(this.must(row.name));
  }

  private must(name: string): UserRow {
    const row = this.table.get(name);
    if (!row) throw new UserError(404, `no user named ${JSON.stringify(name.slice(0, 40))}`);
    return row;
  }

  private view(u: UserRow): UserView {
    const builtin = u.secretHash === null;
    return {
      name: u.name,
      role: u.role,
      builtin,
      disabled: u.disabled,
      secretSource: builtin ? this.credentials.sources[u.role] : null,
      createdAt: new Date(u.createdAt).toISOString(),
      createdBy: u.createdBy,
      updatedAt: new Date(u.updatedAt).toISOString(),
      updatedBy: u.updatedBy,
    };
  }
}

function checkSecret(role: Role, secret: string): void {
  if (role === 'operator' && !PIN_FORMAT.test(secret)) throw new UserError(400, 'an operator PIN is 4 to 12 digits');
  if (role === 'engineer' && (secret.length < MIN_PASSWORD || secret.length > 256)) throw new UserError(400, `an engineer password is ${MIN_PASSWORD} to 256 characters`);
}
