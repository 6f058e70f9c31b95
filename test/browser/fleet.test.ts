// The fleet view (docs/fleet.md) in Chromium: a real mosquitto, the load generator's 50 simulated
// stations (the station's own MQTT connection, live publisher and sink, each with its client and
// Last Will), and `npm run fleet` as its own process. The page shows the 50 stations with their
// slot counts; a unit verdict and an alarm appear on the right card; a station whose connection
// dies (no DISCONNECT: the broker publishes its Will) turns offline; a fleet view restarted shows
// every station again from the broker's retained messages alone.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetLoad } from '../../fleet/load.js';
import { collectPageErrors, launchBrowser } from '../support/browser.js';
import { FleetProcess } from '../support/fleet.js';
import { freePort, Mosquitto } from '../support/mosquitto.js';
import { waitFor } from '../support/wait.js';

interface CardInfo {
  id: string;
  state: string;
  slots: number;
  alarm: string;
  unit: string;
  reason: string;
  yield: string;
}

const CARDS = `[...document.querySelectorAll('.fleet-card')].map((c) => ({
  id: c.dataset.stationId,
  state: c.dataset.state,
  slots: c.querySelectorAll('.fleet-slot').length,
  alarm: c.querySelector('.fleet-alarm')?.textContent ?? '',
  unit: c.querySelector('.fleet-unit')?.textContent ?? '',
  reason: c.querySelector('.fleet-reason')?.textContent ?? '',
  yield: c.querySelector('.fleet-yield')?.textContent ?? '',
}))`;

describe('fleet view', () => {
  let broker: Mosquitto;
  let four: FleetLoad;
  let two: FleetLoad;
  let fleet: FleetProcess;
  let port: number;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  const cards = async (): Promise<Map<string, CardInfo>> => new Map(((await page.evaluate(CARDS)) as CardInfo[]).map((c) => [c.id, c]));

  beforeAll(async () => {
    broker = await Mosquitto.start();
    // 50 stations: 40 with 4 slots, 10 with 2, a unit a slot every 20 s with its 16 steps.
    four = new FleetLoad({ broker: broker.url, stations: 40, slots: 4, unitEveryMs: 20_000 });
    two = new FleetLoad({ broker: broker.url, stations: 10, first: 40, slots: 2, unitEveryMs: 20_000 });
    await Promise.all([four.start(), two.start()]);
    port = await freePort();
    fleet = await FleetProcess.start(broker.url, port);
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    await Promise.all([four?.stop(), two?.stop()]);
    await broker?.dispose();
  });

  it('shows the 50 stations with their slots, yields and backlogs, grouped by line', async () => {
    await page.goto(fleet.url);
    const all = await waitFor(
      '50 cards, each with its slots and metrics',
      async () => {
        const c = await cards();
        return c.size === 50 && [...c.values()].every((x) => x.state === 'online' && x.slots > 0 && x.yield !== '–') ? c : null;
      },
      { timeoutMs: 30_000 },
    );
    for (let i = 1; i <= 50; i++) {
      const card = all.get(`st${String(i).padStart(4, '0')}`);
      expect(card?.slots, `st${i}`).toBe(i <= 40 ? 4 : 2);
    }
    expect(await page.textContent('#counts')).toBe('50 stations · 50 online · 0 offline');
    // Ten stations a line: five line groups, in name order.
    expect(await page.evaluate(`[...document.querySelectorAll('.fleet-group')].map((g) => g.dataset.group + ':' + g.querySelectorAll('.fleet-card').length)`)).toEqual(
      [1, 2, 3, 4, 5].map((n) => `acme/site1/assembly/line${n}:10`),
    );
    // Every slot shows one of the station's state words.
    const words = (await page.evaluate(`[...new Set([...document.querySelectorAll('.fleet-slot')].map((s) => s.dataset.state))]`)) as string[];
    expect(words.every((w) => ['idle', 'identifying', 'testing', 'blessing', 'pass', 'fail'].includes(w))).toBe(true);
  });

  it('shows a unit verdict and an alarm on the right card', async () => {
    const st8 = four.stations[7];
    const st4 = four.stations[3];
    if (!st8 || !st4) throw new Error('no such station');
    st8.verdict(2, 'feedc0de00fleet8', 'failed');
    st4.raiseAlarm('uplink.mqtt.denied', 'critical', 'the broker denied the result topic');
    const c = await waitFor(
      'the verdict on st0008 and the alarm on st0004',
      async () => {
        const m = await cards();
        return m.get('st0008')?.unit.includes('feedc0de00fleet8') && m.get('st0004')?.alarm.includes('denied the result topic') ? m : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(c.get('st0008')?.unit).toMatch(/✘ .* failed feedc0de00fleet8/);
    expect([...c.values()].filter((x) => x.unit.includes('feedc0de00fleet8')).map((x) => x.id)).toEqual(['st0008']);
    expect(c.get('st0004')?.alarm).toBe('⚠ 1 · the broker denied the result topic');
    expect(await page.getAttribute('[data-station-id="st0004"]', 'data-alarm')).toBe('critical');
    expect([...c.values()].filter((x) => x.alarm !== 'no alarm').map((x) => x.id)).toEqual(['st0004']);
  });

  it('turns a station whose connection died offline (its Last Will)', async () => {
    const st13 = four.stations[12];
    if (!st13) throw new Error('no such station');
    st13.kill();
    const c = await waitFor(
      'st0013 offline',
      async () => {
        const m = await cards();
        return m.get('st0013')?.state === 'offline' ? m : null;
      },
      { timeoutMs: 15_000 },
    );
    expect(c.get('st0013')?.reason).toBe('connection lost');
    expect([...c.values()].filter((x) => x.state !== 'online').map((x) => x.id)).toEqual(['st0013']);
    await waitFor('the counts', async () => (await page.textContent('#counts')) === '50 stations · 49 online · 1 offline');
  });

  it('shows every station again after the fleet view restarts, from retained state alone', async () => {
    await fleet.stop();
    await waitFor('the page to see the fleet view gone', async () => (await page.getAttribute('#broker', 'data-status')) === 'reconnecting', { timeoutMs: 10_000 });
    fleet = await FleetProcess.start(broker.url, port);
    // The open page reconnects and gets the new server's fleet; a fresh page gets the same.
    const fresh = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    const freshErrors = collectPageErrors(fresh);
    await fresh.goto(fleet.url);
    for (const p of [page, fresh]) {
      const m = await waitFor(
        'the 50 stations again',
        async () => {
          const list = (await p.evaluate(CARDS)) as CardInfo[];
          return list.length === 50 && list.every((x) => x.yield !== '' && x.yield !== '–') ? new Map(list.map((x) => [x.id, x])) : null;
        },
        { timeoutMs: 30_000 },
      );
      expect(m.get('st0013')).toMatchObject({ state: 'offline', reason: 'connection lost', slots: 4 });
      expect([...m.values()].filter((x) => x.state === 'online')).toHaveLength(49);
      expect(m.get('st0045')?.slots).toBe(2);
      expect(m.get('st0001')?.slots).toBe(4);
      expect(m.get('st0004')?.alarm).toBe('⚠ 1 · the broker denied the result topic');
      expect(await p.textContent('#counts')).toBe('50 stations · 49 online · 1 offline');
    }
    expect(freshErrors).toEqual([]);
    expect(errors.filter((e) => !/socket\.io|WebSocket|ERR_CONNECTION_REFUSED/.test(e))).toEqual([]);
  });
});
