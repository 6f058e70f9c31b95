// Alarm management in the browser, against a real daemon: active alarms are listed above cleared
// ones and the top bar counts only the active ones; the uplink is a calm status for operators (no
// red, no raw error) that becomes an alarm only past the engineer's threshold; an engineer shelves
// that alarm from the console with a reason and a time, the operator's dashboard shows it shelved
// and counts it no more, the history records who did what, and unshelving brings it back
// unacknowledged; an operator acknowledges from the page (an active alarm stays, marked; a cleared
// one goes). A station with the default on-delays shows no alarm after a healthy start.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, screenContext, startStation, waitInPage, type RunningStation } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface AlarmEntry {
  alarmId: string;
  severity: string;
  message: string;
  acknowledged: boolean;
  cleared: boolean;
  shelved: { by: string; reason: string; until: string } | null;
}

interface HistoryLine {
  event: string;
  alarmId: string;
  by: string | null;
  reason: string | null;
}

const BACKLOG = 'uplink.backlog';

describe('alarms on the dashboard and in the engineer console', () => {
  let station: RunningStation;
  let browser: Browser;
  let operator: Page;
  let engineer: Page;
  let api: ApiClient;
  let errors: string[];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      // An uplink whose cloud never answers (nothing listens on port 9): records queue, and after
      // 1.5 s the oldest is past the engineer's threshold.
      cfg.uplink = { url: 'http://127.0.0.1:9/', apiKey: 'test-key', hmacSecret: 'test-secret', backoffInitialMs: 200, backoffMaxMs: 1000, alarmAfterMs: 1500 };
      // No on-delay for the token alarms: the new station's empty pool raises them, and the first
      // refill clears them, so the list has cleared alarms waiting for an acknowledgement.
      cfg.alarms = { onDelayMs: { tokens: 0 } };
    });
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    operator = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(operator);
    await loginFromPage(operator, station.daemon.url, 'operator');
    await operator.locator('#connection[data-status="live"]').waitFor();
    engineer = await (await screenContext(browser)).newPage();
    await loginFromPage(engineer, station.daemon.url, 'engineer', '/engineer.html');
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const board = async (): Promise<AlarmEntry[]> => (await api.get<{ alarms: AlarmEntry[] }>('/api/alarms')).alarms;
  const history = async (alarmId: string): Promise<HistoryLine[]> => (await api.get<{ events: HistoryLine[] }>(`/api/alarms/history?alarmId=${encodeURIComponent(alarmId)}`)).events;

  it('shows the uplink as a calm status to operators until records wait past the threshold, then as an alarm', async () => {
    // Offline, with an error, before and after the alarm: never red, the raw error not shown to an operator.
    await waitInPage(operator, 'the uplink failing', `(window.stationDashboard.state.uplink || {}).lastError != null`);
    const look = (await operator.evaluate(`(() => {
      const panel = document.getElementById('uplink');
      const state = panel.querySelector('.uplink-state');
      const error = panel.querySelector('.uplink-error');
      return { text: state.textContent, background: getComputedStyle(state).backgroundColor, errorShown: error.getClientRects().length > 0, errorText: error.textContent };
    })()`)) as { text: string; background: string; errorShown: boolean; errorText: string };
    expect(look.text).toMatch(/retrying|waiting for the cloud/);
    expect(look.text).not.toMatch(/OFFLINE/);
    expect(look.background).not.toBe('rgb(229, 57, 53)'); // the FAIL red
    expect(look.errorText).toMatch(/^last error: (cannot reach|.*ECONNREFUSED)/);
    expect(look.errorShown).toBe(false);

    await waitInPage(operator, 'the uplink.backlog alarm', `window.stationDashboard.state.alarms.get(${JSON.stringify(BACKLOG)}) !== undefined`);
    await operator.locator('#uplink[data-alarm="true"]').waitFor();
    const entry = (await board()).find((a) => a.alarmId === BACKLOG);
    expect(entry).toMatchObject({ severity: 'warning', cleared: false, shelved: null });
    expect(entry?.message).toMatch(/^Records are not reaching the cloud: some have waited over 2 s\./);
    expect(entry?.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });

  it('lists active alarms above cleared ones, and the top bar counts only the active ones', async () => {
    await waitInPage(operator, 'the cleared token alarms', `[...window.stationDashboard.state.alarms.values()].filter((a) => a.alarmId.startsWith('tokens.') && a.cleared).length === 2`);
    const statuses = (await operator.evaluate(`[...document.querySelectorAll('.alarm-list li')].map((li) => li.dataset.status + ':' + li.dataset.alarm)`)) as string[];
    expect(statuses[0]).toBe(`active:${BACKLOG}`);
    expect(statuses.slice(1).sort()).toEqual(['cleared:tokens.empty', 'cleared:tokens.low']);
    // The first Acknowledge button is the live alarm's.
    await expect(operator.evaluate(`document.querySelector('.alarm-list button.alarm-ack').closest('li').dataset.alarm`)).resolves.toBe(BACKLOG);
    await expect(operator.locator('#alarm-summary').getAttribute('data-level')).resolves.toBe('warning');
    await expect(operator.locator('#alarm-summary .alarm-summary-count').textContent()).resolves.toBe('1 ACTIVE ALARM (3 to acknowledge)');
    await expect(operator.locator('#alarm-summary .alarm-summary-worst').textContent()).resolves.toMatch(/^WARNING: Records are not reaching the cloud/);
  });

  it('lets an engineer shelve an alarm from the console with a reason and a time: the dashboard shows it shelved and counts it no more', async () => {
    await engineer.locator('button[data-tab="alarms"]').click();
    const row = engineer.locator(`.alarms-table tr[data-alarm="${BACKLOG}"]`);
    await row.waitFor();
    await row.locator('input[name="reason"]').fill('cloud migration tonight, records catch up after');
    await row.locator('select[name="minutes"]').selectOption('60');
    await row.locator('button[type="submit"]').click();
    await engineer.locator(`.shelves-table tr[data-shelf="${BACKLOG}"]`).waitFor();

    await waitInPage(operator, 'the shelved alarm on the dashboard', `(window.stationDashboard.state.alarms.get(${JSON.stringify(BACKLOG)}) || {}).shelved != null`);
    await operator.locator(`.alarm-list li[data-alarm="${BACKLOG}"][data-status="shelved"]`).waitFor();
    await expect(operator.locator(`.alarm-list li[data-alarm="${BACKLOG}"] .alarm-shelf`).textContent()).resolves.toMatch(/^shelved until \d\d:\d\d:\d\d by engineer: cloud migration tonight/);
    await expect(operator.locator('#alarm-summary').getAttribute('data-level')).resolves.toBe('none');
    await expect(operator.locator('#alarm-summary .alarm-summary-count').textContent()).resolves.toBe('No active alarms · 2 cleared, to acknowledge · 1 shelved');
    await expect(operator.locator('#uplink').getAttribute('data-alarm')).resolves.toBe('false');
    const shelved = (await board()).find((a) => a.alarmId === BACKLOG);
    expect(shelved?.shelved).toMatchObject({ by: 'engineer', reason: 'cloud migration tonight, records catch up after' });
    expect(Date.parse(shelved?.shelved?.until ?? '') - Date.now()).toBeGreaterThan(55 * 60_000);
    // Health still lists it as active, with its shelf's end.
    const health = await api.get<{ alarms: { alarmId: string; shelvedUntil: string | null }[] }>('/api/health');
    expect(health.alarms.find((a) => a.alarmId === BACKLOG)?.shelvedUntil).toBe(shelved?.shelved?.until);
    // The history, newest first, with who did it and why.
    expect((await history(BACKLOG)).slice(0, 2)).toEqual([
      expect.objectContaining({ event: 'shelved', by: 'engineer', reason: 'cloud migration tonight, records catch up after' }),
      expect.objectContaining({ event: 'raised', by: null }),
    ]);
    await engineer.locator(`.history-table tr[data-event="shelved"][data-alarm="${BACKLOG}"]`).waitFor();
  });

  it('brings a still-active alarm back unacknowledged when the engineer unshelves it', async () => {
    await engineer.locator(`.shelves-table tr[data-shelf="${BACKLOG}"] button[data-action="unshelve"]`).click();
    await waitInPage(
      operator,
      'the alarm back on the dashboard',
      `(() => { const a = window.stationDashboard.state.alarms.get(${JSON.stringify(BACKLOG)}); return a && a.shelved === null && !a.acknowledged; })()`,
    );
    await expect(operator.locator('#alarm-summary').getAttribute('data-level')).resolves.toBe('warning');
    expect((await history(BACKLOG))[0]).toMatchObject({ event: 'unshelved', by: 'engineer' });
  });

  it('acknowledges from the page: an active alarm stays, marked acknowledged; a cleared one goes', async () => {
    await operator.locator(`.alarm-list li[data-alarm="${BACKLOG}"] button.alarm-ack`).click();
    await waitInPage(operator, 'the acknowledgement', `window.stationDashboard.state.alarms.get(${JSON.stringify(BACKLOG)}).acknowledged === true`);
    await expect(operator.locator(`.alarm-list li[data-alarm="${BACKLOG}"] .alarm-title`).textContent()).resolves.toContain('acknowledged');
    await expect(operator.locator(`.alarm-list li[data-alarm="${BACKLOG}"] button.alarm-ack`).count()).resolves.toBe(0);

    await operator.locator('.alarm-list li[data-alarm="tokens.empty"] button.alarm-ack').click();
    await operator.locator('.alarm-list li[data-alarm="tokens.empty"]').waitFor({ state: 'detached' });
    expect((await board()).map((a) => a.alarmId)).not.toContain('tokens.empty');
    expect((await history('tokens.empty')).map((e) => `${e.event}:${e.by ?? ''}`)).toEqual(['acknowledged:operator', 'cleared:', 'raised:']);
    expect(errors).toEqual([]);
  });
});

describe('a healthy start', () => {
  let station: RunningStation;

  beforeAll(async () => {
    station = await startStation();
  });

  afterAll(async () => {
    await station?.stop();
  });

  it('raises no alarm: the empty token pool refills within its on-delay', async () => {
    const api = await ApiClient.login(station.daemon, 'operator');
    const health = await waitFor(
      'the token pool filled and units tested',
      async () => {
        const h = await api.get<{ tokens: { available: number; lowWater: number }; counts: { blessed: number; failed: number }; alarms: unknown[] }>('/api/health');
        return h.tokens.available >= h.tokens.lowWater && h.counts.blessed + h.counts.failed >= 4 ? h : null;
      },
      { timeoutMs: 60_000 },
    );
    expect(health.alarms).toEqual([]);
    expect((await api.get<{ alarms: unknown[] }>('/api/alarms')).alarms).toEqual([]);
    // Not raised and cleared: never raised at all.
    expect((await api.get<{ events: unknown[] }>('/api/alarms/history')).events).toEqual([]);
    expect(station.daemon.stdout).toMatch(/"alarmId":"tokens\.empty"/); // the condition was there, for the log
  });
});
