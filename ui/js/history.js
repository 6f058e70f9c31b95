// Device history in the engineer console: search by Device ID (prefix), MAC (any separators) or
// ICCID, a device's runs, and a run's detail with every measurement against its limits, the
// instrument (and its serial number) that took it, the time a step waited for a shared instrument,
// a group's steps under it attempt by attempt, and the product variant whose limits judged the run.
// Values come from DUTs, so they are only ever shown as text.
import { api } from './api.js';
import { dateTime } from './datetime.js';
import { el, setChildren, setText, shortHash, show } from './dom.js';
import { allSteps } from './editor-kinds.js';

const OUTCOME_LOOK = { pass: '✓ PASS', marginal: '◐ MARGINAL', fail: '✗ FAIL', error: '✗ ERROR', skipped: '– SKIPPED', interrupted: '⚠ INTERRUPTED' };
/** Devices listed before any search. */
const LATEST = 25;
const STATUS_LOOK = { blessed: '✓ blessed', failed: '✗ failed', interrupted: '⚠ interrupted', running: '⟳ running' };

/** A limit in words: "3.4 ≤ x ≤ 4.2 (marginal below 3.5, above 4.1)". */
export function limitText(limit) {
  if (!limit || typeof limit !== 'object') return 'no limit';
  if (limit.kind === 'range') {
    const lo = limit.low !== undefined && limit.low !== null ? `${limit.low} ≤ ` : '';
    const hi = limit.high !== undefined && limit.high !== null ? ` ≤ ${limit.high}` : '';
    const m = [];
    if (limit.marginalLow !== undefined && limit.marginalLow !== null) m.push(`below ${limit.marginalLow}`);
    if (limit.marginalHigh !== undefined && limit.marginalHigh !== null) m.push(`above ${limit.marginalHigh}`);
    return `${lo}x${hi}${m.length ? ` (marginal ${m.join(', ')})` : ''}`;
  }
  if (limit.kind === 'equals') return `= ${show(limit.value)}${limit.tolerance ? ` ± ${limit.tolerance}` : ''}`;
  if (limit.kind === 'regex') return `matches /${limit.pattern}/`;
  return show(limit);
}

export class DeviceHistory {
  constructor(root) {
    this.root = root;
    this.query = el('input', { type: 'search', id: 'device-q', placeholder: 'Device ID, MAC or ICCID', maxLength: 64, spellcheck: false, attrs: { 'aria-label': 'search devices' } });
    this.message = el('p', { className: 'muted', attrs: { role: 'status' } });
    this.results = el('div', { className: 'device-results' });
    this.history = el('div', { className: 'device-history' });
    this.run = el('div', { className: 'run-detail' });
    /** Sequence definitions by hash (they never change): they name what a step waited for. */
    this.definitions = new Map();
    const form = el(
      'form',
      {
        className: 'search',
        on: {
          submit: (ev) => {
            ev.preventDefault();
            this.search(this.query.value.trim());
          },
        },
      },
      this.query,
      el('button', { type: 'submit', className: 'primary', text: 'Search' }),
    );
    root.replaceChildren(form, this.message, this.results, this.history, this.run);
  }

  /** Before any search: the devices with the latest verdicts (GET /api/devices), newest first. */
  async showLatest() {
    if (this.searched) return;
    try {
      const { data } = await api(`/api/devices?limit=${LATEST}`);
      if (this.searched) return;
      const devices = data.devices || [];
      setText(this.message, devices.length ? `The ${devices.length} latest device${devices.length === 1 ? '' : 's'}, newest first. Search for any other.` : 'No device tested yet.');
      this.message.dataset.latest = 'true';
      setChildren(this.results, devices.length ? this.deviceTable(devices) : null);
    } catch (err) {
      setText(this.message, `Cannot list the latest devices: ${err.message}`);
    }
  }

  async search(q) {
    setChildren(this.results);
    setChildren(this.history);
    setChildren(this.run);
    if (!q) {
      this.searched = false;
      setText(this.message, 'Type a Device ID (or its start), a MAC or an ICCID.');
      this.showLatest();
      return;
    }
    this.searched = true;
    delete this.message.dataset.latest;
    setText(this.message, 'Searching…');
    try {
      const { data } = await api(`/api/devices/search?q=${encodeURIComponent(q)}`);
      const devices = Array.isArray(data) ? data : data.devices || [];
      setText(this.message, devices.length ? `${devices.length} device${devices.length === 1 ? '' : 's'}${devices.length >= 100 ? ' (the first 100)' : ''}` : 'No device matches.');
      if (devices.length) setChildren(this.results, this.deviceTable(devices));
      if (devices.length === 1) this.showDevice(devices[0].deviceId);
    } catch (err) {
      setText(this.message, `Search failed: ${err.message}`);
    }
  }

  deviceTable(devices) {
    return el(
      'table',
      { className: 'data' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Device ID', 'MAC', 'ICCID', 'IMEI', 'status', 'attempts', 'last run', 'blessed', 'uploaded'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        devices.map((d) =>
          el(
            'tr',
            { dataset: { device: d.deviceId } },
            el('td', {}, el('button', { type: 'button', className: 'linklike mono', text: d.deviceId, on: { click: () => this.showDevice(d.deviceId) } })),
            el('td', { className: 'mono', text: d.mac || '–' }),
            el('td', { className: 'mono', text: d.iccid || '–' }),
            el('td', { className: 'mono', text: d.imei || '–' }),
            el('td', { className: `status-${d.status}`, text: STATUS_LOOK[d.status] || d.status }),
            el('td', { text: d.attempts }),
            el('td', { className: 'updated', text: dateTime(d.updatedAt) }),
            el('td', { text: d.blessedAt ? dateTime(d.blessedAt) : '–' }),
            el('td', { text: d.uploadedAt ? dateTime(d.uploadedAt) : '–' }),
          ),
        ),
      ),
    );
  }

  /** Prints the label of a blessed device again (POST /api/labels/:deviceId/reprint). */
  async reprint(deviceId, button, note) {
    button.disabled = true;
    try {
      const { data } = await api(`/api/labels/${encodeURIComponent(deviceId)}/reprint`, { method: 'POST' });
      setText(note, `label sent (${data.output})`);
    } catch (err) {
      setText(note, `not printed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async showDevice(deviceId) {
    setChildren(this.run);
    setChildren(this.history, el('p', { className: 'muted', text: 'Loading…' }));
    try {
      const { data } = await api(`/api/devices/${encodeURIComponent(deviceId)}/history`);
      const runs = data.runs || [];
      const reprintNote = el('span', { className: 'muted', attrs: { 'aria-live': 'polite' } });
      const reprint = el('button', {
        type: 'button',
        className: 'reprint',
        text: 'Reprint label',
        on: { click: () => this.reprint(deviceId, reprint, reprintNote) },
      });
      reprint.hidden = !runs.some((r) => r.status === 'blessed');
      setChildren(
        this.history,
        el('h3', {}, 'Device ', el('span', { className: 'mono', text: deviceId }), ` · ${runs.length} run${runs.length === 1 ? '' : 's'} `, reprint, ' ', reprintNote),
        el(
          'table',
          { className: 'data' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ['started', 'slot', 'status', 'attempt', 'rework', 'failed step', 'reason', 'sequence'].map((h) => el('th', { text: h })),
            ),
          ),
          el(
            'tbody',
            {},
            runs.map((r) =>
              el(
                'tr',
                { dataset: { run: r.runId } },
                el('td', {}, el('button', { type: 'button', className: 'linklike', text: dateTime(r.startedAt), on: { click: () => this.showRun(r.runId) } })),
                el('td', { text: r.slot === null || r.slot === undefined ? '–' : r.slot + 1 }),
                el('td', { className: `status-${r.status}`, text: STATUS_LOOK[r.status] || r.status }),
                el('td', { text: r.attempt ?? '–' }),
                el('td', { text: r.rework ? 'yes' : '' }),
                el('td', { text: r.failStep || '' }),
                el('td', { className: 'reason', text: r.reason || '' }),
                el('td', { className: 'mono', text: shortHash(r.sequenceHash) }),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      setChildren(this.history, el('p', { className: 'error', text: `Cannot load the history of ${deviceId}: ${err.message}` }));
    }
  }

  /** The run's sequence (for the instruments its steps name), or null: the detail shows without it. */
  async definition(hash) {
    if (typeof hash !== 'string') return null;
    if (!this.definitions.has(hash)) {
      try {
        const { data } = await api(`/api/sequences/${encodeURIComponent(hash)}`);
        this.definitions.set(hash, data.definition);
      } catch {
        return null;
      }
    }
    return this.definitions.get(hash);
  }

  async showRun(runId) {
    setChildren(this.run, el('p', { className: 'muted', text: 'Loading…' }));
    try {
      const { data: run } = await api(`/api/runs/${encodeURIComponent(runId)}`);
      const definition = await this.definition(run.sequence && run.sequence.hash);
      this.run.dataset.runId = runId;
      setChildren(this.run, renderRun(run, definition));
      this.run.scrollIntoView({ block: 'start' });
    } catch (err) {
      setChildren(this.run, el('p', { className: 'error', text: `Cannot load run ${runId}: ${err.message}` }));
    }
  }
}

/** A number at most 6 significant digits, as the station's messages show it (the exact value in the cell's title). */
function shownValue(value) {
  return typeof value === 'number' && Number.isFinite(value) ? String(Number(value.toPrecision(6))) : show(value);
}

/** "waited 42 ms": a step's wait for a shared instrument, readable at any size. */
function waitedText(ms) {
  if (ms < 0.1) return 'waited < 0.1 ms';
  return `waited ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;
}

/**
 * What a step waited for: the instrument that took its measurement, else the one its definition
 * names (a measure source, an instrument step), else the slot's supply (a power step).
 * The run records how long, not which instrument.
 */
function waitedFor(step, defStep) {
  const took = (step.measurements || []).find((m) => m.instrument && m.instrument.id);
  if (took) return took.instrument.id;
  if (defStep && defStep.source && typeof defStep.source.instrument === 'string') return defStep.source.instrument;
  if (defStep && typeof defStep.instrument === 'string') return defStep.instrument;
  if (step.type === 'power') return "the slot's supply";
  return 'an instrument';
}

const COLUMNS = ['#', 'step', 'type', 'result', 'attempts', 'time', 'measured', 'limit', 'outcome', 'instrument'];

/** The table rows of one step (its measurements, and a group's steps attempt by attempt) into `rows`. */
function stepRows(s, no, rows, defSteps, inner) {
  const ms = s.measurements || [];
  const waited =
    typeof s.waitMs === 'number' ? el('div', { className: 'waited muted', dataset: { waitMs: s.waitMs }, text: `${waitedText(s.waitMs)} for ${waitedFor(s, defSteps.get(s.name))}` }) : null;
  const stepCells = [
    el('td', { className: 'step-no', text: no }),
    el('td', { text: s.name }),
    el('td', { text: s.type }),
    el('td', { className: `outcome outcome-${s.status}`, text: OUTCOME_LOOK[s.status] || s.status }),
    el('td', { text: s.attempts }),
    el('td', { className: 'time' }, typeof s.durationMs === 'number' ? `${Math.round(s.durationMs)} ms` : '', waited),
  ];
  const rowData = (extra) => ({ step: s.index, ...(inner ? { groupAttempt: s.groupAttempt } : {}), ...extra });
  const rowClass = inner ? 'inner' : '';
  if (ms.length === 0) {
    rows.push(el('tr', { className: rowClass, dataset: rowData({}) }, stepCells, el('td', { colSpan: 3, className: 'message', text: s.message || '' }), el('td')));
  } else {
    ms.forEach((m, j) => {
      const inst = m.instrument && m.instrument.id ? m.instrument : null;
      rows.push(
        el(
          'tr',
          { className: rowClass, dataset: rowData({ measurement: m.name }) },
          j === 0 ? stepCells : stepCells.map(() => el('td')),
          el('td', { className: 'mono measured', attrs: { title: typeof m.value === 'number' ? String(m.value) : null }, text: `${shownValue(m.value)}${m.unit ? ` ${m.unit}` : ''}` }),
          el('td', { className: 'mono', text: limitText(m.limit) }),
          el('td', { className: `outcome measurement-outcome outcome-${m.outcome}`, text: `${OUTCOME_LOOK[m.outcome] || m.outcome}${j === 0 && s.message ? ` · ${s.message}` : ''}` }),
          el(
            'td',
            { className: 'instrument', dataset: inst ? { instrument: inst.id, serial: inst.serial ?? '' } : {} },
            inst ? [el('span', { className: 'mono', text: inst.id }), el('span', { className: 'muted', text: ` · serial ${inst.serial || 'unknown'}` })] : null,
          ),
        ),
      );
    });
  }
  if (!Array.isArray(s.steps)) return;
  // A group: its steps under it, attempt by attempt, numbered by their place in the attempt.
  const attempts = new Map();
  for (const child of s.steps) {
    const a = child.groupAttempt ?? 1;
    if (!attempts.has(a)) attempts.set(a, []);
    attempts.get(a).push(child);
  }
  for (const [a, children] of attempts) {
    rows.push(
      el(
        'tr',
        { className: 'group-attempt', dataset: { group: s.index, groupAttempt: a } },
        el('td'),
        el('td', { colSpan: COLUMNS.length - 1, text: `${s.name}: attempt ${a}${attempts.size > 1 ? ` of ${attempts.size}` : ''}` }),
      ),
    );
    children.forEach((child, k) => stepRows(child, `${no}.${k + 1}`, rows, defSteps, true));
  }
}

/** A run with each step and each measurement against its limit. `definition` (its sequence) names what steps waited for. */
export function renderRun(run, definition = null) {
  const defSteps = new Map(allSteps(definition && definition.steps).map((d) => [d.name, d]));
  const rows = [];
  for (const s of run.steps || []) stepRows(s, String(s.index + 1), rows, defSteps, false);
  return el(
    'section',
    { className: 'run' },
    el('h3', {}, `Run `, el('span', { className: 'mono', text: run.runId })),
    el(
      'dl',
      { className: 'facts small' },
      el('dt', { text: 'status' }),
      el('dd', { className: `status-${run.status}`, text: STATUS_LOOK[run.status] || run.status }),
      el('dt', { text: 'device' }),
      el('dd', { className: 'mono', text: run.deviceId || '–' }),
      el('dt', { text: 'slot' }),
      el('dd', { text: run.slot === null || run.slot === undefined ? '–' : run.slot + 1 }),
      el('dt', { text: 'started' }),
      el('dd', { text: dateTime(run.startedAt) }),
      el('dt', { text: 'ended' }),
      el('dd', { text: run.endedAt ? dateTime(run.endedAt) : '–' }),
      el('dt', { text: 'sequence' }),
      el('dd', { className: 'mono', dataset: { sequenceHash: run.sequence && run.sequence.hash }, text: run.sequence ? `${run.sequence.name} · ${run.sequence.hash}` : '–' }),
      el('dt', { text: 'variant' }),
      el('dd', { className: 'run-variant', dataset: { variant: run.variant ?? '' }, text: run.variant ? run.variant : "none: the steps' own limits" }),
      el('dt', { text: 'attempt' }),
      el('dd', { text: `${run.attempt ?? '–'}${run.rework ? ' (rework)' : ''}` }),
      run.failStep ? [el('dt', { text: 'failed at' }), el('dd', { text: run.failStep })] : null,
      run.reason ? [el('dt', { text: 'reason' }), el('dd', { className: 'reason', text: run.reason })] : null,
    ),
    el(
      'table',
      { className: 'data run-steps' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          COLUMNS.map((h) => el('th', { text: h })),
        ),
      ),
      el('tbody', {}, rows),
    ),
    renderPromptAnswers(run.promptAnswers),
  );
}

/** Who answered each of the run's prompts, and what (a scan as shown: secrets masked). */
function renderPromptAnswers(answers) {
  if (!Array.isArray(answers) || answers.length === 0) return null;
  return el(
    'section',
    { className: 'prompt-answers' },
    el('h4', { text: 'Prompt answers' }),
    el(
      'table',
      { className: 'data prompt-answers-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['time', 'prompt', 'answer', 'answered by'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        answers.map((a) =>
          el(
            'tr',
            { dataset: { promptId: a.promptId } },
            el('td', { text: dateTime(a.at) }),
            el('td', { text: a.text }),
            el('td', { className: 'mono', text: a.answer ?? '–' }),
            el('td', { className: 'answered-by', text: a.by ? `${a.by} (${a.byRole})` : 'no login (scanner or simulation)' }),
          ),
        ),
      ),
    ),
  );
}
