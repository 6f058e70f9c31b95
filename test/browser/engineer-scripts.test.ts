// The engineer console shows a sequence version's script sources, read-only, in a real browser
// against the real daemon: the versions view lists every module of the shipped sequence (the two
// entries its script steps name and the module they import) with its exact source, collapsed, and
// its length in lines; a script step's form shows its module's source as stored in the version
// being edited, or says the module is not in it yet; a source with markup in it is shown as text.
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { ApiClient, collectPageErrors, fastSimulatedConfig, launchBrowser, loginFromPage, startStationWith, type ConfigJson, type RunningStation, saveSequenceFromPage } from '../support/browser.js';
import { shippedConfig } from '../support/configs.js';

interface Versions {
  active: string;
  versions: { version: number; hash: string }[];
}
interface Version {
  version: number;
  hash: string;
  definition: ConfigJson;
  scripts: Record<string, string>;
}

const RADIO = 'sequences/radio-selftest.ts';
const RTC = 'sequences/calibrate-rtc.ts';
const STATS = 'sequences/lib/stats.ts';
const NOT_IN_VERSION = 'not in this version: saved with the sequence, the station reads it from its sequences folder';
/** A module whose comment is markup: it must reach the page as these characters. */
const PROBE = 'sequences/probe.ts';
const PROBE_SOURCE = [
  '// A probe: <img src=x onerror="window.__xss=1"> and <b onmouseover="window.__xss=2">bold</b> are text.',
  "import type { ScriptContext } from './station-script';",
  '',
  'export default async function probe(ctx: ScriptContext): Promise<void> {',
  "  ctx.log('probe ran');",
  '}',
  '',
].join('\n');

/** `value` inside a double-quoted CSS attribute selector. */
const cssString = (value: string): string => value.replace(/["\\]/g, '\\$&');
const projectSource = (modulePath: string): string => readFileSync(path.join(PROJECT_ROOT, modulePath), 'utf8');
const lines = (source: string): number => source.split('\n').length - (source.endsWith('\n') ? 1 : 0);

describe('engineer console: script sources', () => {
  let station: RunningStation;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];
  let radioStep: number; // index of "Radio self-test"
  let rtcStep: number; // index of "RTC calibration"

  beforeAll(async () => {
    station = await startStationWith((dataDir) => {
      // Script modules are read from the config file's folder (the station's temporary folder,
      // the data folder's parent): the shipped scripts and the probe go to its sequences/.
      const configDir = path.dirname(dataDir);
      cpSync(path.join(PROJECT_ROOT, 'sequences'), path.join(configDir, 'sequences'), {
        recursive: true,
        filter: (src) => !/\.[a-z]+$/.test(path.basename(src)) || src.endsWith('.ts'),
      });
      writeFileSync(path.join(configDir, PROBE), PROBE_SOURCE);
      return fastSimulatedConfig(dataDir, (cfg) => {
        // One nest, no BlinkUp; the shipped steps kept for this station, with its script steps back.
        cfg.slots = cfg.slots.slice(0, 1).map(({ emitter: _emitter, ...slot }: ConfigJson) => slot);
        delete cfg.blinkup;
        delete cfg.tokens;
        const kept = new Set(cfg.sequence.steps.filter((s: ConfigJson) => s.type !== 'blinkup').map((s: ConfigJson) => s.name));
        const fast = new Map(cfg.sequence.steps.map((s: ConfigJson) => [s.name, s]));
        cfg.sequence.steps = shippedConfig({ scripts: true })
          .sequence.steps.filter((s) => s.type === 'script' || kept.has(s.name))
          .map((s) => fast.get(s.name) ?? s);
        const names = cfg.sequence.steps.map((s: ConfigJson) => s.name);
        radioStep = names.indexOf('Radio self-test');
        rtcStep = names.indexOf('RTC calibration');
      });
    });
    expect(radioStep).toBeGreaterThan(0);
    expect(rtcStep).toBeGreaterThan(radioStep);
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    await page.locator(`input[data-path="steps[${rtcStep}].module"]`).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const activeVersion = async (): Promise<Version> => api.get<Version>(`/api/sequences/${(await api.get<Versions>('/api/sequences')).active}`);
  const noMarkup = async (root: string): Promise<void> => {
    await expect(page.locator(`${root} img, ${root} b`).count()).resolves.toBe(0);
    await expect(page.evaluate('window.__xss === undefined')).resolves.toBe(true);
  };

  it("lists the version's script modules, each collapsed with its exact source and its length", async () => {
    const version = await activeVersion();
    // The daemon stored the entries and the module they import, as they are on disk.
    expect(Object.keys(version.scripts).sort()).toEqual([RTC, STATS, RADIO].sort());
    for (const m of [RADIO, RTC, STATS]) expect(version.scripts[m]).toBe(projectSource(m));

    await page.locator('[data-tab="versions"]').click();
    const section = page.locator(`#version-detail[data-hash="${version.hash}"] section.version-scripts`);
    await section.waitFor();
    await expect(section.locator('h4').textContent()).resolves.toBe('Scripts (3)');
    const modules = await Promise.all((await section.locator('details.script-source').all()).map((d) => d.getAttribute('data-module')));
    expect([...modules].sort()).toEqual([RTC, STATS, RADIO].sort());
    for (const m of [RADIO, RTC, STATS]) {
      const details = section.locator(`details.script-source[data-module="${m}"]`);
      await expect(details.getAttribute('open')).resolves.toBeNull();
      await expect(details.locator('pre.script-text').isVisible()).resolves.toBe(false);
      await expect(details.locator('pre.script-text').textContent()).resolves.toBe(projectSource(m));
      await expect(details.locator('summary').textContent()).resolves.toContain(`${m} · ${lines(projectSource(m))} lines`);
    }
    await expect(section.locator(`details[data-module="${RADIO}"] summary`).textContent()).resolves.toContain('run by "Radio self-test"');
    await expect(section.locator(`details[data-module="${STATS}"] summary`).textContent()).resolves.toContain('imported by a script');
    // Opened, the source is there to read, still read-only text.
    await section.locator(`details[data-module="${STATS}"] summary`).click();
    await expect(section.locator(`details[data-module="${STATS}"] pre.script-text`).isVisible()).resolves.toBe(true);
    await expect(section.locator(`details[data-module="${STATS}"] pre.script-text`).getAttribute('contenteditable')).resolves.toBeNull();
    expect(errors).toEqual([]);
  });

  it("shows a script step's module source as stored in the version being edited", async () => {
    await page.locator('[data-tab="sequence"]').click();
    for (const [step, m] of [
      [radioStep, RADIO],
      [rtcStep, RTC],
    ] as const) {
      const view = page.locator(`.script-view[data-script-for="steps[${step}]"]`);
      await expect(view.getAttribute('data-module')).resolves.toBe(m);
      await expect(view.locator(`details.script-source[data-module="${m}"] pre.script-text`).textContent()).resolves.toBe(projectSource(m));
      await expect(view.locator('details.script-source').getAttribute('open')).resolves.toBeNull();
    }
    // The view follows the module field: a module the version does not hold has no source in it.
    const radioModule = page.locator(`input[data-path="steps[${radioStep}].module"]`);
    await radioModule.fill(PROBE);
    const radioView = page.locator(`.script-view[data-script-for="steps[${radioStep}]"]`);
    await expect(radioView.locator('.script-missing').textContent()).resolves.toBe(NOT_IN_VERSION);
    await expect(radioView.locator('pre').count()).resolves.toBe(0);
    await radioModule.fill(RADIO);
    await expect(radioView.locator('pre.script-text').textContent()).resolves.toBe(projectSource(RADIO));
    await page.locator('button[data-action="discard"]').click();
    await expect(page.locator('.dirty-badge').isHidden()).resolves.toBe(true);
    // Discarding keeps the version's sources.
    await expect(page.locator(`.script-view[data-script-for="steps[${rtcStep}]"] pre.script-text`).textContent()).resolves.toBe(projectSource(RTC));
    expect(errors).toEqual([]);
  });

  it('shows a source with markup in it as text, in the step form and in the versions view', async () => {
    const before = await activeVersion();
    // A new script step: its module is not in the loaded version until it is saved.
    await page.locator('select[data-add-to="steps"]').selectOption('script');
    await page.locator('button[data-add-step="steps"]').click();
    const count = (before.definition.steps as unknown[]).length;
    const added = count - 1; // added before the last step
    const moduleField = page.locator(`input[data-path="steps[${added}].module"]`);
    await moduleField.waitFor();
    await moduleField.fill(PROBE);
    const view = page.locator(`.script-view[data-script-for="steps[${added}]"]`);
    await expect(view.locator('.script-missing').textContent()).resolves.toBe(NOT_IN_VERSION);

    await saveSequenceFromPage(page);
    await page.locator('.editor-status[data-outcome="saved"]').waitFor();
    const after = await activeVersion();
    expect(after.hash).not.toBe(before.hash);
    expect(after.scripts[PROBE]).toBe(PROBE_SOURCE);
    // Saved, the step shows the source the new version holds, as text.
    const pre = view.locator(`details[data-module="${PROBE}"] pre.script-text`);
    await pre.waitFor({ state: 'attached' });
    await noMarkup('#editor');
    await expect(pre.textContent()).resolves.toBe(PROBE_SOURCE);
    await view.locator('summary').click();
    await expect(pre.isVisible()).resolves.toBe(true);

    await page.locator('[data-tab="versions"]').click();
    await page.locator(`#versions-list tr[data-hash="${after.hash}"] button`).click();
    const section = page.locator(`#version-detail[data-hash="${after.hash}"] section.version-scripts`);
    await section.waitFor();
    const probe = section.locator(`details[data-module="${PROBE}"]`);
    await expect(probe.getAttribute('data-change')).resolves.toBe('new');
    await noMarkup('#version-detail');
    await expect(probe.locator('pre.script-text').textContent()).resolves.toBe(PROBE_SOURCE);
    await probe.locator('summary').click();
    await expect(probe.locator('pre.script-text').isVisible()).resolves.toBe(true);
    await expect(probe.locator('pre.script-text > *').count()).resolves.toBe(0);
    // The sources it had already are unchanged, and say so by saying nothing.
    await expect(section.locator(`details[data-module="${RADIO}"]`).getAttribute('data-change')).resolves.toBeNull();
    // The version's diff has the new module as an entry of its own, its source's hash as the value;
    // the modules that did not change have none.
    const probeRow = page.locator(`#version-detail[data-hash="${after.hash}"] tr[data-diff-path="${cssString(`scripts[${JSON.stringify(PROBE)}]`)}"]`);
    await expect(probeRow.getAttribute('data-script-change')).resolves.toBe('new');
    await expect(probeRow.locator('td').first().textContent()).resolves.toBe(`scripts[${JSON.stringify(PROBE)}] · script module added`);
    await expect(probeRow.locator('.before').textContent()).resolves.toBe('(absent)');
    await expect(probeRow.locator('.after').textContent()).resolves.toBe(`source sha256 ${createHash('sha256').update(PROBE_SOURCE).digest('hex').slice(0, 12)}…`);
    await expect(page.locator(`#version-detail[data-hash="${after.hash}"] tr[data-script-change]`).count()).resolves.toBe(1);
    expect(errors).toEqual([]);
  });
});
