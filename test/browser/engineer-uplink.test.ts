// The engineer console's uplink tab in a real browser against a real daemon with two sinks: a
// folder, and a real broker (mosquitto) whose maximum packet size no record fits. Each sink shows
// on its own row with its state and backlog, the broker's refusals show as that sink's dead letters
// with the reason, the dashboard lists both sinks under the one backlog, and no password is on
// either page.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, startStation, withoutBlinkup } from '../support/browser.js';
import { Mosquitto } from '../support/mosquitto.js';
import { waitFor } from '../support/wait.js';

const BROKER_PASSWORD = 'broker-secret-4711';

interface Health {
  uplink: { queued: number; deadLetters: number; sinks: { id: string; state: string; queued: number; deadLetters: number; sparkplug?: { connected: boolean } }[] };
}

describe('engineer console: the uplink tab', () => {
  let broker: Mosquitto;
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];

  beforeAll(async () => {
    broker = await Mosquitto.start({ users: { station: BROKER_PASSWORD }, maxPacketSize: 256 });
    station = await startStation((cfg) => {
      withoutBlinkup(cfg, 2);
      cfg.uplink = {
        sinks: [
          { kind: 'file', name: 'archive', dir: path.join(cfg.storage.dataDir as string, '..', 'records') },
          { kind: 'mqtt', url: broker.url, topicPrefix: 'uns', enterprise: 'acme', site: 'shenzhen', area: 'smt', line: 'line1', username: 'station', password: BROKER_PASSWORD, sparkplug: true },
        ],
        batchMaxAgeMs: 100,
      };
    });
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
    await broker?.dispose();
  });

  it("shows each sink with its state and backlog, and the broker's refusals as that sink's dead letters", async () => {
    await waitFor(
      'a few records through the folder and refused by the broker',
      async () => {
        const h = await api.get<Health>('/api/health');
        const archive = h.uplink.sinks.find((s) => s.id === 'archive');
        const mqtt = h.uplink.sinks.find((s) => s.id === 'mqtt');
        return archive && mqtt && mqtt.deadLetters >= 2 && archive.queued === 0 && mqtt.queued === 0 && mqtt.sparkplug?.connected;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    await page.locator('[data-tab="uplink"]').click();
    await page.locator('#uplink-panel tr[data-sink="mqtt"]').waitFor();
    await expect(page.locator('#uplink-panel tr[data-sink="archive"]').getAttribute('data-state')).resolves.toBe('online');
    const mqttRow = await page.locator('#uplink-panel tr[data-sink="mqtt"]').textContent();
    expect(mqttRow).toContain(broker.url);
    // Its Sparkplug B edge node's own connection; the folder sink has none.
    await page.locator('#uplink-panel tr[data-sink="mqtt"] td.sparkplug[data-connected="true"]').waitFor();
    await expect(page.locator('#uplink-panel tr[data-sink="mqtt"] td.sparkplug').textContent()).resolves.toMatch(/^✓ connected · bdSeq \d+ · born \d\d:\d\d/);
    await expect(page.locator('#uplink-panel tr[data-sink="archive"] td.sparkplug').textContent()).resolves.toBe('–');
    const dead = page.locator('#uplink-panel table.dead-letters tbody tr');
    expect(await dead.count()).toBeGreaterThanOrEqual(2);
    const first = (await dead.first().textContent()) as string;
    expect(first).toMatch(/^mqtt/);
    expect(first).toContain("over the broker's maximum packet size of 256 bytes");
    expect(await page.content()).not.toContain(BROKER_PASSWORD);

    // The dashboard: one backlog, and each sink on a line of its own.
    await page.goto(`${station.daemon.url}/`);
    await page.locator('#uplink .uplink-sinks li[data-sink="mqtt"]').waitFor();
    await expect(page.locator('#uplink .uplink-sinks li[data-sink="archive"]').textContent()).resolves.toMatch(/^. archive: \d+ queued$/);
    await expect(page.locator('#uplink .uplink-sinks li[data-sink="mqtt"]').textContent()).resolves.toMatch(/^. mqtt: \d+ queued, \d+ dead$/);
    expect(await page.content()).not.toContain(BROKER_PASSWORD);
    expect(errors).toEqual([]);
  });
});
