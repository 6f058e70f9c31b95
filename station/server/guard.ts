// The door of every HTTP route: who is asking (the session cookie), may they (the route's access),
// and, for anything that changes state, is it really their page asking (the CSRF token). Also the
// login rate limit. Every route is registered with an access level (station/server/routes.ts).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit';
import { monotonicMs } from '../../lib/clock.js';
import { csrfMatches, roleAllows, sessionIdFromCookie, type Access, type Session, type SessionStore } from '../auth/sessions.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session of this request (set by the guard), or null. */
export function sessionOf(res: Response): Session | null {
  return (res.locals.session as Session | null | undefined) ?? null;
}

/**
 * Middleware for one route's access level: public routes pass (with the session, if any, known to
 * the handler); others need a live session (401), the session's CSRF token on anything but
 * GET/HEAD (403), and the role (403).
 */
export function guard(sessions: SessionStore, access: Access, opts: { csrf?: boolean } = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const session = sessions.touch(sessionIdFromCookie(req.headers.cookie));
    res.locals.session = session;
    if (access === 'public') {
      next();
      return;
    }
    if (!session) {
      res.status(401).json({ error: 'not logged in' });
      return;
    }
    if ((opts.csrf ?? true) && !SAFE_METHODS.has(req.method) && !csrfMatches(session, req.get('x-csrf-token'))) {
      res.status(403).json({ error: 'missing or wrong CSRF token' });
      return;
    }
    if (!roleAllows(session.role, access)) {
      res.status(403).json({ error: 'this needs the engineer role' });
      return;
    }
    next();
  };
}

export const LOGIN_WINDOW_MS = 5 * 60 * 1000;
export const LOGIN_ATTEMPTS = 10;

/**
 * Login attempts per client address: 10 failed ones per 5 minutes, then 429 with Retry-After
 * until the window passes (a successful login does not count, so a line of operators logging in
 * from one kiosk is never locked out; a guesser is).
 */
export function loginLimiter(store: Store = new MonotonicRateStore()): RequestHandler {
  return rateLimit({
    store,
    windowMs: LOGIN_WINDOW_MS,
    limit: LOGIN_ATTEMPTS,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    handler: (_req, res, _next, options) => {
      const retryAfter = Number(res.getHeader('Retry-After')) || Math.ceil(options.windowMs / 1000);
      res.status(429).json({ error: `too many login attempts from this address; try again in ${retryAfter} s` });
    },
  });
}

/**
 * express-rate-limit's in-memory counting on the monotonic clock (lib/clock.ts): a window is
 * windowMs of real time whatever the wall clock does. (The bundled MemoryStore reads Date.now(): a
 * clock stepped back an hour would lock an address out for an hour and five minutes, one stepped
 * forward would forgive a guesser at once.)
 */
export class MonotonicRateStore implements Store {
  readonly localKeys = true;
  private windowMs = 60_000;
  private readonly clients = new Map<string, { hits: number; resetAt: number }>();
  private sweeper: NodeJS.Timeout | null = null;

  /** `now`: the monotonic clock; `wallNow`: the wall clock, for the reset time in headers. */
  constructor(
    private readonly now: () => number = monotonicMs,
    private readonly wallNow: () => number = Date.now,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = setInterval(() => this.sweep(), this.windowMs);
    this.sweeper.unref();
  }

  get(key: string): ClientRateLimitInfo | undefined {
    const c = this.live(key);
    return c ? this.info(c) : undefined;
  }

  increment(key: string): ClientRateLimitInfo {
    let c = this.live(key);
    if (!c) {
      c = { hits: 0, resetAt: this.now() + this.windowMs };
      this.clients.set(key, c);
    }
    c.hits++;
    return this.info(c);
  }

  decrement(key: string): void {
    const c = this.live(key);
    if (c && c.hits > 0) c.hits--;
  }

  resetKey(key: string): void {
    this.clients.delete(key);
  }

  resetAll(): void {
    this.clients.clear();
  }

  shutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.clients.clear();
  }

  private live(key: string): { hits: number; resetAt: number } | undefined {
    const c = this.clients.get(key);
    if (c && c.resetAt <= this.now()) {
      this.clients.delete(key);
      return undefined;
    }
    return c;
  }

  private info(c: { hits: number; resetAt: number }): ClientRateLimitInfo {
    return { totalHits: c.hits, resetTime: new Date(this.wallNow() + (c.resetAt - this.now())) };
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, c] of this.clients) if (c.resetAt <= now) this.clients.delete(key);
  }
}
