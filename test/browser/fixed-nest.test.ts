// A dashboard screen at one nest (`/?nest=N`): its keyboard-wedge scanner is fixed to that nest, as
// a station scanner with a `slot` is. With scan prompts open on all three nests and none selected,
// a roaming screen refuses a scan (it would have to guess); the screen at nest 3 gives it to nest 3,
// and a CMD:PASS scanned there answers nest 3's yes/no question, not another nest's.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, manualNests, screenContext, startStation, wedgeScan } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

const SCAN_STEP = 'Serial label';
const SCANNER_GAP_MS = 8;

interface RunDetail {
  status: string;
  steps: { name: string; status: string; message: string | null }[];
}

describe('a dashboard screen fixed to one nest', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let roaming: Page;
  let atNest3: Page;
  let api: ApiClient;
  let errors: string[][];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      manualNests(cfg, 3);
      cfg.sequence = {
        name: 'fixed-nest',
        steps: [
          { type: 'identify', name: 'Identify', deviceIdHexLength: 16 },
          { type: 'scan', name: SCAN_STEP, text: 'Scan the serial label', expect: 'pattern', pattern: 'SN[0-9]{4}', sample: 'SN1234' },
          { type: 'prompt', name: 'LED check', text: 'Is the status LED green?' },
          { type: 'bless', name: 'Bless' },
        ],
      };
    });
    api = await ApiClient.login(station.daemon, 'operator');
    browser = await launchBrowser();
    const context = await screenContext(browser);
    roaming = await context.newPage();
    atNest3 = await context.newPage();
    errors = [collectPageErrors(roaming), collectPageErrors(atNest3)];
    await loginFromPage(roaming, station.daemon.url, 'operator');
    await roaming.locator('#connection[data-status="live"]').waitFor();
    await atNest3.goto(`${station.daemon.url}/?nest=3`);
    await atNest3.locator('#connection[data-status="live"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const runOf = async (slot: number): Promise<RunDetail> => {
    const runId = await waitFor(`a run at nest ${slot + 1}`, async () => (await api.get<{ slots: { runId: string | null }[] }>('/api/health')).slots[slot]?.runId ?? null);
    return api.get(`/api/runs/${runId}`);
  };

  it('gives its scans and its commands to its own nest, where a roaming screen refuses to guess', async () => {
    for (const slot of [0, 1, 2]) expect((await api.request('POST', `/api/slots/${slot}/start`)).status).toBe(202);
    for (const page of [roaming, atNest3]) {
      for (const slot of [0, 1, 2]) await page.locator(`.tile[data-slot="${slot}"] .tile-prompt[data-kind="scan"]`).waitFor({ timeout: 15_000 });
    }
    await expect(atNest3.locator('.tile.selected').getAttribute('data-slot')).resolves.toBe('2');
    await expect(roaming.locator('.tile.selected').count()).resolves.toBe(0);

    // The roaming screen: three nests ask, none is selected: refused on the screen, nothing sent.
    await wedgeScan(roaming, 'SN0009', SCANNER_GAP_MS);
    await roaming.locator('#scan-notice:not([hidden])').waitFor();
    for (const slot of [0, 1, 2]) await expect(roaming.locator(`.tile[data-slot="${slot}"] .tile-prompt`).getAttribute('data-kind')).resolves.toBe('scan');

    // The screen at nest 3: the scan is nest 3's answer; nests 1 and 2 still ask.
    await wedgeScan(atNest3, 'SN0003', SCANNER_GAP_MS);
    await atNest3.locator('.tile[data-slot="2"] .tile-prompt[data-kind="choice"]').waitFor({ timeout: 15_000 });
    expect((await runOf(2)).steps.find((s) => s.name === SCAN_STEP)).toMatchObject({ status: 'pass', message: 'scanned scan=SN0003' });
    for (const slot of [0, 1]) await expect(atNest3.locator(`.tile[data-slot="${slot}"] .tile-prompt`).getAttribute('data-kind')).resolves.toBe('scan');

    // A command barcode without a nest number answers nest 3's question there.
    await wedgeScan(atNest3, 'CMD:PASS', SCANNER_GAP_MS);
    await waitFor('nest 3 blessed', async () => (await runOf(2)).status === 'blessed', { timeoutMs: 15_000 });
    for (const slot of [0, 1]) expect((await runOf(slot)).steps.find((s) => s.name === SCAN_STEP)).toBeUndefined();
    expect(errors.flat()).toEqual([]);
  });
});
