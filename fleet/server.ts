// The fleet view's server (docs/fleet.md): one MQTT subscription to `<prefix>/#` folded into the
// fleet's state (reducer.ts), one read-only page (fleet/ui/) kept live over socket.io.
//
// The broker is the only source: on (re)connect it replays the retained `state`, `slots/<n>/state`,
// `alarms` and `metrics` of every station, so a restarted view shows every station again at once.
// The subscription is QoS 0 on a session that ends with the connection: a view that falls behind
// is caught up by the next message of each topic, and the broker never queues for it.
//
// Browsers get the whole fleet once when they connect, then diffs: the views of the stations that
// changed, coalesced per station to at most RATE_PER_SEC a second (a token bucket: a burst of 4,
// then one every 250 ms; a station changing faster is sent at its latest, never lost: its last
// change always goes out), in one message every BATCH_MS at most; never the whole fleet on a timer.
import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { Server as IoServer } from 'socket.io';
import { MqttConnection } from '../drivers/mqtt/connection.js';
import { FleetState, type StationView } from './reducer.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The project root from this file, in the source tree (fleet/) or built (dist/fleet/). */
const ROOT = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '../..') : path.resolve(HERE, '..');
export const FLEET_UI_DIR = path.join(ROOT, 'fleet/ui');
const STATION_UI = path.join(ROOT, 'ui');

/** Pushes of one station's card a second, at most (on average; a burst of as many at once). */
export const RATE_PER_SEC = 4;
/** Diffs go out at most this often (ms): what is due then goes in one message, to every browser. */
export const BATCH_MS = 16;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export interface FleetOptions {
  /** mqtt://host:port or mqtts://host:port. */
  broker: string;
  /** The subscription is `<prefix>/#`: the namespace's first level (`uns`), or more levels to narrow it (`uns/acme/shenzhen`). */
  prefix: string;
  port: number;
  host: string;
  username?: string;
  /** A secret: never logged. */
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  log: Logger;
}

export interface FleetSummary {
  stations: number;
  online: number;
  offline: number;
  unknown: number;
  /** Payloads ignored because they were not JSON or not the station's shape. */
  badPayloads: number;
  broker: { target: string; connected: boolean; problem: string | null };
}

export class FleetServer {
  readonly state = new FleetState();
  private readonly conn: MqttConnection;
  private http: HttpServer | null = null;
  private io: IoServer | null = null;
  /** Per station: its pushes left (a token bucket) and when it was last filled. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** Stations changed and not pushed yet (key → removed). */
  private readonly dirty = new Map<string, boolean>();
  /** When each dirty station's oldest unsent change arrived (ms since the epoch). */
  private readonly dirtySince = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushTimerAt = Infinity;
  private lastFlushAt = -Infinity;
  private summaryDirty = false;
  private readonly log: Logger;

  constructor(private readonly opts: FleetOptions) {
    this.log = opts.log;
    this.conn = new MqttConnection({
      url: opts.broker,
      // Random: two views must never take each other's session over.
      clientId: `fleet-${randomBytes(6).toString('hex')}`,
      username: opts.username,
      password: opts.password,
      tls: opts.tls,
      // The session ends with the connection: every reconnect subscribes afresh and gets the retained state again.
      sessionExpirySec: 0,
      keepaliveSec: 30,
      connectTimeoutMs: 10_000,
      reconnect: { initialMs: 250, maxMs: 10_000 },
      log: opts.log.child({ part: 'fleet.mqtt' }),
    });
  }

  get url(): string {
    const a = this.http?.address() as AddressInfo | null | undefined;
    if (!a) throw new Error('the fleet view is not listening');
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  get brokerUp(): boolean {
    return this.conn.isUp;
  }

  async start(): Promise<void> {
    const app = express();
    app.disable('x-powered-by');
    // Served on loopback (the default), the page answers only to loopback names: a web page elsewhere
    // cannot read the fleet through a name it points at 127.0.0.1 (DNS rebinding).
    app.use((req, res, next) => {
      if (this.hostAllowed(req.headers.host)) next();
      else res.status(421).json({ error: `the fleet view answers to localhost or 127.0.0.1 only (it listens on ${this.opts.host}), not to ${JSON.stringify(req.headers.host ?? '')}` });
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
            connectSrc: ["'self'", (req) => `ws://${(req as express.Request).headers.host ?? ''}`],
            objectSrc: ["'none'"],
            baseUri: ["'self'"],
            formAction: ["'none'"],
            frameAncestors: ["'none'"],
          },
        },
        referrerPolicy: { policy: 'no-referrer' },
        strictTransportSecurity: false,
      }),
    );
    app.get('/api/fleet', (_req, res) => {
      res.json({ summary: this.summary(), stations: this.state.all() });
    });
    // The dashboard's look (its colour tokens and top bar) and icon, from the station's own ui/.
    app.get(['/station.css', '/favicon.svg'], (req, res) => res.sendFile(path.join(STATION_UI, req.path)));
    app.use(express.static(FLEET_UI_DIR, { index: 'index.html', maxAge: 0 }));
    app.use((req, res) => {
      res.status(404).json({ error: `nothing at ${req.method} ${req.path}: the fleet view is read-only` });
    });

    const http = createServer(app);
    this.http = http;
    const io = new IoServer(http, { serveClient: true, path: '/socket.io', allowRequest: (req, cb) => cb(null, this.hostAllowed(req.headers.host)) });
    this.io = io;
    io.on('connection', (socket) => {
      // The whole fleet once; diffs after. The page sends nothing that is read.
      socket.emit('snapshot', { summary: this.summary(), stations: this.state.all() });
    });

    this.conn.events.on('message', ({ topic, payload }) => this.onMessage(topic, payload));
    this.conn.events.on('up', () => {
      this.log.info({ broker: this.conn.target, subscription: `${this.opts.prefix}/#` }, 'fleet view subscribed to the namespace');
      this.summaryDirty = true;
      this.scheduleFlush();
    });
    this.conn.events.on('down', () => {
      this.summaryDirty = true;
      this.scheduleFlush();
    });
    this.conn.subscribe(`${this.opts.prefix}/#`, 0);
    this.conn.start();

    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.opts.port, this.opts.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.log.info({ url: this.url, broker: this.conn.target, prefix: this.opts.prefix }, 'fleet view listening');
  }

  private hostAllowed(host: string | undefined): boolean {
    if (!LOOPBACK.has(this.opts.host)) return true;
    const name = (host ?? '').replace(/:\d+$/, '').toLowerCase();
    return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.conn.stop();
    const io = this.io;
    this.io = null;
    if (io) await new Promise<void>((resolve) => io.close(() => resolve()));
    const http = this.http;
    this.http = null;
    if (http?.listening) await new Promise<void>((resolve) => http.close(() => resolve()));
  }

  summary(): FleetSummary {
    let online = 0;
    let offline = 0;
    for (const s of this.state.all()) {
      if (s.state === 'online') online++;
      else if (s.state === 'offline') offline++;
    }
    const problem = this.conn.problem;
    return {
      stations: this.state.size,
      online,
      offline,
      unknown: this.state.size - online - offline,
      badPayloads: this.state.badTotal,
      broker: { target: this.conn.target, connected: this.conn.isUp, problem: problem ? problem.message : null },
    };
  }

  /** Folds a message in (public for tests that feed messages without a broker). */
  onMessage(topic: string, payload: Buffer | string): void {
    const changed = this.state.apply(topic, payload, (b) => {
      this.summaryDirty = true;
      if (b.first)
        this.log.warn({ topic: b.topic, kind: b.kind, payload: b.head }, `fleet view: a ${b.kind} payload ignored (${b.why}); further bad payloads of this station's ${b.kind} are only counted`);
    });
    if (!changed) {
      if (this.summaryDirty) this.scheduleFlush();
      return;
    }
    if (!this.dirty.has(changed.key)) this.dirtySince.set(changed.key, Date.now());
    this.dirty.set(changed.key, changed.removed || (this.dirty.get(changed.key) ?? false));
    if (this.stateChanged(changed.key)) this.summaryDirty = true;
    this.scheduleFlush();
  }

  private readonly lastState = new Map<string, string>();

  private stateChanged(key: string): boolean {
    const v = this.state.get(key);
    const s = v?.state ?? 'gone';
    if (this.lastState.get(key) === s) return false;
    if (v) this.lastState.set(key, s);
    else this.lastState.delete(key);
    return true;
  }

  /** Flushes soon: at once after a quiet spell, else BATCH_MS after the last flush (one message for all that is due). */
  private scheduleFlush(at = 0): void {
    const when = Math.max(at, this.lastFlushAt + BATCH_MS);
    if (this.flushTimer && this.flushTimerAt <= when) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimerAt = when;
    this.flushTimer = setTimeout(
      () => {
        this.flushTimer = null;
        this.flushTimerAt = Infinity;
        this.flush();
      },
      Math.max(0, when - performance.now()),
    );
  }

  private flush(): void {
    const now = performance.now();
    this.lastFlushAt = now;
    const stations: StationView[] = [];
    /** Per station sent: how long its oldest change waited here (ms): the page adds the transport and its frame. */
    const held: number[] = [];
    const removed: string[] = [];
    const wall = Date.now();
    let nextAt = Infinity;
    for (const [key, gone] of this.dirty) {
      // A token bucket per station: RATE_PER_SEC tokens at most, one back every 1000/RATE_PER_SEC ms.
      const b = this.buckets.get(key) ?? { tokens: RATE_PER_SEC, at: now };
      b.tokens = Math.min(RATE_PER_SEC, b.tokens + ((now - b.at) * RATE_PER_SEC) / 1000);
      b.at = now;
      this.buckets.set(key, b);
      if (b.tokens < 1) {
        nextAt = Math.min(nextAt, now + ((1 - b.tokens) * 1000) / RATE_PER_SEC);
        continue;
      }
      b.tokens -= 1;
      this.dirty.delete(key);
      const since = this.dirtySince.get(key) ?? wall;
      this.dirtySince.delete(key);
      const v = gone ? undefined : this.state.get(key);
      if (v) {
        stations.push(v);
        held.push(wall - since);
      } else {
        removed.push(key);
        this.buckets.delete(key);
      }
    }
    if (stations.length > 0 || removed.length > 0 || this.summaryDirty) {
      // The counts only when they may have changed (a station's state, a bad payload, the broker).
      const summary = this.summaryDirty ? this.summary() : null;
      this.summaryDirty = false;
      this.io?.emit('diff', { summary, stations, held, removed, sentAt: Date.now() });
    }
    if (nextAt !== Infinity) this.scheduleFlush(nextAt);
  }
}
