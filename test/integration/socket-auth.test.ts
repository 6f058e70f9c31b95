// Logins against the real daemon: the session cookie's flags, the CSRF token's life, wrong
// credentials, the login rate limit, security headers on every answer, what the station does in
// production with no credential set (nobody can log in as that role, an alarm says how to fix it)
// and in test mode (credentials generated into a 0600 file whose path alone is logged), and that no
// PIN, password, session id or CSRF token ever reaches the log.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon, LiveClient, TEST_ENGINEER_PASSWORD, TEST_OPERATOR_PIN, type LoginSession } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let daemon: Daemon;
const extra: Daemon[] = [];
const clients: LiveClient[] = [];
/** Every session id and CSRF token handed out, to look for in the logs. */
const issued: string[] = [];

const login = (d: Daemon, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${d.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function track(s: Promise<LoginSession>): Promise<LoginSession> {
  const session = await s;
  issued.push(session.cookie.slice('station.sid='.length), session.csrfToken);
  return session;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'socket-auth-'));
  daemon = await new Daemon(Daemon.writeConfig(dir, simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 1 }))).start();
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const d of [daemon, ...extra]) await d?.terminate();
  rmSync(dir, { recursive: true, force: true });
});

describe('sessions over HTTP', () => {
  it('logs in with the PIN or the password: an HttpOnly, SameSite=Strict cookie and a CSRF token', async () => {
    const res = await login(daemon, { role: 'operator', pin: TEST_OPERATOR_PIN });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^station\.sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toMatch(/Secure/); // plain HTTP here; Secure only over https
    const body = (await res.json()) as { user: string; role: string; csrfToken: string; expiresAt: string };
    expect(body).toEqual({ user: 'operator', role: 'operator', csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expiresAt: expect.any(String) });
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(7.9 * 3600_000);
    issued.push(/station\.sid=([^;]+)/.exec(cookie)?.[1] as string, body.csrfToken);

    const s = await track(daemon.login('engineer'));
    const who = await fetch(`${daemon.url}/api/session`, { headers: { cookie: s.cookie } });
    expect(who.status).toBe(200);
    expect(await who.json()).toMatchObject({ role: 'engineer', csrfToken: s.csrfToken });
    const nobody = await fetch(`${daemon.url}/api/session`);
    expect(nobody.status).toBe(401);
    expect(await nobody.json()).toEqual({ error: 'not logged in' });
  });

  it('refuses wrong credentials with 401 and a malformed body with 400', async () => {
    // 8 failed attempts: under the rate limit (10), which has its own test below
    for (const body of [
      { role: 'operator', pin: '000000' },
      { role: 'engineer', password: 'guess' },
      { role: 'engineer', password: TEST_OPERATOR_PIN },
    ]) {
      const res = await login(daemon, body);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'wrong PIN or password' });
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    for (const body of ['{"role":"admin","password":"x"}', '{"role":"operator"}', '{"role":"operator","pin":"1234","extra":1}']) {
      const res = await login(daemon, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'bad body', problems: expect.any(Array) });
    }
    const notJson = await login(daemon, '{"role":');
    expect(notJson.status).toBe(400);
    const form = await fetch(`${daemon.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `role=operator&pin=${TEST_OPERATOR_PIN}` });
    expect(form.status).toBe(400); // a cross-site form cannot log anyone in
  });

  it('gives a new session at each login, ending the one the browser came with', async () => {
    const first = await track(daemon.login('operator'));
    const res = await login(daemon, { role: 'engineer', password: TEST_ENGINEER_PASSWORD }, { cookie: first.cookie });
    expect(res.status).toBe(200);
    const second = /station\.sid=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0] as string;
    expect(second).not.toBe(first.cookie);
    expect((await fetch(`${daemon.url}/api/session`, { headers: { cookie: first.cookie } })).status).toBe(401);
    expect((await fetch(`${daemon.url}/api/session`, { headers: { cookie: second } })).status).toBe(200);
  });

  it('logs out only with the CSRF token, and the session is gone', async () => {
    const s = await track(daemon.login('operator'));
    const noToken = await fetch(`${daemon.url}/api/session`, { method: 'DELETE', headers: { cookie: s.cookie } });
    expect(noToken.status).toBe(403);
    expect(await noToken.json()).toEqual({ error: 'missing or wrong CSRF token' });
    const out = await daemon.request('/api/session', { method: 'DELETE', as: s });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^station\.sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict$/);
    expect((await fetch(`${daemon.url}/api/session`, { headers: { cookie: s.cookie } })).status).toBe(401);
    expect((await daemon.request('/api/session', { method: 'DELETE', as: s })).status).toBe(401);
  });
});

describe('what every answer carries', () => {
  it('sets the security headers on the dashboard, the API and the vendored chart library', async () => {
    for (const route of ['/', '/api/health', '/api/nope', '/vendor/uplot/uPlot.iife.min.js', '/engineer/sequences']) {
      const res = await fetch(`${daemon.url}${route}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, route).toMatch(/default-src 'self'/);
      expect(csp).toMatch(/script-src 'self';/);
      expect(csp).toMatch(/style-src 'self';/);
      expect(csp).toMatch(new RegExp(`connect-src 'self' ws://${daemon.url.slice('http://'.length)}`));
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('answers an unknown API route with 404 JSON, and any other path with the dashboard', async () => {
    const api = await fetch(`${daemon.url}/api/no/such/thing`);
    expect(api.status).toBe(404);
    expect(await api.json()).toEqual({ error: 'no such API route: GET /api/no/such/thing' });
    const page = await fetch(`${daemon.url}/engineer/sequences`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const uplot = await fetch(`${daemon.url}/vendor/uplot/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toMatch(/javascript/);
    const client = await fetch(`${daemon.url}/socket.io/socket.io.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toMatch(/^application\/javascript/);
  });
});

describe('credentials by station mode', () => {
  it('in production with no engineer password set, nobody can log in as engineer, and an alarm says how to set it', async () => {
    const d = new Daemon(Daemon.writeConfig(dir, simulatedStationConfig({ dataDir: path.join(dir, 'prod-unset'), slots: 1 }), 'prod.json'), { STATION_ENGINEER_PASSWORD: '' });
    extra.push(d);
    await d.start();
    for (const password of ['', 'admin', 'password', TEST_ENGINEER_PASSWORD]) {
      expect((await login(d, { role: 'engineer', password })).status).toBe(password === '' ? 400 : 401);
    }
    const op = await track(d.login('operator'));
    const live = await LiveClient.connect(d.url, { session: op });
    clients.push(live);
    await waitFor('a snapshot', () => live.snapshots.length === 1);
    const alarms = live.snapshots[0]?.alarms as { alarmId: string; message: string; acknowledged: boolean; cleared: boolean; severity: string }[];
    const alarm = alarms.find((a) => a.alarmId === 'auth.engineer-unset');
    expect(alarm).toMatchObject({ severity: 'warning', acknowledged: false, cleared: false });
    expect(alarm?.message).toMatch(/STATION_ENGINEER_PASSWORD.*auth\.engineerPasswordHash.*npm run passwd/);
    expect(alarms.find((a) => a.alarmId === 'auth.operator-unset')).toBeUndefined();

    // acknowledged over HTTP: still listed (its cause remains), now acknowledged
    const ack = await d.request('/api/alarms/auth.engineer-unset/ack', { method: 'POST', as: op });
    expect(ack.status).toBe(200);
    expect(await ack.json()).toEqual({ alarmId: 'auth.engineer-unset', resumedSlot: null });
    await waitFor('the acked delta', () => live.deltas.some((x) => x.t === 'alarm.acked' && x.d.alarmId === 'auth.engineer-unset'));
    const again = await LiveClient.connect(d.url, { session: op });
    clients.push(again);
    await waitFor('a snapshot', () => again.snapshots.length === 1);
    expect((again.snapshots[0]?.alarms as { alarmId: string; acknowledged: boolean }[]).find((a) => a.alarmId === 'auth.engineer-unset')?.acknowledged).toBe(true);
    expect((await d.request('/api/alarms/nope/ack', { method: 'POST', as: op })).status).toBe(404);
  });

  it("in test mode generates what is unset into credentials.txt (0600) and logs only the file's path", async () => {
    const dataDir = path.join(dir, 'test-mode');
    const d = new Daemon(Daemon.writeConfig(dir, simulatedStationConfig({ dataDir, slots: 1, mode: 'test' }), 'test-mode.json'), { STATION_ENGINEER_PASSWORD: '', STATION_OPERATOR_PIN: '' });
    extra.push(d);
    await d.start();
    const file = path.join(dataDir, 'credentials.txt');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    const password = /engineer password: (\S+)/.exec(text)?.[1] as string;
    const pin = /operator PIN: (\d+)/.exec(text)?.[1] as string;
    expect(password).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(pin).toMatch(/^\d{6}$/);
    await waitFor('the credentials file named in the log', () => d.stdout.includes(file));
    expect(d.stdout + d.stderr).not.toContain(password);
    expect(d.stdout + d.stderr).not.toMatch(new RegExp(`\\b${pin}\\b`));
    expect((await track(d.login('engineer', password))).role).toBe('engineer');
    expect((await track(d.login('operator', pin))).role).toBe('operator');
    expect((await login(d, { role: 'operator', pin: TEST_OPERATOR_PIN })).status).toBe(401);
  });

  it('never logs a PIN, a password, a session id or a CSRF token', async () => {
    const logs = [daemon, ...extra].map((d) => d.stdout + d.stderr).join('\n');
    expect(logs).toMatch(/logged in/);
    expect(logs).toMatch(/login failed/);
    for (const secret of [TEST_ENGINEER_PASSWORD, ...issued]) expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(new RegExp(`\\b${TEST_OPERATOR_PIN}\\b`));
    expect(issued.length).toBeGreaterThan(10);
  });
});

describe('the login rate limit', () => {
  it('allows 10 failed logins per 5 minutes from an address, then answers 429 with Retry-After, even to the right PIN', async () => {
    const d = new Daemon(Daemon.writeConfig(dir, simulatedStationConfig({ dataDir: path.join(dir, 'limit'), slots: 1 }), 'limit.json'));
    extra.push(d);
    await d.start();
    // successful logins do not count
    for (let i = 0; i < 12; i++) expect((await login(d, { role: 'operator', pin: TEST_OPERATOR_PIN })).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await login(d, { role: 'operator', pin: '000000' })).status).toBe(401);
    const limited = await login(d, { role: 'operator', pin: '000000' });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(await limited.json()).toEqual({ error: expect.stringMatching(/^too many login attempts from this address; try again in \d+ s$/) });
    expect((await login(d, { role: 'operator', pin: TEST_OPERATOR_PIN })).status).toBe(429);
    // the rest of the station is still served
    expect((await fetch(`${d.url}/api/health`)).status).toBe(200);
  });
});
