// The door of every HTTP route: who is asking (the session cookie), may they (the route's access),
// and, for anything that changes state, is it really their page asking (the CSRF token). Also the
// login rate limit. Every route is registered with an access level (station/server/routes.ts).
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';
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
export function loginLimiter(): RequestHandler {
  return rateLimit({
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
