// Browser end-to-end support: Debian's chromium driven by playwright-core (no bundled browser
// download), a daemon started with known credentials, an HTTP client holding a session cookie
// for checks from the test side, and the dashboard's login from the page.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../station/paths.js';
import { shippedConfig } from './configs.js';
import { Daemon, TEST_ENGINEER_PASSWORD, TEST_OPERATOR_PIN, type LoginSession } from './daemon.js';
import { waitFor } from './wait.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.join(PROJECT_ROOT, 'test/artifacts');

/** Headless Debian chromium (test/ensure-system-packages.sh installs it). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

/** A 1920×1080 context: a line-side screen. */
export function screenContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1920, height: 1080 } });
}

export function artifactsDir(): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return ARTIFACTS_DIR;
}

/** A station config as plain JSON, for tests to edit freely before it is written. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document edited by tests; the daemon validates it
export type ConfigJson = Record<string, any>;

/**
 * The shipped simulated station, sped up for tests (fast simulated units, short handling), with
 * its own data folder and an ephemeral port. `tweak` edits the config before it is written.
 * `fixture` keeps the shipped bench instruments, the slots' power and routes, and the steps that
 * use them (shippedConfig).
 */
export function fastSimulatedConfig(dataDir: string, tweak: (cfg: ConfigJson) => void = () => undefined, opts: { fixture?: boolean } = {}): ConfigJson {
  const cfg = shippedConfig({ fixture: opts.fixture ?? false }) as ConfigJson;
  cfg.station = { ...cfg.station, id: 'browser-test', name: 'Browser test station', mode: 'production' };
  cfg.server = { host: '127.0.0.1', port: 0 };
  cfg.storage = { dataDir };
  cfg.log = { level: 'warn' };
  cfg.simulation = {
    ...cfg.simulation,
    commandLatencyMs: 5,
    bootMs: 50,
    handlingMs: 300,
    retestRate: 0,
    faultRates: { garbage: 0, hang: 0, unplug: 0 },
    promptAnswerMs: 30,
    promptFailRate: 0,
  };
  cfg.sequence = {
    ...cfg.sequence,
    steps: cfg.sequence.steps.map((s: Record<string, unknown>) => (s.type === 'delay' ? { ...s, ms: 20 } : s)),
  };
  tweak(cfg);
  return cfg;
}

/** Keeps the first `nests` nests, without their emitters, and the sequence without its BlinkUp step
 *  (and no blinkup or tokens section): quick cycles for a test that is not about BlinkUp. */
export function withoutBlinkup(cfg: ConfigJson, nests: number): void {
  cfg.slots = cfg.slots.slice(0, nests).map((s: Record<string, unknown>) => ({ name: s.name, dut: s.dut }));
  cfg.sequence.steps = cfg.sequence.steps.filter((s: { type: string }) => s.type !== 'blinkup');
  delete cfg.blinkup;
  delete cfg.tokens;
}

/** The first `nests` nests (no emitters), no station scanners, no BlinkUp or tokens, started by
 *  hand (`line.autoStart: "manual"`) and nobody simulated to answer: the test is the operator. */
export function manualNests(cfg: ConfigJson, nests: number): void {
  cfg.slots = cfg.slots.slice(0, nests).map((s: Record<string, unknown>) => ({ name: s.name, dut: s.dut }));
  cfg.scanners = [];
  delete cfg.blinkup;
  delete cfg.tokens;
  cfg.line = { ...(cfg.line ?? {}), autoStart: 'manual' };
  cfg.simulation.operator = 'off';
}

/** The simulated station (fastSimulatedConfig) on a fresh data folder; see startStationWith. */
export function startStation(tweak?: (cfg: ConfigJson) => void, opts: { fixture?: boolean } = {}): Promise<RunningStation> {
  return startStationWith((dataDir) => fastSimulatedConfig(dataDir, tweak, opts));
}

export interface RunningStation {
  daemon: Daemon;
  /** A temporary folder for this station (config and data); removed by stop(). */
  dir: string;
  stop: () => Promise<void>;
}

/**
 * A daemon (with the test credentials) on a fresh data folder, with the config `makeConfig`
 * returns; `stop()` ends it and removes the folder.
 */
export async function startStationWith(makeConfig: (dataDir: string) => object): Promise<RunningStation> {
  const dir = mkdtempSync(path.join(tmpdir(), 'station-browser-'));
  const dataDir = path.join(dir, 'data');
  const configPath = Daemon.writeConfig(dir, makeConfig(dataDir));
  // Daemon gives every test daemon the test PIN and password (TEST_OPERATOR_PIN, TEST_ENGINEER_PASSWORD).
  const daemon = new Daemon(configPath, { STATION_PORT: '0', STATION_DATA_DIR: dataDir });
  await daemon.start();
  return {
    daemon,
    dir,
    stop: async () => {
      await daemon.terminate().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP client holding its own session (Daemon.login), for checks from the test's side. */
export class ApiClient {
  private constructor(
    private readonly daemon: Daemon,
    readonly session: LoginSession,
  ) {}

  static async login(daemon: Daemon, role: 'operator' | 'engineer'): Promise<ApiClient> {
    return new ApiClient(daemon, await daemon.login(role));
  }

  /** Any request as this session (cookie, and the CSRF token on state changes). */
  async request(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown; text: string }> {
    const res = await this.daemon.request(route, {
      method,
      as: this.session,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, text };
  }

  async get<T = unknown>(route: string): Promise<T> {
    const r = await this.request('GET', route);
    if (r.status !== 200) throw new Error(`GET ${route}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
    return r.body as T;
  }
}

/** Opens `pagePath` and logs in from the page's own form. */
export async function loginFromPage(page: Page, baseUrl: string, role: 'operator' | 'engineer', pagePath = '/', as?: { name: string; secret: string }): Promise<void> {
  await page.goto(`${baseUrl}${pagePath}`);
  const form = page.locator('form.login');
  await form.waitFor({ state: 'visible' });
  const roleButton = form.locator(`button.role-choice[data-role="${role}"]`);
  if ((await roleButton.count()) > 0) await roleButton.click();
  if (as && role === 'operator') {
    // The operators' names come from the station after the form shows.
    await form.locator(`#login-name-pick option[value="${as.name}"]`).waitFor({ state: 'attached' });
    await form.locator('#login-name-pick').selectOption(as.name);
  } else if (as) await form.locator('#login-name').fill(as.name);
  await form.locator('input[name="secret"]').fill(as ? as.secret : role === 'operator' ? TEST_OPERATOR_PIN : TEST_ENGINEER_PASSWORD);
  await form.locator('button[type="submit"]').click();
  await form.waitFor({ state: 'detached' });
}

/**
 * Clicks the sequence editor's Save, then confirms in its dialog (it goes live on every slot) with
 * a change note. Returns the dialog's text (it names the slots).
 */
export async function saveSequenceFromPage(page: Page, note = 'changed from a browser test'): Promise<string> {
  await page.locator('button[data-action="save"]').click();
  const dialog = page.locator('dialog.save-dialog');
  await dialog.waitFor();
  const text = (await dialog.locator('.save-slots').textContent()) ?? '';
  await dialog.locator('#save-note').fill(note);
  await dialog.locator('button[data-action="confirm-save"]').click();
  await dialog.waitFor({ state: 'detached' });
  return text;
}

/**
 * Polls an expression in the page until it is truthy, with a deadline. (Playwright's
 * waitForFunction compiles its predicate inside the page, which the dashboard's CSP forbids.)
 */
export async function waitInPage<T>(page: Page, what: string, expression: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  return waitFor(what, () => page.evaluate(expression) as Promise<T>, { timeoutMs, intervalMs: 50 });
}

/** Errors the page threw or logged, to assert none happened. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium logs every 4xx answer as a failed load. The ones the pages expect and show in words
    // (401 no session, 403 refused, 422 invalid sequence, 429 rate limit) are not errors; anything
    // else (a missing file, a CSP violation, an exception) is.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|422|429)\b/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/**
 * A keyboard-wedge scanner's scan on `page`: its keystrokes `gapMs` apart, then Enter, as the
 * scanner types them. The keys go through chromium's input pipeline (CDP Input.dispatchKeyEvent)
 * with the scanner's own timestamps, so a busy test machine cannot stretch the gaps between them.
 */
export async function wedgeScan(page: Page, text: string, gapMs: number): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  const t0 = Date.now() / 1000;
  const keys = [...text].map((ch) => ({ key: ch, text: ch, code: '', vk: ch.toUpperCase().charCodeAt(0) }));
  keys.push({ key: 'Enter', text: '\r', code: 'Enter', vk: 13 });
  for (const [i, k] of keys.entries()) {
    const timestamp = t0 + (i * gapMs) / 1000;
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyDown', key: k.key, text: k.text, code: k.code, windowsVirtualKeyCode: k.vk, timestamp });
    await cdp.send('Input.dispatchKeyEvent', { type: 'keyUp', key: k.key, code: k.code, windowsVirtualKeyCode: k.vk, timestamp: timestamp + 0.002 });
  }
  await cdp.detach();
}
