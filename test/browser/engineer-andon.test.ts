// The engineer console's Instruments tab shows the andon: the light the station decided and each
// output's state, in a real browser against a real daemon with two Modbus TCP outputs, one on the
// simulator (connected) and one where nothing listens (unreachable, with its reason).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusLightSim } from '../../drivers/andon/simulator/modbus-sim.js';
import { collectPageErrors, launchBrowser, loginFromPage, startStation, withoutBlinkup } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

describe('engineer console: the andon', () => {
  const sim = new ModbusLightSim();
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    const port = await sim.listen(0);
    const coils = { green: 0, amber: 1, red: 2, buzzer: 3 };
    station = await startStation((cfg) => {
      withoutBlinkup(cfg, 2);
      cfg.andon = {
        outputs: [
          { kind: 'modbus-tcp', id: 'tower', host: '127.0.0.1', port, coils },
          { kind: 'modbus-tcp', id: 'spare', host: '127.0.0.1', port: 1, coils, reconnectInitialMs: 100, reconnectMaxMs: 500 },
        ],
      };
    });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
    await sim.kill();
  });

  it("lists each output with its state, where it is and what it shows, and the station's light", async () => {
    await page.locator('[data-tab="instruments"]').click();
    const tower = page.locator('table.andon-outputs tr[data-andon-output="tower"]');
    const spare = page.locator('table.andon-outputs tr[data-andon-output="spare"]');
    await tower.waitFor();
    // Health is read when the tab loads: refresh until both outputs have settled.
    await waitFor(
      'tower connected and spare unreachable on the page',
      async () => {
        if ((await tower.textContent())?.includes('✓ connected') && (await spare.textContent())?.includes('✗ unreachable')) return true;
        await page.locator('[data-action="refresh-instruments"]').click();
        return null;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    await expect(tower.locator('td').allTextContents()).resolves.toEqual(['tower', 'modbus-tcp', `127.0.0.1:${sim.port} unit 1`, '✓ connected', expect.stringMatching(/^(off|green|amber|red)/)]);
    await expect(spare.textContent()).resolves.toMatch(/✗ unreachable.*cannot connect to 127\.0\.0\.1:1/);
    await expect(spare.getAttribute('class')).resolves.toBe('attention');
    await expect(page.locator('[data-andon-light]').textContent()).resolves.toMatch(/^Light: (off|green|amber|red)/);
    expect(errors).toEqual([]);
  });
});
