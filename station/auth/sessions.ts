// Login sessions: an in-memory map from a random session id (the HttpOnly cookie) to a role and a
// CSRF token (the synchronizer token the page sends back in X-CSRF-Token). A session ends after
// `idleMs` without use, on logout, or when the daemon restarts (nothing is kept on disk).
// The idle clock is the monotonic one (lib/clock.ts): a wall clock stepped forward an hour logs
// nobody out, one stepped back keeps nobody in.
import { randomBytes } from 'node:crypto';
import { monotonicMs } from '../../lib/clock.js';
import { constantTimeEqual } from './passwords.js';

export type Role = 'operator' | 'engineer';
/** What a route or socket event needs: anyone, an operator (or engineer), or an engineer. */
export type Access = 'public' | Role;

export const SESSION_COOKIE = 'station.sid';
export const DEFAULT_IDLE_MS = 8 * 60 * 60 * 1000;

export interface Session {
  id: string;
  role: Role;
  csrfToken: string;
  /** Monotonic (lib/clock.ts), like lastSeenAt. */
  createdAt: number;
  lastSeenAt: number;
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
  private readonly sessions = new Map<string, Session>();
  private readonly endListeners = new Set<(sessionId: string) => void>();
  private sweepTimer: NodeJS.Timeout | null = null;

  /** `now`: the monotonic clock; `wallNow`: the wall clock, for expiresAt (a test that injects
   *  only `now` has one clock for both). */
  constructor(private readonly opts: { idleMs?: number; now?: () => number; wallNow?: () => number } = {}) {}

  private get idleMs(): number {
    return this.opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : monotonicMs();
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

  create(role: Role): Session {
    const now = this.now();
    const session: Session = { id: randomBytes(32).toString('base64url'), role, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id (its idle clock restarted), or null when unknown or expired. */
  touch(id: string | null | undefined): Session | null {
    const session = this.peek(id);
    if (session) session.lastSeenAt = this.now();
    return session;
  }

  /** Like touch, without restarting the idle clock. */
  peek(id: string | null | undefined): Session | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    if (this.now() - session.lastSeenAt >= this.idleMs) {
      this.end(id);
      return null;
    }
    return session;
  }

  /** When the session ends unless used again, as the wall clock reads now (ms since the epoch). */
  expiresAt(session: Session): number {
    const wallNow = this.opts.wallNow ?? this.opts.now ?? Date.now;
    return wallNow() + (session.lastSeenAt + this.idleMs - this.now());
  }

  end(id: string): void {
    if (!this.sessions.delete(id)) return;
    for (const listener of this.endListeners) listener(id);
  }

  /** Called with a session id when it ends (logout or expiry), so open sockets can be closed. */
  onEnd(listener: (sessionId: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  sweep(): void {
    for (const id of [...this.sessions.keys()]) this.peek(id);
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
