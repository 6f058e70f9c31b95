// Runs the real station daemon (dist/station/main.js) as a child process for integration tests:
// start, wait for ready, talk HTTP, SIGTERM or SIGKILL it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { PROJECT_ROOT } from '../../station/paths.js';
import { waitFor } from './wait.js';

export const MAIN = path.join(PROJECT_ROOT, 'dist/station/main.js');

/** The dashboard credentials every test daemon gets (unless its env says otherwise). */
export const TEST_ENGINEER_PASSWORD = 'engineer-pw-for-tests';
export const TEST_OPERATOR_PIN = '246810';

export interface LoginSession {
  role: 'operator' | 'engineer';
  /** `station.sid=...`, for a Cookie header. */
  cookie: string;
  csrfToken: string;
}

/** Every daemon a test spawned: any still running when the test worker exits is killed, so a
 *  failed or timed-out test never leaves a daemon (and its ports) behind. */
const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class Daemon {
  private proc: ChildProcess | null = null;
  stdout = '';
  stderr = '';
  url = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** The engineer session api() and request() use; a restart ends it. */
  private session: LoginSession | null = null;

  constructor(
    readonly configPath: string,
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  static writeConfig(dir: string, config: object, name = 'station.config.json'): string {
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  /** Spawns the daemon; does not wait for ready. */
  spawn(extraArgs: string[] = []): this {
    this.stdout = '';
    this.stderr = '';
    this.exitCode = null;
    this.exitSignal = null;
    this.session = null;
    const proc = spawn(process.execPath, [MAIN, '--config', this.configPath, ...extraArgs], {
      env: { ...process.env, STATION_ENGINEER_PASSWORD: TEST_ENGINEER_PASSWORD, STATION_OPERATOR_PIN: TEST_OPERATOR_PIN, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    spawned.add(proc);
    proc.once('exit', () => spawned.delete(proc));
    proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
    this.proc = proc;
    return this;
  }

  async start(extraArgs: string[] = []): Promise<this> {
    // A restart on a running daemon would lose the first process: stop it first.
    if (this.running) await this.kill9();
    this.spawn(extraArgs);
    const m = await waitFor(
      'the daemon to print its ready line',
      () => {
        if (this.exitCode !== null || this.exitSignal !== null) throw new Error(`daemon exited ${this.exitCode ?? this.exitSignal}: ${this.stderr}${this.stdout.slice(-2000)}`);
        return /ready: (http:\/\/\S+\/)/.exec(this.stderr);
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );
    this.url = (m[1] as string).replace(/\/$/, '');
    return this;
  }

  /** Logs in (POST /api/session) with the test credentials, or the ones given. */
  async login(role: 'operator' | 'engineer' = 'engineer', secret?: string): Promise<LoginSession> {
    const body = role === 'engineer' ? { role, password: secret ?? TEST_ENGINEER_PASSWORD } : { role, pin: secret ?? TEST_OPERATOR_PIN };
    const res = await fetch(`${this.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`login as ${role}: HTTP ${res.status} ${await res.text()}`);
    const cookie = /station\.sid=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];
    if (!cookie) throw new Error(`login as ${role}: no session cookie in ${res.headers.get('set-cookie')}`);
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    return { role, cookie, csrfToken };
  }

  /**
   * fetch() as a logged-in user (the engineer unless `as` says otherwise): the session cookie on
   * every request, the CSRF token on anything but GET/HEAD.
   */
  async request(route: string, init: RequestInit & { as?: LoginSession } = {}): Promise<Response> {
    const send = async (session: LoginSession): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('cookie', session.cookie);
      const method = (init.method ?? 'GET').toUpperCase();
      if (method !== 'GET' && method !== 'HEAD') headers.set('x-csrf-token', session.csrfToken);
      return fetch(`${this.url}${route}`, { ...init, headers });
    };
    if (init.as) return send(init.as);
    this.session ??= await this.login('engineer');
    return send(this.session);
  }

  /** GET a JSON route as the engineer; throws on any status but 2xx. */
  async api<T = unknown>(route: string): Promise<T> {
    const res = await this.request(route);
    if (!res.ok) throw new Error(`${route}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  }

  get running(): boolean {
    return this.proc !== null && this.exitCode === null && this.exitSignal === null;
  }

  /** Waits for the process to exit on its own (e.g. after a refused start). */
  async waitExit(timeoutMs = 20_000): Promise<number | null> {
    await waitFor('the daemon to exit', () => this.exitCode !== null || this.exitSignal !== null, { timeoutMs });
    return this.exitCode;
  }

  async terminate(timeoutMs = 20_000): Promise<number | null> {
    if (!this.running) return this.exitCode;
    this.proc?.kill('SIGTERM');
    await waitFor('the daemon to exit after SIGTERM', () => this.exitCode !== null || this.exitSignal !== null, { timeoutMs });
    return this.exitCode;
  }

  /** Sends `signal` to the daemon (SIGUSR2 arms test/support/sqlite-faults.ts). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) throw new Error(`the daemon is not running (exit ${this.exitCode ?? this.exitSignal})`);
    this.proc?.kill(signal);
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.proc?.kill('SIGKILL');
    await this.exited;
  }
}

/** A dashboard's live connection (socket.io-client, websocket transport) to a daemon, recording what arrives. */
export class LiveClient {
  snapshots: Record<string, unknown>[] = [];
  /** Live `delta` events, in arrival order. */
  deltas: { seq: number; t: string; d: Record<string, unknown> }[] = [];
  /** `deltas` replays (what was missed), in arrival order. */
  replays: { seq: number; t: string; d: Record<string, unknown> }[][] = [];
  /** Every snapshot, replay and delta in arrival order, by kind. */
  arrivals: ('snapshot' | 'deltas' | 'delta')[] = [];
  disconnects: string[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('snapshot', (s: Record<string, unknown>) => {
      this.snapshots.push(s);
      this.arrivals.push('snapshot');
    });
    socket.on('deltas', (list: LiveClient['deltas']) => {
      this.replays.push(list);
      this.arrivals.push('deltas');
    });
    socket.on('delta', (d: LiveClient['deltas'][number]) => {
      this.deltas.push(d);
      this.arrivals.push('delta');
    });
    socket.on('disconnect', (reason) => this.disconnects.push(reason));
  }

  /** Connects; rejects with the server's connect_error message (`unauthorized`, `bad origin`). */
  static connect(url: string, opts: { session?: LoginSession | null; origin?: string | null; csrfToken?: string; lastSeq?: number; cookie?: string; host?: string }): Promise<LiveClient> {
    const headers: Record<string, string> = {};
    if (opts.host !== undefined) headers.host = opts.host;
    const origin = opts.origin === undefined ? url : opts.origin;
    if (origin !== null) headers.origin = origin;
    const cookie = opts.cookie ?? opts.session?.cookie;
    if (cookie) headers.cookie = cookie;
    const auth: Record<string, unknown> = {};
    const csrf = opts.csrfToken ?? opts.session?.csrfToken;
    if (csrf !== undefined) auth.csrfToken = csrf;
    if (opts.lastSeq !== undefined) auth.lastSeq = opts.lastSeq;
    const socket = io(url, { transports: ['websocket'], extraHeaders: headers, auth, reconnection: false, forceNew: true, timeout: 10_000 });
    const client = new LiveClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(client));
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
  }

  /** Sends a client event and resolves with its ack. */
  async send(event: string, ...args: unknown[]): Promise<{ ok: boolean; error?: string }> {
    return (await this.socket.timeout(10_000).emitWithAck(event, ...args)) as { ok: boolean; error?: string };
  }

  /** The last seq this client knows: its newest delta, replayed delta or snapshot. */
  get lastSeq(): number {
    const seqs = [...this.deltas.map((d) => d.seq), ...this.replays.flat().map((d) => d.seq), ...this.snapshots.map((s) => s.seq as number)];
    return Math.max(...seqs);
  }

  close(): void {
    this.socket.close();
  }
}
