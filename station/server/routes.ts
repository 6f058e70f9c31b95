// The route table: every HTTP route of the station with the access it needs, in one place, so
// "every route has a role" is a property a test can check by walking the express router
// (test/unit/auth-routes.test.ts). Handlers for the engineer console are in engineer-routes.ts.
import path from 'node:path';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { monotonicMs } from '../../lib/clock.js';
import { openHtfRecord, type RunView } from '../records/openhtf.js';
import { mesAnswerOfRun } from '../sequence/steps/interlock.js';
import { BadCursorError } from '../store/store.js';
import type { ActionResult } from './actions.js';
import { FAULT_KINDS } from './faults.js';
import { parseOr400, type HttpDeps, type RouteSpec } from './deps.js';
import { alarmRoutes } from './alarm-routes.js';
import { analyticsRoutes } from './analytics-routes.js';
import { engineerHandlers } from './engineer-routes.js';
import { guard, loginLimiter, sessionOf } from './guard.js';
import { userRoutes } from './user-routes.js';
import { actorOf, type Actor } from '../auth/sessions.js';

const devicesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  status: z.enum(['blessed', 'failed', 'interrupted']).optional(),
});
const runIdParam = z.string().uuid();
/** `format=openhtf`: the run as an OpenHTF test record (station/records/openhtf.ts). */
const runQuery = z.strictObject({ format: z.enum(['json', 'openhtf']).default('json') });
const faultBody = z.strictObject({ kind: z.enum(FAULT_KINDS) });
/** `name`: the person's login (station/auth/users.ts); without it, the role's built-in account. */
const loginName = z.string().trim().min(1).max(40).optional();
const loginBody = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('operator'), name: loginName, pin: z.string().min(1).max(64) }),
  z.strictObject({ role: z.literal('engineer'), name: loginName, password: z.string().min(1).max(256) }),
]);
const answerBody = z.strictObject({ answer: z.string().min(1).max(256) });
const overrideBody = z.strictObject({ reason: z.string().trim().min(3).max(500) });

const json = (limit: string): RequestHandler => express.json({ limit });

function sendAction(res: Response, result: ActionResult, okStatus = 202): void {
  if (result.ok) {
    const { ok: _ok, ...body } = result;
    res.status(okStatus).json(body);
  } else res.status(result.status).json({ error: result.error });
}

export function routeTable(d: HttpDeps): RouteSpec[] {
  const eng = engineerHandlers(d);
  const sessionBody = (s: NonNullable<ReturnType<typeof sessionOf>>) => ({ user: s.user, role: s.role, csrfToken: s.csrfToken, expiresAt: new Date(d.sessions.expiresAt(s)).toISOString() });
  /** Who is asking (the guard let them in, so there is a session). */
  const who = (res: Response, fallback: Actor['role']): Actor => {
    const s = sessionOf(res);
    return s ? actorOf(s) : { name: fallback, role: fallback };
  };

  /** Reads one part of health; a part that fails (the store, on a failed disk) is reported and
   *  left out, so health answers whatever else is broken. */
  const healthPart = <T>(what: string, read: () => T, fallback: T): T => {
    try {
      return read();
    } catch (err) {
      if (d.latch) d.latch.report(err, `health reading ${what}`);
      else d.log.error({ err }, `health could not read ${what}`);
      return fallback;
    }
  };

  const health: RequestHandler = (_req, res) => {
    const stats = healthPart('the store counts', () => d.store.stats(), null);
    const uplink = healthPart('the uplink status', () => d.uplink?.status() ?? d.feed.uplinkStatus, d.feed.uplinkStatus);
    const faults = d.latch?.status() ?? { store: d.store.faults.current, station: null };
    // 503 while failed closed: a supervisor's health check (curl -f) sees it; the body says why.
    res.status(faults.store || faults.station ? 503 : 200).json({
      stationId: d.stationId,
      name: d.stationName,
      version: d.version,
      mode: d.mode,
      uptimeSeconds: Math.round((monotonicMs() - d.startedAt) / 1000),
      store: faults.store ? { state: 'fault', ...faults.store } : { state: 'ok' },
      ...(faults.station ? { stationFault: faults.station } : {}),
      sequence: { name: d.line.currentSequence.def.name, hash: d.line.currentSequence.hash },
      slots: d.line.snapshots().map((s) => ({
        slot: s.slot,
        name: s.name,
        state: s.state,
        connected: s.connected,
        deviceId: s.deviceId,
        runId: s.runId,
        step: s.step,
        reason: s.reason,
        detail: s.detail,
        lastVerdict: s.lastVerdict ?? null,
      })),
      uplink: uplink
        ? { ...uplink }
        : {
            state: 'not configured',
            queued: stats?.outboxQueued ?? null,
            deadLetters: 0,
            oldestQueuedAgeSeconds: !stats || stats.outboxOldestAt === null ? null : Math.round((Date.now() - stats.outboxOldestAt) / 1000),
          },
      tokens: healthPart('the token level', () => d.tokens.level(), null),
      ...(d.disk ? { disk: d.disk.status() } : {}),
      ...(d.retention ? { retention: d.retention.status() } : {}),
      ...(d.andon ? { andon: d.andon.status() } : {}),
      ...(d.fixture ? { instruments: d.fixture.views() } : {}),
      alarms: d.alarms.active().map((a) => ({ alarmId: a.alarmId, severity: a.severity, message: a.message, slot: a.slot, since: a.since, shelvedUntil: a.shelved?.until ?? null })),
      counts: stats ? { ...stats.runs, devicesTested: stats.devicesTested, devicesBlessed: stats.devicesBlessed, reworkBlessings: stats.reworkBlessings } : null,
      yield: stats ? { firstPass: stats.firstPassYield, final: stats.finalYield } : null,
    });
  };

  const login = async (req: Request, res: Response): Promise<void> => {
    const body = parseOr400(loginBody, req.body, res, 'body');
    if (!body) return;
    const secret = body.role === 'operator' ? body.pin : body.password;
    const person = d.users ? await d.users.verify(body.role, body.name ?? null, secret) : (await d.credentials.check(body.role, secret)) && !body.name ? { name: body.role, role: body.role } : null;
    if (!person) {
      d.log.warn({ role: body.role, address: req.ip }, 'login failed');
      res.status(401).json({ error: body.name ? 'wrong name, PIN or password' : 'wrong PIN or password' });
      return;
    }
    // A new id at every login: a session id planted before the login is worth nothing after it.
    const previous = sessionOf(res);
    if (previous) d.sessions.end(previous.id);
    const session = d.sessions.create(person.role, person.name);
    res.cookie('station.sid', session.id, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.secure });
    d.log.info({ role: person.role, user: person.name, address: req.ip }, 'logged in');
    res.json(sessionBody(session));
  };

  return [
    { method: 'get', path: '/api/health', access: 'public', handlers: [health] },
    {
      method: 'get',
      path: '/metrics',
      access: 'public',
      handlers: [
        async (_req, res) => {
          res.type(d.metrics.contentType).send(await d.metrics.metrics());
        },
      ],
    },

    // ---- sessions
    { method: 'post', path: '/api/session', access: 'public', csrf: false, handlers: [loginLimiter(), json('2kb'), login] },
    {
      method: 'get',
      path: '/api/session',
      access: 'public',
      handlers: [
        (_req, res) => {
          const s = sessionOf(res);
          if (!s) res.status(401).json({ error: 'not logged in' });
          else res.json(sessionBody(s));
        },
      ],
    },
    {
      method: 'delete',
      path: '/api/session',
      access: 'operator',
      handlers: [
        (_req, res) => {
          const s = sessionOf(res);
          if (s) d.sessions.end(s.id);
          res.clearCookie('station.sid', { httpOnly: true, sameSite: 'strict', path: '/' });
          res.status(204).end();
        },
      ],
    },

    // ---- operator
    {
      method: 'get',
      path: '/api/devices',
      access: 'operator',
      handlers: [
        (req, res) => {
          const q = parseOr400(devicesQuery, req.query, res, 'query');
          if (!q) return;
          try {
            res.json(d.store.listDevices({ limit: q.limit, cursor: q.cursor ?? null, status: q.status ?? null }));
          } catch (err) {
            if (err instanceof BadCursorError) res.status(400).json({ error: err.message });
            else throw err;
          }
        },
      ],
    },
    {
      method: 'get',
      path: '/api/runs/:id',
      access: 'operator',
      handlers: [
        (req, res) => {
          const q = parseOr400(runQuery, req.query, res, 'query');
          if (!q) return;
          const id = runIdParam.safeParse(req.params.id);
          const found = id.success ? (d.store.getRun(id.data) as RunView | null) : null;
          if (!found) {
            res.status(404).json({ error: `no run ${JSON.stringify(String(req.params.id).slice(0, 64))}` });
            return;
          }
          // The MES's answer, read back from the run's interlock step (null without one), and who
          // answered each of its prompts.
          const run: RunView = { ...found, mes: mesAnswerOfRun(found.steps), promptAnswers: d.promptAnswers?.ofRun(found.runId) ?? [] } as RunView;
          if (q.format === 'json') {
            res.json(run);
            return;
          }
          if (run.status === 'running') {
            res.status(409).json({ error: `run ${run.runId} is still running: its OpenHTF record exists once it ends` });
            return;
          }
          res.json(openHtfRecord(run, { id: d.stationId, name: d.stationName, version: d.version }));
        },
      ],
    },
    {
      method: 'post',
      path: '/api/slots/:slot/start',
      access: 'operator',
      handlers: [
        (req, res) => {
          const slot = /^\d{1,2}$/.test(String(req.params.slot)) ? Number(req.params.slot) : NaN;
          if (Number.isNaN(slot)) res.status(404).json({ error: `there is no slot ${JSON.stringify(String(req.params.slot).slice(0, 16))}` });
          else sendAction(res, d.actions.startSlot(slot, who(res, 'operator')));
        },
      ],
    },
    {
      method: 'post',
      path: '/api/slots/:slot/clear',
      access: 'operator',
      handlers: [
        (req, res) => {
          const slot = /^\d{1,2}$/.test(String(req.params.slot)) ? Number(req.params.slot) : NaN;
          if (Number.isNaN(slot)) res.status(404).json({ error: `there is no slot ${JSON.stringify(String(req.params.slot).slice(0, 16))}` });
          else sendAction(res, d.actions.clearVerdict(slot, who(res, 'operator')), 200);
        },
      ],
    },
    {
      method: 'post',
      path: '/api/prompts/:promptId/answer',
      access: 'operator',
      handlers: [
        json('1kb'),
        (req, res) => {
          const body = parseOr400(answerBody, req.body, res, 'body');
          if (body) sendAction(res, d.actions.answerPrompt(String(req.params.promptId).slice(0, 100), body.answer, who(res, 'operator')), 200);
        },
      ],
    },
    {
      method: 'post',
      path: '/api/alarms/:alarmId/ack',
      access: 'operator',
      handlers: [(req, res) => sendAction(res, d.actions.ackAlarm(String(req.params.alarmId).slice(0, 200), who(res, 'operator')), 200)],
    },
    ...alarmRoutes(d),
    ...userRoutes(d),
    {
      // The read-only line screen (server.lineScreen): no login; its live data comes on the /line socket namespace.
      method: 'get',
      path: '/line',
      access: 'public',
      handlers: [
        (_req, res) => {
          if (d.lineScreen === false) res.status(404).json({ error: 'the line screen is off on this station (server.lineScreen)' });
          else res.sendFile(path.join(d.uiDir, 'line.html'));
        },
      ],
    },

    // ---- engineer
    { method: 'get', path: '/api/sequences', access: 'engineer', handlers: [eng.listSequences] },
    { method: 'post', path: '/api/sequences/validate', access: 'engineer', handlers: [json('512kb'), eng.validateSequence] },
    { method: 'get', path: '/api/sequences/:hash', access: 'engineer', handlers: [eng.getSequence] },
    { method: 'post', path: '/api/sequences', access: 'engineer', handlers: [json('512kb'), eng.saveSequence] },
    { method: 'get', path: '/api/devices/search', access: 'engineer', handlers: [eng.searchDevices] },
    { method: 'get', path: '/api/devices/:deviceId/history', access: 'engineer', handlers: [eng.deviceHistory] },
    { method: 'get', path: '/api/yield/steps', access: 'engineer', handlers: [eng.yieldSteps] },
    ...analyticsRoutes(d),
    { method: 'get', path: '/api/export/records.csv', access: 'engineer', handlers: [eng.exportRecords] },
    {
      method: 'post',
      path: '/api/sim/slots/:slot/faults',
      access: 'engineer',
      handlers: [
        json('1kb'),
        (req, res) => {
          const slot = /^\d{1,2}$/.test(String(req.params.slot)) ? Number(req.params.slot) : NaN;
          if (Number.isNaN(slot) || !d.faults?.simulates(slot)) {
            res.status(404).json({ error: `slot ${JSON.stringify(String(req.params.slot).slice(0, 16))} is not a simulated slot` });
            return;
          }
          const body = parseOr400(faultBody, req.body, res, 'body');
          if (body) sendAction(res, d.actions.injectFault(slot, body.kind, who(res, 'engineer')));
        },
      ],
    },
    { method: 'get', path: '/api/uplink/dead-letters', access: 'engineer', handlers: [eng.deadLetters] },
    { method: 'post', path: '/api/uplink/dead-letters/requeue', access: 'engineer', handlers: [json('256kb'), eng.requeueDeadLetters] },
    {
      // An engineer lets testing go on with an instrument past its calibration date (recorded).
      method: 'post',
      path: '/api/instruments/:id/calibration-override',
      access: 'engineer',
      handlers: [
        json('4kb'),
        (req, res) => {
          const body = parseOr400(overrideBody, req.body, res, 'body');
          if (!body) return;
          if (!d.fixture) {
            res.status(404).json({ error: 'this station has no bench instruments' });
            return;
          }
          const done = d.fixture.overrideCalibration(String(req.params.id).slice(0, 64), body.reason, who(res, 'engineer').role);
          if (done.ok) res.status(200).json({ instrument: String(req.params.id), due: done.due });
          else res.status(done.problem === 'unknown-instrument' ? 404 : 409).json({ error: done.error });
        },
      ],
    },
    ...(d.extraRoutes ?? []),
  ];
}

/** Registers every route of the table on `app`, each behind its guard. */
export function registerRoutes(app: express.Express, d: HttpDeps, table: RouteSpec[]): void {
  for (const r of table) app[r.method](r.path, guard(d.sessions, r.access, { csrf: r.csrf ?? true }), ...r.handlers);
}
