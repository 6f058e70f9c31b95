// The HTTP server (SPEC §6): the JSON API (station/server/routes.ts, every route with its role),
// the live socket on the same port (station/server/socket.ts), security headers, and the
// dashboard's static files. Inputs are validated at the edge; errors are JSON a person can act on.
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { storeFaultCode } from '../store/fault-watch.js';
import type { HttpDeps } from './deps.js';
import { HostAllowList, misdirected } from './hosts.js';
import { registerRoutes, routeTable } from './routes.js';
import { LiveSocketServer } from './socket.js';

/** A host header fit to name in the CSP (it comes from the client). */
const HOST_HEADER = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** server.headersTimeoutMs and server.requestTimeoutMs by default. */
const DEFAULT_TIMEOUTS = { headersMs: 5_000, requestMs: 10_000 };

export class HttpServer {
  private server: Server | null = null;
  private socket: LiveSocketServer | null = null;
  /** The Host names it answers to (station/server/hosts.ts), known once it knows its address. */
  private hosts: HostAllowList | null = null;
  /** Names refused already: one log line each. */
  private readonly refusedHosts = new Set<string>();

  constructor(private readonly deps: HttpDeps) {}

  get address(): { host: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  buildApp(): express.Express {
    const d = this.deps;
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    // First of all: a request for another name (DNS rebinding) gets nothing, not even a static file.
    app.use((req, res, next) => {
      if (this.hostAllowed(req.headers.host, req.socket.remoteAddress)) next();
      else res.status(421).json({ error: misdirected(req.headers.host) });
    });
    app.use(
      helmet({
        contentSecurityPolicy: {
          useDefaults: false,
          directives: {
            defaultSrc: ["'self'"],
            scriptSrc: ["'self'"],
            styleSrc: ["'self'"],
            imgSrc: ["'self'", 'data:'],
            fontSrc: ["'self'"],
            // 'self' covers same-origin WebSockets in current browsers; the explicit ws(s): form is
            // for the ones that predate CSP level 3.
            connectSrc: ["'self'", (req) => wsSource(req as Request)],
            objectSrc: ["'none'"],
            baseUri: ["'self'"],
            formAction: ["'self'"],
            frameAncestors: ["'none'"],
          },
        },
        referrerPolicy: { policy: 'no-referrer' },
        xFrameOptions: { action: 'deny' },
        // The station is served over plain HTTP on the factory LAN: HSTS would only get in the way
        // of a later https setup, and upgrade-insecure-requests would break the plain one.
        strictTransportSecurity: false,
      }),
    );

    registerRoutes(app, d, routeTable(d));

    app.use('/api', (req, res) => {
      res.status(404).json({ error: `no such API route: ${req.method} ${req.originalUrl.split('?')[0]}` });
    });
    for (const [prefix, dir] of Object.entries(d.vendorDirs)) app.use(prefix, express.static(dir, { index: false, maxAge: 0 }));
    app.use(express.static(d.uiDir, { index: 'index.html', maxAge: 0 }));
    app.use((req, res) => {
      if (req.method !== 'GET') {
        res.status(404).json({ error: 'not found' });
        return;
      }
      res.sendFile(path.join(d.uiDir, 'index.html'));
    });
    app.use((err: Error & { type?: string; status?: number }, req: Request, res: Response, _next: NextFunction) => {
      if (err.type === 'entity.parse.failed') {
        res.status(400).json({ error: `the body is not valid JSON: ${err.message}` });
        return;
      }
      if (err.type === 'entity.too.large') {
        res.status(413).json({ error: 'the body is too large' });
        return;
      }
      if (err.status === 404) {
        res.status(404).json({ error: 'not found' });
        return;
      }
      const fault = storeFaultCode(err);
      if (fault) {
        // The disk under the store failed (station/fault-latch.ts): nothing this request wanted written was.
        d.latch?.report(err, `HTTP ${req.method} ${req.path}`);
        if (res.headersSent) res.destroy();
        else res.status(503).json({ error: `the station's store failed (${fault}): see GET /api/health` });
        return;
      }
      d.log.error({ err }, 'HTTP request failed');
      if (res.headersSent) res.destroy();
      else res.status(500).json({ error: 'internal error; see the station log' });
    });
    return app;
  }

  /** Whether a request naming `host` is for this station; a refusal is logged once per name. */
  private hostAllowed(host: string | undefined, address: string | undefined): boolean {
    if (!this.hosts || this.hosts.allows(host)) return true;
    const key = (host ?? '').slice(0, 100);
    if (!this.refusedHosts.has(key) && this.refusedHosts.size < 100) {
      this.refusedHosts.add(key);
      this.deps.log.warn({ host: key, address }, 'request refused: it names a host this station does not answer to (server.allowedHosts)');
    }
    return false;
  }

  listen(host: string, port: number): Promise<void> {
    const d = this.deps;
    this.hosts = HostAllowList.forServer({ host, allowedHosts: d.allowedHosts ?? null });
    const t = d.timeouts ?? DEFAULT_TIMEOUTS;
    // Every request has its headers within headersMs and its body within requestMs, else 408 and
    // the connection closed (node's defaults wait 60 s and 300 s: a body that never comes, however
    // large its Content-Length, ties up a descriptor for 5 minutes). Looked at every quarter of
    // the headers' time, at most each second.
    const server = createServer({ headersTimeout: t.headersMs, requestTimeout: t.requestMs, connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(t.headersMs / 4))) }, this.buildApp());
    this.server = server;
    this.socket = new LiveSocketServer({
      feed: d.feed,
      sessions: d.sessions,
      actions: d.actions,
      allowedOrigins: d.allowedOrigins,
      lineScreen: d.lineScreen ?? true,
      allowHost: (h, address) => this.hostAllowed(h, address),
      log: d.log.child({ part: 'station.socket' }),
    });
    this.socket.attach(server);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use (server.port or STATION_PORT)` : `cannot listen on ${host}:${port}: ${err.message}`)),
      );
      server.listen(port, host, () => resolve());
    });
  }

  async close(): Promise<void> {
    await this.socket?.close();
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

function wsSource(req: Request): string {
  const host = req.headers.host ?? '';
  if (!HOST_HEADER.test(host)) return "'self'";
  return `${req.secure ? 'wss' : 'ws'}://${host}`;
}
