// The reference MES: a small, readable implementation of the MES side of docs/mes.md, for the
// station's tests and the demo, and for a plant's integrators to read. It answers route queries
// from a route table (a JSON file, re-read when it changes, or one set in code), records the results
// stations post in its own SQLite (each recordId once), and can be told to answer garbage, an HTTP
// error, or slowly, so the station's offline policy can be seen at work.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { resultReportSchema, type RouteAnswer } from './contract.js';
import { json, readBodyText, safeEqual, HttpListener } from '../../lib/http-server.js';

const ruleSchema = z.strictObject({ allowed: z.boolean(), reason: z.string().max(2000) });

/**
 * Which units may be tested where. A query for unit U at operation O is answered by
 * `operations[O].units[U]`, else `operations[O].default`, else `default`, else allowed.
 */
export const routeTableSchema = z.strictObject({
  default: ruleSchema.optional(),
  operations: z
    .record(
      z.string().min(1).max(80),
      z.strictObject({
        default: ruleSchema.optional(),
        /** By Device ID (lowercase hex). */
        units: z.record(z.string().regex(/^[0-9a-f]{8,64}$/, 'must be a Device ID: 8-64 lowercase hex characters'), ruleSchema).default({}),
      }),
    )
    .default({}),
});
export type RouteTable = z.input<typeof routeTableSchema>;
type ParsedRouteTable = z.output<typeof routeTableSchema>;

/** How the MES misbehaves, for tests: a garbage answer, an HTTP status, a delay before answering. */
export interface MesBehaviour {
  /** Answer 200 with a body that is not the contract's shape (the text given, or a default). */
  garbage?: boolean | string;
  /** Answer this HTTP status instead (503, say). */
  status?: number;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Store a posted result, then cut the connection without answering: the answer is lost. */
  loseAnswer?: boolean;
}

export interface ReferenceMesOptions {
  /** The SQLite file the posted results are kept in. */
  dbPath: string;
  /** A route table file (JSON, routeTableSchema), re-read when it changes; or give `routes`. */
  routesFile?: string;
  routes?: RouteTable;
  host?: string;
  port?: number;
  /** When set, every request but /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Serve /_control/* (behaviour, routes, queries): for tests driving the MES in another process. */
  control?: boolean;
  behaviour?: MesBehaviour;
}

/** One route query as the MES received it. */
export interface RouteQuery {
  deviceId: string;
  operation: string;
  station: string;
  at: number;
  /** What it answered; null for garbage or an error status. */
  answer: RouteAnswer | null;
}

export class RouteTableError extends Error {}

const DEFAULT_RULE: RouteAnswer = { allowed: true, reason: 'no route rule for this unit: allowed' };
const DEVICE = /^[0-9a-f]{8,64}$/;

export class ReferenceMes {
  private readonly http: HttpListener;
  private db: Database.Database | null = null;
  private table: ParsedRouteTable = { operations: {} };
  private tableFile: { mtimeMs: number; size: number } | null = null;
  /** Why the route table file could not be used last time it changed (the previous table stays). */
  routesProblem: string | null = null;
  behaviour: MesBehaviour;
  /** The last 1000 route queries answered (or misanswered), oldest first. */
  readonly queries: RouteQuery[] = [];
  /** Requests received (before any delay), /health aside. */
  requestsReceived = 0;

  constructor(private readonly opts: ReferenceMesOptions) {
    this.http = new HttpListener((req, res) => this.handle(req, res), opts.port ?? 0, opts.host ?? '127.0.0.1');
    this.behaviour = { ...opts.behaviour };
  }

  get url(): string {
    return this.http.url;
  }

  /** Opens the results database, reads the route table (a bad file refuses to start) and listens. */
  async start(): Promise<void> {
    if (!this.db) {
      mkdirSync(path.dirname(this.opts.dbPath), { recursive: true });
      this.db = new Database(this.opts.dbPath);
      this.db.pragma('journal_mode = WAL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS results (
          record_id   TEXT PRIMARY KEY,
          device_id   TEXT NOT NULL,
          operation   TEXT NOT NULL,
          station_id  TEXT NOT NULL,
          result      TEXT NOT NULL,
          body        TEXT NOT NULL,
          received_at INTEGER NOT NULL
        );
        CREATE INDEX IF NOT EXISTS results_device ON results (device_id, received_at);
      `);
    }
    if (this.opts.routes) this.setRoutes(this.opts.routes);
    if (this.opts.routesFile) {
      this.reloadRoutes();
      if (this.routesProblem) throw new RouteTableError(this.routesProblem);
    }
    await this.http.listen();
  }

  /** Stops listening and cuts every connection (to a station, the MES is unreachable); start() again brings it back. */
  async goDown(): Promise<void> {
    await this.http.close();
  }

  async stop(): Promise<void> {
    await this.goDown();
    this.db?.close();
    this.db = null;
  }

  /** Replaces the route table (throws RouteTableError, naming the key, when it is not one). */
  setRoutes(table: RouteTable): void {
    const parsed = routeTableSchema.safeParse(table);
    if (!parsed.success) throw new RouteTableError(`route table: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    this.table = parsed.data;
  }

  /** What the MES answers for a unit at an operation now. */
  routeOf(deviceId: string, operation: string): RouteAnswer {
    const op = this.table.operations[operation];
    return op?.units[deviceId] ?? op?.default ?? this.table.default ?? DEFAULT_RULE;
  }

  /** Every result stored for a unit (or all), oldest first, as posted. */
  results(deviceId?: string): Record<string, unknown>[] {
    const rows = (this.db as Database.Database).prepare(`SELECT body FROM results WHERE @d IS NULL OR device_id = @d ORDER BY received_at, rowid`).all({ d: deviceId ?? null }) as { body: string }[];
    return rows.map((r) => JSON.parse(r.body) as Record<string, unknown>);
  }

  /** Re-reads the route table file when it changed; a bad new version is refused (the old one stays). */
  private reloadRoutes(): void {
    const file = this.opts.routesFile;
    if (!file) return;
    let info;
    try {
      info = statSync(file);
    } catch (err) {
      this.routesProblem = `route table ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      return;
    }
    if (this.tableFile && this.tableFile.mtimeMs === info.mtimeMs && this.tableFile.size === info.size) return;
    this.tableFile = { mtimeMs: info.mtimeMs, size: info.size };
    try {
      this.setRoutes(JSON.parse(readFileSync(file, 'utf8')) as RouteTable);
      this.routesProblem = null;
    } catch (err) {
      this.routesProblem = `route table ${file} not used: ${err instanceof SyntaxError ? `not JSON (${err.message})` : (err as Error).message}`;
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://mes');
    if (req.method === 'GET' && url.pathname === '/health') return json(res, 200, { ok: true, queries: this.queries.length, results: this.count(), routesProblem: this.routesProblem });
    this.requestsReceived++;
    if (this.opts.apiKey && !safeEqual(req.headers.authorization ?? '', `Bearer ${this.opts.apiKey}`)) return json(res, 401, { error: 'unknown API key' });
    if (this.opts.control && url.pathname.startsWith('/_control/')) return this.control(req, res, url.pathname);
    const route = /^\/v1\/units\/([^/]+)\/route$/.exec(url.pathname);
    const results = /^\/v1\/units\/([^/]+)\/results$/.exec(url.pathname);
    let deviceId = '';
    try {
      deviceId = decodeURIComponent((route ?? results)?.[1] ?? '');
    } catch {
      deviceId = ''; // a malformed %-escape: not a Device ID
    }
    if (!(route && req.method === 'GET') && !(results && (req.method === 'POST' || req.method === 'GET'))) return json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
    if (!DEVICE.test(deviceId)) return json(res, 400, { error: 'the Device ID must be 8-64 lowercase hex characters' });
    const answer = (): void => {
      if (route) this.answerRoute(res, deviceId, url.searchParams);
      else if (req.method === 'GET') json(res, 200, { results: this.results(deviceId) });
      else this.storeResult(req, res, deviceId);
    };
    const delay = this.behaviour.delayMs ?? 0;
    if (delay > 0) {
      const timer = setTimeout(answer, delay);
      res.once('close', () => clearTimeout(timer));
    } else answer();
  }

  private answerRoute(res: ServerResponse, deviceId: string, query: URLSearchParams): void {
    const operation = query.get('operation') ?? '';
    const station = query.get('station') ?? '';
    if (!operation || !station) return json(res, 400, { error: 'a route query needs ?operation=<operation>&station=<station id>' });
    this.reloadRoutes();
    const misbehaviour = this.misbehave(res);
    const answer = misbehaviour ? null : this.routeOf(deviceId, operation);
    this.queries.push({ deviceId, operation, station, at: Date.now(), answer });
    if (this.queries.length > 1000) this.queries.shift();
    if (answer) json(res, 200, answer);
  }

  private storeResult(req: IncomingMessage, res: ServerResponse, deviceId: string): void {
    readBodyText(req, 256 * 1024).then(
      (body) => {
        if (body === null) return json(res, 413, { error: 'the body is too large' });
        let raw: unknown;
        try {
          raw = JSON.parse(body);
        } catch {
          return json(res, 400, { error: 'the body is not JSON' });
        }
        const parsed = resultReportSchema.safeParse(raw);
        if (!parsed.success) return json(res, 422, { error: 'not a result report', problems: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) });
        const report = parsed.data;
        if (report.deviceId !== deviceId) return json(res, 422, { error: `deviceId ${report.deviceId} does not match the URL's ${deviceId}` });
        const key = req.headers['idempotency-key'];
        if (key !== undefined && key !== report.recordId) return json(res, 422, { error: 'the Idempotency-Key header must be the recordId' });
        if (this.misbehave(res)) return;
        const text = JSON.stringify(report);
        const db = this.db as Database.Database;
        const stored = db
          .prepare(`INSERT INTO results (record_id, device_id, operation, station_id, result, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING`)
          .run(report.recordId, report.deviceId, report.operation, report.stationId, report.result, text, Date.now()).changes;
        if (stored === 0) {
          const before = (db.prepare(`SELECT body FROM results WHERE record_id = ?`).get(report.recordId) as { body: string }).body;
          if (before !== text) return json(res, 409, { error: `recordId ${report.recordId} was reported before with other content` });
        }
        if (this.behaviour.loseAnswer) return void req.socket.destroy();
        json(res, 200, { accepted: true, duplicate: stored === 0 });
      },
      () => req.socket.destroy(),
    );
  }

  /** Answers as the behaviour says (garbage or a status); true when it did. */
  private misbehave(res: ServerResponse): boolean {
    const b = this.behaviour;
    if (b.status !== undefined) {
      json(res, b.status, { error: `injected fault: HTTP ${b.status}` });
      return true;
    }
    if (b.garbage) {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(typeof b.garbage === 'string' ? b.garbage : '<html><body>Service temporarily unavailable\u0007</body></html>');
      return true;
    }
    return false;
  }

  /** POST /_control/behaviour {garbage?, status?, delayMs?}; POST /_control/routes (a route table); GET /_control/queries. */
  private control(req: IncomingMessage, res: ServerResponse, route: string): void {
    if (route === '/_control/queries' && req.method === 'GET') return json(res, 200, { queries: this.queries });
    readBodyText(req, 256 * 1024).then(
      (body) => {
        let arg: unknown = {};
        try {
          if (body) arg = JSON.parse(body);
        } catch {
          return json(res, 400, { error: 'the body is not JSON' });
        }
        if (route === '/_control/behaviour') {
          this.behaviour = { ...(arg as MesBehaviour) };
          return json(res, 200, { behaviour: this.behaviour });
        }
        if (route === '/_control/routes') {
          try {
            this.setRoutes(arg as RouteTable);
          } catch (err) {
            return json(res, 422, { error: (err as Error).message });
          }
          return json(res, 200, { ok: true });
        }
        json(res, 404, { error: `no control route ${route}` });
      },
      () => req.socket.destroy(),
    );
  }

  private count(): number {
    return this.db ? (this.db.prepare(`SELECT count(*) AS n FROM results`).get() as { n: number }).n : 0;
  }
}
