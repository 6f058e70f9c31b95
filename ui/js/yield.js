// Yield per step in the engineer console, sliced by sequence version (a picker: the active one by
// default) and by product variant (the variants of the chosen version), over a period. Also the
// version picker the analytics tab shares: every version, newest first, the active one marked.
/* global URLSearchParams */
import { api } from './api.js';
import { byId, el, percent, setChildren, shortHash } from './dom.js';
import { dateTime } from './datetime.js';

/** The variant filter's value for "every run" (a variant name starts with a letter or digit). */
export const ALL_RUNS = '*';

/** GET /api/sequences: { active, versions (newest first) }. */
export async function listVersions() {
  const { data } = await api('/api/sequences');
  return data;
}

/** The latest version number of the active hash. */
export function activeVersion(list) {
  const v = list.versions.find((x) => x.hash === list.active);
  return v ? v.version : null;
}

/**
 * Fills a version <select>: every version, newest first, "● active" on the active one. A version
 * picked by hand stays picked while it exists; one left at its default follows the default
 * (`fallback`, the active version unless given), so a newly saved version shows without a reload.
 */
export function fillVersionSelect(select, list, fallback = activeVersion(list)) {
  const chosen = select.value;
  const byDefault = chosen === '' || chosen === select.dataset.default;
  const active = activeVersion(list);
  setChildren(
    select,
    list.versions.map((v) =>
      el('option', {
        value: v.version,
        text: `v${v.version}${v.version === active ? ' ● active' : ''} · ${shortHash(v.hash).slice(0, 8)} · ${dateTime(v.createdAt)}`,
      }),
    ),
  );
  const keep = !byDefault && list.versions.some((v) => String(v.version) === chosen);
  select.value = keep ? chosen : String(fallback ?? '');
  select.dataset.default = String(fallback ?? '');
}

/** The variant names of the version `hash` (its definition's variants). */
export async function variantNames(hash) {
  const { data } = await api(`/api/sequences/${encodeURIComponent(hash)}`);
  return (Array.isArray(data.definition.variants) ? data.definition.variants : []).map((v) => v && v.name).filter((n) => typeof n === 'string');
}

/** Fills a variant <select> with "all runs", "the base limits" and each variant; keeps the choice when it is still offered. */
export function fillVariantSelect(select, names) {
  const chosen = select.options.length ? select.value : ALL_RUNS;
  setChildren(
    select,
    el('option', { value: ALL_RUNS, text: 'all runs' }),
    el('option', { value: '', text: 'the base limits (no variant)' }),
    names.map((n) => el('option', { value: n, text: `variant ${n}` })),
  );
  select.value = chosen === ALL_RUNS || chosen === '' || names.includes(chosen) ? chosen : ALL_RUNS;
}

/** The step yield: (pass + marginal) / runs, or null without runs. */
export function stepYield(s) {
  return s.runs ? ((s.pass || 0) + (s.marginal || 0)) / s.runs : null;
}

export function yieldTable(steps) {
  const worst = Math.max(0, ...steps.map((s) => s.firstFailures || 0));
  return el(
    'table',
    { className: 'data yield' },
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        ['#', 'step', 'type', 'runs', '✓ pass', '◐ marginal', '✗ fail', '✗ error', 'first failures', 'step yield'].map((h) => el('th', { text: h })),
      ),
    ),
    el(
      'tbody',
      {},
      steps.map((s) => {
        const ratio = stepYield(s);
        return el(
          'tr',
          { dataset: { step: s.index }, className: worst > 0 && s.firstFailures === worst ? 'worst' : '' },
          el('td', { text: s.index + 1 }),
          el('td', { text: s.name }),
          el('td', { text: s.type }),
          el('td', { className: 'runs', text: s.runs }),
          el('td', { text: s.pass }),
          el('td', { text: s.marginal }),
          el('td', { text: s.fail }),
          el('td', { text: s.error }),
          el('td', { className: 'first-failures', text: `${s.firstFailures}${worst > 0 && s.firstFailures === worst ? ' ◀ most' : ''}` }),
          el('td', {}, el('meter', { min: 0, max: 1, low: 0.9, high: 0.98, optimum: 1, value: ratio ?? 0 }), ` ${percent(ratio)}`),
        );
      }),
    ),
  );
}

/** The yield tab (#yield-version, #yield-since, #yield-variant, #yield-table). */
export async function loadYield() {
  const out = byId('yield-table');
  const hours = Number(byId('yield-since').value);
  try {
    const list = await listVersions();
    const versionSel = byId('yield-version');
    fillVersionSelect(versionSel, list);
    const version = Number(versionSel.value);
    const chosen = list.versions.find((v) => v.version === version);
    fillVariantSelect(byId('yield-variant'), chosen ? await variantNames(chosen.hash) : []);
    const params = new URLSearchParams();
    params.set('version', String(version));
    if (hours > 0) params.set('since', new Date(Date.now() - hours * 3600_000).toISOString());
    // `variant=` (empty) asks for the runs judged by the steps' own limits.
    const variant = byId('yield-variant').value;
    if (variant !== ALL_RUNS) params.set('variant', variant);
    const { data } = await api(`/api/yield/steps?${params}`);
    out.dataset.variant = variant;
    out.dataset.version = String(data.version);
    const steps = data.steps || [];
    const runs = Math.max(0, ...steps.map((s) => s.runs || 0));
    setChildren(
      out,
      el('p', {
        className: 'muted yield-scope',
        text: `Version ${data.version} (${shortHash(data.sequenceHash)}): ${Date.parse(data.since) > 0 ? `its runs started since ${dateTime(data.since)}` : 'all its runs'}.`,
      }),
      runs === 0 ? el('p', { className: 'muted no-runs', text: 'No runs of this version in this period.' }) : null,
      steps.length ? yieldTable(steps) : null,
    );
  } catch (err) {
    setChildren(out, el('p', { className: 'error', text: `Cannot load yield: ${err.message}` }));
  }
}
