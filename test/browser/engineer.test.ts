// The engineer console in a real browser against the real daemon: a sequence that fails
// validation is not saved and each problem shows at its field; a changed limit saved from the
// editor becomes a new version with a new content hash and a diff, the next run records that hash,
// and the run detail shows its measurements against the new limit.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, saveSequenceFromPage, startStation, withoutBlinkup } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface Versions {
  active: string;
  versions: { version: number; hash: string; author: string }[];
}
interface Health {
  slots: { slot: number; runId: string | null }[];
}
interface RunDetail {
  runId: string;
  status: string;
  deviceId: string | null;
  sequence: { hash: string };
  steps: { name: string; status: string; measurements: { name: string; value: number | string; outcome: string; limit: Record<string, unknown> | null }[] }[];
}

describe('engineer console', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];
  let vbat: number; // index of the "Battery voltage" step

  beforeAll(async () => {
    station = await startStation((cfg) => {
      withoutBlinkup(cfg, 2);
      vbat = cfg.sequence.steps.findIndex((s: { name: string }) => s.name === 'Battery voltage');
    });
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    await page.locator(`input[data-path="steps[${vbat}].limit.high"]`).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const field = (path: string) => page.locator(`[data-path="${path}"]`);
  const problemAt = (path: string) => page.locator(`.field[data-field-path="${path}"] > .field-problem`);

  it('does not save a sequence that fails validation, and shows each problem at its field', async () => {
    const before = await api.get<Versions>('/api/sequences');
    expect(before.versions).toHaveLength(1);
    // A marginal band below the low limit (a load-time rule), and retries that are not a number
    // on the next step (the schema).
    await field(`steps[${vbat}].limit.marginalLow`).fill('3.1');
    await field(`steps[${vbat + 1}].retries`).fill('two');
    await page.locator('button[data-action="save"]').click();
    await page.locator('.editor-status[data-outcome="invalid"]').waitFor();
    await expect(problemAt(`steps[${vbat}].limit.marginalLow`).textContent()).resolves.toMatch(/\S/);
    await expect(problemAt(`steps[${vbat + 1}].retries`).textContent()).resolves.toMatch(/\S/);
    await expect(field(`steps[${vbat}].limit.marginalLow`).getAttribute('aria-invalid')).resolves.toBe('true');
    // A field with no problem shows none.
    await expect(problemAt(`steps[${vbat}].limit.high`).textContent()).resolves.toBe('');
    const after = await api.get<Versions>('/api/sequences');
    expect(after).toEqual(before);
    expect(errors).toEqual([]);
  });

  it('saves a changed limit as a new version with a new hash and a diff, and the next run uses it', async () => {
    const before = await api.get<Versions>('/api/sequences');
    await field(`steps[${vbat}].limit.marginalLow`).fill('3.5');
    await field(`steps[${vbat + 1}].retries`).fill('');
    await page.locator('button[data-action="validate"]').click();
    await page.locator('.editor-status[data-outcome="valid"]').waitFor();
    // The problems are gone from their fields once the sequence is valid.
    await expect(problemAt(`steps[${vbat}].limit.marginalLow`).textContent()).resolves.toBe('');

    await field(`steps[${vbat}].limit.high`).fill('4.15');
    await saveSequenceFromPage(page);
    await page.locator('.editor-status[data-outcome="saved"]').waitFor();
    const newHash = (await page.locator('[data-saved="hash"]').textContent()) as string;
    expect(newHash).toMatch(/^[0-9a-f]{64}$/);
    expect(newHash).not.toBe(before.active);
    await expect(page.locator('[data-saved="version"]').textContent()).resolves.toBe('2');
    const diffRow = page.locator(`.editor-result tr[data-diff-path="steps[${vbat}].limit.high"]`);
    await expect(diffRow.locator('.before').textContent()).resolves.toBe('4.2');
    await expect(diffRow.locator('.after').textContent()).resolves.toBe('4.15');
    expect(await page.locator('.editor-result tr[data-diff-path]').count()).toBe(1);

    const versions = await api.get<Versions>('/api/sequences');
    expect(versions.active).toBe(newHash);
    expect(versions.versions.map((v) => v.version)).toEqual([2, 1]);

    // Runs in flight keep their sequence; one that starts after the save records the new hash.
    const inFlight = new Set((await api.get<Health>('/api/health')).slots.map((s) => s.runId));
    const runId = await waitFor(
      'a run that started after the save',
      async () => {
        const health = await api.get<Health>('/api/health');
        return health.slots.map((s) => s.runId).find((id) => id !== null && !inFlight.has(id)) ?? null;
      },
      { timeoutMs: 30_000 },
    );
    const run = await waitFor(
      `run ${runId} to end`,
      async () => {
        const r = await api.get<RunDetail>(`/api/runs/${runId}`);
        return r.status !== 'running' ? r : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(run.sequence.hash).toBe(newHash);
    const vbatStep = run.steps.find((s) => s.name === 'Battery voltage');
    expect(vbatStep?.measurements[0]?.limit).toMatchObject({ kind: 'range', high: 4.15 });

    // The versions view lists both, the new one active, with its diff.
    await page.locator('[data-tab="versions"]').click();
    await page.locator('#versions-list tr[data-version="2"].active').waitFor();
    await page.locator(`#version-detail[data-hash="${newHash}"] tr[data-diff-path="steps[${vbat}].limit.high"]`).waitFor();

    // The run detail shows each measurement against the limit it was checked with.
    expect(run.deviceId).toMatch(/^[0-9a-f]{16}$/);
    await page.locator('[data-tab="devices"]').click();
    await page.locator('#device-q').fill(run.deviceId as string);
    await page.locator('form.search button[type="submit"]').click();
    await page.locator(`.device-history tr[data-run="${runId}"] button`).click();
    const row = page.locator(`.run-detail[data-run-id="${runId}"] tr[data-measurement="Battery voltage"]`);
    await expect(row.locator('td').nth(7).textContent()).resolves.toContain('≤ 4.15');
    await expect(row.locator('.measurement-outcome').textContent()).resolves.toMatch(/PASS|MARGINAL|FAIL/);
    await expect(page.locator(`.run-detail [data-sequence-hash="${newHash}"]`).count()).resolves.toBe(1);
    expect(errors).toEqual([]);
  });

  it('shows yield per step and links the CSV export', async () => {
    await page.locator('[data-tab="yield"]').click();
    await page.locator('#yield-table tr[data-step="0"]').waitFor();
    const firstRow = page.locator('#yield-table tr[data-step="0"] td');
    await expect(firstRow.nth(1).textContent()).resolves.toBe('Identify');
    expect(Number(await firstRow.nth(3).textContent())).toBeGreaterThan(0);
    await page.locator('[data-tab="export"]').click();
    const href = (await page.locator('#export-link').getAttribute('href')) as string;
    expect(href.startsWith('/api/export/records.csv')).toBe(true);
    const csv = await page.evaluate(`fetch(${JSON.stringify(href)}).then((r) => r.text())`);
    expect(String(csv).split(/\r?\n/)[0]).toBe('deviceId,mac,iccid,imei,status,attempts,runId,sequenceHash,mode,failStep,reason,verdictAt,blessedAt,uploadedAt');
    expect(errors).toEqual([]);
  });
});
