// Roles from the browser's side: an operator session cannot reach the engineer console, its HTTP
// routes or its socket events; without a session the dashboard asks for a login and the API
// answers 401; a wrong PIN is refused on the form. Checked in a real browser against the daemon.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, screenContext, startStation } from '../support/browser.js';

const ENGINEER_ROUTES: [string, string, unknown?][] = [
  ['GET', '/api/sequences'],
  ['POST', '/api/sequences/validate', { name: 'x', steps: [] }],
  ['POST', '/api/sequences', { name: 'x', steps: [] }],
  ['GET', '/api/devices/search?q=0'],
  ['GET', '/api/yield/steps'],
  ['GET', '/api/export/records.csv'],
  ['POST', '/api/sim/slots/0/faults', { kind: 'garbage' }],
];

describe('roles in the browser', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      cfg.slots = cfg.slots.slice(0, 2);
    });
    browser = await launchBrowser();
    page = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('asks for a login when there is no session, and refuses a wrong PIN on the form', async () => {
    await page.goto(station.daemon.url);
    await page.locator('form.login').waitFor();
    await expect(page.locator('#dashboard-view').isHidden()).resolves.toBe(true);
    await page.locator('input[name="secret"]').fill('000000');
    await page.locator('form.login button[type="submit"]').click();
    await page.locator('#login-error', { hasText: /wrong pin/i }).waitFor();
    await expect(page.locator('#dashboard-view').isHidden()).resolves.toBe(true);
    const noSession = await fetch(`${station.daemon.url}/api/sequences`);
    expect(noSession.status).toBe(401);
    expect(errors).toEqual([]);
  });

  it('keeps an operator out of the engineer console, its routes and its socket events', async () => {
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
    await expect(page.locator('#engineer-link').isHidden()).resolves.toBe(true);

    // Over the page's own socket: the engineer-only event is refused, an operator one is not.
    const fault = (await page.evaluate(`window.stationDashboard.live.send('sim.fault', { slot: 0, kind: 'garbage' })`)) as { ok: boolean; error?: string };
    expect(fault.ok).toBe(false);
    expect(fault.error).toMatch(/engineer/);
    const unknown = (await page.evaluate(`window.stationDashboard.live.send('sequence.save', { name: 'x' })`)) as { ok: boolean; error?: string };
    expect(unknown).toEqual({ ok: false, error: 'unknown event' });
    expect(await page.evaluate('window.stationDashboard.live.connected')).toBe(true);

    // The engineer page refuses the operator session and shows no engineer data.
    await page.goto(`${station.daemon.url}/engineer.html`);
    await page.locator('#refusal').waitFor();
    await expect(page.locator('#refusal .refusal-text').textContent()).resolves.toContain('logged in as operator');
    await expect(page.locator('#console').isHidden()).resolves.toBe(true);
    expect(await page.locator('[data-path]').count()).toBe(0);

    // Every engineer route answers 403 to an operator session, with a valid CSRF token.
    const operator = await ApiClient.login(station.daemon, 'operator');
    for (const [method, route, body] of ENGINEER_ROUTES) {
      const res = await operator.request(method, route, body);
      expect({ route, status: res.status }).toEqual({ route, status: 403 });
    }
    // And from the page itself (its cookie, its token): the same.
    const fromPage = (await page.evaluate(`fetch('/api/sequences').then((r) => r.status)`)) as number;
    expect(fromPage).toBe(403);
    expect(errors).toEqual([]);
  });

  it('lets an engineer session reach the console', async () => {
    await page.locator('#refusal-logout').click();
    await page.locator('form.login').waitFor();
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    await page.locator('#console').waitFor();
    await page.locator('[data-path="name"]').waitFor();
    const engineer = await ApiClient.login(station.daemon, 'engineer');
    expect((await engineer.request('GET', '/api/sequences')).status).toBe(200);
  });
});
