// The operator dashboard in a real browser (Debian chromium via playwright-core) against the real
// daemon running the simulated station: tiles follow the units through identify, BlinkUp and the
// test steps to a verdict with their Device IDs; the shift counters rise; a dropped socket
// reconnects and catches up without a reload; a gap in the delta numbers makes the page start
// again from a snapshot; a screenshot of the dashboard is kept as a test artifact.
import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, artifactsDir, collectPageErrors, launchBrowser, loginFromPage, screenContext, startStation, waitInPage } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { slot: number; state: string; deviceId: string | null; runId: string | null }[];
}

/** Records, per tile, every state it showed and what it showed at each verdict (a MutationObserver in the page). */
const RECORDER = `(() => {
  const seen = {};
  const note = (tile) => {
    const slot = tile.dataset.slot;
    const rec = (seen[slot] ??= { states: [], verdicts: [], steps: [] });
    const state = tile.dataset.state;
    if (rec.states[rec.states.length - 1] !== state) rec.states.push(state);
    if (state === 'pass' || state === 'fail') rec.verdicts.push({ state, deviceId: tile.querySelector('.device-id')?.textContent ?? '', word: tile.querySelector('.state-word')?.textContent ?? '', icon: tile.querySelector('.state-icon')?.textContent ?? '' });
    const step = tile.querySelector('.tile-step');
    if (state === 'testing' && step && !step.hidden) rec.steps.push(step.textContent);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      const tile = r.target.closest ? r.target.closest('[data-slot]') : null;
      if (tile) note(tile);
    }
  }).observe(document.getElementById('slots'), { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true, characterData: true });
  for (const t of document.querySelectorAll('[data-slot]')) note(t);
  window.__tileRecord = seen;
})()`;

interface TileRecord {
  states: string[];
  verdicts: { state: string; deviceId: string; word: string; icon: string }[];
  steps: string[];
}

describe('operator dashboard', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    station = await startStation();
    browser = await launchBrowser();
    page = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
    await page.locator('[data-slot]').nth(3).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('shows each slot going through identify, BlinkUp and testing to a verdict, with its Device ID, and the counters rising', async () => {
    expect(await page.locator('[data-slot]').count()).toBe(4);
    const testedBefore = Number(await page.locator('[data-counter="tested"] .stat-value').textContent());
    await page.evaluate(RECORDER);
    // One slot seen through a whole cycle, from identify to its verdict.
    await waitInPage(
      page,
      'a tile to show a unit from identify through BlinkUp and testing to its verdict',
      `Object.values(window.__tileRecord).some((r) => {
        const i = r.states.indexOf('identifying');
        return i >= 0 && r.states.indexOf('blinkup', i) > i && r.states.indexOf('testing', i) > i && r.states.slice(i).some((s) => s === 'pass' || s === 'fail');
      })`,
      60_000,
    );
    const record = (await page.evaluate('window.__tileRecord')) as Record<string, TileRecord>;
    const verdicts = Object.values(record).flatMap((r) => r.verdicts);
    expect(verdicts.length).toBeGreaterThan(0);
    for (const v of verdicts) {
      expect(v.deviceId).toMatch(/^[0-9a-f]{16}$/);
      // Not colour alone: a word and a symbol for each verdict.
      expect([v.word, v.icon]).toEqual(v.state === 'pass' ? ['PASS', '✓'] : ['FAIL', '✗']);
    }
    const steps = Object.values(record).flatMap((r) => r.steps);
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) expect(s).toMatch(/^step \d+\/13 · \S/);
    await waitInPage(page, 'the tested counter to rise', `Number(document.querySelector('[data-counter="tested"] .stat-value').textContent) > ${testedBefore}`, 60_000);
    expect(errors).toEqual([]);
  });

  it('keeps a screenshot of the dashboard as a test artifact', async () => {
    const file = path.join(artifactsDir(), 'dashboard.png');
    rmSync(file, { force: true });
    await page.locator('.tile .device-id').first().waitFor();
    await page.screenshot({ path: file, fullPage: true });
    expect(statSync(file).size).toBeGreaterThan(10_000);
    expect(readFileSync(file).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it('acknowledges an alarm from the page: a slot stopped by a wrong-type token runs again, and the alarm goes', async () => {
    // A healthy start raises no alarm (the token pool refills within its on-delay): make one.
    const engineer = await ApiClient.login(station.daemon, 'engineer');
    expect((await engineer.request('POST', '/api/sim/slots/0/faults', { kind: 'wrong-token-type' })).status).toBe(202);
    const item = page.locator('.alarm-list li[data-alarm^="blinkup.wrong-token-type."]');
    await item.waitFor({ timeout: 30_000 });
    const alarmId = (await item.getAttribute('data-alarm')) as string;
    const slot = Number(alarmId.split('.').at(-1));
    await expect(item.locator('.alarm-message').textContent()).resolves.toMatch(/wrong type/);
    await expect(page.locator('#alarm-summary').getAttribute('data-level')).resolves.toBe('critical');
    await page.locator(`.tile[data-slot="${slot}"][data-state="refused"]`).waitFor();
    await item.locator('button.alarm-ack').click();
    await item.waitFor({ state: 'detached' });
    await waitInPage(page, `slot ${slot} to take units again`, `document.querySelector('.tile[data-slot="${slot}"]').dataset.state !== 'refused'`, 30_000);
    await expect(page.locator('#alarm-summary').getAttribute('data-level')).resolves.toBe('none');
    expect(errors).toEqual([]);
  });

  it('reconnects a dropped socket and catches up on what it missed, without reloading the page', async () => {
    const marker = await page.evaluate('window.stationDashboard.loadId');
    const stateAtDrop = (await page.evaluate(`JSON.stringify(window.stationDashboard.state.slots.map((s) => [s.state, s.runId]))`)) as string;
    // The network goes away (chromium's offline emulation) and the socket drops: socket.io keeps
    // trying to reconnect, and fails, until the network is back.
    await page.context().setOffline(true);
    const before = (await page.evaluate(`(() => {
      const live = window.stationDashboard.live;
      live.socket.io.engine.close();
      return { connects: live.connects, seq: live.lastSeq };
    })()`)) as { connects: number; seq: number };
    await page.locator('#connection[data-status="reconnecting"]').waitFor({ timeout: 5000 });
    const api = await ApiClient.login(station.daemon, 'operator');
    await waitFor(
      'the station to change while the page is disconnected',
      async () => {
        const health = await api.get<Health>('/api/health');
        return JSON.stringify(health.slots.map((s) => [s.state, s.runId])) !== stateAtDrop;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    expect(await page.evaluate('window.stationDashboard.live.connected')).toBe(false);
    expect(await page.evaluate('window.stationDashboard.live.lastSeq')).toBe(before.seq);
    await page.context().setOffline(false);

    await waitInPage(page, 'the socket to reconnect by itself', `window.stationDashboard.live.connects > ${before.connects} && window.stationDashboard.live.connected`);
    const sync = (await page.evaluate('window.stationDashboard.live.syncLog.at(-1)')) as { kind: string; count: number; from: number };
    // Everything it missed was still in the server's buffer: replayed, starting right after the last seq it had.
    expect(sync.kind).toBe('deltas');
    expect(sync.count).toBeGreaterThan(0);
    expect(sync.from).toBe(before.seq + 1);
    await expectPageMatchesHealth(page, api);
    expect(await page.evaluate('window.stationDashboard.loadId')).toBe(marker);
    // Chromium logs each reconnection attempt that failed while offline; those are expected here.
    expect(errors.filter((e) => !/WebSocket connection to '[^']*' failed/.test(e))).toEqual([]);
    errors.length = 0;
  });

  it('starts again from a snapshot when a delta number is missing, without reloading the page', async () => {
    const marker = await page.evaluate('window.stationDashboard.loadId');
    const resyncs = (await page.evaluate('window.stationDashboard.live.resyncs')) as number;
    const snapshots = (await page.evaluate(`window.stationDashboard.live.syncLog.filter((e) => e.kind === 'snapshot').length`)) as number;
    // A delta two ahead of the last one applied: one was lost on the way.
    await page.evaluate(`(() => {
      const live = window.stationDashboard.live;
      live.apply({ seq: live.lastSeq + 2, t: 'slot', d: { slot: 0, state: 'fail', reason: 'a delta that must never be shown' } }, false);
    })()`);
    await waitInPage(page, 'a fresh snapshot', `window.stationDashboard.live.syncLog.filter((e) => e.kind === 'snapshot').length > ${snapshots}`);
    expect(await page.evaluate('window.stationDashboard.live.resyncs')).toBe(resyncs + 1);
    expect(await page.locator('.tile-reason', { hasText: 'a delta that must never be shown' }).count()).toBe(0);
    await expectPageMatchesHealth(page, await ApiClient.login(station.daemon, 'operator'));
    expect(await page.evaluate('window.stationDashboard.loadId')).toBe(marker);
    expect(errors).toEqual([]);
  });
});

/** Polls until the tiles show what /api/health says (state and Device ID per slot) at the same moment. */
async function expectPageMatchesHealth(page: Page, api: ApiClient): Promise<void> {
  let last = '';
  await waitFor(
    'the tiles to match /api/health',
    async () => {
      const health = await api.get<Health>('/api/health');
      const want = health.slots.map((s) => `${s.slot}:${s.state}:${s.deviceId ?? ''}`).join(' ');
      const shown = (await page.evaluate(
        `[...document.querySelectorAll('[data-slot]')].map((t) => t.dataset.slot + ':' + t.dataset.state + ':' + (t.querySelector('.tile-device').hidden || t.querySelector('.device-id').textContent === '–' ? '' : t.querySelector('.device-id').textContent)).join(' ')`,
      )) as string;
      last = `page ${shown} / health ${want}`;
      return shown === want;
    },
    { timeoutMs: 20_000, intervalMs: 30 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}
