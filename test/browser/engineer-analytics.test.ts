// The engineer console's analytics on a started simulated station: per measurement n, mean, sigma
// and Cpk computed by the daemon (checked here against the readings, by hand), the histogram and
// control chart of a measurement, yield per step by sequence version with a picker, two versions
// side by side after a limit change, and the console's smaller points: the latest devices before
// any search, run times with a date, the label rule in words, and a fault form that names slots
// as the dashboard does.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, startStation, withoutBlinkup } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface Versions {
  active: string;
  versions: { version: number; hash: string }[];
}
interface Stats {
  step: string;
  name: string;
  low: number | null;
  high: number | null;
  n: number;
  mean: number | null;
  sigma: number | null;
  cp: number | null;
  cpk: number | null;
  histogram: { edges: number[]; counts: number[] };
}
interface MeasurementsAnswer {
  version: number;
  hash: string;
  rowsRead: number;
  capped: boolean;
  measurements: Stats[];
}
interface ControlAnswer {
  points: { runId: string; version: number | null; value: number; low: number | null; high: number | null }[];
  mean: number | null;
  sigma: number | null;
}
interface YieldAnswer {
  version?: number;
  steps: { index: number; name: string; runs: number }[];
}
interface Health {
  slots: { slot: number; name: string; runId: string | null }[];
}

const VBAT = 'Battery voltage';

describe('engineer console: analytics', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      withoutBlinkup(cfg, 2);
    });
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    // Enough units for a spread.
    await waitFor(
      'at least 6 readings of the battery voltage',
      async () => {
        const a = await api.get<MeasurementsAnswer>('/api/analytics/measurements');
        return (a.measurements.find((m) => m.name === VBAT)?.n ?? 0) >= 6;
      },
      { timeoutMs: 60_000 },
    );
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('computes n, mean, sample sigma, Cp and Cpk of a measurement from its readings', async () => {
    const to = new Date().toISOString();
    const stats = await api.get<MeasurementsAnswer>(`/api/analytics/measurements?to=${encodeURIComponent(to)}`);
    expect(stats.version).toBe(1);
    expect(stats.capped).toBe(false);
    const vbat = stats.measurements.find((m) => m.step === VBAT && m.name === VBAT) as Stats;
    expect(vbat).toBeDefined();
    expect([vbat.low, vbat.high]).toEqual([3.4, 4.2]);
    // The same readings, one by one, from the control chart's route (another query), by hand.
    const control = await api.get<ControlAnswer>(`/api/analytics/control?step=${encodeURIComponent(VBAT)}&measurement=${encodeURIComponent(VBAT)}&to=${encodeURIComponent(to)}`);
    const values = control.points.map((p) => p.value);
    expect(values.length).toBe(vbat.n);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sigma = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
    expect(vbat.mean).toBeCloseTo(mean, 9);
    expect(vbat.sigma).toBeCloseTo(sigma, 9);
    expect(vbat.cp).toBeCloseTo((4.2 - 3.4) / (6 * sigma), 6);
    expect(vbat.cpk).toBeCloseTo(Math.min(mean - 3.4, 4.2 - mean) / (3 * sigma), 6);
    expect(vbat.histogram.counts.reduce((a, b) => a + b, 0)).toBe(vbat.n);
    expect(control.points.every((p) => p.version === 1 && p.low === 3.4 && p.high === 4.2)).toBe(true);

    // Bad input: a clear 400 or 404.
    expect((await api.request('GET', '/api/analytics/measurements?version=99')).status).toBe(404);
    expect((await api.request('GET', '/api/analytics/measurements?from=yesterday')).status).toBe(400);
    expect((await api.request('GET', '/api/analytics/control?step=x')).status).toBe(400);
  });

  it("shows a measurement's Cpk, its histogram and its control chart", async () => {
    const answer = page.waitForResponse((r) => r.url().includes('/api/analytics/measurements'));
    await page.locator('[data-tab="analytics"]').click();
    const shown = (await (await answer).json()) as MeasurementsAnswer;
    const vbat = shown.measurements.find((m) => m.name === VBAT) as Stats;
    const row = page.locator(`#analytics-panel tr[data-measurement="${VBAT}"]`);
    await row.waitFor();
    await expect(row.locator('td.n').textContent()).resolves.toBe(String(vbat.n));
    await expect(row.locator('td.cpk').textContent()).resolves.toBe(`${(vbat.cpk as number) >= 1.33 ? '✓' : (vbat.cpk as number) >= 1 ? '◐' : '✗'} ${(vbat.cpk as number).toFixed(2)}`);
    await expect(row.locator('td.limits').textContent()).resolves.toBe('3.4 ≤ x ≤ 4.2 V');
    expect(await row.locator('.mini-bar').count()).toBe(vbat.histogram.counts.length);

    await row.locator('button').click();
    const hist = page.locator('.analytics-detail [data-chart="histogram"]');
    await hist.locator('canvas').waitFor();
    await expect(hist.getAttribute('data-n')).resolves.toBe(String(vbat.n));
    await expect(page.locator('.analytics-detail .detail-figures').getAttribute('data-cpk')).resolves.toBe(String(vbat.cpk));
    const control = page.locator('.analytics-detail [data-chart="control"][data-points]');
    await control.locator('canvas').waitFor();
    expect(Number(await control.getAttribute('data-points'))).toBeGreaterThanOrEqual(vbat.n);
    await expect(control.getAttribute('data-highs')).resolves.toBe('4.2');
    expect(errors).toEqual([]);
  });

  it('slices yield per step by version with a picker, and shows two versions side by side', async () => {
    // Version 2: a tighter high limit for the battery voltage.
    const list = await api.get<Versions>('/api/sequences');
    const v1 = await api.get<{ definition: { steps: { name: string; limit?: Record<string, unknown> }[] } }>(`/api/sequences/${list.active}`);
    const def = structuredClone(v1.definition);
    const step = def.steps.find((s) => s.name === VBAT) as { limit: Record<string, unknown> };
    step.limit = { ...step.limit, high: 4.15, marginalHigh: 4.05 };
    const inFlight = new Set((await api.get<Health>('/api/health')).slots.map((s) => s.runId));
    expect((await api.request('POST', '/api/sequences', { definition: def, note: 'battery high limit 4.15 V' })).status).toBe(201);
    // Every slot has started a run since the save, so version 1's runs are all finished; then 3 runs of version 2.
    await waitFor(
      'every slot on version 2, with 3 of its runs finished',
      async () => {
        const health = await api.get<Health>('/api/health');
        if (!health.slots.every((s) => s.runId !== null && !inFlight.has(s.runId))) return false;
        const y = await api.get<YieldAnswer>('/api/yield/steps?version=2');
        return (y.steps[0]?.runs ?? 0) >= 3;
      },
      { timeoutMs: 60_000 },
    );
    const y1 = await api.get<YieldAnswer>('/api/yield/steps?version=1');
    expect(y1.version).toBe(1);
    expect(y1.steps[0]?.runs).toBeGreaterThan(0);

    await page.locator('[data-tab="yield"]').click();
    await page.locator('#yield-table[data-version="2"] tr[data-step="0"]').waitFor();
    await page.locator('#yield-since').selectOption('0');
    await page.locator('#yield-version').selectOption('1');
    const v1Runs = page.locator('#yield-table[data-version="1"] tr[data-step="0"] td.runs');
    await v1Runs.waitFor();
    await expect(v1Runs.textContent()).resolves.toBe(String(y1.steps[0]?.runs));
    await page.locator('#yield-version').selectOption('2');
    const v2Runs = Number(await page.locator('#yield-table[data-version="2"] tr[data-step="0"] td.runs').textContent());
    expect(v2Runs).toBeGreaterThanOrEqual(3);

    // Before/after: v1 | v2, yield per step and Cpk per measurement.
    await page.locator('[data-tab="analytics"]').click();
    await page.locator('#analytics-panel[data-version="2"]').waitFor();
    await expect(page.locator('#compare-a').inputValue()).resolves.toBe('1');
    await expect(page.locator('#compare-b').inputValue()).resolves.toBe('2');
    await page.locator('.compare-form button[type="submit"]').click();
    const out = page.locator('.compare-out[data-before="1"][data-after="2"]');
    const cpkRow = out.locator(`.compare-cpk tr[data-measurement="${VBAT} · ${VBAT}"]`);
    await cpkRow.waitFor();
    await expect(cpkRow.locator('td.before.limits').textContent()).resolves.toBe('3.4 ≤ x ≤ 4.2 V');
    await expect(cpkRow.locator('td.after.limits').textContent()).resolves.toBe('3.4 ≤ x ≤ 4.15 V');
    const s1 = await api.get<MeasurementsAnswer>('/api/analytics/measurements?version=1');
    const cpk1 = s1.measurements.find((m) => m.name === VBAT)?.cpk;
    await expect(cpkRow.locator('td.before.cpk').getAttribute('data-cpk')).resolves.toBe(String(cpk1));
    await expect(cpkRow.locator('td.after.cpk').textContent()).resolves.toMatch(/^[✓◐✗] -?\d+\.\d\d$|^– /);
    const yieldRow = out.locator(`.compare-yield tr[data-step="${y1.steps[0]?.name}"]`);
    await expect(yieldRow.locator('td.before.runs').textContent()).resolves.toBe(String(y1.steps[0]?.runs));
    expect(Number(await yieldRow.locator('td.after.runs').textContent())).toBeGreaterThanOrEqual(3);

    // The control chart runs across both versions, with the limit each run was judged by.
    await page.locator('#analytics-version').selectOption('2');
    const row = page.locator(`#analytics-panel[data-version="2"] tr[data-measurement="${VBAT}"]`);
    await row.locator('button').click();
    const control = page.locator('.analytics-detail [data-chart="control"][data-points]');
    await control.locator('canvas').waitFor();
    await expect(control.getAttribute('data-versions')).resolves.toBe('1,2');
    await expect(control.getAttribute('data-highs')).resolves.toBe('4.2,4.15');
    expect(errors).toEqual([]);
  });

  it('lists the latest devices before a search, dates every run time, says the label rule in words and names the slot of a fault', async () => {
    await page.locator('[data-tab="devices"]').click();
    const first = page.locator('.device-results tr[data-device]').first();
    await first.waitFor();
    await expect(page.locator('.device-history').textContent()).resolves.toBe('');
    await expect(first.locator('td.updated').textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    await first.locator('button').click();
    const runTime = page.locator('.device-history tr[data-run] button').first();
    await runTime.waitFor();
    await expect(runTime.textContent()).resolves.toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

    // The test station scans no labels (a label scan would hold every run): the label rule is put
    // into the editor (not saved), as a sequence that has one would load.
    await page.locator('[data-tab="sequence"]').click();
    await page.evaluate(`(async () => {
      const list = await (await fetch('/api/sequences')).json();
      const v = await (await fetch('/api/sequences/' + list.active)).json();
      v.definition.steps[0].label = { text: 'Scan the unit label', match: ['deviceId'] };
      window.stationEngineer.editor.load(v.definition, { version: v.version, hash: v.hash, scripts: v.scripts });
    })()`);
    const rule = page.locator('.rule-words[data-rule-for="label"]');
    await rule.waitFor();
    await expect(rule.textContent()).resolves.toMatch(/^Label rule: .*"Scan the unit label".*Device ID must equal what the DUT reports/);

    await page.locator('[data-tab="simulation"]').click();
    const health = await api.get<Health>('/api/health');
    await page.locator('#fault-slot option').first().waitFor({ state: 'attached' });
    await page.locator('#fault-slot').selectOption('1');
    await page.locator('#fault-kind').selectOption('garbage');
    await page.locator('#fault-form button[type="submit"]').click();
    await expect(waitFor('the fault result', async () => (await page.locator('#fault-result').textContent()) || null)).resolves.toContain(`queued for 2: ${health.slots[1]?.name}`);
    expect(errors).toEqual([]);
  });
});
