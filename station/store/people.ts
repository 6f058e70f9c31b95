// The people in the record (migration 10): login sessions kept across restarts (keyed by a
// SHA-256 of the session id, never the id), user accounts (one login per person), and who
// answered each operator prompt. The rules (who may log in, how long a session lasts) are in
// station/auth; these classes only read and write rows. The store must be open.
import type { Statement } from 'better-sqlite3';
import type { SessionPersistence, StoredSession } from '../auth/sessions.js';
import { UserExistsError, type UserRow, type UserStore } from '../auth/users.js';
import type { Store } from './store.js';

export type PersonRole = 'operator' | 'engineer';

interface SessionRow {
  id_hash: string;
  user_name: string;
  role: PersonRole;
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

/** The sessions table. Creation and deletion commit at once (a logout must not come back after a
 *  crash); the "last seen" updates join the store's group commit. */
export class SessionTable implements SessionPersistence {
  private readonly stmts: { insert: Statement; remove: Statement; removeUser: Statement; touch: Statement; live: Statement; expire: Statement; get: Statement };

  constructor(private readonly store: Store) {
    const db = store.database;
    this.stmts = {
      insert: db.prepare(`INSERT OR REPLACE INTO sessions (id_hash, user_name, role, csrf_token, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      remove: db.prepare(`DELETE FROM sessions WHERE id_hash = ?`),
      removeUser: db.prepare(`DELETE FROM sessions WHERE user_name = ? COLLATE NOCASE`),
      touch: db.prepare(`UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?`),
      live: db.prepare(`SELECT * FROM sessions WHERE expires_at > ? ORDER BY created_at`),
      expire: db.prepare(`DELETE FROM sessions WHERE expires_at <= ?`),
      get: db.prepare(`SELECT * FROM sessions WHERE id_hash = ?`),
    };
  }

  insert(s: StoredSession): void {
    this.store.commitNow(() => this.stmts.insert.run(s.idHash, s.userName, s.role, s.csrfToken, s.createdAt, s.lastSeenAt, s.expiresAt));
  }

  remove(idHash: string): void {
    this.store.commitNow(() => this.stmts.remove.run(idHash));
  }

  /** Ends every session of one person (their account was disabled or its secret reset). */
  removeUser(name: string): void {
    this.store.commitNow(() => this.stmts.removeUser.run(name));
  }

  touch(idHash: string, lastSeenAt: number, expiresAt: number): void {
    this.store.later(() => this.stmts.touch.run(lastSeenAt, expiresAt, idHash));
  }

  /** Deletes the sessions expired at `now`; returns the live ones. */
  live(now: number): StoredSession[] {
    this.store.commitNow(() => this.stmts.expire.run(now));
    return (this.stmts.live.all(now) as SessionRow[]).map(fromSessionRow);
  }

  /** Deletes the sessions expired at `now`; returns how many. */
  expire(now: number): number {
    return this.store.commitNow(() => this.stmts.expire.run(now).changes);
  }

  get(idHash: string): StoredSession | null {
    this.store.flush();
    const row = this.stmts.get.get(idHash) as SessionRow | undefined;
    return row ? fromSessionRow(row) : null;
  }
}

function fromSessionRow(r: SessionRow): StoredSession {
  return { idHash: r.id_hash, userName: r.user_name, role: r.role, csrfToken: r.csrf_token, createdAt: r.created_at, lastSeenAt: r.last_seen_at, expiresAt: r.expires_at };
}

interface UserDbRow {
  name: string;
  role: PersonRole;
  secret_hash: string | null;
  disabled: number;
  created_at: number;
  created_by: string;
  updated_at: number;
  updated_by: string;
}

/** The users table. Every write commits at once (durable: an account change is an auth decision). */
export class UserTable implements UserStore {
  private readonly stmts: { get: Statement; all: Statement; insert: Statement; setSecret: Statement; setDisabled: Statement };

  constructor(private readonly store: Store) {
    const db = store.database;
    this.stmts = {
      get: db.prepare(`SELECT * FROM users WHERE name = ? COLLATE NOCASE`),
      all: db.prepare(`SELECT * FROM users ORDER BY role, name COLLATE NOCASE`),
      insert: db.prepare(`INSERT INTO users (name, role, secret_hash, disabled, created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, 0, ?, ?, ?, ?)`),
      setSecret: db.prepare(`UPDATE users SET secret_hash = ?, updated_at = ?, updated_by = ? WHERE name = ? COLLATE NOCASE`),
      setDisabled: db.prepare(`UPDATE users SET disabled = ?, updated_at = ?, updated_by = ? WHERE name = ? COLLATE NOCASE`),
    };
  }

  get(name: string): UserRow | null {
    const row = this.stmts.get.get(name) as UserDbRow | undefined;
    return row ? fromUserRow(row) : null;
  }

  all(): UserRow[] {
    return (this.stmts.all.all() as UserDbRow[]).map(fromUserRow);
  }

  /** Adds an account; throws UserExistsError when the name (any case) is taken. */
  insert(u: { name: string; role: PersonRole; secretHash: string | null; by: string; at?: number }): UserRow {
    const at = u.at ?? Date.now();
    this.store.durably(() => {
      if (this.stmts.get.get(u.name)) throw new UserExistsError(`there is already a user named ${JSON.stringify(u.name)}`);
      this.stmts.insert.run(u.name, u.role, u.secretHash, at, u.by, at, u.by);
    });
    return this.get(u.name) as UserRow;
  }

  /** Adds an account unless one of that name exists (the built-in ones, at every start). */
  ensure(u: { name: string; role: PersonRole; by: string }): void {
    if (this.get(u.name)) return;
    this.insert({ ...u, secretHash: null });
  }

  setSecret(name: string, secretHash: string, by: string): boolean {
    return this.store.durably(() => this.stmts.setSecret.run(secretHash, Date.now(), by, name).changes) > 0;
  }

  setDisabled(name: string, disabled: boolean, by: string): boolean {
    return this.store.durably(() => this.stmts.setDisabled.run(disabled ? 1 : 0, Date.now(), by, name).changes) > 0;
  }
}

function fromUserRow(r: UserDbRow): UserRow {
  return {
    name: r.name,
    role: r.role,
    secretHash: r.secret_hash,
    disabled: r.disabled === 1,
    createdAt: r.created_at,
    createdBy: r.created_by,
    updatedAt: r.updated_at,
    updatedBy: r.updated_by,
  };
}

/** One answered prompt, as the run's record shows it. */
export interface PromptAnswerLine {
  promptId: string;
  slot: number;
  kind: 'choice' | 'scan';
  text: string;
  /** The answer; a scan's as shown (secrets masked). */
  answer: string | null;
  /** The login name of whoever answered; null when no person did (the hardware scanner, the simulated operator). */
  by: string | null;
  byRole: PersonRole | null;
  at: string;
}

export interface PromptAnswerEvent {
  runId: string;
  promptId: string;
  slot: number;
  kind: 'choice' | 'scan';
  text: string;
  answer: string | null;
  by: { name: string; role: PersonRole } | null;
  at: number;
}

/** Who answered each prompt (joins the store's group commit: an answer is not a verdict). */
export class PromptAnswerLog {
  private readonly stmts: { insert: Statement; ofRun: Statement };

  constructor(private readonly store: Store) {
    const db = store.database;
    this.stmts = {
      insert: db.prepare(`INSERT INTO prompt_answers (run_id, prompt_id, slot, kind, text, answer, by_name, by_role, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      ofRun: db.prepare(`SELECT * FROM prompt_answers WHERE run_id = ? ORDER BY seq`),
    };
  }

  record(e: PromptAnswerEvent): void {
    this.store.later(() => this.stmts.insert.run(e.runId, e.promptId, e.slot, e.kind, e.text.slice(0, 500), e.answer?.slice(0, 300) ?? null, e.by?.name ?? null, e.by?.role ?? null, e.at));
  }

  ofRun(runId: string): PromptAnswerLine[] {
    this.store.flush();
    return (
      this.stmts.ofRun.all(runId) as { prompt_id: string; slot: number; kind: 'choice' | 'scan'; text: string; answer: string | null; by_name: string | null; by_role: PersonRole | null; at: number }[]
    ).map((r) => ({ promptId: r.prompt_id, slot: r.slot, kind: r.kind, text: r.text, answer: r.answer, by: r.by_name, byRole: r.by_role, at: new Date(r.at).toISOString() }));
  }
}
