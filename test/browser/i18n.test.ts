// The operator screens in every language, in chromium: the dashboard opened by a browser that
// prefers German, Simplified Chinese, Spanish or English comes up in that language; at 1280x800
// and 1024x768 no text on the tiles (in every state a nest can show, with and without an open
// prompt), in the top bar, the counters or the alarm summary runs out of its box, and nothing the
// layout test lists is below the fold; times are 24-hour. The picker in the top bar switches the
// language live (no reload) and the choice survives a reload; the line screen keeps its own. The
// sequence's own words (a prompt's text, a step's operatorText) show in the screen's language when
// the sequence gives them in it.
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, artifactsDir, collectPageErrors, launchBrowser, loginFromPage, saveSequenceFromPage, startStation, waitInPage, type RunningStation } from '../support/browser.js';

const LOCALES = [
  { tag: 'en', browser: 'en-US', word: 'WAITING', pass: 'PASS' },
  { tag: 'de', browser: 'de-DE', word: 'WARTET', pass: 'i.O.' },
  { tag: 'zh-CN', browser: 'zh-CN', word: '等待', pass: '合格' },
  { tag: 'es', browser: 'es-MX', word: 'EN ESPERA', pass: 'PASA' },
] as const;

const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1024, height: 768 },
] as const;

/** Every state a tile can show, drawn on every tile in turn from the page's own state (with and without the open prompts). */
const STATES = ['offline', 'idle', 'waiting', 'identifying', 'blinkup', 'testing', 'blessing', 'pass', 'fail', 'interrupted', 'refused'];

/** In the page: pushes to `problems` each text of the top bar, the counters and the tiles that runs out of its box. */
const TEXT_OVERFLOW = `
  const rect = (el) => el.getBoundingClientRect();
  const name = (el) => (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') + ' "' + el.textContent.trim().slice(0, 60) + '"';
  const ownText = (el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const skip = (el) => el.closest('.alarm-summary-worst, .sequence-info, #station-name, select');
  const scopes = [...document.querySelectorAll('.topbar, #counters, #slots .tile')];
  for (const scope of scopes) {
    for (const el of [scope, ...scope.querySelectorAll('*')]) {
      if (!ownText(el) || skip(el) || el.getClientRects().length === 0) continue;
      const inline = getComputedStyle(el).display === 'inline';
      let box = el.parentElement;
      while (box && getComputedStyle(box).display === 'inline') box = box.parentElement;
      const r = rect(el), b = rect(box);
      if (r.right > b.right + 1 || r.left < b.left - 1) problems.push(name(el) + ' runs out of ' + name(box).slice(0, 40) + ' by ' + Math.round(Math.max(r.right - b.right, b.left - r.left)) + ' px');
      if (!inline && el.scrollWidth > el.clientWidth + 1) problems.push(name(el) + ' overflows: ' + el.scrollWidth + ' px of text in ' + el.clientWidth + ' px');
    }
  }
`;

/**
 * Draws every tile in `state` (from a copy of the live slot, so the live state is untouched) and
 * measures: each text element of the tiles, the top bar, the counters and the alarm summary whose
 * text runs out of its box (scrollWidth beyond clientWidth) or whose box runs out of the box it
 * sits in (its parent's, or for an inline element its block's), each tile, the counters and the summary outside the viewport, and a page
 * that scrolls. Elements made to end in an ellipsis on free text from the configuration (the
 * station's name, the sequence's name, the worst alarm's message) are not counted.
 */
function measure(state: string | null, withPrompts: boolean): string {
  return `(() => {
  const d = window.stationDashboard;
  const problems = [];
  const saved = { slots: d.state.slots, prompts: d.state.prompts };
  if (${JSON.stringify(state)} !== null) {
    d.state.slots = saved.slots.map((s) => ({
      ...s,
      state: ${JSON.stringify(state)} === 'waiting' ? 'idle' : ${JSON.stringify(state)},
      reason: ${JSON.stringify(state)} === 'waiting' ? 'DUT ready: press start' : ${JSON.stringify(state)} === 'refused' ? 'token pool empty' : ${JSON.stringify(state)} === 'fail' ? 'led-check: no light' : null,
      deviceId: 'A1B2C3D4E5F60718',
      step: { index: 5, count: 12, name: 'led-check', words: null },
      guidance: ${JSON.stringify(state)} === 'fail' ? { step: 'led-check', words: null, action: 'reject-bin', text: null } : null,
      since: Date.now() - 83000,
      runId: 'i18n-' + s.slot,
    }));
  }
  if (!${withPrompts}) d.state.prompts = new Map();
  d.state.slots.forEach((_s, i) => d.renderTile(i));
  ${TEXT_OVERFLOW}
  // The tile's big parts inside the tile, the state word inside the screen.
  for (const tile of document.querySelectorAll('#slots .tile')) {
    const t = rect(tile);
    for (const part of tile.querySelectorAll('.tile-name, .tile-state, .tile-guidance, .tile-hint, .tile-step, .tile-prompt button')) {
      if (part.getClientRects().length === 0) continue;
      const r = rect(part);
      if (r.left < t.left - 0.5 || r.right > t.right + 0.5) problems.push(name(part) + ' sticks out of tile ' + tile.dataset.slot);
    }
  }
  const screen = { right: innerWidth, bottom: innerHeight };
  for (const el of [...document.querySelectorAll('#slots .tile'), document.getElementById('counters'), document.getElementById('alarm-summary')]) {
    const r = rect(el);
    if (r.right > screen.right + 0.5 || r.bottom > screen.bottom + 0.5 || r.top < -0.5 || r.left < -0.5) problems.push(name(el).slice(0, 50) + ' is below the fold or off the screen');
  }
  const root = document.documentElement;
  if (root.scrollHeight > innerHeight) problems.push('the page scrolls: ' + root.scrollHeight + ' px');
  if (root.scrollWidth > innerWidth) problems.push('the page scrolls sideways: ' + root.scrollWidth + ' px');
  d.state.slots = saved.slots;
  d.state.prompts = saved.prompts;
  return JSON.stringify(problems);
})()`;
}

/** Sets the viewport and waits for the nest grid to be laid out for it. */
async function atSize(page: Page, size: { width: number; height: number }): Promise<void> {
  await page.setViewportSize(size);
  await waitInPage(page, `the page at ${size.width}x${size.height}`, `innerWidth === ${size.width} && innerHeight === ${size.height} && document.getElementById('slots').dataset.grid === '2x2'`);
  await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
}

/** The sequence's prompt in several languages (the station's own words: English). */
const PROMPT_TEXT = { en: 'Is the status LED green?', de: 'Leuchtet die Status-LED grün?', 'zh-CN': '状态指示灯是绿色吗？' };
const PROMPT_WORDS = { en: 'LED check', de: 'LED-Prüfung', 'zh-CN': '指示灯检查' };

/** Texts that show a 12-hour clock. */
const TWELVE_HOUR = /\b(am|pm|a\.\s?m\.|p\.\s?m\.)|上午|下午/i;

describe('the operator dashboard in English, German, Simplified Chinese and Spanish', () => {
  let station: RunningStation;
  let browser: Browser;

  beforeAll(async () => {
    // Nobody answers prompts: the nests wait at the sequence's prompt with its buttons on the tile;
    // one nest stops on a wrong-type token, raising a critical alarm for the top bar.
    // The sequence's prompt carries its own translations (German and Chinese, not Spanish).
    station = await startStation((cfg) => {
      cfg.simulation.operator = 'off';
      for (const step of cfg.sequence.steps as { type: string; text?: unknown; operatorText?: unknown }[])
        if (step.type === 'prompt') {
          step.text = PROMPT_TEXT;
          step.operatorText = PROMPT_WORDS;
        }
    });
    const engineer = await ApiClient.login(station.daemon, 'engineer');
    expect((await engineer.request('POST', '/api/sim/slots/0/faults', { kind: 'wrong-token-type' })).status).toBe(202);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  for (const locale of LOCALES) {
    it(`${locale.tag}: chosen from the browser's languages; every text fits its box at 1280x800 and 1024x768 in every tile state; times are 24-hour`, async () => {
      const context = await browser.newContext({ locale: locale.browser, viewport: { width: 1280, height: 800 } });
      try {
        const page = await context.newPage();
        const errors = collectPageErrors(page);
        await loginFromPage(page, station.daemon.url, 'operator');
        await page.locator('#connection[data-status="live"]').waitFor();
        await waitInPage(page, 'the wrong-token-type alarm in the top bar', `document.getElementById('alarm-summary').dataset.level === 'critical'`, 60_000);
        await waitInPage(page, 'three nests waiting at their prompt', `document.querySelectorAll('.tile.has-prompt .prompt-answers button').length >= 6`, 60_000);
        await expect(page.evaluate('document.documentElement.lang')).resolves.toBe(locale.tag);
        await expect(page.locator('#lang-picker').inputValue()).resolves.toBe(locale.tag);

        for (const size of VIEWPORTS) {
          await atSize(page, size);
          // Each problem once, with the tile states it showed in.
          const found = new Map<string, string[]>();
          for (const state of [null, ...STATES])
            for (const withPrompts of [true, false]) {
              for (const p of JSON.parse((await page.evaluate(measure(state, withPrompts))) as string) as string[]) {
                const key = `${size.width}x${size.height}: ${p}`;
                found.set(key, [...(found.get(key) ?? []), `${state ?? 'live'}${withPrompts ? '+prompt' : ''}`]);
              }
            }
          const problems = [...found].map(([p, states]) => `${p} (${states.length > 4 ? `${states.length} cases` : states.join(', ')})`);
          await page.evaluate(`window.stationDashboard.state.slots.forEach((_s, i) => window.stationDashboard.renderTile(i))`);
          await page.screenshot({ path: path.join(artifactsDir(), `dashboard-${locale.tag}-${size.width}x${size.height}.png`) });
          expect(problems).toEqual([]);
        }

        // The words are the language's own: a state word drawn on a tile, and the top bar's alarm count.
        const words = (await page.evaluate(`(() => {
          const d = window.stationDashboard;
          const saved = d.state.slots;
          d.state.slots = saved.map((s) => ({ ...s, state: 'pass', runId: 'i18n-words' }));
          d.renderTile(1);
          const pass = document.querySelector('.tile[data-slot="1"] .state-word').textContent;
          d.state.slots = saved;
          d.renderTile(1);
          return JSON.stringify({ pass, count: document.querySelector('.alarm-summary-count').textContent, clock: document.getElementById('clock').textContent, since: [...document.querySelectorAll('.alarm-since')].map((n) => n.textContent) });
        })()`)) as string;
        const seen = JSON.parse(words) as { pass: string; count: string; clock: string; since: string[] };
        // The sequence's own words in the screen's language where it gives them, else its own (English):
        // the question and the step's words on each tile waiting at the prompt.
        const own = (all: Record<string, string>): string => all[locale.tag] ?? (all.en as string);
        const promptTexts = await page.locator('.tile-prompt .prompt-text').allTextContents();
        expect(promptTexts.length).toBeGreaterThan(0);
        for (const text of promptTexts) expect(text).toBe(own(PROMPT_TEXT));
        const steps = await page.locator('.tile.has-prompt .tile-step:not([hidden])').allTextContents();
        expect(steps.length).toBeGreaterThan(0);
        for (const text of steps) expect(text.endsWith(` · ${own(PROMPT_WORDS)}`)).toBe(true);
        const answers = await page.locator('.tile-prompt button.answer.positive').allTextContents();
        expect(answers.length).toBeGreaterThan(0);
        for (const text of answers) expect(text).toBe({ en: '✓ yes', de: '✓ ja', 'zh-CN': '✓ 是', es: '✓ sí' }[locale.tag]);
        expect(seen.pass).toBe(locale.pass);
        if (locale.tag === 'en') expect(seen.count).toMatch(/^1 ACTIVE ALARM\b/);
        else expect(seen.count).not.toMatch(/ACTIVE/);
        // 24-hour: the clock is HH:MM:SS, 13-23 o'clock included, never am/pm; so is each alarm's time.
        expect(seen.clock).toMatch(/^\d\d:\d\d:\d\d$/);
        expect(seen.since.length).toBeGreaterThan(0);
        for (const s of seen.since) expect(s).toMatch(/\d\d:\d\d:\d\d/);
        expect([seen.clock, ...seen.since].filter((s) => TWELVE_HOUR.test(s))).toEqual([]);
        const afternoon = (await page.evaluate(`(async () => {
          const i18n = await import('/js/i18n.js');
          const d = new Date(); d.setHours(15, 4, 9, 0);
          const other = new Date(d.getTime() - 3 * 86400000);
          return JSON.stringify([i18n.clock(d.getTime()), i18n.clock(other.getTime()), i18n.hourMinute(d.getTime())]);
        })()`)) as string;
        const [today, earlier, axis] = JSON.parse(afternoon) as [string, string, string];
        expect(today).toBe('15:04:09');
        expect(earlier).toMatch(/15:04$/);
        expect(axis).toBe('15:04');
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    });
  }

  it('switches language live from the picker without a reload, keeps the choice for this screen over a reload, and the line screen keeps its own', async () => {
    const context: BrowserContext = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const errors = collectPageErrors(page);
      await loginFromPage(page, station.daemon.url, 'operator');
      await page.locator('#connection[data-status="live"]').waitFor();
      await waitInPage(page, 'a prompt on a tile', `document.querySelectorAll('.tile.has-prompt').length >= 1`, 60_000);
      const loadId = (await page.evaluate('window.stationDashboard.loadId')) as string;
      await expect(page.locator('#connection').textContent()).resolves.toBe('● LIVE');
      await expect(page.locator('[data-counter="tested"] .stat-label').textContent()).resolves.toBe('tested');

      await page.locator('#lang-picker').selectOption('de');
      await waitInPage(page, 'the page in German', `document.documentElement.lang === 'de' && document.querySelector('[data-counter="tested"] .stat-label').textContent === 'geprüft'`);
      await expect(page.evaluate('window.stationDashboard.loadId')).resolves.toBe(loadId); // no reload
      await expect(page.locator('.alarm-summary-count').textContent()).resolves.toMatch(/AKTIVER ALARM|Keine aktiven Alarme/);
      await expect(page.locator('#logout').textContent()).resolves.toBe('Abmelden');
      await expect(page.locator('.tile').first().locator('.tile-start, .prompt-text, .state-word').first().textContent()).resolves.not.toBe('');
      // Every tile redrawn in German: the open prompts' keys line and the state words.
      const keys = await page.locator('.prompt-keys').allTextContents();
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) expect(k).toMatch(/^Tasten: /);

      await page.reload();
      await page.locator('#connection[data-status="live"]').waitFor();
      await expect(page.evaluate('document.documentElement.lang')).resolves.toBe('de');
      await expect(page.locator('#lang-picker').inputValue()).resolves.toBe('de');
      await expect(page.locator('#connection').textContent()).resolves.toBe('● LIVE');
      await expect(page.locator('#logout').textContent()).resolves.toBe('Abmelden');

      // The line screen: its own choice (the browser's English), then Spanish, without touching the dashboard's.
      const line = await context.newPage();
      await line.goto(`${station.daemon.url}/line`);
      await waitInPage(line, 'the line screen synced', `document.body.dataset.synced === 'true'`);
      await expect(line.evaluate('document.documentElement.lang')).resolves.toBe('en');
      await line.locator('#lang-picker').selectOption('es');
      await waitInPage(line, 'the line screen in Spanish', `document.documentElement.lang === 'es' && document.querySelector('.sequence-info').textContent === 'pantalla de línea · solo lectura'`);
      await expect(line.locator('[data-counter="tested"] .stat-label').textContent()).resolves.toBe('probadas');
      // The line screen's texts fit in Spanish at a tablet's size too.
      await line.setViewportSize({ width: 1024, height: 768 });
      await waitInPage(line, 'the line screen at 1024x768', 'innerWidth === 1024');
      await line.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
      await expect(line.evaluate(`(() => { const problems = []; ${TEXT_OVERFLOW}; return problems; })()`)).resolves.toEqual([]);
      await line.reload();
      await waitInPage(line, 'the line screen in Spanish after a reload', `document.body.dataset.synced === 'true' && document.documentElement.lang === 'es'`);
      await page.reload();
      await page.locator('#connection[data-status="live"]').waitFor();
      await expect(page.evaluate('document.documentElement.lang')).resolves.toBe('de');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows the login form in the chosen language', async () => {
    const context = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1024, height: 768 } });
    try {
      const page = await context.newPage();
      await page.goto(`${station.daemon.url}/`);
      const form = page.locator('form.login');
      await form.waitFor({ state: 'visible' });
      await expect(form.locator('h2').textContent()).resolves.toBe('登录仪表板');
      await expect(form.locator('button[type="submit"]').textContent()).resolves.toBe('登录');
      await page.locator('#lang-picker').selectOption('es');
      await waitInPage(page, 'the login form in Spanish', `document.querySelector('form.login h2').textContent === 'Iniciar sesión en el panel'`);
    } finally {
      await context.close();
    }
  });
  it('edits operator words per language in the sequence editor: a line per language, saved as texts by language tag', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const eng = await context.newPage();
      const errors = collectPageErrors(eng);
      await loginFromPage(eng, station.daemon.url, 'engineer', '/engineer.html');
      // The engineer console stays in English: no picker there.
      await expect(eng.locator('#lang-picker').count()).resolves.toBe(0);
      const api = await ApiClient.login(station.daemon, 'engineer');
      const before = await api.get<{ active: string }>('/api/sequences');
      const def = (await api.get<{ definition: { steps: { type: string }[] } }>(`/api/sequences/${before.active}`)).definition;
      const i = def.steps.findIndex((s) => s.type === 'prompt');
      const text = eng.locator(`[data-path="steps[${i}].text"]`);
      const words = eng.locator(`[data-path="steps[${i}].operatorText"]`);
      await text.waitFor();
      // Shown as a line per language, the English first and untagged.
      await expect(text.inputValue()).resolves.toBe('Is the status LED green?\nde: Leuchtet die Status-LED grün?\nzh-CN: 状态指示灯是绿色吗？');
      await expect(words.inputValue()).resolves.toBe('LED check\nde: LED-Prüfung\nzh-CN: 指示灯检查');
      // Spanish added to the question; the step's words back to one text for every language.
      await text.fill('Is the status LED green?\nde: Leuchtet die Status-LED grün?\nzh-CN: 状态指示灯是绿色吗？\nes: ¿Está verde el LED de estado?');
      await words.fill('LED check');
      await saveSequenceFromPage(eng, 'Spanish prompt text');
      const after = await api.get<{ active: string }>('/api/sequences');
      expect(after.active).not.toBe(before.active);
      const saved = (await api.get<{ definition: { steps: { text?: unknown; operatorText?: unknown }[] } }>(`/api/sequences/${after.active}`)).definition.steps[i];
      expect(saved?.text).toEqual({ ...PROMPT_TEXT, es: '¿Está verde el LED de estado?' });
      expect(saved?.operatorText).toBe('LED check');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
