// Values from a DUT (and from a sequence) are shown as text, never as markup. The test plays the
// DUT's factory firmware on a real pseudo-terminal (socat) and answers with HTML in its values;
// the sequence's prompt text and a step name carry HTML too. The dashboard tile and the engineer's
// run detail must show those characters literally, create no element from them and run no script.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ReadlineParser } from '@serialport/parser-readline';
import type { Browser, Page } from 'playwright-core';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, screenContext, startStationWith, type ConfigJson, type RunningStation } from '../support/browser.js';
import { serialStationConfig } from '../support/configs.js';
import { PtyPair } from '../support/pty.js';

const DUT_VALUE = '<img src=x onerror="window.__xss=1">';
const PROMPT_TEXT = 'Is the label <img src=x onerror="window.__xss=2"> straight?';
const STEP_NAME = 'Label <b onmouseover="window.__xss=3">text</b>';
const DEVICE_ID = '0123456789abcdef';

/** Factory firmware, scripted: ready at once, a valid identity, and HTML in the label it reports. */
function scriptedDut(port: SerialPort): void {
  const lines = port.pipe(new ReadlineParser({ delimiter: '\n' }));
  lines.on('data', (line: string) => {
    const m = /^@(\d+) (\S+)/.exec(line.trim());
    if (!m) return;
    const [, tag, command] = m;
    const answer =
      command === 'PING'
        ? 'OK ready=1'
        : command === 'IDENT'
          ? `OK id=${DEVICE_ID} mac=0c2a69000001 fw=1.0 blessed=0`
          : command === 'LABEL'
            ? `OK label=${DUT_VALUE}`
            : command === 'FAIL'
              ? 'OK led=RED'
              : `ERR UNKNOWN_COMMAND ${command}`;
    port.write(`@${tag} ${answer}\n`);
  });
}

describe('values shown as text', () => {
  let ptyDir: string;
  let pty: PtyPair;
  let dut: SerialPort;
  let station: RunningStation;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    ptyDir = mkdtempSync(path.join(tmpdir(), 'station-escape-pty-'));
    pty = await new PtyPair(ptyDir, 'nest').open();
    dut = await new Promise<SerialPort>((resolve, reject) => {
      const p = new SerialPort({ path: pty.simPath, baudRate: 115200, autoOpen: false, lock: false });
      p.open((err) => (err ? reject(err) : resolve(p)));
    });
    scriptedDut(dut);
    station = await startStationWith((dataDir) => {
      const cfg = serialStationConfig({ dataDir, ports: [pty.stationPath], logLevel: 'warn' }) as ConfigJson;
      cfg.simulation = { ...cfg.simulation, operator: 'off' };
      cfg.sequence = {
        name: 'escaping-check',
        stopOnFailure: true,
        defaultTimeoutMs: 2000,
        steps: [
          { type: 'identify', name: 'Identify', deviceIdHexLength: 16 },
          { type: 'prompt', name: 'Check label', text: PROMPT_TEXT, answers: ['yes', 'no'], pass: ['yes'], timeoutMs: 120_000 },
          { type: 'measure', name: STEP_NAME, command: 'LABEL', capture: 'label=(.+)$', as: 'string', limit: { kind: 'regex', pattern: '^OK$' } },
          { type: 'bless', name: 'Bless' },
        ],
      };
      return cfg;
    });
    browser = await launchBrowser();
    page = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'operator');
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
    await new Promise((resolve) => (dut?.isOpen ? dut.close(resolve) : resolve(undefined)));
    await pty?.close();
    if (ptyDir) rmSync(ptyDir, { recursive: true, force: true });
  });

  async function noMarkupFromValues(p: Page): Promise<void> {
    expect(await p.locator('img').count()).toBe(0);
    expect(await p.locator('main b, .run-detail b').count()).toBe(0);
    expect(await p.evaluate('window.__xss')).toBeUndefined();
  }

  it('shows a prompt text and a DUT value with HTML in them literally on the tile', async () => {
    const tile = page.locator('.tile[data-slot="0"]');
    await tile.locator('.tile-prompt[data-prompt]').waitFor({ timeout: 30_000 });
    await expect(tile.locator('.prompt-text').textContent()).resolves.toBe(PROMPT_TEXT);
    await expect(tile.locator('.device-id').textContent()).resolves.toBe(DEVICE_ID);
    await noMarkupFromValues(page);

    await tile.locator('button[data-answer="yes"]').click();
    await page.locator('.tile[data-slot="0"][data-state="fail"]').waitFor({ timeout: 30_000 });
    const reason = (await tile.locator('.tile-reason').textContent()) as string;
    expect(reason).toContain(STEP_NAME);
    expect(reason).toContain('<img src=x onerror=');
    await noMarkupFromValues(page);
    expect(errors).toEqual([]);
  });

  it('shows the measured value with HTML in it literally in the engineer run detail', async () => {
    const api = await ApiClient.login(station.daemon, 'operator');
    const health = await api.get<{ slots: { runId: string | null }[] }>('/api/health');
    const runId = health.slots[0]?.runId as string;
    const run = await api.get<{ steps: { name: string; measurements: { value: unknown }[] }[] }>(`/api/runs/${runId}`);
    expect(run.steps.find((s) => s.name === STEP_NAME)?.measurements[0]?.value).toBe(DUT_VALUE);

    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const eng = await context.newPage();
    const engErrors = collectPageErrors(eng);
    await loginFromPage(eng, station.daemon.url, 'engineer', '/engineer.html');
    await eng.locator('[data-tab="devices"]').click();
    await eng.locator('#device-q').fill(DEVICE_ID);
    await eng.locator('form.search button[type="submit"]').click();
    await eng.locator(`.device-history tr[data-run="${runId}"] button`).click();
    const detail = eng.locator(`.run-detail[data-run-id="${runId}"]`);
    await detail.waitFor();
    await expect(detail.locator('.measured').first().textContent()).resolves.toBe(DUT_VALUE);
    await expect(detail.locator('tbody tr', { hasText: 'text</b>' }).count()).resolves.toBeGreaterThan(0);
    await noMarkupFromValues(eng);
    expect(engErrors).toEqual([]);
    await context.close();
  });
});
