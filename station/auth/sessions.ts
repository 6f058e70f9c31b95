// Login sessions: a random session id (the HttpOnly cookie) for a person (their login name and
// role) and a CSRF token (the synchronizer token the page sends back in X-CSRF-Token). A session
// ends after `idleMs` without use or on logout. Once the store is open (`persistTo`), sessions are
// kept in SQLite (station/store/people.ts), keyed by the SHA-256 of the id, never the id, so a
// daemon restart logs nobody out; in memory they are looked up by the same hash.
// The idle clock is the monotonic one (lib/clock.ts) while the daemon runs: a wall clock stepped
// forward an hour logs nobody out, one stepped back keeps nobody in. Across a restart only the wall
// clock is left: a session restored at start keeps what the table says was left of its idle time.
import { createHash, randomBytes } from 'node:crypto';
import { monotonicMs } from '../../lib/clock.js';
import { constantTimeEqual } from './passwords.js';

export type Role = 'operator' | 'engineer';
/** What a route or socket event needs: anyone, an operator (or engineer), or an engineer. */
export type Access = 'public' | Role;

/** Who did something: the login name and its role (the record keeps both). */
export interface Actor {
  name: string;
  role: Role;
}

export const SESSION_COOKIE = 'station.sid';
export const DEFAULT_IDLE_MS = 8 * 60 * 60 * 1000;
/** The SHA-256 of a session id, hex: what sessions are kept under (here and in the table). */
export function sessionIdHash(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

/** A session as it is kept across restarts (wall-clock ms); never its id, only the id's hash. */
export interface StoredSession {
  idHash: string;
  userName: string;
  role: Role;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** Where sessions are kept across restarts (station/store/people.ts: SessionTable). */
export interface SessionPersistence {
  insert(s: StoredSession): void;
  remove(idHash: string): void;
  removeUser(name: string): void;
  touch(idHash: string, lastSeenAt: number, expiresAt: number): void;
  /** Deletes the sessions expired at `now`; returns the live ones. */
  live(now: number): StoredSession[];
  /** Deletes the sessions expired at `now`. */
  expire(now: number): number;
}

/** "Last seen" is written to the table at most this often per session (every request would be a write). */
const TOUCH_WRITE_MS = 60_000;

export interface Session {
  /** The cookie's id as this process last saw it (known for every session a request has used). */
  id: string;
  /** SHA-256 of the id: the key here and in the table. */
  key: string;
  /** The person's login name (the built-in accounts are "operator" and "engineer"). */
  user: string;
  role: Role;
  csrfToken: string;
  /** Monotonic (lib/clock.ts), like lastSeenAt. */
  createdAt: number;
  lastSeenAt: number;
  /** When "last seen" was last written to the table (monotonic). */
  writtenAt: number;
}

/** The actor of a session. */
export function actorOf(session: Session): Actor {
  return { name: session.user, role: session.role };
}

/** True when a session of `role` may do what `access` asks for. An engineer may do all an operator can. */
export function roleAllows(role: Role | null, access: Access): boolean {
  if (access === 'public') return true;
  if (role === null) return false;
  return access === 'operator' || role === 'engineer';
}

/** True when `presented` (the request's X-CSRF-Token or the socket's auth.csrfToken) is the session's token. */
export function csrfMatches(session: Session, presented: unknown): boolean {
  return typeof presented === 'string' && presented.length > 0 && presented.length <= 200 && constantTimeEqual(presented, session.csrfToken);
}

export class SessionStore {
  /** By key (the SHA-256 of the id). */
  private readonly sessions = new Map<string, Session>();
  private readonly endListeners = new Set<(sessionId: string) => void>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private table: SessionPersistence | null = null;

  /** `now`: the monotonic clock; `wallNow`: the wall clock, for expiresAt (a test that injects
   *  only `now` has one clock for both). */
  constructor(private readonly opts: { idleMs?: number; now?: () => number; wallNow?: () => number } = {}) {}

  private get idleMs(): number {
    return this.opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : monotonicMs();
  }

  private wallNow(): number {
    return (this.opts.wallNow ?? this.opts.now ?? Date.now)();
  }

  /**
   * Keeps sessions in the table from now on, and takes back the live ones it holds (a restart):
   * each with the idle time it had left. Expired rows are deleted. Returns how many came back.
   */
  persistTo(table: SessionPersistence): number {
    this.table = table;
    const wall = this.wallNow();
    const now = this.now();
    let restored = 0;
    for (const row of table.live(wall)) {
      if (this.sessions.has(row.idHash)) continue;
      const left = Math.min(this.idleMs, row.expiresAt - wall);
      const lastSeenAt = now - (this.idleMs - left);
      this.sessions.set(row.idHash, { id: '', key: row.idHash, user: row.userName, role: row.role, csrfToken: row.csrfToken, createdAt: now, lastSeenAt, writtenAt: now });
      restored++;
    }
    // Sessions made before the store opened join the table now.
    for (const s of this.sessions.values()) if (s.id) this.write(s);
    return restored;
  }

  /** Keeps a session in the table. A store that failed (it raises its own fault) does not stop a
   *  login: the session then lives in memory only, until the daemon stops. */
  private write(s: Session): void {
    try {
      this.table?.insert({ idHash: s.key, userName: s.user, role: s.role, csrfToken: s.csrfToken, createdAt: this.wallNow(), lastSeenAt: this.wallNow(), expiresAt: this.expiresAt(s) });
    } catch {
      // as above
    }
  }

  /** Sweeps expired sessions once a minute so an abandoned browser does not hold memory. */
  start(): void {
    this.sweepTimer ??= setInterval(() => this.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  /** A new session for `role`; `user`: the person's login name (the role's built-in account by default). */
  create(role: Role, user: string = role): Session {
    const now = this.now();
    const id = randomBytes(32).toString('base64url');
    const session: Session = { id, key: sessionIdHash(id), user, role, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now, writtenAt: now };
    this.sessions.set(session.key, session);
    this.write(session);
    return session;
  }

  /** The live session with this id (its idle clock restarted), or null when unknown or expired. */
  touch(id: string | null | undefined): Session | null {
    const session = this.peek(id);
    if (session) {
      const now = this.now();
      session.lastSeenAt = now;
      if (this.table && now - session.writtenAt >= TOUCH_WRITE_MS) {
        session.writtenAt = now;
        this.table.touch(session.key, this.wallNow(), this.expiresAt(session));
      }
    }
    return session;
  }

  /** Like touch, without restarting the idle clock. */
  peek(id: string | null | undefined): Session | null {
    if (!id) return null;
    const key = sessionIdHash(id);
    const session = this.sessions.get(key);
    if (!session) return null;
    if (this.now() - session.lastSeenAt >= this.idleMs) {
      this.endKey(key);
      return null;
    }
    session.id = id;
    return session;
  }

  /** When the session ends unless used again, as the wall clock reads now (ms since the epoch). */
  expiresAt(session: Session): number {
    return this.wallNow() + (session.lastSeenAt + this.idleMs - this.now());
  }

  /** Ends the session with this id (logout). */
  end(id: string): void {
    this.endKey(sessionIdHash(id));
  }

  private endKey(key: string): void {
    const session = this.sessions.get(key);
    if (!session) return;
    this.sessions.delete(key);
    try {
      this.table?.remove(key);
    } finally {
      // Its sockets close whether or not the row could be deleted.
      for (const listener of this.endListeners) listener(session.id || key);
    }
  }

  /** Ends every session of one person (their account disabled, their secret reset); returns how many. */
  endUser(name: string): number {
    const keys = [...this.sessions.values()].filter((s) => s.user.toLowerCase() === name.toLowerCase()).map((s) => s.key);
    for (const key of keys) this.endKey(key);
    this.table?.removeUser(name);
    return keys.length;
  }

  /** Called with a session id when it ends (logout or expiry), so open sockets can be closed. */
  onEnd(listener: (sessionId: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  sweep(): void {
    const now = this.now();
    try {
      for (const [key, s] of [...this.sessions]) if (now - s.lastSeenAt >= this.idleMs) this.endKey(key);
      this.table?.expire(this.wallNow());
    } catch {
      // The store failed (it raises its own fault): the rows of expired sessions are deleted at the
      // next start, and they are gone from memory already.
    }
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The session id from a Cookie header, or null. */
export function sessionIdFromCookie(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : null;
    }
  }
  return null;
}
