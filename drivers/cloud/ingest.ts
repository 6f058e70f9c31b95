// The reference ingest: a small, readable implementation of the cloud side of docs/cloud-api.md,
// for customers to copy and for the station's tests and demo. It checks the bearer key and the
// body's signature, stores records in its own SQLite keyed by recordId (a record sent twice is
// accepted twice and stored once), refuses a batch whose Idempotency-Key it has seen before with
// other bytes (a retry must be the same batch, byte for byte), answers per record, issues factory
// tokens, and can be told to fail in each way a real network or backend fails (faults below).
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { json, readBody, safeEqual, HttpListener } from '../../lib/http-server.js';

export type IngestFault =
  /** Answer this HTTP status (500, 502, 503, 429, 408, 400, 401 ...); Retry-After with 429/503. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  /** Read the request, never answer (the station's timeout must fire). */
  | { kind: 'hang' }
  /** Cut the connection while the body is arriving. */
  | { kind: 'reset' }
  /** Store the batch, then cut the connection before answering: the station must retry, and the
   *  retry must not store anything twice. */
  | { kind: 'commit-then-drop' }
  /** Answer 200 with a body that is not the contract's shape. */
  | { kind: 'malformed'; body?: string }
  /** Reject every `every`-th record of a batch (by seq), for good or for now. */
  | { kind: 'reject'; every: number; permanent: boolean; reason?: string };

export interface IngestOptions {
  /** The ingest's SQLite file. */
  dbPath: string;
  apiKey: string;
  hmacSecret: string;
  host?: string;
  port?: number;
  maxBodyBytes?: number;
  /** Serve /_control/* (faults, flapping) to callers with the API key: for tests in another process. */
  control?: boolean;
  /**
   * Give each accepted blessed record a claim code in the answer (docs/cloud-api.md#claim-codes):
   * derived from the record and a key of this ingest, so a retry gets the same code.
   */
  claimCodes?: boolean;
}

/** Counts since this ingest started (`records` and `batches` are rows in its database). */
export interface IngestStats {
  records: number;
  batches: number;
  /** Every record delivery received in a batch, duplicates and rejections included. */
  deliveries: number;
  /** Deliveries that stored a new record: each recordId once, however often it was sent. */
  stored: number;
  /** Records sent again after they were stored (retries): accepted, not stored again. */
  duplicates: number;
  /** Deliveries answered with a rejection (for good or for now). */
  rejected: number;
  /** Batch requests whose Idempotency-Key was seen before with the very same body bytes. */
  repeatedBatches: number;
  /** Batch requests whose Idempotency-Key was seen before with other bytes: refused with 422. */
  mismatchedRetries: number;
  requests: number;
  faultsServed: number;
}

interface Ledger {
  db: Database.Database;
  insertKey: Database.Statement;
  keyHash: Database.Statement;
  applyBatch: (stationId: string, batchId: string, records: Record<string, unknown>[], rejectEvery: IngestFault | null) => IngestAnswer;
}

const RECORD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEVICE_ID = /^[0-9a-f]{8,64}$/;

export class IngestServer {
  private readonly http: HttpListener;
  /** The ingest's database and its statements: opened by start(), closed by stop(). */
  private ledger: Ledger | null = null;
  private readonly faults: { fault: IngestFault; remaining: number }[] = [];
  private flapTimer: NodeJS.Timeout | null = null;
  private down = false;
  private readonly counters = { deliveries: 0, stored: 0, duplicates: 0, rejected: 0, repeatedBatches: 0, mismatchedRetries: 0, requests: 0, faultsServed: 0 };

  constructor(private readonly opts: IngestOptions) {
    this.http = new HttpListener((req, res) => this.handle(req, res), opts.port ?? 0, opts.host ?? '127.0.0.1');
  }

  /** Opens (creating) the ingest's SQLite file and prepares its statements. */
  private openLedger(): Ledger {
    mkdirSync(path.dirname(this.opts.dbPath), { recursive: true });
    const db = new Database(this.opts.dbPath);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE IF NOT EXISTS records (
        record_id   TEXT PRIMARY KEY,
        station_id  TEXT NOT NULL,
        seq         INTEGER,
        device_id   TEXT NOT NULL,
        status      TEXT NOT NULL,
        batch_id    TEXT NOT NULL,
        body        TEXT NOT NULL,
        received_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS batches (
        batch_id      TEXT PRIMARY KEY,
        station_id    TEXT NOT NULL,
        first_seen_at INTEGER NOT NULL,
        times_seen    INTEGER NOT NULL
      );
      -- The SHA-256 of the first complete body seen under each batch's Idempotency-Key.
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        station_id      TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        body_sha256     TEXT NOT NULL,
        first_seen_at   INTEGER NOT NULL,
        PRIMARY KEY (station_id, idempotency_key)
      );
    `);
    const insertRecord = db.prepare(
      `INSERT INTO records (record_id, station_id, seq, device_id, status, batch_id, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING`,
    );
    const upsertBatch = db.prepare(`INSERT INTO batches (batch_id, station_id, first_seen_at, times_seen) VALUES (?, ?, ?, 1) ON CONFLICT (batch_id) DO UPDATE SET times_seen = times_seen + 1`);
    const insertKey = db.prepare(`INSERT INTO idempotency_keys (station_id, idempotency_key, body_sha256, first_seen_at) VALUES (?, ?, ?, ?) ON CONFLICT (station_id, idempotency_key) DO NOTHING`);
    const keyHash = db.prepare(`SELECT body_sha256 FROM idempotency_keys WHERE station_id = ? AND idempotency_key = ?`);
    const applyBatch = db.transaction((stationId: string, batchId: string, records: Record<string, unknown>[], reject: IngestFault | null) => {
      const answer: IngestAnswer = { accepted: [], rejected: [] };
      const now = Date.now();
      upsertBatch.run(batchId, stationId, now);
      for (const r of records) {
        this.counters.deliveries++;
        const recordId = typeof r.recordId === 'string' ? r.recordId : '';
        const problem = recordProblem(r, stationId);
        if (problem) {
          this.counters.rejected++;
          answer.rejected.push({ recordId, permanent: true, reason: problem });
          continue;
        }
        if (reject?.kind === 'reject' && typeof r.seq === 'number' && r.seq % reject.every === 0) {
          this.counters.rejected++;
          answer.rejected.push({ recordId, permanent: reject.permanent, reason: reject.reason ?? (reject.permanent ? 'device is not part of this product' : 'registry busy, try again') });
          continue;
        }
        const stored = insertRecord.run(recordId, stationId, typeof r.seq === 'number' ? r.seq : null, r.deviceId, r.status, batchId, JSON.stringify(r), now).changes;
        if (stored === 0) this.counters.duplicates++;
        else this.counters.stored += stored;
        answer.accepted.push(recordId);
        if (this.opts.claimCodes && r.status === 'blessed') (answer.claimCodes ??= {})[recordId] = this.claimCodeFor(recordId);
      }
      return answer;
    });
    return { db, insertKey, keyHash, applyBatch };
  }

  /** A claim code for a record: 12 letters and digits in groups of four, the same for the same record. */
  claimCodeFor(recordId: string): string {
    const digest = createHmac('sha256', `${this.opts.hmacSecret}:claim`).update(recordId).digest();
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
    const chars = Array.from(digest.subarray(0, 12), (b) => alphabet[b % alphabet.length]).join('');
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`;
  }

  private get db(): Database.Database {
    if (!this.ledger) throw new Error('the ingest is not started');
    return this.ledger.db;
  }

  get port(): number {
    return this.http.port;
  }

  get url(): string {
    return this.http.url;
  }

  async start(): Promise<void> {
    this.ledger ??= this.openLedger();
    await this.http.listen();
    this.down = false;
  }

  /** Stops listening and cuts every connection: to the station, the ingest is unreachable. */
  async goDown(): Promise<void> {
    this.down = true;
    await this.http.close();
  }

  async stop(): Promise<void> {
    if (this.flapTimer) clearTimeout(this.flapTimer);
    this.flapTimer = null;
    await this.goDown();
    this.ledger?.db.close();
    this.ledger = null;
  }

  /** The next `count` batch requests (default: until cleared) get this fault. */
  inject(fault: IngestFault, count = Infinity): void {
    this.faults.push({ fault, remaining: count });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Goes down for `downMs` every `upMs + downMs`, until stop() or flap(null). */
  flap(cycle: { upMs: number; downMs: number } | null, onChange?: (up: boolean) => void): void {
    if (this.flapTimer) clearTimeout(this.flapTimer);
    this.flapTimer = null;
    if (!cycle) return;
    const loop = (up: boolean): void => {
      this.flapTimer = setTimeout(
        () => {
          const next = up ? this.goDown() : this.start();
          next.then(
            () => {
              onChange?.(!up);
              if (this.flapTimer) loop(!up);
            },
            () => loop(up),
          );
        },
        up ? cycle.upMs : cycle.downMs,
      );
    };
    loop(!this.down);
  }

  stats(): IngestStats {
    const r = this.db.prepare(`SELECT count(*) AS n FROM records`).get() as { n: number };
    const b = this.db.prepare(`SELECT count(*) AS n FROM batches`).get() as { n: number };
    return { records: r.n, batches: b.n, ...this.counters };
  }

  /** Every stored recordId with how many rows it has (always 1: the key is the recordId). */
  recordIds(stationId?: string): string[] {
    const rows = this.db.prepare(`SELECT record_id FROM records WHERE @s IS NULL OR station_id = @s ORDER BY seq`).all({ s: stationId ?? null }) as { record_id: string }[];
    return rows.map((r) => r.record_id);
  }

  private nextFault(): IngestFault | null {
    const f = this.faults[0];
    if (!f) return null;
    if (--f.remaining <= 0) this.faults.shift();
    this.counters.faultsServed++;
    return f.fault;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.counters.requests++;
    const url = new URL(req.url ?? '/', 'http://ingest');
    const batches = /^\/v1\/stations\/([A-Za-z0-9_.-]{1,64})\/batches$/.exec(url.pathname);
    const tokens = /^\/v1\/stations\/([A-Za-z0-9_.-]{1,64})\/factory-tokens$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/health') return json(res, 200, { ok: true, ...this.stats() });
    if (this.opts.control && url.pathname.startsWith('/_control/')) return this.control(req, res, url.pathname);
    if (req.method !== 'POST' || (!batches && !tokens)) return json(res, 404, { error: `no route ${req.method} ${url.pathname}` });
    const fault = batches ? this.nextFault() : null;
    if (fault?.kind === 'reset') {
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      return;
    }
    readBody(req, this.opts.maxBodyBytes ?? 16 * 1024 * 1024).then(
      (body) => {
        if (body === null) return json(res, 413, { error: 'the body is too large' });
        const authProblem = this.checkAuth(req, body);
        if (authProblem) return json(res, 401, { error: authProblem });
        if (batches) {
          // A retry must be the same batch, byte for byte (docs/cloud-api.md): the first body seen
          // under a key is remembered by its SHA-256, and other bytes under that key are refused.
          const key = req.headers['idempotency-key'];
          if (typeof key === 'string' && key.length > 0 && key.length <= 200 && this.sameBodyAsBefore((batches as RegExpExecArray)[1] as string, key, body) === false) {
            this.counters.mismatchedRetries++;
            return json(res, 422, { error: `Idempotency-Key ${JSON.stringify(key.slice(0, 100))} was reused with a different body: a retry must send the same bytes` });
          }
        }
        if (fault?.kind === 'hang') return; // never answered; the socket stays open
        if (fault?.kind === 'status') {
          if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
          return json(res, fault.status, { error: `injected fault: HTTP ${fault.status}` });
        }
        if (fault?.kind === 'malformed') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(fault.body ?? '{"ok":true,"note":"<not the contract>"}');
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          return json(res, 400, { error: 'the body is not JSON' });
        }
        if (tokens) return this.issueTokens(res, parsed);
        const stationId = (batches as RegExpExecArray)[1] as string;
        const b = parsed as { batchId?: unknown; stationId?: unknown; records?: unknown };
        const batchId = req.headers['idempotency-key'];
        if (typeof b.batchId !== 'string' || !Array.isArray(b.records) || b.records.some((r) => r === null || typeof r !== 'object')) {
          return json(res, 422, { error: 'a batch is {batchId, stationId, records:[{recordId, deviceId, status, ...}]}' });
        }
        if (b.stationId !== stationId) return json(res, 422, { error: `stationId ${JSON.stringify(b.stationId)} does not match the URL's ${stationId}` });
        if (batchId !== b.batchId) return json(res, 422, { error: 'the Idempotency-Key header must be the batchId' });
        const answer = (this.ledger as Ledger).applyBatch(stationId, b.batchId, b.records as Record<string, unknown>[], fault?.kind === 'reject' ? fault : null);
        if (fault?.kind === 'commit-then-drop') {
          req.socket.destroy();
          return;
        }
        json(res, 200, answer);
      },
      () => req.socket.destroy(),
    );
  }

  /** POST /_control/fault {fault, count?}, /_control/clear, /_control/flap {upMs, downMs} | {} — key required. */
  private control(req: IncomingMessage, res: ServerResponse, route: string): void {
    if (!safeEqual(req.headers.authorization ?? '', `Bearer ${this.opts.apiKey}`)) return json(res, 401, { error: 'unknown API key' });
    readBody(req, 64 * 1024).then(
      (body) => {
        let arg: { fault?: IngestFault; count?: number; upMs?: number; downMs?: number } = {};
        try {
          if (body && body.length > 0) arg = JSON.parse(body.toString('utf8')) as typeof arg;
        } catch {
          return json(res, 400, { error: 'the body is not JSON' });
        }
        if (route === '/_control/fault' && arg.fault) this.inject(arg.fault, arg.count ?? Infinity);
        else if (route === '/_control/clear') this.clearFaults();
        else if (route === '/_control/flap') this.flap(arg.upMs && arg.downMs ? { upMs: arg.upMs, downMs: arg.downMs } : null);
        else if (route !== '/_control/stats') return json(res, 404, { error: `no control route ${route}` });
        json(res, 200, this.stats());
      },
      () => req.socket.destroy(),
    );
  }

  /** Remembers the body's SHA-256 under its key the first time; after that, whether it matches. */
  private sameBodyAsBefore(stationId: string, key: string, body: Buffer): boolean | null {
    const hash = createHash('sha256').update(body).digest('hex');
    const ledger = this.ledger as Ledger;
    if (ledger.insertKey.run(stationId, key, hash, Date.now()).changes > 0) return null;
    const first = (ledger.keyHash.get(stationId, key) as { body_sha256: string }).body_sha256;
    if (first !== hash) return false;
    this.counters.repeatedBatches++;
    return true;
  }

  private checkAuth(req: IncomingMessage, body: Buffer): string | null {
    const auth = req.headers.authorization ?? '';
    if (!safeEqual(auth, `Bearer ${this.opts.apiKey}`)) return 'unknown API key';
    const sig = String(req.headers['x-signature'] ?? '');
    const expected = `sha256=${createHmac('sha256', this.opts.hmacSecret).update(body).digest('hex')}`;
    if (!safeEqual(sig, expected)) return 'bad signature: X-Signature must be sha256=<hex HMAC-SHA256 of the raw body>';
    return null;
  }

  private issueTokens(res: ServerResponse, body: unknown): void {
    const count = (body as { count?: unknown }).count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000) return json(res, 422, { error: 'count must be an integer 1-1000' });
    const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    json(res, 200, { tokens: Array.from({ length: count }, () => ({ tokenId: randomUUID(), token: randomBytes(24).toString('base64url'), type: 'factory', expiresAt })) });
  }
}

export interface IngestAnswer {
  accepted: string[];
  rejected: { recordId: string; permanent: boolean; reason: string }[];
  claimCodes?: Record<string, string>;
}

function recordProblem(r: Record<string, unknown>, stationId: string): string | null {
  if (typeof r.recordId !== 'string' || !RECORD_ID.test(r.recordId)) return 'recordId must be a UUID';
  if (typeof r.deviceId !== 'string' || !DEVICE_ID.test(r.deviceId)) return 'deviceId must be 8-64 lowercase hex characters';
  if (r.status !== 'blessed' && r.status !== 'failed') return 'status must be "blessed" or "failed"';
  if (r.stationId !== undefined && r.stationId !== stationId) return 'the record belongs to another station';
  return null;
}
