// A TofuPilot API simulator for the station's tests (docs/tofupilot.md): the two routes of the runs
// API the `tofupilot` sink uses (drivers/tofupilot/contract.ts), runs kept in memory, and faults on
// demand for the next requests: an answer lost after the run was stored, 429 with Retry-After, 500,
// and 401. It checks bodies against the contract's schema (422 with TofuPilot-like issues) and the
// procedure against the ones it knows (404), as the real service does.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, readBodyText, safeEqual, HttpListener } from '../../lib/http-server.js';
import { RUNS_PATH, runCreateSchema, type RunCreate } from './contract.js';

export type TofupilotFault = 'lose-answer' | '429' | '500' | '401';

export interface TofupilotSimOptions {
  /** The API key stations must send. */
  apiKey: string;
  /** The procedure IDs it knows (runs for others: 404). */
  procedures: string[];
  host?: string;
  port?: number;
}

export interface StoredRun {
  id: string;
  createdAt: string;
  body: RunCreate;
}

export class TofupilotSimulator {
  private readonly http: HttpListener;
  /** Faults for the next POSTs of runs, in order. */
  private readonly faults: TofupilotFault[] = [];
  /** Every run stored, in order. */
  readonly runs: StoredRun[] = [];
  /** Requests received, by "METHOD path". */
  readonly requests: string[] = [];

  constructor(private readonly opts: TofupilotSimOptions) {
    this.http = new HttpListener((req, res) => this.handle(req, res), opts.port ?? 0, opts.host ?? '127.0.0.1');
  }

  get url(): string {
    return this.http.url;
  }

  /** The next `count` POSTs of runs meet `fault`. */
  fault(fault: TofupilotFault, count = 1): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  async start(): Promise<void> {
    await this.http.listen();
  }

  async stop(): Promise<void> {
    await this.http.close();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://tofupilot');
    this.requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname !== RUNS_PATH || (req.method !== 'GET' && req.method !== 'POST')) return json(res, 404, { message: `no route ${req.method} ${url.pathname}` });
    const fault = req.method === 'POST' ? this.faults.shift() : undefined;
    if (fault === '401' || !safeEqual(req.headers.authorization ?? '', `Bearer ${this.opts.apiKey}`)) return json(res, 401, { message: 'Invalid API key' });
    if (req.method === 'GET') return this.list(res, url.searchParams);
    readBodyText(req, 4 * 1024 * 1024).then(
      (text) => this.create(req, res, text, fault),
      () => req.socket.destroy(),
    );
  }

  private create(req: IncomingMessage, res: ServerResponse, text: string | null, fault: TofupilotFault | undefined): void {
    if (text === null) return json(res, 413, { message: 'Request body too large' });
    if (fault === '429') {
      res.setHeader('Retry-After', '1');
      return json(res, 429, { message: 'Too many requests' });
    }
    if (fault === '500') return json(res, 500, { message: 'Internal server error' });
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return json(res, 400, { message: 'Invalid JSON' });
    }
    const parsed = runCreateSchema.safeParse(raw);
    if (!parsed.success) return json(res, 422, { message: 'Validation failed', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
    if (!this.opts.procedures.includes(parsed.data.procedure_id)) return json(res, 404, { message: `Procedure ${parsed.data.procedure_id} not found` });
    const run: StoredRun = { id: randomUUID(), createdAt: new Date().toISOString(), body: parsed.data };
    this.runs.push(run);
    if (fault === 'lose-answer') return void req.socket.destroy();
    json(res, 200, { id: run.id });
  }

  /** GET /api/v2/runs: serial_numbers, procedure_ids (repeated), started_after, started_before (inclusive here), limit. */
  private list(res: ServerResponse, q: URLSearchParams): void {
    const serials = q.getAll('serial_numbers').map((s) => s.toLowerCase());
    const procedures = q.getAll('procedure_ids');
    const after = q.get('started_after');
    const before = q.get('started_before');
    const limit = Math.min(100, Number(q.get('limit') ?? 50) || 50);
    const found = this.runs.filter((r) => {
      const started = Date.parse(r.body.started_at);
      if (serials.length > 0 && !serials.includes(r.body.serial_number.toLowerCase())) return false;
      if (procedures.length > 0 && !procedures.includes(r.body.procedure_id)) return false;
      if (after !== null && started < Date.parse(after)) return false;
      if (before !== null && started > Date.parse(before)) return false;
      return true;
    });
    const page = found.slice(0, limit);
    json(res, 200, {
      data: page.map((r) => ({
        id: r.id,
        created_at: r.createdAt,
        started_at: r.body.started_at,
        ended_at: r.body.ended_at,
        duration: `PT${(Date.parse(r.body.ended_at) - Date.parse(r.body.started_at)) / 1000}S`,
        outcome: r.body.outcome,
        procedure: { id: r.body.procedure_id, name: 'simulated procedure', version: r.body.procedure_version ? { tag: r.body.procedure_version } : null },
        unit: { id: `unit-${r.body.serial_number}`, serial_number: r.body.serial_number, part: { number: 'SIM', name: 'simulated part' } },
      })),
      meta: { has_more: found.length > limit, next_cursor: found.length > limit ? limit : null },
    });
  }
}
