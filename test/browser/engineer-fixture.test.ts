// The engineer console with the station's fixture, in a real browser against the real daemon: the
// editor loads the shipped sequence (a group, power steps, instrument sources) and a product
// variant, keeps what it cannot edit, shows a problem inside a group or a variant at its nested
// field, and saves a limit inside the group and a variant's limits; run detail shows a group's steps
// under it, an instrument's reading with its id and serial number, and the wait for an instrument;
// yield per step filters by variant; the instruments panel lists the bench and overrides a passed
// calibration.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { ApiClient, collectPageErrors, launchBrowser, loginFromPage, startStation, type ConfigJson, saveSequenceFromPage } from '../support/browser.js';
import { waitFor } from '../support/wait.js';

interface Versions {
  active: string;
  versions: { version: number; hash: string }[];
}
interface Version {
  hash: string;
  definition: ConfigJson;
}
interface Measurement {
  name: string;
  value: number | string;
  instrument: { id: string; serial: string | null } | null;
}
interface StepView {
  index: number;
  name: string;
  type: string;
  waitMs: number | null;
  groupAttempt?: number;
  measurements: Measurement[];
  steps?: StepView[];
}
interface RunDetail {
  runId: string;
  status: string;
  deviceId: string | null;
  variant: string | null;
  sequence: { hash: string };
  steps: StepView[];
}
interface Health {
  instruments: { id: string; serial: string | null; calibrationPassed: boolean; override: { reason: string } | null }[];
}

const VARIANT = 'widget-004m';

describe('engineer console with the fixture: groups, instruments and product variants', () => {
  let station: Awaited<ReturnType<typeof startStation>>;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let errors: string[];
  let group: number; // index of the "Sleep test" group
  let sleep: number; // index of "Sleep current" inside it
  let supply: number; // index of "Supply current" (a supply channel source)
  let wake: number; // index of "Wake for blessing" (a power step)
  let savedHash = '';

  beforeAll(async () => {
    station = await startStation(
      (cfg) => {
        // Two powered nests, no BlinkUp (runs come quickly), a variant chosen by the model the
        // simulated firmware reports, and a DMM past its calibration that nothing uses.
        cfg.slots = cfg.slots.slice(0, 2).map(({ emitter: _emitter, ...slot }: ConfigJson) => slot);
        cfg.sequence.steps = cfg.sequence.steps.filter((s: ConfigJson) => s.type !== 'blinkup');
        delete cfg.blinkup;
        delete cfg.tokens;
        cfg.sequence.steps[0].fields = ['model'];
        cfg.sequence.variants = [{ name: VARIANT, when: { field: 'model', equals: 'imp004m' }, limits: { 'Battery voltage': { kind: 'range', low: 3.3, high: 4.2 } } }];
        cfg.instruments.push({ id: 'dmm2', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'simulated', latencyMs: 1 }, calibrationDue: '2020-01-01' });
        const names = cfg.sequence.steps.map((s: ConfigJson) => s.name);
        group = names.indexOf('Sleep test');
        sleep = cfg.sequence.steps[group].steps.findIndex((s: ConfigJson) => s.name === 'Sleep current');
        supply = names.indexOf('Supply current');
        wake = names.indexOf('Wake for blessing');
      },
      { fixture: true },
    );
    api = await ApiClient.login(station.daemon, 'engineer');
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    errors = collectPageErrors(page);
    await loginFromPage(page, station.daemon.url, 'engineer', '/engineer.html');
    await page.locator(`input[data-path="steps[${group}].steps[${sleep}].limit.high"]`).waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  const field = (path: string) => page.locator(`[data-path="${path}"]`);
  const problemAt = (path: string) => page.locator(`.field[data-field-path="${path}"] > .field-problem`);
  const activeVersion = async (): Promise<Version> => api.get<Version>(`/api/sequences/${(await api.get<Versions>('/api/sequences')).active}`);

  it('shows the group, the power steps, the instrument sources and the variants of the shipped sequence', async () => {
    await expect(field(`steps[${group}].repeat.max`).inputValue()).resolves.toBe('2');
    await expect(field(`steps[${group}].steps[0].action`).inputValue()).resolves.toBe('cycle');
    await expect(field(`steps[${wake}].action`).inputValue()).resolves.toBe('cycle');
    await expect(field(`steps[${wake}].offMs`).inputValue()).resolves.toBe('200');
    await expect(page.locator(`select[data-source-for="steps[${supply}]"]`).inputValue()).resolves.toBe('supply');
    await expect(field(`steps[${supply}].source.instrument`).inputValue()).resolves.toBe('psu1');
    await expect(page.locator(`select[data-source-for="steps[${group}].steps[${sleep}]"]`).inputValue()).resolves.toBe('dmm');
    await expect(field(`steps[${group}].steps[${sleep}].source.function`).inputValue()).resolves.toBe('current-dc');
    await expect(field(`steps[${group}].steps[${sleep}].source.samples`).inputValue()).resolves.toBe('8');
    await expect(field('steps[0].fields').inputValue()).resolves.toBe('model');
    await expect(field('variants[0].when.field').inputValue()).resolves.toBe('model');
    await expect(field('variants[0].limits.Battery voltage.low').inputValue()).resolves.toBe('3.3');
    // The instrument fields offer the station's instruments.
    await waitFor('the instrument ids in the editor', async () => (await page.locator('#instrument-ids option[value="dmm1"]').count()) === 1);
    expect(errors).toEqual([]);
  });

  it('keeps a step kind and settings the form does not know through a round trip', async () => {
    const { definition } = await activeVersion();
    const odd = structuredClone(definition);
    odd.steps.splice(2, 0, { type: 'script', name: 'Calibrate radio', module: 'sequences/radio-cal.ts', timeoutMs: 20000, args: { band: 'eu' } });
    odd.steps[group + 1].steps[sleep].futureKey = { any: ['thing'] };
    odd.futureTopLevel = true;
    await page.locator('button[data-action="mode"]').click();
    await page.locator('textarea.editor-json').fill(JSON.stringify(odd));
    await page.locator('button[data-action="mode"]').click();
    await expect(field('steps[2].module').inputValue()).resolves.toBe('sequences/radio-cal.ts');
    await expect(page.locator('.field[data-field-path="steps[2].args"] code').textContent()).resolves.toBe('{"band":"eu"}');
    await expect(page.locator(`.field[data-field-path="steps[${group + 1}].steps[${sleep}].futureKey"]`).count()).resolves.toBe(1);
    await expect(page.locator('.field[data-field-path="futureTopLevel"]').count()).resolves.toBe(1);
    await field('steps[2].timeoutMs').fill('25000');
    await page.locator('button[data-action="mode"]').click();
    odd.steps[2].timeoutMs = 25000;
    expect(JSON.parse(await page.locator('textarea.editor-json').inputValue())).toEqual(odd);
    await page.locator('button[data-action="mode"]').click();
    await page.locator('button[data-action="discard"]').click();
    await expect(page.locator('.dirty-badge').isHidden()).resolves.toBe(true);
    expect(errors).toEqual([]);
  });

  it('edits every shipped sequence with a field for each setting, and gives it back unchanged', async () => {
    for (const file of readdirSync(path.join(PROJECT_ROOT, 'sequences')).filter((f) => f.endsWith('.json'))) {
      const definition = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'sequences', file), 'utf8'));
      await page.locator('button[data-action="mode"]').click();
      await page.locator('textarea.editor-json').fill(JSON.stringify(definition));
      await page.locator('button[data-action="mode"]').click();
      // Only the identify step's label scan has no fields (it is kept as it is).
      const kept = await page.evaluate(`[...document.querySelectorAll('.field-other')].map((n) => n.dataset.fieldPath)`);
      expect(kept, file).toEqual(definition.steps[0].label ? ['steps[0].label'] : []);
      if (definition.steps[0].command === null) {
        await expect(field('steps[0].command:none').isChecked(), file).resolves.toBe(true);
        await expect(field('steps[0].read[0].command').inputValue(), file).resolves.toBe(definition.steps[0].read[0].command);
      }
      await page.locator('button[data-action="mode"]').click();
      expect(JSON.parse(await page.locator('textarea.editor-json').inputValue()), file).toEqual(definition);
      await page.locator('button[data-action="mode"]').click();
    }
    await page.locator('button[data-action="discard"]').click();
    expect(errors).toEqual([]);
  });

  it('shows a problem inside a group and one in a variant at their nested fields, and saves nothing', async () => {
    const before = await api.get<Versions>('/api/sequences');
    await field(`steps[${group}].steps[${sleep}].limit.low`).fill('1'); // above high
    await field('variants[0].limits.Battery voltage.marginalLow').fill('3.1'); // below low
    await page.locator('button[data-action="save"]').click();
    await page.locator('.editor-status[data-outcome="invalid"]').waitFor();
    await expect(problemAt(`steps[${group}].steps[${sleep}].limit.low`).textContent()).resolves.toMatch(/above high/);
    await expect(field(`steps[${group}].steps[${sleep}].limit.low`).getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(problemAt('variants[0].limits.Battery voltage.marginalLow').textContent()).resolves.toMatch(/at or above low/);
    // Not at the fields around them.
    await expect(problemAt(`steps[${group}].steps[${sleep}].limit.high`).textContent()).resolves.toBe('');
    await expect(page.locator(`fieldset[data-field-path="steps[${group}]"] > .field-problem`).allTextContents()).resolves.toEqual(['', '']);
    // The list names the step inside its group.
    await expect(page.locator('.problem-summary').textContent()).resolves.toContain(`step ${group + 1} "Sleep test" › ${group + 1}.${sleep + 1} "Sleep current"`);
    expect(await api.get<Versions>('/api/sequences')).toEqual(before);
    await page.locator('button[data-action="discard"]').click();
    expect(errors).toEqual([]);
  });

  it('saves a limit inside the group and the limits of a variant as a new version', async () => {
    const before = await activeVersion();
    await field(`steps[${group}].steps[${sleep}].limit.high`).fill('0.000025');
    await field('variants[0].limits.Battery voltage.low').fill('3.35');
    // A variant limit for a step inside the group, started from the step's own limit.
    await page.locator('select[data-add-limit-step="0"]').selectOption('Sleep current');
    await page.locator('button[data-add-limit="0"]').click();
    await field('variants[0].limits.Sleep current.high').fill('0.00003');
    await saveSequenceFromPage(page);
    await page.locator('.editor-status[data-outcome="saved"]').waitFor();
    savedHash = (await page.locator('[data-saved="hash"]').textContent()) as string;

    const after = await activeVersion();
    expect(after.hash).toBe(savedHash);
    expect(after.hash).not.toBe(before.hash);
    // Exactly these changes, and nothing lost on the way through the form.
    const expected = structuredClone(before.definition);
    expected.steps[group].steps[sleep].limit.high = 0.000025;
    expected.variants[0].limits['Battery voltage'].low = 3.35;
    expected.variants[0].limits['Sleep current'] = { ...before.definition.steps[group].steps[sleep].limit, high: 0.00003 };
    expect(after.definition).toEqual(expected);
    expect(errors).toEqual([]);
  });

  it("shows a run's group steps by attempt, the instrument and serial of a reading, the wait for it, and the variant", async () => {
    const run = await waitFor(
      'a blessed run of the saved sequence',
      async () => {
        const { devices } = await api.get<{ devices: { runId: string }[] }>('/api/devices?status=blessed&limit=20');
        for (const d of devices) {
          const r = await api.get<RunDetail>(`/api/runs/${d.runId}`);
          if (r.sequence.hash === savedHash) return r;
        }
        return null;
      },
      { timeoutMs: 40_000, intervalMs: 250 },
    );
    const groupView = run.steps.find((s) => s.name === 'Sleep test') as StepView;
    const sleepView = (groupView.steps ?? []).find((s) => s.name === 'Sleep current') as StepView;
    const reading = sleepView.measurements[0] as Measurement;
    expect(reading.instrument?.id).toBe('dmm1');

    await page.locator('[data-tab="devices"]').click();
    await page.locator('#device-q').fill(run.deviceId as string);
    await page.locator('form.search button[type="submit"]').click();
    await page.locator(`.device-history tr[data-run="${run.runId}"] button`).click();
    const detail = page.locator(`.run-detail[data-run-id="${run.runId}"]`);
    await detail.locator('table.run-steps').waitFor();

    await expect(detail.locator(`tr.group-attempt[data-group="${groupView.index}"][data-group-attempt="1"]`).textContent()).resolves.toContain('Sleep test: attempt 1');
    const inner = await detail.locator('tr.inner[data-group-attempt="1"] td:nth-child(2)').allTextContents();
    expect(inner.slice(0, 4)).toEqual(['Wake', 'Enter deep sleep', 'Settle in sleep', 'Sleep current']);
    await expect(detail.locator(`tr.inner[data-step="${sleepView.index}"] td.step-no`).textContent()).resolves.toBe(`${group + 1}.${sleep + 1}`);

    const row = detail.locator('tr.inner[data-measurement="Sleep current"]').last();
    const instrumentCell = row.locator('td.instrument');
    await expect(instrumentCell.getAttribute('data-instrument')).resolves.toBe('dmm1');
    await expect(instrumentCell.getAttribute('data-serial')).resolves.toBe(reading.instrument?.serial);
    await expect(instrumentCell.textContent()).resolves.toBe(`dmm1 · serial ${reading.instrument?.serial}`);
    await expect(row.locator('.waited').textContent()).resolves.toMatch(/^waited (< 0\.1|[0-9.]+) ms for dmm1$/);
    await expect(detail.locator(`tr[data-step="${run.steps.find((s) => s.name === 'Wake for blessing')?.index}"] .waited`).textContent()).resolves.toMatch(/for the slot's supply$/);
    await expect(detail.locator('.run-variant').getAttribute('data-variant')).resolves.toBe(run.variant ?? '');
    if (run.variant) await expect(detail.locator('.run-variant').textContent()).resolves.toBe(run.variant);
    expect(errors).toEqual([]);
  });

  it('filters yield per step by variant with ?variant= (empty: the base limits)', async () => {
    const asked: URL[] = [];
    page.on('request', (req) => {
      if (req.url().includes('/api/yield/steps')) asked.push(new URL(req.url()));
    });
    await page.locator('[data-tab="yield"]').click();
    await page.locator('#yield-table tr[data-step="0"]').waitFor();
    await expect(page.locator('#yield-variant option').allTextContents()).resolves.toEqual(['all runs', 'the base limits (no variant)', `variant ${VARIANT}`]);
    expect(asked.at(-1)?.searchParams.has('variant')).toBe(false);

    await page.locator('#yield-variant').selectOption(VARIANT);
    await page.locator(`#yield-table[data-variant="${VARIANT}"]`).waitFor();
    await waitFor('a yield request for the variant', async () => asked.at(-1)?.searchParams.get('variant') === VARIANT);

    await page.locator('#yield-variant').selectOption('');
    await page.locator('#yield-table[data-variant=""]').waitFor();
    await waitFor('a yield request for the base limits', async () => asked.at(-1)?.searchParams.get('variant') === '');
    expect(asked.at(-1)?.search).toMatch(/[?&]variant=(&|$)/);
    expect(errors).toEqual([]);
  });

  it('lists the instruments with their serial numbers and overrides a passed calibration with a reason', async () => {
    const health = await api.get<Health>('/api/health');
    await page.locator('[data-tab="instruments"]').click();
    await page.locator('table.instruments tr[data-instrument="dmm2"]').waitFor();
    await expect(page.locator('table.instruments tbody tr td:first-child').allTextContents()).resolves.toEqual(health.instruments.map((i) => i.id));
    const dmm1 = health.instruments.find((i) => i.id === 'dmm1');
    await expect(page.locator('tr[data-instrument="dmm1"] td.serial').textContent()).resolves.toBe(dmm1?.serial);
    await expect(page.locator('#instruments-flag').isVisible()).resolves.toBe(true);
    await expect(page.locator('button[data-override-calibration="dmm1"]').count()).resolves.toBe(0);

    await page.locator('button[data-override-calibration="dmm2"]').click();
    const reason = 'checked against the reference standard today';
    await page.locator('tr[data-instrument="dmm2"] .override-form input[name="reason"]').fill(reason);
    await page.locator('tr[data-instrument="dmm2"] .override-form button[type="submit"]').click();
    await expect(page.locator('tr[data-instrument="dmm2"] .override').textContent({ timeout: 10_000 })).resolves.toContain(reason);
    const after = await api.get<Health>('/api/health');
    expect(after.instruments.find((i) => i.id === 'dmm2')?.override?.reason).toBe(reason);
    await expect(page.locator('#instruments-flag').isHidden()).resolves.toBe(true);
    expect(errors).toEqual([]);
  });
});
