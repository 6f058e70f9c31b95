// Every HTTP route has a role: the route table is the only way routes are registered, and every
// route the express router holds is in it. Then, over a real socket, every route that is not
// public refuses a request without a session (401), an operator where it needs an engineer (403),
// and a state change without the CSRF token (403), before its handler runs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../../station/auth/sessions.js';
import { silentLogger } from '../../station/log.js';
import type { HttpDeps, RouteSpec } from '../../station/server/deps.js';
import { HttpServer } from '../../station/server/http.js';
import { routeTable } from '../../station/server/routes.js';
import { TempDirs } from '../support/unit-fakes.js';

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

const dirs = new TempDirs();
const sessions = new SessionStore();
/** Only what registering routes touches: a handler reached by a request below fails the test. */
const deps = {
  sessions,
  log: silentLogger(),
  uiDir: '',
  vendorDirs: {},
} as unknown as HttpDeps;

let app: express.Express;
let server: Server;
let base: string;
let table: RouteSpec[];

beforeAll(async () => {
  deps.uiDir = dirs.make();
  app = new HttpServer(deps).buildApp();
  table = routeTable(deps);
  server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  dirs.cleanup();
});

function registered(): { method: string; path: string }[] {
  const stack = (app as unknown as { router: { stack: RouterLayer[] } }).router.stack;
  return stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => ({ method: m, path: layer.route!.path })) : []));
}

/** A concrete URL for a route pattern (every parameter filled in). */
const concrete = (p: string): string => p.replace(/:([A-Za-z]+)/g, (_m, name: string) => (name === 'hash' ? 'a'.repeat(64) : name === 'slot' ? '0' : '0123456789abcdef'));

describe('the route table', () => {
  it('holds every route the router has, each with an access level, and nothing the router lacks', () => {
    const routes = registered();
    expect(routes.length).toBeGreaterThanOrEqual(19);
    const key = (r: { method: string; path: string }): string => `${r.method.toUpperCase()} ${r.path}`;
    expect(new Set(routes.map(key))).toEqual(new Set(table.map(key)));
    for (const r of table) expect(['public', 'operator', 'engineer']).toContain(r.access);
  });

  it('makes public only health, metrics and the login routes', () => {
    const open = table.filter((r) => r.access === 'public').map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(open.sort()).toEqual(['GET /api/health', 'GET /api/session', 'GET /metrics', 'POST /api/session']);
  });

  it('gives the engineer everything that changes how the station tests, and the fault injection', () => {
    const engineerOnly = table.filter((r) => r.access === 'engineer').map((r) => `${r.method.toUpperCase()} ${r.path}`);
    for (const route of [
      'GET /api/sequences',
      'GET /api/sequences/:hash',
      'POST /api/sequences',
      'POST /api/sequences/validate',
      'GET /api/devices/search',
      'GET /api/devices/:deviceId/history',
      'GET /api/yield/steps',
      'GET /api/export/records.csv',
      'POST /api/sim/slots/:slot/faults',
    ]) {
      expect(engineerOnly).toContain(route);
    }
  });
});

describe('every guarded route', () => {
  const guarded = (): RouteSpec[] => table.filter((r) => r.access !== 'public');
  const send = (r: RouteSpec, headers: Record<string, string>): Promise<Response> =>
    fetch(`${base}${concrete(r.path)}`, { method: r.method.toUpperCase(), headers: { 'content-type': 'application/json', ...headers }, body: r.method === 'get' ? undefined : '{}' });

  it('refuses a request without a session: 401', async () => {
    for (const r of guarded()) {
      const res = await send(r, {});
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect(await res.json()).toEqual({ error: 'not logged in' });
    }
  });

  it('refuses an expired or made-up session: 401', async () => {
    for (const r of guarded()) {
      const res = await send(r, { cookie: `station.sid=${'Z'.repeat(43)}` });
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
    }
  });

  it('refuses a state change without the session\'s CSRF token: 403', async () => {
    const s = sessions.create('engineer');
    const other = sessions.create('engineer');
    for (const r of guarded().filter((x) => x.method !== 'get')) {
      const attempts: Record<string, string>[] = [{ cookie: `station.sid=${s.id}` }, { cookie: `station.sid=${s.id}`, 'x-csrf-token': other.csrfToken }];
      for (const headers of attempts) {
        const res = await send(r, headers);
        expect(res.status, `${r.method} ${r.path}`).toBe(403);
        expect(await res.json()).toEqual({ error: 'missing or wrong CSRF token' });
      }
    }
  });

  it('refuses an operator on every engineer route: 403', async () => {
    const s = sessions.create('operator');
    for (const r of guarded().filter((x) => x.access === 'engineer')) {
      const res = await send(r, { cookie: `station.sid=${s.id}`, 'x-csrf-token': s.csrfToken });
      expect(res.status, `${r.method} ${r.path}`).toBe(403);
      expect(await res.json()).toEqual({ error: 'this needs the engineer role' });
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
