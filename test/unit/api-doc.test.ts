// docs/api.md's route table is the one a newcomer reads: every route the station's express app
// serves must be in it, with the access the route table gives it, and every `METHOD /path` row in
// it must be served. The routes are read from the app itself (the express router's stack of a
// station built on the shipped configuration, its identity routes included), never from a list
// kept here. Also: the docs and README link only inside the repository (no `../shared/` brief, no
// "SPEC §n" a reader cannot open), and every relative link leads to a file.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionStore } from '../../station/auth/sessions.js';
import { parseConfig } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import type { HttpDeps } from '../../station/server/deps.js';
import { HttpServer } from '../../station/server/http.js';
import { routeTable } from '../../station/server/routes.js';
import { Station } from '../../station/station.js';
import { shippedConfig } from '../support/configs.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

interface RouterLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** The app the station serves, built as station.ts builds it (the handlers are never called here). */
function stationApp(): { app: ReturnType<HttpServer['buildApp']>; deps: HttpDeps } {
  const dir = dirs.make();
  const raw = { ...shippedConfig({ identity: true }), storage: { dataDir: path.join(dir, 'data') } };
  const station = new Station(parseConfig(raw, { source: 'api-doc test', baseDir: dir }), silentLogger());
  const deps = {
    sessions: new SessionStore(),
    log: silentLogger(),
    uiDir: dir,
    vendorDirs: {},
    allowedOrigins: [],
    metrics: new Registry(),
    extraRoutes: station.identityRoutes(() => new Promise<never>(() => undefined)),
  } as unknown as HttpDeps;
  return { app: new HttpServer(deps).buildApp(), deps };
}

/** `METHOD /path` of every route the express router holds, in registration order. */
function servedRoutes(app: ReturnType<HttpServer['buildApp']>): string[] {
  const stack = (app as unknown as { router: { stack: RouterLayer[] } }).router.stack;
  return stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`) : []));
}

const API_DOC = path.join(PROJECT_ROOT, 'docs/api.md');

/** The `| \`METHOD /path\` | access | purpose |` rows of docs/api.md's route table, by `METHOD /path` (the query shown in a row, `?q=`, dropped). */
function documentedRoutes(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of readFileSync(API_DOC, 'utf8').matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/[^`?\s]*)(?:\?[^`]*)?` \| (public|operator|engineer) \|/gm)) {
    rows.set(`${m[1]} ${m[2]}`, m[3] as string);
  }
  return rows;
}

describe('docs/api.md', () => {
  const { app, deps } = stationApp();
  const served = servedRoutes(app);
  const access = new Map(routeTable(deps).map((r) => [`${r.method.toUpperCase()} ${r.path}`, r.access]));
  const documented = documentedRoutes();

  it('finds the routes where this test looks', () => {
    // A refactor that hides the router's stack, or a reformat of the doc's table, fails here.
    expect(served.length).toBeGreaterThanOrEqual(20);
    expect(served).toEqual(expect.arrayContaining(['GET /api/health', 'POST /api/session', 'POST /api/scan/image', 'POST /api/labels/:deviceId/reprint']));
    expect(documented.size).toBeGreaterThanOrEqual(20);
  });

  it('lists every route the express app serves, with the access its route table gives it', () => {
    const missing = served.filter((r) => !documented.has(r));
    expect(missing, 'routes the station serves that docs/api.md does not list').toEqual([]);
    const wrong = served.filter((r) => documented.has(r) && documented.get(r) !== access.get(r)).map((r) => `${r}: served as ${access.get(r)}, documented as ${documented.get(r)}`);
    expect(wrong).toEqual([]);
  });

  it('lists no route the station does not serve', () => {
    // socket.io serves its own paths on the HTTP server, beside the express app (socket.ts).
    const stale = [...documented.keys()].filter((r) => !served.includes(r) && !r.startsWith('GET /socket.io/'));
    expect(stale, 'docs/api.md lists routes the station does not serve').toEqual([]);
  });
});

describe('README.md and docs/*.md', () => {
  const files = [
    path.join(PROJECT_ROOT, 'README.md'),
    ...readdirSync(path.join(PROJECT_ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join(PROJECT_ROOT, 'docs', f)),
  ];

  it('point only to what a reader of the repository can open', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    const problems: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const name = path.relative(PROJECT_ROOT, file);
      for (const m of text.matchAll(/\.\.\/shared\/|\bSPEC(?:\.md| §)/g)) problems.push(`${name}: "${m[0]}" points outside the repository`);
      for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        const target = m[1] as string;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
        const resolved = path.resolve(path.dirname(file), decodeURIComponent(target.replace(/[#?].*$/, '')));
        if (path.relative(PROJECT_ROOT, resolved).startsWith('..')) problems.push(`${name}: link ${target} leaves the repository`);
        else if (!existsSync(resolved)) problems.push(`${name}: link ${target} leads to no file`);
      }
    }
    expect(problems).toEqual([]);
  });
});
