// Scanner-first operation on the dashboard, in chromium: a keyboard-wedge scanner types its scans
// as fast keystrokes ended by Enter (page.keyboard with no delay), a person types slowly. Three
// nests in manual start, nobody but the test to answer: nests are selected by their number and
// started with Space or Enter; with scan prompts open on several nests a scan goes to the nest its
// SLOT barcode selected, never to the field that has the focus, and a prompt opening on another
// nest leaves the focus (and the half-typed text) where it was; a refused scan is cleared from the
// field and the field keeps the focus; yes/no prompts are answered by the Y key and by command
// barcodes; a failed unit's tile says the step in the operator's words and the next action, the
// technical reason folded behind "details". Then every text colour on the tiles, in every state, is
// checked against its background (WCAG AA 4.5:1), and the printable command sheet draws its codes.
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, artifactsDir, collectPageErrors, launchBrowser, loginFromPage, manualNests, screenContext, startStation, waitInPage, wedgeScan } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

const SCAN_STEP = 'Serial label';
const PROMPT_STEP = 'LED check';
const LED_WORDS = 'Status light is green';
const FAIL_TEXT = 'Red tray by the bench';
/** The longest gap between a scanner's keystrokes on this screen (its default is 35 ms). */
const MAX_GAP_MS = 40;
/** The simulated scanner's keystrokes, and a person's (never under 3 x MAX_GAP_MS, which ends a burst). */
const SCANNER_GAP_MS = 8;
const PERSON_DELAY_MS = 250;

describe('scanner-first operation on the dashboard', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];

  beforeAll(async () => {
    station = await startStation((cfg) => {
      manualNests(cfg, 3);
      cfg.sequence = {
        name: 'scanner-first',
        steps: [
          { type: 'identify', name: 'Identify', deviceIdHexLength: 16, operatorText: 'Reading the unit' },
          { type: 'scan', name: SCAN_STEP, text: 'Scan the serial label', expect: 'pattern', pattern: 'SN[0-9]{4}', sample: 'SN1234' },
          { type: 'prompt', name: PROMPT_STEP, text: 'Is the status LED green?', operatorText: LED_WORDS, onFail: { action: 'retest', text: FAIL_TEXT } },
          { type: 'bless', name: 'Bless' },
        ],
      };
    });
    api = await ApiClient.login(station.daemon, 'operator');
    browser = await launchBrowser();
    page = await (await screenContext(browser)).newPage();
    errors = collectPageErrors(page);
    await page.addInitScript(`localStorage.setItem('station.wedgeMaxGapMs', '${MAX_GAP_MS}')`);
    await loginFromPage(page, station.daemon.url, 'operator');
    await page.locator('#connection[data-status="live"]').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const tile = (slot: number) => page.locator(`.tile[data-slot="${slot}"]`);
  /** A wedge scanner's scan: its keystrokes SCANNER_GAP_MS apart, then Enter (wedgeScan). */
  const scan = (text: string) => wedgeScan(page, text, SCANNER_GAP_MS);
  /** A person typing. */
  const typeSlowly = (text: string) => page.keyboard.type(text, { delay: PERSON_DELAY_MS });
  const focused = () =>
    page.evaluate(
      `(() => { const a = document.activeElement; const t = a && a.closest('.tile'); return { tag: a ? a.tagName : null, slot: t ? Number(t.dataset.slot) : null, value: a && 'value' in a ? a.value : null }; })()`,
    ) as Promise<{ tag: string | null; slot: number | null; value: string | null }>;
  const blur = () => page.evaluate('document.activeElement && document.activeElement.blur()');

  async function runOf(slot: number): Promise<{ runId: string; status: string; failStep: string | null; steps: { name: string; status: string; message: string | null }[] }> {
    const runId = await waitFor(`a run at nest ${slot + 1}`, async () => ((await api.get<{ slots: { runId: string | null }[] }>('/api/health')).slots[slot]?.runId ?? null) as string | null, {
      timeoutMs: 10_000,
    });
    return api.get(`/api/runs/${runId}`);
  }

  it('shows a unit waiting in manual mode as WAITING, selects a nest by its number and starts it with Space or Enter', async () => {
    for (const slot of [0, 1, 2]) await tile(slot).locator('.state-word', { hasText: 'WAITING' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('.state-word', { hasText: 'IDLE' }).count()).toBe(0);
    await expect(tile(0).locator('.tile-hint').textContent()).resolves.toBe('Unit ready: press Start');

    await page.keyboard.press('1');
    await page.locator('.tile.selected[data-slot="0"]').waitFor();
    await page.keyboard.press('Space');
    await tile(0).locator('.tile-prompt[data-kind="scan"]').waitFor({ timeout: 15_000 });
    // The prompt says what to scan in words (the step's sample), the regex only under "details".
    await expect(tile(0).locator('.prompt-expected').textContent()).resolves.toBe('Scan: a code like SN1234');
    expect(await tile(0).locator('.prompt-format').getAttribute('open')).toBeNull();
    expect(await tile(0).locator('.prompt-format code').isVisible()).toBe(false);

    await blur();
    await page.keyboard.press('3');
    await page.locator('.tile.selected[data-slot="2"]').waitFor();
    expect(await page.locator('.tile.selected').count()).toBe(1);
    await page.keyboard.press('Enter');
    await tile(2).locator('.tile-prompt[data-kind="scan"]').waitFor({ timeout: 15_000 });
    expect(await tile(1).locator('.tile-prompt').isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('keeps the focus and half-typed text when a prompt opens on another nest, and routes a wedge scan by its SLOT barcode, not by the focus', async () => {
    const field0 = tile(0).locator('input.prompt-scan');
    await field0.click();
    await typeSlowly('SN');
    expect(await focused()).toEqual({ tag: 'INPUT', slot: 0, value: 'SN' });

    // A prompt opens on nest 2 while the operator types at nest 1.
    expect((await api.request('POST', '/api/slots/1/start')).status).toBe(202);
    await tile(1).locator('.tile-prompt[data-kind="scan"]').waitFor({ timeout: 15_000 });
    expect(await focused()).toEqual({ tag: 'INPUT', slot: 0, value: 'SN' });

    // The scanner: nest 2's SLOT barcode, then the unit's label, at scanner speed.
    await scan('SLOT:2');
    await page.locator('.tile.selected[data-slot="1"]').waitFor();
    await scan('SN0002');
    await tile(1).locator('.tile-prompt[data-kind="choice"]').waitFor({ timeout: 15_000 });
    const run1 = await runOf(1);
    expect(run1.steps.find((s) => s.name === SCAN_STEP)).toMatchObject({ status: 'pass', message: 'scanned scan=SN0002' });
    // Nothing of the scans landed in the focused field, and it still has the focus and its text.
    expect(await focused()).toEqual({ tag: 'INPUT', slot: 0, value: 'SN' });
    await expect(tile(0).locator('.tile-prompt').getAttribute('data-kind')).resolves.toBe('scan');
    await expect(tile(2).locator('.tile-prompt').getAttribute('data-kind')).resolves.toBe('scan');

    // The person finishes typing at nest 1: a person's Enter submits the field as always.
    await typeSlowly('0001');
    await page.keyboard.press('Enter');
    await tile(0).locator('.tile-prompt[data-kind="choice"]').waitFor({ timeout: 15_000 });
    expect((await runOf(0)).steps.find((s) => s.name === SCAN_STEP)?.message).toBe('scanned scan=SN0001');
    expect(errors).toEqual([]);
  });

  it('clears a refused scan from the field and keeps the focus on it, for a wedge scan and for typed text', async () => {
    const field2 = tile(2).locator('input.prompt-scan');
    await field2.click();
    await scan('BAD99');
    // Said in words: what to scan instead (the regex only in the notice's tooltip).
    await tile(2).locator('.tile-notice', { hasText: 'Scan refused: scan a code like SN1234' }).waitFor();
    expect(await tile(2).locator('.tile-notice').getAttribute('title')).toContain('SN[0-9]{4}');
    await waitInPage(page, 'the refused scan to be cleared', `document.querySelector('.tile[data-slot="2"] input.prompt-scan').value === ''`);
    expect(await focused()).toEqual({ tag: 'INPUT', slot: 2, value: '' });
    await expect(tile(2).locator('.tile-prompt').getAttribute('data-kind')).resolves.toBe('scan');

    await typeSlowly('XX1');
    await page.keyboard.press('Enter');
    await waitInPage(page, 'the typed refusal to be cleared', `document.querySelector('.tile[data-slot="2"] input.prompt-scan').value === ''`);
    expect(await focused()).toEqual({ tag: 'INPUT', slot: 2, value: '' });

    // The next scan is taken: the only nest still waiting for one.
    await scan('SN0003');
    await tile(2).locator('.tile-prompt[data-kind="choice"]').waitFor({ timeout: 15_000 });
    expect(errors).toEqual([]);
  });

  it('answers yes/no prompts with the Y key and with command barcodes; a failed unit shows the step in words and the next action, details folded', async () => {
    await blur();
    // Three nests ask: Y with none chosen would guess; select nest 2 first.
    await page.keyboard.press('2');
    await page.locator('.tile.selected[data-slot="1"]').waitFor();
    await expect(tile(1).locator('.prompt-text').textContent()).resolves.toBe('Is the status LED green?');
    await page.keyboard.press('y');
    await tile(1).locator('.state-word', { hasText: 'PASS' }).waitFor({ timeout: 15_000 });
    expect((await runOf(1)).status).toBe('blessed');

    await scan('CMD:FAIL:1');
    const failed = tile(0);
    await failed.locator('.state-word', { hasText: 'FAIL' }).waitFor({ timeout: 15_000 });
    const run0 = await runOf(0);
    expect(run0).toMatchObject({ status: 'failed', failStep: PROMPT_STEP });
    await expect(failed.locator('.guidance-what').textContent()).resolves.toBe(`Failed: ${LED_WORDS}`);
    await expect(failed.locator('.guidance-next').textContent()).resolves.toBe(`↻ Test the unit again: ${FAIL_TEXT}`);
    await expect(failed.locator('.tile-guidance').getAttribute('data-action')).resolves.toBe('retest');
    expect(await failed.locator('.tile-step').textContent()).toContain(LED_WORDS);
    // The technical reason is there, folded behind "details".
    expect(await failed.locator('.tile-reason').isVisible()).toBe(false);
    await failed.locator('.tile-more summary').click();
    await failed.locator('.tile-reason').waitFor({ state: 'visible' });
    expect(await failed.locator('.tile-reason').textContent()).toBe(`${PROMPT_STEP}: operator answered "no"`);

    await blur();
    await page.keyboard.press('3');
    await page.locator('.tile.selected[data-slot="2"]').waitFor();
    await scan('CMD:PASS');
    await tile(2).locator('.state-word', { hasText: 'PASS' }).waitFor({ timeout: 15_000 });
    expect((await runOf(2)).status).toBe('blessed');
    expect(errors).toEqual([]);
  });

  it('keeps a verdict on the tile while the next unit waits, until it is cleared', async () => {
    // The live link is stopped and the slot's state set as the station sends it: a unit seated after the pass.
    await page.evaluate(
      `(() => { const d = window.stationDashboard; d.live.stop(); Object.assign(d.state.slots[1], { state: 'idle', reason: 'DUT ready: press start', deviceId: null, step: null }); d.renderTile(1); })()`,
    );
    await expect(tile(1).getAttribute('data-state')).resolves.toBe('pass');
    await expect(tile(1).locator('.tile-hint').textContent()).resolves.toBe('Next unit ready: press Start');
    await tile(1).locator('button.tile-clear').click();
    await expect(tile(1).getAttribute('data-state')).resolves.toBe('waiting');
  });

  it('says a stopped nest’s reason once, with the next action', async () => {
    const message = 'the token pool holds tokens of the wrong type';
    const stop = (withAlarm: boolean) =>
      page.evaluate(`(() => { const d = window.stationDashboard; const id = 'blinkup.wrong-token-type.0';
        if (${withAlarm}) d.state.alarms.set(id, { alarmId: id, severity: 'critical', message: ${JSON.stringify(message)}, slot: 0, since: Date.now(), acknowledged: false, cleared: false, shelved: null });
        else d.state.alarms.delete(id);
        Object.assign(d.state.slots[0], { state: 'refused', reason: 'stopped: ' + ${JSON.stringify(message)}, guidance: null, runId: null }); d.renderTile(0); })()`);
    for (const withAlarm of [true, false]) {
      await stop(withAlarm);
      await expect(tile(0).locator('.guidance-next').textContent()).resolves.toBe('☎ Call the engineer');
      const shown = await tile(0).innerText();
      expect(shown.split(message).length - 1, `${withAlarm ? 'with' : 'without'} its alarm on the tile: ${shown}`).toBe(1);
    }
  });

  it('has every text colour on the dashboard, on every tile state, at WCAG AA contrast (4.5:1) on its background', async () => {
    const states = [
      { state: 'pass', deviceId: '0c2a69f3a1b2c3d4', reason: null, since: Date.now() - 4000, step: { index: 3, count: 4, name: 'Bless', words: null } },
      {
        state: 'fail',
        deviceId: '0c2a69f3a1b2c3d5',
        reason: `${PROMPT_STEP}: operator answered "no"`,
        guidance: { step: PROMPT_STEP, words: LED_WORDS, action: 'reject-bin', text: FAIL_TEXT },
        since: Date.now() - 3000,
        step: { index: 2, count: 4, name: PROMPT_STEP, words: LED_WORDS },
      },
      { state: 'idle', reason: 'DUT ready: press start', deviceId: null, step: null },
      { state: 'testing', deviceId: '0c2a69f3a1b2c3d6', step: { index: 1, count: 4, name: SCAN_STEP, words: 'Serial label check' }, reason: null, detail: 'sending the token' },
      { state: 'interrupted', deviceId: '0c2a69f3a1b2c3d7', reason: 'DUT console disconnected during the test (cable pulled?)', step: { index: 1, count: 4, name: SCAN_STEP } },
      { state: 'refused', reason: 'stopped: the token pool holds tokens of the wrong type', deviceId: null, step: null },
      { state: 'offline', connected: false, reason: 'disconnected', deviceId: null, step: null },
      { state: 'blinkup', deviceId: '0c2a69f3a1b2c3d8', step: { index: 1, count: 4, name: 'Factory BlinkUp' }, reason: null, detail: 'waiting for enrollment' },
      { state: 'identifying', deviceId: null, step: { index: 0, count: 4, name: 'Identify', words: 'Reading the unit' }, reason: null },
    ];
    const failures: string[] = [];
    for (let i = 0; i < states.length; i += 3) {
      const round = states.slice(i, i + 3);
      await page.evaluate(
        `(() => { const d = window.stationDashboard; const round = ${JSON.stringify(round)};
          round.forEach((s, j) => { Object.assign(d.state.slots[j], { connected: true, detail: null, guidance: null, runId: 'r' + Math.random() }, s); d.renderTile(j); });
          document.querySelectorAll('.tile-more').forEach((m) => { m.open = true; }); })()`,
      );
      if (i === 0) await page.screenshot({ path: path.join(artifactsDir(), 'scanner-tiles.png') });
      const found = (await page.evaluate(CONTRAST)) as { text: string; ratio: number; fg: string; bg: string; state: string }[];
      expect(found.length).toBeGreaterThan(10);
      for (const f of found) if (f.ratio < 4.5) failures.push(`${f.state}: "${f.text}" ${f.fg} on ${f.bg} = ${f.ratio.toFixed(2)}:1`);
    }
    expect(failures).toEqual([]);
  });

  it('edits a step’s operator words in the sequence editor, and prints the command barcodes as Code 128 from the engineer console', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const eng = await context.newPage();
    const engErrors = collectPageErrors(eng);
    await loginFromPage(eng, station.daemon.url, 'engineer', '/engineer.html');
    // The sequence editor has each step's words for operators.
    const at = (path: string) => eng.locator(`[data-path="${path}"]`);
    await at('steps[2].operatorText').waitFor();
    await expect(at('steps[2].operatorText').inputValue()).resolves.toBe(LED_WORDS);
    await expect(at('steps[2].onFail.action').inputValue()).resolves.toBe('retest');
    await expect(at('steps[2].onFail.text').inputValue()).resolves.toBe(FAIL_TEXT);
    await expect(at('steps[1].sample').inputValue()).resolves.toBe('SN1234');
    // Words for an action with no action: refused at the action's field, nothing saved.
    await at('steps[1].onFail.text').fill('Put it aside');
    await eng.locator('button[data-action="save"]').click();
    await eng.locator('.editor-status[data-outcome="invalid"]').waitFor();
    await expect(eng.locator('.field[data-field-path="steps[1].onFail.action"] > .field-problem').textContent()).resolves.toMatch(/\S/);
    expect((await (await ApiClient.login(station.daemon, 'engineer')).get<{ versions: unknown[] }>('/api/sequences')).versions).toHaveLength(1);
    await eng.locator('a[href="/commands.html"]').click();
    await eng.locator('body[data-ready="true"]').waitFor({ timeout: 20_000 });
    const codes = await eng.locator('figure.code').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-command')));
    expect(codes).toEqual(expect.arrayContaining(['CMD:PASS', 'CMD:FAIL', 'CMD:START', 'SLOT:1', 'SLOT:3', 'CMD:START:2', 'CMD:CLEAR:3']));
    // Each is drawn: a canvas with dark bars on white.
    const drawn = (await eng.evaluate(
      `[...document.querySelectorAll('figure.code canvas')].map((c) => { const x = c.getContext('2d').getImageData(0, Math.floor(c.height / 2), c.width, 1).data; let dark = 0, edges = 0, prev = false; for (let i = 0; i < x.length; i += 4) { const d = x[i] < 128; if (d) dark++; if (d !== prev) edges++; prev = d; } return { w: c.width, dark, edges }; })`,
    )) as { w: number; dark: number; edges: number }[];
    expect(drawn.length).toBe(codes.length);
    for (const d of drawn) {
      expect(d.w).toBeGreaterThan(100);
      expect(d.edges).toBeGreaterThan(20);
    }
    expect(engErrors).toEqual([]);
    await context.close();
  });
});

/**
 * Every element on the dashboard with text of its own (tiles, top bar, side panels), its colour and the colour behind it: the first
 * ancestor with an opaque background colour, or the colours of a gradient behind it (the failed
 * tile's stripes: each is checked). Ratio per WCAG 2.x relative luminance.
 */
const CONTRAST = `(() => {
  const parse = (c) => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return null; const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const backgrounds = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const s = getComputedStyle(n);
      const img = s.backgroundImage;
      if (img && img !== 'none') { const cs = [...img.matchAll(/rgba?\\([^)]+\\)/g)].map((m) => parse(m[0])).filter((c) => c && c.a > 0.5); if (cs.length) return cs; }
      const bg = parse(s.backgroundColor);
      if (bg && bg.a > 0.5) return [bg];
    }
    return [{ r: 255, g: 255, b: 255, a: 1 }];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('[hidden]') || el.closest('[disabled]')) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(' ');
    if (!own) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || Number(s.opacity) === 0) continue;
    const fg = parse(s.color);
    let worst = Infinity, worstBg = null;
    for (const bg of backgrounds(el)) { const r = ratio(fg, bg); if (r < worst) { worst = r; worstBg = bg; } }
    out.push({ text: own.slice(0, 40), ratio: worst, fg: s.color, bg: worstBg ? 'rgb(' + worstBg.r + ',' + worstBg.g + ',' + worstBg.b + ')' : '', state: el.closest('.tile') ? 'tile ' + el.closest('.tile').dataset.state : (el.closest('[id]') || el).id });
  }
  return out;
})()`;
