// People at the station, in Chromium against a real daemon: an engineer adds an operator in the
// console's Users tab; she logs in by picking her name; the prompt she answers and the alarm she
// acknowledges carry her name (API and console); a sequence save is confirmed in a dialog naming
// the slots, with a change note, and "Active: version N" follows at once; the read-only line
// screen needs no login and shows no controls or secrets; a daemon restart (same data folder, same
// port) leaves the logged-in screen logged in, its session kept in SQLite under a hash of its id;
// a logout or a disabled account ends it.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, fastSimulatedConfig, launchBrowser, loginFromPage, saveSequenceFromPage, screenContext, waitInPage } from '../support/browser.js';
import { Daemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const ANNA = { name: 'Anna Berg', secret: '135790' };
const UNSET_ALARM = 'auth.operator-unset';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface RunDetail {
  runId: string;
  status: string;
  promptAnswers: { promptId: string; text: string; answer: string | null; by: string | null; byRole: string | null }[];
}

describe('people: logins per person, who did what, the line screen, sessions across a restart', () => {
  let dir: string;
  let dataDir: string;
  let daemon: Daemon;
  let browser: Browser;
  let engineerCtx: BrowserContext;
  let operatorCtx: BrowserContext;
  let eng: Page;
  let op: Page;
  let api: ApiClient;
  let vbat = -1;
  let engErrors: string[] = [];
  let opErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'station-people-'));
    dataDir = path.join(dir, 'data');
    const port = await freePort();
    const cfg = fastSimulatedConfig(dataDir, (c) => {
      c.slots = c.slots.slice(0, 2).map((s: Record<string, unknown>) => ({ name: s.name, dut: s.dut }));
      c.sequence.steps = c.sequence.steps.filter((s: { type: string }) => s.type !== 'blinkup');
      delete c.blinkup;
      delete c.tokens;
      c.simulation.operator = 'off';
      vbat = c.sequence.steps.findIndex((s: { name: string }) => s.name === 'Battery voltage');
    });
    cfg.server = { host: '127.0.0.1', port };
    // No shared operator PIN: the built-in operator account cannot log in (an alarm says so); people have their own.
    daemon = new Daemon(Daemon.writeConfig(dir, cfg), { STATION_OPERATOR_PIN: '', STATION_DATA_DIR: dataDir });
    await daemon.start();
    api = await ApiClient.login(daemon, 'engineer');
    browser = await launchBrowser();
    engineerCtx = await screenContext(browser);
    operatorCtx = await screenContext(browser);
    eng = await engineerCtx.newPage();
    op = await operatorCtx.newPage();
    engErrors = collectPageErrors(eng);
    opErrors = collectPageErrors(op);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.terminate().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Chromium logs each reconnection attempt that fails while the daemon restarts: expected.
  const pageErrors = (): string[] => [...engErrors, ...opErrors].filter((e) => !/WebSocket connection to '[^']*' failed/.test(e));

  /** The sessions table as the daemon left it (read-only, beside the running daemon). */
  function sessionRows(): { id_hash: string; user_name: string; role: string }[] {
    const db = new Database(path.join(dataDir, 'station.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT id_hash, user_name, role FROM sessions').all() as { id_hash: string; user_name: string; role: string }[];
    } finally {
      db.close();
    }
  }

  async function sessionCookie(ctx: BrowserContext): Promise<string> {
    const cookie = (await ctx.cookies()).find((c) => c.name === 'station.sid');
    if (!cookie) throw new Error('no session cookie in the browser');
    return cookie.value;
  }

  const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

  it('an engineer adds an operator in the Users tab; she logs in by picking her name', async () => {
    await loginFromPage(eng, daemon.url, 'engineer', '/engineer.html#users');
    const panel = eng.locator('#users-panel');
    await panel.locator('tr[data-user="operator"]').waitFor();
    // The built-in accounts are listed with where their secret comes from.
    await expect(panel.locator('tr[data-user="operator"]').textContent()).resolves.toContain('built-in: not set');
    await eng.locator('#user-name').fill(ANNA.name);
    await eng.locator('#user-role').selectOption('operator');
    await eng.locator('#user-secret').fill(ANNA.secret);
    await eng.locator('#user-add button[type="submit"]').click();
    await panel.locator(`tr[data-user="${ANNA.name}"]`).waitFor();
    await expect(panel.locator(`tr[data-user="${ANNA.name}"]`).textContent()).resolves.toMatch(/operator.*enabled.*own.*by engineer/);
    // A bad PIN is refused in words, and nothing is added.
    await eng.locator('#user-name').fill('Bob');
    await eng.locator('#user-secret').fill('12a');
    await eng.locator('#user-add button[type="submit"]').click();
    await eng.locator('.users-status[data-outcome="error"]', { hasText: /PIN is 4 to 12 digits/ }).waitFor();
    // (the 400 the page showed in words is the only console message so far)
    expect(engErrors.splice(0)).toEqual(['console: Failed to load resource: the server responded with a status of 400 (Bad Request)']);
    expect((await api.get<{ users: { name: string }[] }>('/api/users')).users.map((u) => u.name)).toEqual(['engineer', ANNA.name, 'operator']);

    await loginFromPage(op, daemon.url, 'operator', '/', ANNA);
    await op.locator('#connection[data-status="live"]').waitFor();
    await expect(op.locator('#session-role').textContent()).resolves.toBe(`Operator · ${ANNA.name}`);
    const cookie = await sessionCookie(operatorCtx);
    const rows = sessionRows();
    // Kept under the SHA-256 of the id, never the id itself.
    expect(rows).toContainEqual({ id_hash: sha256(cookie), user_name: ANNA.name, role: 'operator' });
    expect(JSON.stringify(rows)).not.toContain(cookie);
  });

  it('records who answered a prompt and who acknowledged an alarm, and the console shows the name', async () => {
    const tile = op.locator('.tile.has-prompt').first();
    await tile.waitFor({ timeout: 30_000 });
    const promptId = (await tile.locator('.tile-prompt').getAttribute('data-prompt')) as string;
    const runId = (await op.evaluate(`window.stationDashboard.state.prompts.get(${JSON.stringify(promptId)}).runId`)) as string;
    await tile.locator('button[data-answer="yes"]').click();
    const run = await waitFor('the answer in the run record', async () => {
      const r = await api.get<RunDetail>(`/api/runs/${runId}`);
      return r.promptAnswers.length > 0 ? r : null;
    });
    expect(run.promptAnswers).toEqual([
      { promptId, slot: expect.any(Number), kind: 'choice', text: 'Is the status LED green?', answer: 'yes', by: ANNA.name, byRole: 'operator', at: expect.any(String) },
    ]);

    // The alarm that says the shared operator PIN is not set: Anna acknowledges it on the dashboard.
    const alarm = op.locator(`#alarms li[data-alarm="${UNSET_ALARM}"]`);
    await alarm.locator('button.alarm-ack').click();
    await op.locator(`#alarms li[data-alarm="${UNSET_ALARM}"].acknowledged`).waitFor();
    const history = await api.get<{ events: { alarmId: string; event: string; by: string | null }[] }>(`/api/alarms/history?alarmId=${UNSET_ALARM}`);
    expect(history.events.find((e) => e.event === 'acknowledged')?.by).toBe(ANNA.name);

    // In the engineer console: the run's prompt answers and the alarm history name her.
    await eng.evaluate(`window.stationEngineer.history.showRun(${JSON.stringify(runId)})`);
    await eng.evaluate(`window.location.hash = 'devices'`);
    await expect(eng.locator('.prompt-answers-table .answered-by').first().textContent()).resolves.toBe(`${ANNA.name} (operator)`);
    await eng.evaluate(`window.location.hash = 'alarms'`);
    await eng.locator('#alarms-panel td', { hasText: ANNA.name }).first().waitFor();
  });

  it('saves a sequence only after a confirmation naming every slot and a change note; "Active: version N" follows at once', async () => {
    await eng.evaluate(`window.location.hash = 'sequence'`);
    await eng.locator('#sequence-load', { hasText: 'Active: version 1' }).waitFor();
    await eng.locator(`[data-path="steps[${vbat}].limit.high"]`).fill('4.19');
    // Cancelled: nothing saved.
    await eng.locator('button[data-action="save"]').click();
    const dialog = eng.locator('dialog.save-dialog');
    await dialog.waitFor();
    // The note is required: confirming without one keeps the dialog open and says why.
    await dialog.locator('button[data-action="confirm-save"]').click();
    await dialog.locator('.field-problem', { hasText: /change note/ }).waitFor();
    await dialog.locator('button[data-action="cancel-save"]').click();
    await eng.locator('.editor-status[data-outcome="cancelled"]').waitFor();
    expect((await api.get<{ versions: unknown[] }>('/api/sequences')).versions).toHaveLength(1);

    const slotsText = await saveSequenceFromPage(eng, 'battery limit tightened to 4.19 V');
    const slotNames = (await api.get<{ slots: { slot: number; name: string }[] }>('/api/health')).slots.map((s) => `${s.slot + 1}: ${s.name}`);
    for (const name of slotNames) expect(slotsText).toContain(name);
    expect(slotsText).toMatch(/every slot \(2\)/);
    await eng.locator('.editor-status[data-outcome="saved"]').waitFor();
    // Without a reload: the page was loaded once (same window object) and says version 2.
    await eng.locator('#sequence-load', { hasText: 'Active: version 2' }).waitFor();
    await expect(eng.locator('[data-saved="by"]').textContent()).resolves.toBe('engineer');
    const list = await api.get<{ versions: { version: number; by: string | null; note: string | null }[] }>('/api/sequences');
    expect(list.versions[0]).toMatchObject({ version: 2, by: 'engineer', note: 'battery limit tightened to 4.19 V' });
    await eng.evaluate(`window.location.hash = 'versions'`);
    const row = eng.locator('#versions-list tr[data-version="2"]');
    await row.waitFor();
    await expect(row.locator('.version-note').textContent()).resolves.toBe('battery limit tightened to 4.19 V');
    await expect(row.locator('.version-by').textContent()).resolves.toBe('engineer');
  });

  it('the line screen needs no login, shows the tiles, counters and alarms live, and has no controls or secrets', async () => {
    const ctx = await screenContext(browser);
    const line = await ctx.newPage();
    const lineErrors = collectPageErrors(line);
    await line.goto(`${daemon.url}/line`);
    await line.locator('body[data-synced="true"]').waitFor();
    await expect(line.locator('.tile').count()).resolves.toBe(2);
    await line.locator(`#alarms li[data-alarm="${UNSET_ALARM}"]`).waitFor();
    await expect(line.locator('#alarm-summary').textContent()).resolves.toMatch(/1 ACTIVE ALARM/);
    await waitInPage(line, 'a live delta on the line screen', 'window.stationLine.deltas > 0');
    // No controls but the screen's language picker (it changes nothing at the station).
    await expect(line.locator('button, input, select:not(#lang-picker), textarea, form').count()).resolves.toBe(0);
    await expect(line.locator('select').count()).resolves.toBe(1);
    // No session was made for it.
    expect((await line.request.get(`${daemon.url}/api/session`)).status()).toBe(401);
    expect(await ctx.cookies()).toEqual([]);

    // Its socket, from outside: only allow-listed fields, and no event is carried out.
    const socket = io(`${daemon.url}/line`, { transports: ['websocket'], extraHeaders: { origin: daemon.url }, reconnection: false, forceNew: true });
    const got: unknown[] = [];
    socket.on('snapshot', (s: unknown) => got.push(s));
    socket.on('delta', (d: unknown) => got.push(d));
    try {
      await waitFor('the line socket snapshot and a few deltas', () => got.length >= 4, { timeoutMs: 30_000 });
      const ack = await socket.timeout(5000).emitWithAck('slot.start', { slot: 0 });
      expect(ack).toEqual({ ok: false, error: 'the line screen is read-only' });
      const text = JSON.stringify(got);
      for (const secret of ['csrf', 'reason', 'detail', 'runId', 'promptId', 'expected', 'lastError', 'token', 'secret', 'claim']) expect(text, secret).not.toContain(secret);
      const snapshot = got[0] as { slots: Record<string, unknown>[] };
      for (const s of snapshot.slots) expect(Object.keys(s).every((k) => ['slot', 'name', 'state', 'connected', 'deviceId', 'step', 'since'].includes(k))).toBe(true);
    } finally {
      socket.close();
    }
    expect(lineErrors).toEqual([]);
    await ctx.close();
  });

  it('keeps the operator screen and the line screen going through a daemon restart; a logout removes the session row', async () => {
    const lineCtx = await screenContext(browser);
    const line = await lineCtx.newPage();
    await line.goto(`${daemon.url}/line`);
    await line.locator('body[data-synced="true"]').waitFor();
    const cookie = await sessionCookie(operatorCtx);
    const connectsBefore = (await op.evaluate('window.stationDashboard.live.connects')) as number;

    await daemon.terminate();
    await daemon.start();
    expect(sessionRows().map((r) => r.id_hash)).toContain(sha256(cookie));
    // The page reconnects by itself, with its old session: still logged in, no login form.
    await waitInPage(op, 'the dashboard to reconnect after the restart', `window.stationDashboard.live.connects > ${connectsBefore} && window.stationDashboard.live.connected`, 60_000);
    await op.locator('#connection[data-status="live"]').waitFor();
    await expect(op.locator('form.login').count()).resolves.toBe(0);
    await expect(op.locator('#session-role').textContent()).resolves.toBe(`Operator · ${ANNA.name}`);
    expect((await op.evaluate(`fetch('/api/session').then((r) => r.status)`)) as number).toBe(200);
    await waitInPage(line, 'the line screen to take a new snapshot', 'window.stationLine.snapshots >= 2', 60_000);

    // Logged out from the page: the row is gone.
    await op.locator('#logout').click();
    await op.locator('form.login').waitFor();
    await waitFor('the session row to be deleted', () => !sessionRows().some((r) => r.id_hash === sha256(cookie)));

    // The engineer (whose console session outlived the restart too) resets Anna's PIN in the Users
    // tab: her session ends at once; the new PIN logs her in, the old one no longer does.
    await loginFromPage(op, daemon.url, 'operator', '/', ANNA);
    await op.locator('#connection[data-status="live"]').waitFor();
    await eng.evaluate(`window.location.hash = 'users'`);
    const row = eng.locator(`#users-panel tr[data-user="${ANNA.name}"]`);
    await row.locator('button[data-action="reset"]').click();
    await row.locator('input.reset-secret').fill('246897');
    await row.locator('.reset-form button[type="submit"]').click();
    await eng.locator('.users-status[data-outcome="ok"]', { hasText: `New PIN for ${ANNA.name}` }).waitFor();
    expect(sessionRows().filter((r) => r.user_name === ANNA.name)).toEqual([]);
    await op.locator('form.login').waitFor({ timeout: 20_000 });
    const login = (pin: string) =>
      fetch(`${daemon.url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: 'operator', name: ANNA.name, pin }) });
    expect((await login(ANNA.secret)).status).toBe(401);
    await loginFromPage(op, daemon.url, 'operator', '/', { name: ANNA.name, secret: '246897' });
    await op.locator('#connection[data-status="live"]').waitFor();

    // Disabled from the console: her session ends at once and she cannot log in again.
    await eng.locator(`#users-panel tr[data-user="${ANNA.name}"] button[data-action="disable"]`).click();
    await eng.locator(`#users-panel tr[data-user="${ANNA.name}"][data-disabled="true"]`).waitFor();
    expect(sessionRows().filter((r) => r.user_name === ANNA.name)).toEqual([]);
    await op.locator('form.login').waitFor({ timeout: 20_000 });
    expect((await login('246897')).status).toBe(401);
    // Nor is her name offered at the login any more.
    expect(((await (await fetch(`${daemon.url}/api/session/operators`)).json()) as { operators: string[] }).operators).not.toContain(ANNA.name);
    await lineCtx.close();
    expect(pageErrors()).toEqual([]);
  });
});
