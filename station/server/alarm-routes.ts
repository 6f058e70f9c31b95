// Alarm management over HTTP (docs/api.md, "Alarms"): the board as it is, its history, and the
// shelves engineers put alarms on, with a reason and an end. Acknowledging stays an operator action
// (routes.ts, and the live socket's alarm.ack).
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { AlarmError, MAX_SHELF_MS } from '../alarms.js';
import { parseOr400, type HttpDeps, type RouteSpec } from './deps.js';
import { sessionOf } from './guard.js';

const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  before: z.coerce.number().int().min(1).optional(),
  alarmId: z.string().min(1).max(200).optional(),
});
const shelveBody = z.strictObject({
  reason: z.string().trim().min(3).max(500),
  /** How long it stays shelved: 1 minute to 7 days. */
  minutes: z
    .number()
    .int()
    .min(1)
    .max(MAX_SHELF_MS / 60_000),
});

const alarmIdOf = (req: Request): string => String(req.params.alarmId).slice(0, 200);

export function alarmRoutes(d: HttpDeps): RouteSpec[] {
  const list = (_req: Request, res: Response): void => {
    res.json({ alarms: d.alarms.list(), shelves: d.alarms.shelved() });
  };

  const history = (req: Request, res: Response): void => {
    const q = parseOr400(historyQuery, req.query, res, 'query');
    if (!q) return;
    if (!d.alarmHistory) {
      res.status(503).json({ error: 'the alarm history is not open yet' });
      return;
    }
    res.json(d.alarmHistory.page({ limit: q.limit, beforeSeq: q.before ?? null, alarmId: q.alarmId ?? null }));
  };

  const shelve = (req: Request, res: Response): void => {
    const body = parseOr400(shelveBody, req.body, res, 'body');
    if (!body) return;
    const alarmId = alarmIdOf(req);
    const by = sessionOf(res)?.user ?? 'engineer';
    try {
      const shelf = d.alarms.shelveAndTell(alarmId, { by, reason: body.reason, until: Date.now() + body.minutes * 60_000 });
      d.log.info({ alarmId, by, until: shelf.until }, 'alarm shelved');
      res.json({ alarmId, shelf });
    } catch (err) {
      if (!(err instanceof AlarmError)) throw err;
      res.status(404).json({ error: err.message });
    }
  };

  const unshelve = (req: Request, res: Response): void => {
    const alarmId = alarmIdOf(req);
    const by = sessionOf(res)?.user ?? 'engineer';
    try {
      d.alarms.unshelveAndTell(alarmId, by);
      d.log.info({ alarmId, by }, 'alarm unshelved');
      res.json({ alarmId, entry: d.alarms.get(alarmId) });
    } catch (err) {
      if (!(err instanceof AlarmError)) throw err;
      res.status(404).json({ error: err.message });
    }
  };

  return [
    { method: 'get', path: '/api/alarms', access: 'operator', handlers: [list] },
    { method: 'get', path: '/api/alarms/history', access: 'operator', handlers: [history] },
    { method: 'post', path: '/api/alarms/:alarmId/shelve', access: 'engineer', handlers: [express.json({ limit: '4kb' }), shelve] },
    { method: 'delete', path: '/api/alarms/:alarmId/shelve', access: 'engineer', handlers: [unshelve] },
  ];
}
