// The HTTP API (SPEC §6): health, devices, runs, metrics, and the dashboard's static files.
// Inputs are validated at the edge; errors are JSON with a message a person can act on.
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Line } from '../line/line.js';
import type { TokenLedger } from '../tokens/ledger.js';
import { BadCursorError, type Store } from '../store/store.js';

export interface HttpDeps {
  store: Store;
  line: Line;
  tokens: TokenLedger;
  alarms: ReadonlyMap<string, { severity: string; message: string; slot: number | null; since: number }>;
  metrics: Registry;
  log: Logger;
  stationId: string;
  stationName: string | null;
  mode: string;
  version: string;
  startedAt: number;
  uplinkConfigured: boolean;
  uiDir: string;
}

const devicesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
  status: z.enum(['blessed', 'failed', 'interrupted']).optional(),
});
const runIdParam = z.string().uuid();
const NEST_FAULTS = ['garbage', 'overlong', 'hang', 'unplug', 'bad-light', 'no-enroll'] as const;
const EMITTER_FAULTS = { 'emitter-silent': 'silent', 'emitter-garbage': 'garbage' } as const;
const ENROLL_FAULTS = ['invalid-token', 'expired-token', 'wrong-token-type', 'already-blessed'] as const;
const faultBody = z.strictObject({ kind: z.enum([...NEST_FAULTS, 'emitter-silent', 'emitter-garbage', ...ENROLL_FAULTS]) });

export class HttpServer {
  private server: Server | null = null;

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

    app.get('/api/health', (_req, res) => {
      const stats = d.store.stats();
      res.json({
        stationId: d.stationId,
        name: d.stationName,
        version: d.version,
        mode: d.mode,
        uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000),
        sequence: { name: d.line.currentSequence.def.name, hash: d.line.currentSequence.hash },
        slots: d.line.snapshots().map((s) => ({ slot: s.slot, name: s.name, state: s.state, connected: s.connected, deviceId: s.deviceId, runId: s.runId, step: s.step, reason: s.reason, detail: s.detail })),
        uplink: {
          state: d.uplinkConfigured ? 'configured' : 'not configured',
          queued: stats.outboxQueued,
          deadLetters: 0,
          oldestQueuedAgeSeconds: stats.outboxOldestAt === null ? null : Math.round((Date.now() - stats.outboxOldestAt) / 1000),
        },
        tokens: d.tokens.level(),
        alarms: [...d.alarms].map(([alarmId, a]) => ({ alarmId, severity: a.severity, message: a.message, slot: a.slot, since: new Date(a.since).toISOString() })),
        counts: { ...stats.runs, devicesTested: stats.devicesTested, devicesBlessed: stats.devicesBlessed, reworkBlessings: stats.reworkBlessings },
        yield: { firstPass: stats.firstPassYield, final: stats.finalYield },
      });
    });

    app.get('/api/devices', (req, res) => {
      const q = devicesQuery.safeParse(req.query);
      if (!q.success) {
        res.status(400).json({ error: 'bad query', problems: q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`) });
        return;
      }
      try {
        res.json(d.store.listDevices({ limit: q.data.limit, cursor: q.data.cursor ?? null, status: q.data.status ?? null }));
      } catch (err) {
        if (err instanceof BadCursorError) res.status(400).json({ error: err.message });
        else throw err;
      }
    });

    app.get('/api/runs/:id', (req, res) => {
      const id = runIdParam.safeParse(req.params.id);
      const run = id.success ? d.store.getRun(id.data) : null;
      if (!run) {
        res.status(404).json({ error: `no run ${JSON.stringify(String(req.params.id).slice(0, 64))}` });
        return;
      }
      res.json(run);
    });

    // Flaky conditions on demand, for simulated nests only: the next command to that nest gets the
    // fault. (The engineer role will guard this with the dashboard's sessions.)
    app.post('/api/sim/slots/:slot/faults', express.json({ limit: '1kb' }), (req, res) => {
      const slot = Number(req.params.slot);
      const sim = Number.isInteger(slot) ? d.line.simulation(slot) : null;
      if (!sim) {
        res.status(404).json({ error: `slot ${JSON.stringify(String(req.params.slot).slice(0, 16))} is not a simulated slot` });
        return;
      }
      const body = faultBody.safeParse(req.body);
      if (!body.success) {
        res.status(400).json({ error: 'bad body', problems: body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`) });
        return;
      }
      const kind = body.data.kind;
      if (kind === 'emitter-silent' || kind === 'emitter-garbage') {
        const emitter = d.line.emitterSimulation(slot);
        if (!emitter) {
          res.status(404).json({ error: `slot ${slot} has no simulated emitter` });
          return;
        }
        if (!('injectFault' in emitter.sim)) {
          res.status(404).json({ error: `slot ${slot}'s simulated emitter has no such fault (serial LED emitters only)` });
          return;
        }
        emitter.sim.injectFault(EMITTER_FAULTS[kind]);
      } else if ((ENROLL_FAULTS as readonly string[]).includes(kind)) {
        d.line.enrollment.forceNext(kind as (typeof ENROLL_FAULTS)[number]);
      } else {
        sim.nest.injectFault(kind as (typeof NEST_FAULTS)[number]);
      }
      d.log.info({ slot, fault: body.data.kind }, 'simulated fault injected');
      res.status(202).json({ slot, fault: body.data.kind });
    });

    app.get('/metrics', async (_req, res) => {
      res.type(d.metrics.contentType).send(await d.metrics.metrics());
    });

    app.use('/api', (req, res) => {
      res.status(404).json({ error: `no such API route: ${req.method} ${req.originalUrl.split('?')[0]}` });
    });
    app.use(express.static(d.uiDir, { index: 'index.html', maxAge: 0 }));
    app.use((req, res) => {
      if (req.method !== 'GET') {
        res.status(404).json({ error: 'not found' });
        return;
      }
      res.sendFile(path.join(d.uiDir, 'index.html'));
    });
    app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
      if (err.type === 'entity.parse.failed') {
        res.status(400).json({ error: `the body is not valid JSON: ${err.message}` });
        return;
      }
      if (err.type === 'entity.too.large') {
        res.status(413).json({ error: 'the body is too large' });
        return;
      }
      d.log.error({ err }, 'HTTP request failed');
      res.status(500).json({ error: 'internal error; see the station log' });
    });
    return app;
  }

  listen(host: string, port: number): Promise<void> {
    const server = createServer(this.buildApp());
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use (server.port or STATION_PORT)` : `cannot listen on ${host}:${port}: ${err.message}`)),
      );
      server.listen(port, host, () => resolve());
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
