// What the line sees without scrolling, measured in chromium at the sizes line screens have
// (1920x1080, 1600x900, 1280x800, and a 1024x768 tablet): every nest tile (with an open prompt and
// its answer buttons, the tallest a tile gets), the shift counters and the alarm summary in the top
// bar (how many alarms are active and the worst one) lie inside the viewport, the page does not
// scroll, and the nest grid fills its area: four nests as 2 x 2, thirty-two as a grid whose cells
// cover most of it. The boxes are the browser's own (getBoundingClientRect), not CSS read back.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, artifactsDir, collectPageErrors, launchBrowser, loginFromPage, startStation, startStationWith, waitInPage, type RunningStation } from '../support/browser.js';
import { simulatedStationConfig } from '../support/configs.js';

const VIEWPORTS = [
  { width: 1920, height: 1080 },
  { width: 1600, height: 900 },
  { width: 1280, height: 800 },
  { width: 1024, height: 768 },
] as const;

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Measured {
  viewport: { width: number; height: number };
  page: { scrollWidth: number; scrollHeight: number };
  slots: Box;
  grid: string;
  tiles: { slot: string; box: Box; parts: { what: string; box: Box; clipped: boolean }[] }[];
  counters: Box;
  counterValues: { box: Box; text: string }[];
  summary: { box: Box; level: string; count: string; worst: string; countClipped: boolean };
}

/** Every box the test asserts on, read in one go in the page. */
const MEASURE = `(() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return { x: r.x, y: r.y, width: r.width, height: r.height }; };
  const clipped = (el) => el.scrollWidth > el.clientWidth + 1;
  const shown = (el) => el.getClientRects().length > 0;
  const tiles = [...document.querySelectorAll('#slots .tile')].map((t) => ({
    slot: t.dataset.slot,
    box: box(t),
    parts: [
      ...[...t.querySelectorAll('.tile-name, .tile-state')].filter(shown).map((p) => ({ what: p.className, box: box(p), clipped: clipped(p) })),
      ...[...t.querySelectorAll('.tile-prompt:not([hidden]) .prompt-text, .tile-prompt:not([hidden]) button')].filter(shown).map((p) => ({ what: p.className || p.tagName, box: box(p), clipped: false })),
    ],
  }));
  const summary = document.getElementById('alarm-summary');
  return {
    viewport: { width: innerWidth, height: innerHeight },
    page: { scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight },
    slots: box(document.getElementById('slots')),
    grid: document.getElementById('slots').dataset.grid,
    tiles,
    counters: box(document.getElementById('counters')),
    counterValues: [...document.querySelectorAll('#counters .stat')].map((s) => ({ box: box(s), text: s.querySelector('.stat-value').textContent })),
    summary: {
      box: box(summary),
      level: summary.dataset.level,
      count: summary.querySelector('.alarm-summary-count').textContent,
      worst: summary.querySelector('.alarm-summary-worst').textContent,
      countClipped: clipped(summary.querySelector('.alarm-summary-count')),
    },
  };
})()`;

const EPS = 0.5;

/** Problems with `inner` not lying wholly inside `outer`, in words (none: []). */
function outside(what: string, inner: Box, outer: Box): string[] {
  const problems: string[] = [];
  if (inner.width <= 0 || inner.height <= 0) problems.push(`${what} has no size (${JSON.stringify(inner)})`);
  if (inner.x < outer.x - EPS || inner.y < outer.y - EPS || inner.x + inner.width > outer.x + outer.width + EPS || inner.y + inner.height > outer.y + outer.height + EPS) {
    problems.push(`${what} at ${JSON.stringify(roundBox(inner))} is not inside ${JSON.stringify(roundBox(outer))}`);
  }
  return problems;
}

const roundBox = (b: Box): Box => ({ x: Math.round(b.x), y: Math.round(b.y), width: Math.round(b.width), height: Math.round(b.height) });

/** Everything point 1 lists, visible at this size: the problems found (none: []). */
function belowTheFold(m: Measured): string[] {
  const screen: Box = { x: 0, y: 0, width: m.viewport.width, height: m.viewport.height };
  const problems: string[] = [];
  if (m.page.scrollHeight > m.viewport.height) problems.push(`the page scrolls: ${m.page.scrollHeight} px tall in a ${m.viewport.height} px viewport`);
  if (m.page.scrollWidth > m.viewport.width) problems.push(`the page scrolls sideways: ${m.page.scrollWidth} px wide`);
  for (const t of m.tiles) {
    problems.push(...outside(`nest tile ${t.slot}`, t.box, screen), ...outside(`nest tile ${t.slot}`, t.box, m.slots));
    // Its name, and its state or (in a small tile) the prompt waiting in it.
    if (!t.parts.some((p) => p.what === 'tile-name')) problems.push(`tile ${t.slot} shows no name`);
    if (!t.parts.some((p) => p.what === 'tile-state' || p.what.includes('answer') || p.what === 'prompt-text')) problems.push(`tile ${t.slot} shows neither its state nor a prompt`);
    for (const p of t.parts) {
      problems.push(...outside(`${p.what} of tile ${t.slot}`, p.box, t.box));
      if (p.clipped) problems.push(`${p.what} of tile ${t.slot} is cut off`);
    }
  }
  problems.push(...outside('the counters', m.counters, screen));
  for (const c of m.counterValues) problems.push(...outside(`the counter ${c.text}`, c.box, screen));
  problems.push(...outside('the alarm summary', m.summary.box, screen));
  if (m.summary.countClipped) problems.push(`the alarm count is cut off: ${m.summary.count}`);
  return problems;
}

/** Sets the viewport and waits for the nest grid to be laid out for it (as `grid`, when given). */
async function atSize(page: Page, size: { width: number; height: number }, grid?: string): Promise<Measured> {
  await page.setViewportSize(size);
  const laidOut = grid ? `document.getElementById('slots').dataset.grid === ${JSON.stringify(grid)}` : 'true';
  await waitInPage(page, `the nest grid laid out ${grid ?? ''} at ${size.width}x${size.height}`, `innerWidth === ${size.width} && innerHeight === ${size.height} && ${laidOut}`);
  // One frame for the resize observer's layout to be painted.
  await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
  return (await page.evaluate(MEASURE)) as Measured;
}

/** The part of the grid's area the tiles cover (0..1). */
function coverage(m: Measured): number {
  const tileArea = m.tiles.reduce((sum, t) => sum + t.box.width * t.box.height, 0);
  return tileArea / (m.slots.width * m.slots.height);
}

describe('the dashboard at line-screen sizes, four nests', () => {
  let station: RunningStation;
  let browser: Browser;
  let page: Page;
  let errors: string[];

  beforeAll(async () => {
    // Nobody answers prompts: each unit waits at the sequence's prompt with its buttons on the tile.
    station = await startStation((cfg) => {
      cfg.simulation.operator = 'off';
    });
    const engineer = await ApiClient.login(station.daemon, 'engineer');
    // A critical alarm that stays active: the next enrollment gets a wrong-type token, which stops that slot.
    const fault = await engineer.request('POST', '/api/sim/slots/0/faults', { kind: 'wrong-token-type' });
    expect(fault.status).toBe(202);
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
    await waitInPage(page, 'the wrong-token-type alarm in the top bar', `document.getElementById('alarm-summary').dataset.level === 'critical'`, 60_000);
    await waitInPage(page, 'three nests waiting at their prompt', `document.querySelectorAll('.tile.has-prompt .prompt-answers button').length >= 6`, 60_000);
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  for (const size of VIEWPORTS) {
    it(`${size.width}x${size.height}: every tile with its prompt, the counters and the alarm summary are on the screen, and four nests fill it 2 x 2`, async () => {
      const m = await atSize(page, size, '2x2');
      expect(m.tiles).toHaveLength(4);
      expect(m.tiles.filter((t) => t.parts.some((p) => p.what.includes('answer'))).length).toBeGreaterThanOrEqual(3);
      expect(belowTheFold(m)).toEqual([]);
      await page.screenshot({ path: path.join(artifactsDir(), `dashboard-${size.width}x${size.height}.png`) });

      // 2 x 2: two columns and two rows of tiles of one size, filling the grid's area.
      const xs = new Set(m.tiles.map((t) => Math.round(t.box.x)));
      const ys = new Set(m.tiles.map((t) => Math.round(t.box.y)));
      expect([xs.size, ys.size]).toEqual([2, 2]);
      expect(coverage(m)).toBeGreaterThan(0.9);
      // The top bar: the count and the worst active alarm, in words.
      expect(m.summary.level).toBe('critical');
      expect(m.summary.count).toMatch(/^1 ACTIVE ALARM\b/);
      expect(m.summary.worst).toMatch(/^CRITICAL · Nest 1: .*wrong/);
      expect(m.summary.box.y + m.summary.box.height).toBeLessThan(m.slots.y + EPS);
      expect(m.counterValues.map((c) => c.text.trim())).not.toContain('');
    });
  }

  it('takes the operator from the summary to the alarm in the list, the worst one first', async () => {
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.locator('#alarm-summary').click();
    await waitInPage(page, 'the alarm panel focused', `document.activeElement === document.getElementById('alarms')`);
    const first = page.locator('.alarm-list li').first();
    await expect(first.getAttribute('data-alarm')).resolves.toMatch(/^blinkup\.wrong-token-type\.0$/);
    const box = (await first.boundingBox()) as Box;
    expect(outside('the first alarm', box, { x: 0, y: 0, width: 1024, height: 768 })).toEqual([]);
    expect(errors).toEqual([]);
  });
});

describe('the dashboard at line-screen sizes, thirty-two nests', () => {
  let station: RunningStation;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    // Thirty-two simulated nests, and nobody answers prompts: every tile ends up holding one, the
    // most a tile has to show.
    station = await startStationWith((dataDir) => {
      const cfg = simulatedStationConfig({ dataDir, slots: 32, operator: 'off' }) as { log: unknown };
      cfg.log = { level: 'warn' };
      return cfg;
    });
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
    await page.locator('#slots .tile').nth(31).waitFor();
    await waitInPage(page, 'every nest waiting at its prompt', `document.querySelectorAll('.tile.has-prompt').length === 32`, 90_000);
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  for (const size of VIEWPORTS) {
    it(`${size.width}x${size.height}: all 32 tiles on the screen, in a grid that fills the area`, async () => {
      const m = await atSize(page, size);
      expect(m.tiles).toHaveLength(32);
      expect(m.tiles.filter((t) => t.parts.filter((p) => p.what.includes('answer')).length === 2)).toHaveLength(32);
      await page.screenshot({ path: path.join(artifactsDir(), `dashboard-32-${size.width}x${size.height}.png`) });
      // As many cells as tiles, and no empty row.
      const [cols, rows] = m.grid.split('x').map(Number) as [number, number];
      expect(cols * rows).toBeGreaterThanOrEqual(32);
      expect(cols * rows - 32).toBeLessThan(cols);
      expect(new Set(m.tiles.map((t) => Math.round(t.box.y))).size).toBe(rows);
      expect(belowTheFold(m)).toEqual([]);
      expect(coverage(m)).toBeGreaterThan(0.8);
      // No tile overlaps another.
      for (const a of m.tiles)
        for (const b of m.tiles) {
          if (a === b) continue;
          const overlap =
            Math.min(a.box.x + a.box.width, b.box.x + b.box.width) - Math.max(a.box.x, b.box.x) > EPS && Math.min(a.box.y + a.box.height, b.box.y + b.box.height) - Math.max(a.box.y, b.box.y) > EPS;
          expect(overlap, `tiles ${a.slot} and ${b.slot} overlap`).toBe(false);
        }
    });
  }
});
