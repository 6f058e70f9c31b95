// The last verdict on a nest is kept by the station, not by one page: a unit fails, the next unit
// is seated and waits (manual start), and the FAIL with its next action is still on the tile after
// the page is reloaded and on a second screen; a Clear on one screen takes it off the other, and
// the station's own state (health) says it is gone.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, manualNests, screenContext, startStation } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

const PROMPT_STEP = 'LED check';
const FAIL_TEXT = 'Bring it to the bench';

interface HealthSlot {
  state: string;
  runId: string | null;
  lastVerdict: { runId: string; verdict: string; deviceId: string | null; guidance: { action: string; text: string | null } | null; finishedAt: number } | null;
}

describe('a verdict kept on a nest', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let first: Page;
  let second: Page;
  let api: ApiClient;
  let errors: string[][];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      manualNests(cfg, 2);
      cfg.sequence = {
        name: 'kept-verdict',
        steps: [
          { type: 'identify', name: 'Identify', deviceIdHexLength: 16 },
          { type: 'prompt', name: PROMPT_STEP, text: 'Is the status LED green?', onFail: { action: 'call-engineer', text: FAIL_TEXT } },
          { type: 'bless', name: 'Bless' },
        ],
      };
    });
    api = await ApiClient.login(station.daemon, 'operator');
    browser = await launchBrowser();
    first = await (await screenContext(browser)).newPage();
    second = await (await screenContext(browser)).newPage();
    errors = [collectPageErrors(first), collectPageErrors(second)];
    for (const page of [first, second]) {
      await loginFromPage(page, station.daemon.url, 'operator');
      await page.locator('#connection[data-status="live"]').waitFor();
    }
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const tile = (page: Page, slot: number) => page.locator(`.tile[data-slot="${slot}"]`);
  const slot0 = async () => (await api.get<{ slots: HealthSlot[] }>('/api/health')).slots[0] as HealthSlot;

  it('keeps a FAIL and its next action through a reload and on a second screen, until a Clear on either', async () => {
    await tile(first, 0).locator('.state-word', { hasText: 'WAITING' }).waitFor({ timeout: 30_000 });
    expect((await api.request('POST', '/api/slots/0/start')).status).toBe(202);
    await tile(first, 0).locator('button[data-answer="no"]').click({ timeout: 15_000 });
    await tile(first, 0).locator('.state-word', { hasText: 'FAIL' }).waitFor({ timeout: 15_000 });

    // The next unit is seated and waits for Start: the station's slot is idle, its verdict kept.
    const kept = await waitFor(
      'the next unit to wait at nest 1',
      async () => {
        const s = await slot0();
        return s.state === 'idle' ? s : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(kept.lastVerdict).toMatchObject({ verdict: 'fail', guidance: { action: 'call-engineer', text: FAIL_TEXT } });
    expect(kept.lastVerdict?.deviceId).toMatch(/^[0-9a-f]{16}$/);

    await first.reload();
    await first.locator('#connection[data-status="live"]').waitFor();
    for (const page of [first, second]) {
      const t = tile(page, 0);
      await t.locator('.state-word', { hasText: 'FAIL' }).waitFor();
      await expect(t.getAttribute('data-live')).resolves.toBe('idle');
      await expect(t.locator('.guidance-next').textContent()).resolves.toBe(`☎ Call the engineer: ${FAIL_TEXT}`);
      await expect(t.locator('.device-id').textContent()).resolves.toBe(kept.lastVerdict?.deviceId);
      await expect(t.locator('.tile-hint').textContent()).resolves.toBe('Next unit ready: press Start');
    }

    // Cleared on the reloaded screen: gone from the other one and from the station.
    await tile(first, 0).locator('button.tile-clear').click();
    await tile(second, 0).locator('.state-word', { hasText: 'WAITING' }).waitFor({ timeout: 10_000 });
    expect(await tile(second, 0).locator('.tile-guidance').isHidden()).toBe(true);
    expect((await slot0()).lastVerdict).toBeNull();
    // Nothing left to clear: the station says so.
    const again = await api.request('POST', '/api/slots/0/clear');
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: 'slot 0 has no verdict to clear' });
    expect(errors.flat()).toEqual([]);
  });

  it('takes the kept verdict off when the next unit starts', async () => {
    expect((await api.request('POST', '/api/slots/1/start')).status).toBe(202);
    await tile(second, 1).locator('button[data-answer="yes"]').click({ timeout: 15_000 });
    const passed = await waitFor('a kept PASS at nest 2', async () => (await api.get<{ slots: HealthSlot[] }>('/api/health')).slots[1]?.lastVerdict ?? null, { timeoutMs: 15_000 });
    expect(passed.verdict).toBe('pass');
    await tile(first, 1).locator('.state-word', { hasText: 'PASS' }).waitFor();
    await waitFor('the next unit to wait at nest 2', async () => (await api.get<{ slots: HealthSlot[] }>('/api/health')).slots[1]?.state === 'idle' || null, { timeoutMs: 15_000 });
    expect((await api.request('POST', '/api/slots/1/start')).status).toBe(202);
    await tile(first, 1).locator('.tile-prompt').waitFor({ timeout: 15_000 });
    const running = (await api.get<{ slots: HealthSlot[] }>('/api/health')).slots[1] as HealthSlot;
    expect(running.runId).not.toBe(passed.runId);
    expect(running.lastVerdict).toBeNull();
    await expect(tile(first, 1).getAttribute('data-state')).resolves.not.toBe('pass');
    expect(errors.flat()).toEqual([]);
  });
});
