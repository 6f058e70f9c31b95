// User accounts over HTTP (docs/api.md, "Users"): engineers list, add, reset and disable the
// logins (station/auth/users.ts); the login page lists the operators' names to pick from. A
// disabled account, or one whose PIN or password was reset, is logged out everywhere at once.
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { actorOf, type Actor } from '../auth/sessions.js';
import { UserError } from '../auth/users.js';
import { parseOr400, type HttpDeps, type RouteSpec } from './deps.js';
import { sessionOf } from './guard.js';

const addBody = z.strictObject({
  name: z.string().trim().min(1).max(40),
  role: z.enum(['operator', 'engineer']),
  /** The operator's PIN or the engineer's password. */
  secret: z.string().min(1).max(256),
});
const resetBody = z.strictObject({ secret: z.string().min(1).max(256) });

const nameOf = (req: Request): string => String(req.params.name).slice(0, 80);

export function userRoutes(d: HttpDeps): RouteSpec[] {
  const by = (res: Response): Actor => {
    const s = sessionOf(res);
    return s ? actorOf(s) : { name: 'engineer', role: 'engineer' };
  };
  const fail = (res: Response, err: unknown): void => {
    if (!(err instanceof UserError)) throw err;
    res.status(err.status).json({ error: err.message });
  };
  const directory = (res: Response) => {
    if (d.users) return d.users;
    res.status(503).json({ error: 'the user accounts are not open yet' });
    return null;
  };

  const list = (_req: Request, res: Response): void => {
    const users = directory(res);
    if (users) res.json({ users: users.list() });
  };

  const operatorNames = (_req: Request, res: Response): void => {
    res.json({ operators: d.users?.operatorNames() ?? [] });
  };

  const add = async (req: Request, res: Response): Promise<void> => {
    const body = parseOr400(addBody, req.body, res, 'body');
    const users = body && directory(res);
    if (!body || !users) return;
    try {
      const user = await users.add(body, by(res));
      d.log.info({ user: user.name, role: user.role, by: by(res).name }, 'user added');
      res.status(201).json(user);
    } catch (err) {
      fail(res, err);
    }
  };

  const reset = async (req: Request, res: Response): Promise<void> => {
    const body = parseOr400(resetBody, req.body, res, 'body');
    const users = body && directory(res);
    if (!body || !users) return;
    try {
      const user = await users.reset(nameOf(req), body.secret, by(res));
      // The old PIN or password may be known to someone: its sessions end (the person logs in again).
      const ended = d.sessions.endUser(user.name);
      d.log.info({ user: user.name, by: by(res).name, sessionsEnded: ended }, 'user PIN or password reset');
      res.json(user);
    } catch (err) {
      fail(res, err);
    }
  };

  const setDisabled = (disabled: boolean) => (req: Request, res: Response) => {
    const users = directory(res);
    if (!users) return;
    try {
      const user = users.setDisabled(nameOf(req), disabled, by(res));
      const ended = disabled ? d.sessions.endUser(user.name) : 0;
      d.log.info({ user: user.name, by: by(res).name, sessionsEnded: ended }, disabled ? 'user disabled' : 'user enabled');
      res.json(user);
    } catch (err) {
      fail(res, err);
    }
  };

  return [
    { method: 'get', path: '/api/session/operators', access: 'public', handlers: [operatorNames] },
    { method: 'get', path: '/api/users', access: 'engineer', handlers: [list] },
    { method: 'post', path: '/api/users', access: 'engineer', handlers: [express.json({ limit: '2kb' }), add] },
    { method: 'post', path: '/api/users/:name/secret', access: 'engineer', handlers: [express.json({ limit: '2kb' }), reset] },
    { method: 'post', path: '/api/users/:name/disable', access: 'engineer', handlers: [setDisabled(true)] },
    { method: 'post', path: '/api/users/:name/enable', access: 'engineer', handlers: [setDisabled(false)] },
  ];
}
