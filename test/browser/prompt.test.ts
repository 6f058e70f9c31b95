// Operator prompts answered from the dashboard tile in a real browser: with the simulated operator
// switched off, each run stops at the sequence's prompt step until someone answers on the page.
// "yes" passes the step and the run goes on to its blessing; "no" fails the unit, and the tile
// says which step failed and why.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, screenContext, startStation, waitInPage, withoutBlinkup } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface RunDetail {
  runId: string;
  status: string;
  reason: string | null;
  failStep: string | null;
  steps: { name: string; type: string; status: string; message: string | null }[];
}

const PROMPT_STEP = 'Operator: LED is green';

describe('prompts answered from the dashboard', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];

  beforeAll(async () => {
    // Two nests, no BlinkUp (quicker cycles), and nobody but the test to answer prompts.
    station = await startStation((cfg) => {
      withoutBlinkup(cfg, 2);
      cfg.simulation.operator = 'off';
    });
    api = await ApiClient.login(station.daemon, 'operator');
    browser = await launchBrowser();
    page = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  /** Waits for a tile showing the prompt; returns its slot and the run waiting on it. */
  async function nextPrompt(): Promise<{ slot: number; runId: string; tile: ReturnType<Page['locator']> }> {
    const first = page.locator('.tile.has-prompt').first();
    await first.waitFor({ timeout: 30_000 });
    const slot = Number(await first.getAttribute('data-slot'));
    const promptId = await page.locator(`.tile[data-slot="${slot}"] .tile-prompt`).getAttribute('data-prompt');
    const runId = (await page.evaluate(`window.stationDashboard.state.prompts.get(${JSON.stringify(promptId)}).runId`)) as string;
    return { slot, runId, tile: page.locator(`.tile[data-slot="${slot}"]`) };
  }

  async function finishedRun(runId: string): Promise<RunDetail> {
    return waitFor(
      `run ${runId} to end`,
      async () => {
        const run = await api.get<RunDetail>(`/api/runs/${runId}`);
        return run.status !== 'running' ? run : null;
      },
      { timeoutMs: 30_000 },
    );
  }

  it('passes the prompt step when the operator answers yes on the tile, and the run goes on to its blessing', async () => {
    const { runId, tile } = await nextPrompt();
    await expect(tile.locator('.prompt-text').textContent()).resolves.toBe('Is the status LED green?');
    const running = await api.get<RunDetail>(`/api/runs/${runId}`);
    expect(running.status).toBe('running');
    expect(running.steps.find((s) => s.name === PROMPT_STEP)).toBeUndefined();

    await tile.locator('button[data-answer="yes"]').click();
    await tile.locator('.tile-prompt').waitFor({ state: 'hidden' });
    const run = await finishedRun(runId);
    expect(run.steps.find((s) => s.name === PROMPT_STEP)?.status).toBe('pass');
    expect(run.steps.find((s) => s.type === 'bless')?.status).toBe('pass');
    expect(run.status).toBe('blessed');
    expect(errors).toEqual([]);
  });

  it('fails the unit when the operator answers no, and the tile shows FAIL with the step and reason in words', async () => {
    const { slot, runId, tile } = await nextPrompt();
    // The verdict shows until the next unit starts (a few hundred ms here): record what the tile showed.
    await page.evaluate(`(() => {
      const tile = document.querySelector('.tile[data-slot="${slot}"]');
      window.__failShown = null;
      new MutationObserver(() => {
        if (tile.dataset.state === 'fail' && !window.__failShown) {
          window.__failShown = { word: tile.querySelector('.state-word').textContent, icon: tile.querySelector('.state-icon').textContent, reason: tile.querySelector('.tile-reason').textContent, reasonShown: !tile.querySelector('.tile-reason').hidden };
        }
      }).observe(tile, { subtree: true, attributes: true, childList: true, characterData: true });
    })()`);
    await tile.locator('button[data-answer="no"]').click();
    const run = await finishedRun(runId);
    expect(run.status).toBe('failed');
    expect(run.failStep).toBe(PROMPT_STEP);
    expect(run.steps.find((s) => s.name === PROMPT_STEP)).toMatchObject({ status: 'fail', message: 'operator answered "no"' });
    await waitInPage(page, 'the tile to show the failed verdict', 'window.__failShown !== null', 10_000);
    const shown = (await page.evaluate('window.__failShown')) as { word: string; icon: string; reason: string; reasonShown: boolean };
    expect(shown).toMatchObject({ word: 'FAIL', icon: '✗', reasonShown: true });
    expect(shown.reason).toContain(PROMPT_STEP);
    expect(shown.reason).toContain('operator answered "no"');
    expect(errors).toEqual([]);
  });

  it('refuses an answer the prompt does not offer, and the prompt stays open', async () => {
    const { runId, tile } = await nextPrompt();
    const promptId = await tile.locator('.tile-prompt').getAttribute('data-prompt');
    const ack = (await page.evaluate(`window.stationDashboard.live.send('prompt.answer', { promptId: ${JSON.stringify(promptId)}, answer: 'maybe' })`)) as { ok: boolean; error?: string };
    expect(ack.ok).toBe(false);
    expect(ack.error).toMatch(/maybe/);
    await expect(tile.locator('.tile-prompt').getAttribute('data-prompt')).resolves.toBe(promptId);
    expect((await api.get<RunDetail>(`/api/runs/${runId}`)).status).toBe('running');
    await tile.locator('button[data-answer="yes"]').click();
    expect((await finishedRun(runId)).status).toBe('blessed');
  });
});
