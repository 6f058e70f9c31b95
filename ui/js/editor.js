// The sequence editor of the engineer console: a form with a field for every step setting
// (name, timeout, retries, command, capture, limits, prompt answers, ...) and a raw-JSON view of
// the same definition. Validate and Save go to the daemon, which checks the sequence with the
// same rules it applies at start; each problem it reports carries a path ("steps[2].limit.high")
// and is shown next to the field of that path. Nothing is saved while a problem remains.
/* global CSS, structuredClone */
import { api } from './api.js';
import { el, setChildren, setText, shortHash, show } from './dom.js';
import { formatPath, nearestPath, setAt } from './paths.js';

const STEP_TYPES = ['identify', 'blinkup', 'measure', 'prompt', 'delay', 'bless'];

/** The settings of each step type: [key, kind, label]. kind: text | int | num | bool | list | select:a|b | limit. */
const STEP_FIELDS = {
  identify: [['command', 'text', 'command'], ['deviceIdHexLength', 'int', 'Device ID hex length'], ['requireCellular', 'bool', 'require cellular (ICCID + IMEI)'], ['timeoutMs', 'int', 'timeout (ms)'], ['retries', 'int', 'retries']],
  blinkup: [['timeoutMs', 'int', 'enrollment timeout (ms)'], ['tokenRetries', 'int', 'token retries'], ['noAnswerRetries', 'int', 'no-answer retries']],
  measure: [['command', 'text', 'command'], ['capture', 'text', 'capture (regex)'], ['as', 'select:number|string', 'value as'], ['measurement', 'text', 'measurement name'], ['unit', 'text', 'unit'], ['timeoutMs', 'int', 'timeout (ms)'], ['retries', 'int', 'retries'], ['limit', 'limit', 'limit']],
  prompt: [['text', 'text', 'prompt text'], ['answers', 'list', 'answers (comma-separated)'], ['pass', 'list', 'passing answers'], ['timeoutMs', 'int', 'timeout (ms)'], ['retries', 'int', 'retries']],
  delay: [['ms', 'int', 'delay (ms)']],
  bless: [['command', 'text', 'command'], ['timeoutMs', 'int', 'timeout (ms)']],
};
const LIMIT_FIELDS = {
  range: [['low', 'num', 'low'], ['high', 'num', 'high'], ['marginalLow', 'num', 'marginal low'], ['marginalHigh', 'num', 'marginal high']],
  equals: [['value', 'value', 'value'], ['tolerance', 'num', 'tolerance']],
  regex: [['pattern', 'text', 'pattern']],
};
const NEW_STEP = {
  identify: { type: 'identify', deviceIdHexLength: 16 },
  blinkup: { type: 'blinkup' },
  measure: { type: 'measure', command: 'MEAS VBAT', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: 0, high: 1 } },
  prompt: { type: 'prompt', text: 'Is it right?', answers: ['yes', 'no'], pass: ['yes'] },
  delay: { type: 'delay', ms: 100 },
  bless: { type: 'bless' },
};

/** Text in an input -> the value in the definition. Unparseable numbers stay text so the server names them. */
function parseField(kind, text, input) {
  if (kind === 'bool') return input.checked;
  if (text.trim() === '') return undefined;
  if (kind === 'int' || kind === 'num') {
    const n = Number(text.trim());
    return Number.isFinite(n) ? n : text;
  }
  if (kind === 'value') {
    const n = Number(text.trim());
    return text.trim() !== '' && Number.isFinite(n) && /^-?[0-9.eE+-]+$/.test(text.trim()) ? n : text;
  }
  if (kind === 'list') return text.split(',').map((s) => s.trim()).filter(Boolean);
  return text;
}

function fieldText(kind, value) {
  if (value === undefined || value === null) return '';
  if (kind === 'list') return Array.isArray(value) ? value.join(', ') : String(value);
  return String(value);
}

/** "steps[2].limit.high" -> 'step 3 "Battery voltage"', from the definition; '' when not a step path. */
function stepLabel(path, definition) {
  const m = /^steps\[(\d+)\]/.exec(path);
  if (!m) return '';
  const step = definition && Array.isArray(definition.steps) ? definition.steps[Number(m[1])] : null;
  return `step ${Number(m[1]) + 1}${step && step.name ? ` "${step.name}"` : ''}`;
}

/** A diff as a table: field path (and which step), before, after. `definition` names the steps. */
export function renderDiff(diff, definition = null) {
  if (!Array.isArray(diff) || diff.length === 0) return el('p', { className: 'muted', text: 'No differences from the previous version.' });
  return el(
    'table',
    { className: 'diff' },
    el('thead', {}, el('tr', {}, el('th', { text: 'field' }), el('th', { text: 'before' }), el('th', { text: 'after' }))),
    el(
      'tbody',
      {},
      diff.map((d) =>
        el(
          'tr',
          { dataset: { diffPath: d.path } },
          el('td', {}, el('span', { className: 'mono', text: d.path }), stepLabel(d.path, definition) ? el('span', { className: 'muted', text: ` · ${stepLabel(d.path, definition)}` }) : null),
          el('td', { className: 'mono before', text: 'before' in d ? show(d.before) : '(absent)' }),
          el('td', { className: 'mono after', text: 'after' in d ? show(d.after) : '(absent)' }),
        ),
      ),
    ),
  );
}

export class SequenceEditor {
  /** onSaved(result) runs after a save that created or matched a version. */
  constructor(root, { onSaved }) {
    this.root = root;
    this.onSaved = onSaved;
    this.def = null;
    this.loadedJson = null;
    this.mode = 'form';
    this.fieldByPath = new Map();
    this.lastProblems = null;
    this.form = el('div', { className: 'editor-form' });
    this.json = el('textarea', { className: 'editor-json mono', spellcheck: false, rows: 30, attrs: { 'aria-label': 'sequence JSON', 'data-path': '' } });
    this.jsonProblem = el('div', { className: 'field-problem', attrs: { role: 'alert' } });
    this.jsonWrap = el('div', { className: 'editor-json-wrap', hidden: true }, this.json, this.jsonProblem);
    this.status = el('div', { className: 'editor-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    this.summary = el('ul', { className: 'problem-summary', attrs: { 'aria-label': 'problems' } });
    this.result = el('div', { className: 'editor-result' });
    this.dirty = el('span', { className: 'dirty-badge', text: 'unsaved changes', hidden: true });
    this.loadedInfo = el('span', { className: 'loaded-info mono' });
    this.modeButton = el('button', { type: 'button', text: 'Raw JSON', on: { click: () => this.toggleMode() } });
    const validate = el('button', { type: 'button', className: 'primary', text: 'Validate', dataset: { action: 'validate' }, on: { click: () => this.validate() } });
    const save = el('button', { type: 'button', className: 'primary', text: 'Save as new version', dataset: { action: 'save' }, on: { click: () => this.save() } });
    const revert = el('button', { type: 'button', text: 'Discard changes', on: { click: () => this.revert() } });
    this.root.replaceChildren(
      el('div', { className: 'editor-bar' }, this.loadedInfo, this.dirty, this.modeButton, revert, validate, save),
      el('p', { className: 'muted', text: 'Saving makes the sequence active: the next run on every slot uses it; runs in progress finish with the one they started with.' }),
      this.status,
      this.summary,
      this.result,
      this.form,
      this.jsonWrap,
    );
    this.json.addEventListener('input', () => this.markDirty());
  }

  /** Loads a definition (from GET /api/sequences/:hash) into the form. */
  load(definition, meta = {}) {
    this.def = structuredClone(definition);
    this.loadedJson = JSON.stringify(definition);
    setText(this.loadedInfo, meta.version ? `editing from version ${meta.version} · ${shortHash(meta.hash)}` : '');
    this.clearProblems();
    setChildren(this.result);
    setText(this.status, '');
    this.renderForm();
    this.json.value = JSON.stringify(this.def, null, 2);
    this.markDirty();
  }

  revert() {
    if (this.loadedJson) this.load(JSON.parse(this.loadedJson), {});
  }

  markDirty() {
    const current = this.mode === 'json' ? this.json.value : JSON.stringify(this.def);
    let same = false;
    try {
      same = JSON.stringify(JSON.parse(current)) === this.loadedJson;
    } catch {
      same = false;
    }
    this.dirty.hidden = same;
  }

  toggleMode() {
    if (this.mode === 'form') {
      this.json.value = JSON.stringify(this.def, null, 2);
      this.mode = 'json';
    } else {
      if (!this.readJson()) return;
      this.mode = 'form';
      this.renderForm();
      // The fields are new: put the last answer's problems back at them.
      if (this.lastProblems) this.showProblems(this.lastProblems);
    }
    this.form.hidden = this.mode !== 'form';
    this.jsonWrap.hidden = this.mode !== 'json';
    this.modeButton.textContent = this.mode === 'form' ? 'Raw JSON' : 'Form';
  }

  /** In JSON mode, takes the textarea into the model; false (and a message) when it is not JSON. */
  readJson() {
    if (this.mode !== 'json') return true;
    try {
      this.def = JSON.parse(this.json.value);
      setText(this.jsonProblem, '');
      return true;
    } catch (err) {
      setText(this.jsonProblem, `This is not valid JSON: ${err.message}`);
      return false;
    }
  }

  // ---- the form ----

  renderForm() {
    this.fieldByPath = new Map();
    const d = this.def || {};
    const head = el(
      'fieldset',
      { className: 'seq-head', dataset: { fieldPath: '' } },
      el('legend', { text: 'Sequence' }),
      this.field(['name'], 'text', 'name', d.name),
      this.field(['description'], 'textarea', 'description', d.description),
      this.field(['stopOnFailure'], 'bool', 'stop at the first failing step', d.stopOnFailure ?? true),
      this.field(['defaultTimeoutMs'], 'int', 'default step timeout (ms)', d.defaultTimeoutMs),
      this.problemSlot(''),
    );
    const steps = Array.isArray(d.steps) ? d.steps : [];
    const stepsWrap = el('div', { className: 'steps', dataset: { fieldPath: 'steps' } }, this.problemSlot('steps'), steps.map((s, i) => this.stepFieldset(s, i, steps.length)));
    const addType = el('select', { attrs: { 'aria-label': 'type of the new step' } }, ['measure', 'prompt', 'delay', 'blinkup'].map((t) => el('option', { value: t, text: t })));
    const add = el('div', { className: 'add-step' }, addType, el('button', { type: 'button', text: '+ Add step (before the last)', on: { click: () => this.addStep(addType.value) } }));
    setChildren(this.form, head, stepsWrap, add);
    this.fieldByPath.set('steps', stepsWrap);
    this.fieldByPath.set('', head);
  }

  stepFieldset(step, i, count) {
    const path = ['steps', i];
    const type = step && typeof step === 'object' ? step.type : undefined;
    const typeSelect = el('select', { dataset: { path: formatPath([...path, 'type']) }, attrs: { 'aria-label': `step ${i + 1} type` } }, STEP_TYPES.map((t) => el('option', { value: t, text: t, selected: t === type })));
    typeSelect.addEventListener('change', () => {
      this.def.steps[i] = { ...NEW_STEP[typeSelect.value], name: step.name };
      this.renderForm();
      this.markDirty();
    });
    const fields = (STEP_FIELDS[type] || []).map(([key, kind, label]) => (kind === 'limit' ? this.limitFieldset([...path, 'limit'], step.limit, step) : this.field([...path, key], kind, label, step[key])));
    const fieldset = el(
      'fieldset',
      { className: `step step-${type}`, dataset: { fieldPath: formatPath(path), step: i } },
      el(
        'legend',
        {},
        el('span', { className: 'step-no', text: `${i + 1}.` }),
        ' ',
        typeSelect,
        el('span', { className: 'step-tools' },
          el('button', { type: 'button', text: '↑', disabled: i === 0, attrs: { 'aria-label': `move step ${i + 1} up` }, on: { click: () => this.moveStep(i, -1) } }),
          el('button', { type: 'button', text: '↓', disabled: i === count - 1, attrs: { 'aria-label': `move step ${i + 1} down` }, on: { click: () => this.moveStep(i, 1) } }),
          el('button', { type: 'button', text: '✗ remove', attrs: { 'aria-label': `remove step ${i + 1}` }, on: { click: () => this.removeStep(i) } }),
        ),
      ),
      this.field([...path, 'name'], 'text', 'name', step.name),
      fields,
      this.problemSlot(formatPath(path)),
      this.problemSlot(formatPath([...path, 'type'])),
    );
    this.fieldByPath.set(formatPath(path), fieldset);
    this.fieldByPath.set(formatPath([...path, 'type']), fieldset);
    return fieldset;
  }

  limitFieldset(path, limit, step) {
    const kind = limit && typeof limit === 'object' ? limit.kind : '';
    const kindSelect = el('select', { dataset: { path: formatPath([...path, 'kind']) }, attrs: { 'aria-label': 'limit kind' } },
      ['', 'range', 'equals', 'regex'].map((k) => el('option', { value: k, text: k || '(no limit)', selected: k === kind })));
    kindSelect.addEventListener('change', () => {
      const k = kindSelect.value;
      setAt(this.def, path, k === '' ? undefined : k === 'range' ? { kind: 'range', low: 0 } : k === 'equals' ? { kind: 'equals', value: step.as === 'string' ? 'PASS' : 0 } : { kind: 'regex', pattern: '^.+$' });
      this.renderForm();
      this.markDirty();
    });
    const fields = (LIMIT_FIELDS[kind] || []).map(([key, k, label]) => this.field([...path, key], k, label, limit[key]));
    const fs = el('fieldset', { className: 'limit', dataset: { fieldPath: formatPath(path) } }, el('legend', {}, 'limit ', kindSelect), fields, this.problemSlot(formatPath(path)));
    this.fieldByPath.set(formatPath(path), fs);
    return fs;
  }

  field(parts, kind, label, value) {
    const path = formatPath(parts);
    const id = `f-${path.replace(/[^A-Za-z0-9]/g, '-')}`;
    let input;
    if (kind === 'bool') {
      input = el('input', { type: 'checkbox', id, checked: value === true });
    } else if (kind === 'textarea') {
      input = el('textarea', { id, rows: 2, value: fieldText(kind, value) });
    } else if (kind.startsWith('select:')) {
      const options = kind.slice(7).split('|');
      input = el('select', { id }, el('option', { value: '', text: '(default)' }), options.map((o) => el('option', { value: o, text: o, selected: o === value })));
    } else {
      input = el('input', { id, type: 'text', value: fieldText(kind, value), spellcheck: false, inputMode: kind === 'int' ? 'numeric' : kind === 'num' ? 'decimal' : 'text' });
    }
    input.dataset.path = path;
    const problem = el('div', { className: 'field-problem', attrs: { role: 'alert' } });
    const wrap = el('div', { className: `field field-${kind.split(':')[0]}`, dataset: { fieldPath: path } }, el('label', { htmlFor: id, text: label }), input, problem);
    input.addEventListener(kind === 'bool' || kind.startsWith('select:') ? 'change' : 'input', () => {
      const v = kind.startsWith('select:') ? input.value || undefined : parseField(kind === 'textarea' ? 'text' : kind, input.value, input);
      setAt(this.def, parts, v);
      this.clearFieldProblem(path);
      this.markDirty();
    });
    this.fieldByPath.set(path, wrap);
    return wrap;
  }

  problemSlot(path) {
    return el('div', { className: 'field-problem', attrs: { role: 'alert' }, dataset: { problemFor: path } });
  }

  addStep(type) {
    if (!Array.isArray(this.def.steps)) this.def.steps = [];
    const names = new Set(this.def.steps.map((s) => s && s.name));
    let n = this.def.steps.length + 1;
    while (names.has(`New ${type} ${n}`)) n++;
    const at = Math.max(0, this.def.steps.length - 1);
    this.def.steps.splice(at, 0, { ...structuredClone(NEW_STEP[type]), name: `New ${type} ${n}` });
    this.renderForm();
    this.markDirty();
  }

  removeStep(i) {
    this.def.steps.splice(i, 1);
    this.renderForm();
    this.markDirty();
  }

  moveStep(i, by) {
    const steps = this.def.steps;
    const j = i + by;
    if (j < 0 || j >= steps.length) return;
    [steps[i], steps[j]] = [steps[j], steps[i]];
    this.renderForm();
    this.markDirty();
  }

  // ---- problems ----

  clearProblems() {
    this.lastProblems = null;
    for (const node of this.root.querySelectorAll('.field-problem')) node.textContent = '';
    for (const node of this.root.querySelectorAll('.has-problem')) node.classList.remove('has-problem');
    for (const node of this.root.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
    setChildren(this.summary);
  }

  clearFieldProblem(path) {
    const wrap = this.fieldByPath.get(path);
    if (!wrap) return;
    wrap.classList.remove('has-problem');
    const p = wrap.querySelector(':scope > .field-problem');
    if (p) p.textContent = '';
    const input = wrap.querySelector('[data-path]');
    if (input) input.removeAttribute('aria-invalid');
  }

  /** Shows each problem at the field of its path (or the nearest enclosing part), and in a list. */
  showProblems(problems) {
    this.clearProblems();
    this.lastProblems = problems;
    if (this.mode === 'json') {
      setText(this.jsonProblem, problems.map((p) => `${p.path || '(sequence)'}: ${p.message}`).join('\n'));
    }
    const items = [];
    for (const p of problems) {
      const path = typeof p.path === 'string' ? p.path : Array.isArray(p.path) ? formatPath(p.path) : '';
      const at = nearestPath(path, (c) => this.fieldByPath.has(c)) ?? '';
      const wrap = this.fieldByPath.get(at);
      if (wrap) {
        wrap.classList.add('has-problem');
        const slot = wrap.matches('.field') ? wrap.querySelector(':scope > .field-problem') : wrap.querySelector(`:scope > .field-problem[data-problem-for="${CSS.escape(at)}"]`) || wrap.querySelector('.field-problem');
        if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${p.message}` : p.message;
        const input = wrap.matches('.field') ? wrap.querySelector('[data-path]') : null;
        if (input) input.setAttribute('aria-invalid', 'true');
      }
      items.push(
        el('li', {}, el('button', {
          type: 'button',
          className: 'linklike',
          text: `${path || '(sequence)'}: ${p.message}`,
          on: { click: () => { const w = this.fieldByPath.get(at); const f = w && (w.querySelector('[data-path]') || w); if (f) { f.scrollIntoView({ block: 'center' }); if (f.focus) f.focus(); } } },
        })),
      );
    }
    setChildren(this.summary, items);
  }

  // ---- server ----

  async validate() {
    if (!this.readJson()) return null;
    setChildren(this.result);
    setText(this.status, 'Validating…');
    const { status, data } = await api('/api/sequences/validate', { method: 'POST', body: this.def, allow: [400, 422] }).catch((err) => ({ status: err.status || 0, data: { error: err.message } }));
    return this.showAnswer(status, data, 'validate');
  }

  async save() {
    if (!this.readJson()) return null;
    setChildren(this.result);
    setText(this.status, 'Saving…');
    const { status, data } = await api('/api/sequences', { method: 'POST', body: this.def, allow: [400, 422] }).catch((err) => ({ status: err.status || 0, data: { error: err.message } }));
    const ok = this.showAnswer(status, data, 'save');
    if (ok) {
      this.loadedJson = JSON.stringify(this.def);
      setText(this.loadedInfo, `editing from version ${data.version} · ${shortHash(data.hash)}`);
      this.markDirty();
      this.onSaved(data);
    }
    return ok;
  }

  showAnswer(status, data, what) {
    this.status.dataset.outcome = '';
    if ((status === 200 || status === 201) && data && data.ok !== false) {
      this.clearProblems();
      if (what === 'validate') {
        this.status.dataset.outcome = 'valid';
        setText(this.status, `✓ Valid. Content hash ${data.hash}`);
      } else {
        this.status.dataset.outcome = status === 201 ? 'saved' : 'unchanged';
        setText(this.status, status === 201 ? `✓ Saved as version ${data.version}` : `No change: this is version ${data.version} already`);
        setChildren(
          this.result,
          el('dl', { className: 'facts small' }, el('dt', { text: 'version' }), el('dd', { dataset: { saved: 'version' }, text: data.version }), el('dt', { text: 'hash' }), el('dd', { className: 'mono', dataset: { saved: 'hash' }, text: data.hash })),
          el('h3', { text: 'Changes from the previous version' }),
          renderDiff(data.diff, this.def),
        );
      }
      return true;
    }
    if (status === 422 && data && Array.isArray(data.problems)) {
      this.status.dataset.outcome = 'invalid';
      setText(this.status, `✗ ${data.problems.length} problem${data.problems.length === 1 ? '' : 's'}: ${what === 'save' ? 'not saved' : 'fix them before saving'}.`);
      this.showProblems(data.problems);
      return false;
    }
    this.status.dataset.outcome = 'error';
    const problems = data && Array.isArray(data.problems) ? data.problems.map((p) => (typeof p === 'string' ? p : `${p.path}: ${p.message}`)).join('; ') : '';
    setText(this.status, `✗ ${what === 'save' ? 'Not saved' : 'Not validated'}: ${(data && data.error) || `HTTP ${status}`}${problems ? ` (${problems})` : ''}`);
    return false;
  }
}

