// Every HTTP route and every socket event has a role, and it is the one this file says. The table
// of expected roles below is written by hand: a route or event the station serves and the table
// lacks, one the table names and the station lacks, or a role that differs fails the test, so
// opening an engineer route to operators cannot pass unnoticed. Then, over a real socket, every
// route and event in the table refuses a caller without a session, and an operator where it needs
// an engineer, and lets them through where the table says so. Also: the route table is the only
// way routes are registered (every route the express router holds is in it), a state change
// without the CSRF token is refused, and the security headers are on every answer.
import path from 'node:path';
import type express from 'express';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlarmBoard } from '../../station/alarms.js';
import { parseConfig } from '../../station/config/load.js';
import { SessionStore, type Access } from '../../station/auth/sessions.js';
import { silentLogger } from '../../station/log.js';
import type { HttpDeps, RouteSpec } from '../../station/server/deps.js';
import { HttpServer } from '../../station/server/http.js';
import { routeTable } from '../../station/server/routes.js';
import type { LiveSocketServer } from '../../station/server/socket.js';
import { Station } from '../../station/station.js';
import { shippedConfig } from '../support/configs.js';
import { LiveClient } from '../support/daemon.js';
import { TempDirs } from '../support/unit-fakes.js';

/** What each route needs, by `METHOD /path` as registered: written by hand, never derived. */
const ROUTE_ACCESS: Record<string, Access> = {
  'GET /api/health': 'public',
  'GET /metrics': 'public',
  'POST /api/session': 'public',
  'GET /api/session': 'public',
  'DELETE /api/session': 'operator',
  'GET /api/devices': 'operator',
  'GET /api/runs/:id': 'operator',
  'POST /api/slots/:slot/start': 'operator',
  'POST /api/slots/:slot/clear': 'operator',
  'POST /api/prompts/:promptId/answer': 'operator',
  'POST /api/alarms/:alarmId/ack': 'operator',
  'GET /api/alarms': 'operator',
  'GET /api/alarms/history': 'operator',
  'POST /api/alarms/:alarmId/shelve': 'engineer',
  'DELETE /api/alarms/:alarmId/shelve': 'engineer',
  'GET /api/sequences': 'engineer',
  'GET /api/sequences/:hash': 'engineer',
  'POST /api/sequences/validate': 'engineer',
  'POST /api/sequences': 'engineer',
  'GET /api/devices/search': 'engineer',
  'GET /api/devices/:deviceId/history': 'engineer',
  'GET /api/yield/steps': 'engineer',
  'GET /api/analytics/measurements': 'engineer',
  'GET /api/analytics/control': 'engineer',
  'GET /api/export/records.csv': 'engineer',
  'POST /api/sim/slots/:slot/faults': 'engineer',
  'GET /api/uplink/dead-letters': 'engineer',
  'POST /api/uplink/dead-letters/requeue': 'engineer',
  'POST /api/instruments/:id/calibration-override': 'engineer',
  // people (station/server/user-routes.ts) and the line screen
  'GET /api/session/operators': 'public',
  'GET /api/users': 'engineer',
  'POST /api/users': 'engineer',
  'POST /api/users/:name/secret': 'engineer',
  'POST /api/users/:name/disable': 'engineer',
  'POST /api/users/:name/enable': 'engineer',
  'GET /line': 'public',
  // the identity routes the station adds to the table (station/station.ts)
  'POST /api/scan/image': 'engineer',
  'POST /api/labels/:deviceId/reprint': 'engineer',
};

/** Public routes whose own answer without a session is a refusal (the guard lets them through). */
const OWN_ANSWER_WITHOUT_SESSION: Record<string, number> = { 'GET /api/session': 401 };

/** What each client event of the live socket needs, with a payload its schema accepts: by hand. */
const EVENT_ACCESS: Record<string, { access: Access; payload: object }> = {
  'slot.start': { access: 'operator', payload: { slot: 0 } },
  'slot.clear': { access: 'operator', payload: { slot: 0 } },
  'prompt.answer': { access: 'operator', payload: { promptId: 'p-1', answer: 'yes' } },
  'alarm.ack': { access: 'operator', payload: { alarmId: 'a-1' } },
  'sim.fault': { access: 'engineer', payload: { slot: 0, kind: 'garbage' } },
};

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

const dirs = new TempDirs();
const sessions = new SessionStore();
/** Station actions reached by a request or event: each call recorded, each one carried out. */
const actionCalls: { action: string; role: string }[] = [];
const action =
  (name: string) =>
  (...args: unknown[]): { ok: true } => {
    actionCalls.push({ action: name, role: (args.at(-1) as { role: string }).role });
    return { ok: true };
  };

/** Enough of the station for the guard, the socket, and the handlers an operator may reach. */
const deps = {
  sessions,
  log: silentLogger(),
  uiDir: '',
  vendorDirs: {},
  allowedOrigins: [],
  stationId: 'st-1',
  stationName: null,
  mode: 'test',
  version: '0.0.0',
  startedAt: performance.now(),
  alarms: new AlarmBoard(),
  metrics: new Registry(),
  store: {
    stats: () => ({ runs: {}, devicesTested: 0, devicesBlessed: 0, reworkBlessings: 0, firstPassYield: null, finalYield: null, outboxQueued: 0, outboxOldestAt: null }),
    listDevices: () => ({ devices: [], nextCursor: null }),
    getRun: () => null,
  },
  line: { currentSequence: { def: { name: 'seq' }, hash: 'h' }, snapshots: () => [] },
  tokens: { level: () => null },
  feed: { uplinkStatus: null, onDelta: () => () => undefined, syncSlots: () => undefined, since: () => null, snapshot: () => ({ seq: 0 }) },
  actions: { startSlot: action('startSlot'), clearVerdict: action('clearVerdict'), answerPrompt: action('answerPrompt'), ackAlarm: action('ackAlarm'), injectFault: action('injectFault') },
} as unknown as HttpDeps;

let http: HttpServer;
let app: express.Express;
let base: string;
let table: RouteSpec[];

beforeAll(async () => {
  deps.uiDir = dirs.make();
  // The routes the station brings besides routeTable's own (label decoding and reprinting), from a
  // station built (not started) on the shipped configuration: its table is the production one.
  const dir = dirs.make();
  const raw = { ...shippedConfig({ identity: true }), storage: { dataDir: path.join(dir, 'data') } };
  const station = new Station(parseConfig(raw, { source: 'auth-routes test', baseDir: dir }), silentLogger());
  deps.extraRoutes = station.identityRoutes(() => new Promise<never>(() => undefined));
  http = new HttpServer(deps);
  app = http.buildApp();
  table = routeTable(deps);
  await http.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${http.address?.port}`;
});
afterAll(async () => {
  await http.close();
  dirs.cleanup();
});

function registered(): { method: string; path: string }[] {
  const stack = (app as unknown as { router: { stack: RouterLayer[] } }).router.stack;
  return stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => ({ method: m, path: layer.route!.path })) : []));
}

const key = (r: { method: string; path: string }): string => `${r.method.toUpperCase()} ${r.path}`;

/** The socket's event table, as the live socket server holds it. */
function socketEvents(): Record<string, { access: Access }> {
  const socket = (http as unknown as { socket: LiveSocketServer | null }).socket;
  const events = (socket as unknown as { events?: Record<string, { access: Access }> } | null)?.events;
  if (!events) throw new Error('the live socket server holds no event table where this test looks (HttpServer.socket.events)');
  return events;
}

/** Differences between an expected and an actual map of roles, in words. */
function roleDifferences(expected: Record<string, Access>, actual: Record<string, Access>, what: string): string[] {
  const problems: string[] = [];
  for (const [k, access] of Object.entries(actual)) {
    if (!(k in expected)) problems.push(`${what} ${k} (${access}) is served but missing from the expected-role table`);
    else if (expected[k] !== access) problems.push(`${what} ${k} needs ${access}; the table says ${expected[k]}`);
  }
  for (const k of Object.keys(expected)) if (!(k in actual)) problems.push(`${what} ${k} is in the expected-role table but not served`);
  return problems;
}

/** A concrete URL for a route pattern (every parameter filled in). */
const concrete = (p: string): string => p.replace(/:([A-Za-z]+)/g, (_m, name: string) => (name === 'hash' ? 'a'.repeat(64) : name === 'slot' ? '0' : '0123456789abcdef'));

const routeOf = (k: string): { method: string; path: string } => {
  const [method, routePath] = k.split(' ') as [string, string];
  return { method, path: routePath };
};

const send = (r: { method: string; path: string }, headers: Record<string, string>): Promise<Response> =>
  fetch(`${base}${concrete(r.path)}`, { method: r.method.toUpperCase(), headers: { 'content-type': 'application/json', ...headers }, body: r.method.toLowerCase() === 'get' ? undefined : '{}' });

/** The guard's own refusals: no session, no CSRF token, the wrong role. */
async function guardRefusal(res: Response): Promise<string | null> {
  if (res.status !== 401 && res.status !== 403) return null;
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  return ['not logged in', 'missing or wrong CSRF token', 'this needs the engineer role'].includes(body.error ?? '') ? `${res.status} ${body.error}` : null;
}

describe('the expected-role table', () => {
  it('names every route the station serves, each with the role it needs, and no route it does not serve', () => {
    const routes = registered();
    expect(routes.length).toBeGreaterThanOrEqual(Object.keys(ROUTE_ACCESS).length);
    // the router holds exactly the route table
    expect(new Set(routes.map(key))).toEqual(new Set(table.map(key)));
    expect(table.map(key).length).toBe(new Set(table.map(key)).size);
    const served = Object.fromEntries(table.map((r) => [key(r), r.access]));
    expect(roleDifferences(ROUTE_ACCESS, served, 'route')).toEqual([]);
  });

  it('names every socket event the station answers, each with the role it needs, and no event it does not answer', () => {
    const answered = Object.fromEntries(Object.entries(socketEvents()).map(([name, e]) => [name, e.access]));
    expect(Object.keys(answered).length).toBeGreaterThan(0);
    const expected = Object.fromEntries(Object.entries(EVENT_ACCESS).map(([name, e]) => [name, e.access]));
    expect(roleDifferences(expected, answered, 'event')).toEqual([]);
  });
});

describe('every route in the table', () => {
  const entries = Object.entries(ROUTE_ACCESS);

  it('refuses a request without a session where it needs a role (401), and serves it where the route is public', async () => {
    for (const [k, access] of entries) {
      const res = await send(routeOf(k), {});
      if (access === 'public') {
        if (OWN_ANSWER_WITHOUT_SESSION[k]) expect(res.status, k).toBe(OWN_ANSWER_WITHOUT_SESSION[k]);
        else expect(await guardRefusal(res), k).toBeNull();
      } else {
        expect(res.status, k).toBe(401);
        expect(await res.json(), k).toEqual({ error: 'not logged in' });
      }
    }
  });

  it('refuses an operator where it needs an engineer (403), and lets an operator through everywhere else', async () => {
    for (const [k, access] of entries) {
      const s = sessions.create('operator'); // a new one each time: one of the routes logs out
      const res = await send(routeOf(k), { cookie: `station.sid=${s.id}`, 'x-csrf-token': s.csrfToken });
      if (access === 'engineer') {
        expect(res.status, k).toBe(403);
        expect(await res.json(), k).toEqual({ error: 'this needs the engineer role' });
      } else {
        expect(await guardRefusal(res), k).toBeNull();
      }
    }
    // the operator's actions were carried out, as an operator
    expect(actionCalls.filter((c) => c.action === 'startSlot')).toEqual([{ action: 'startSlot', role: 'operator' }]);
    expect(actionCalls.filter((c) => c.action === 'ackAlarm')).toEqual([{ action: 'ackAlarm', role: 'operator' }]);
    expect(actionCalls.filter((c) => c.action === 'injectFault')).toEqual([]);
  });
});

describe('every socket event in the table', () => {
  const entries = Object.entries(EVENT_ACCESS);

  it('refuses a socket without a session: no event reaches the station', async () => {
    const before = actionCalls.length;
    // The handshake needs a session whatever the event: an emit without one never reaches the server.
    for (const [name] of entries) {
      await expect(LiveClient.connect(base, {}), name).rejects.toThrow('unauthorized');
    }
    expect(actionCalls.length).toBe(before);
  });

  it('refuses an operator the engineer events and carries out the operator events, as an operator', async () => {
    const s = sessions.create('operator');
    const client = await LiveClient.connect(base, { session: { role: 'operator', cookie: `station.sid=${s.id}`, csrfToken: s.csrfToken } });
    try {
      for (const [name, e] of entries) {
        const before = actionCalls.length;
        const ack = await client.send(name, e.payload);
        if (e.access === 'engineer') {
          expect(ack, name).toEqual({ ok: false, error: 'this needs the engineer role' });
          expect(actionCalls.length, name).toBe(before);
        } else {
          expect(ack, name).toEqual({ ok: true });
          expect(actionCalls.slice(before), name).toEqual([{ action: expect.any(String), role: 'operator' }]);
        }
      }
    } finally {
      client.close();
    }
  });
});

describe('every guarded route', () => {
  const guarded = (): RouteSpec[] => table.filter((r) => r.access !== 'public');

  it('refuses an expired or made-up session: 401', async () => {
    for (const r of guarded()) {
      const res = await send(r, { cookie: `station.sid=${'Z'.repeat(43)}` });
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it("refuses a state change without the session's CSRF token: 403", async () => {
    const s = sessions.create('engineer');
    const other = sessions.create('engineer');
    const changes = guarded().filter((x) => x.method !== 'get');
    expect(changes.length).toBeGreaterThan(0);
    for (const r of changes) {
      const attempts: Record<string, string>[] = [{ cookie: `station.sid=${s.id}` }, { cookie: `station.sid=${s.id}`, 'x-csrf-token': other.csrfToken }];
      for (const headers of attempts) {
        const res = await send(r, headers);
        expect(res.status, `${r.method} ${r.path}`).toBe(403);
        expect(await res.json()).toEqual({ error: 'missing or wrong CSRF token' });
      }
    }
  });

  it('sends the security headers on API answers and the dashboard alike', async () => {
    for (const url of ['/api/health-nope', '/api/devices', '/some/page']) {
      const res = await fetch(`${base}${url}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('upgrade-insecure-requests');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });
});
