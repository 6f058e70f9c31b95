// The sequence editor's form: one fieldset per step (a group's steps nested inside it), a field
// for every setting the editor knows (editor-kinds.js), and the sequence's own settings. Every
// input carries the path of its value in the definition (data-path="steps[11].steps[3].limit.high")
// and is registered under that path, so a problem the daemon reports lands at its field. The form
// edits the definition in place, key by key: a setting it has no field for is never touched, and
// is shown as kept. A script step shows its module's source as stored in the version being edited
// (read-only, scripts.js).
/* global structuredClone */
import { el, setChildren } from './dom.js';
import { ruleInWords } from './rule-words.js';
import {
  ADDABLE,
  ADDABLE_IN_GROUP,
  DUT_VALUE_FIELDS,
  LIMIT_FIELDS,
  NEW_STEP,
  NOT_IN_A_GROUP,
  SOURCE_FIELDS,
  STEP_FIELDS,
  STEP_TYPES,
  SUPPLY_FUNCTIONS,
  allSteps,
  editedKeys,
  newSource,
} from './editor-kinds.js';
import { variantsFieldset } from './editor-variants.js';
import { moduleSourceView } from './scripts.js';
import { formatPath, getAt, setAt } from './paths.js';

const SEQUENCE_KEYS = new Set(['name', 'description', 'stopOnFailure', 'defaultTimeoutMs', 'failCommand', 'steps', 'variants']);

/** Text in an input -> the value in the definition. Unparseable numbers stay text so the server names them. */
function parseField(kind, text) {
  if (text.trim() === '') return undefined;
  if (kind === 'int' || kind === 'num') {
    const n = Number(text.trim());
    return Number.isFinite(n) ? n : text;
  }
  if (kind === 'value') {
    const n = Number(text.trim());
    return Number.isFinite(n) && /^-?[0-9.eE+-]+$/.test(text.trim()) ? n : text;
  }
  if (kind === 'list')
    return text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (kind === 'words') return parseWords(text);
  if (kind === 'lines') {
    const lines = text
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    return lines.length ? lines : undefined;
  }
  return text;
}

function fieldText(kind, value) {
  if (value === undefined || value === null) return '';
  if (kind === 'list') return Array.isArray(value) ? value.join(', ') : String(value);
  if (kind === 'lines') return Array.isArray(value) ? value.join('\n') : String(value);
  if (kind === 'words' && typeof value === 'object') return wordsText(value);
  return String(value);
}

/** A translation line of an operator text: "de: Akku prüfen", "zh-CN: 电池检查". */
const WORDS_LINE = /^([a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*):\s*(\S.*)$/;

/**
 * Operator words as typed (docs/configuration.md, "Languages"): one line is the text for every
 * language; several lines are the text per language, "de: ..." each, the first line without a tag
 * being the English. Lines that are not such a list stay one text (the daemon checks it).
 */
function parseWords(text) {
  const lines = text
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (lines.length === 0) return undefined;
  if (lines.length === 1) return lines[0];
  const out = {};
  for (const [i, line] of lines.entries()) {
    const m = WORDS_LINE.exec(line);
    if (m) out[m[1]] = m[2].trim();
    else if (i === 0) out.en = line;
    else return lines.join(' ');
  }
  return out;
}

/** Operator words given per language -> a line per language ("en" first, untagged). */
function wordsText(value) {
  const entries = Object.entries(value);
  const en = entries.find(([k]) => k === 'en');
  return [...(en ? [en[1]] : []), ...entries.filter(([k]) => k !== 'en').map(([k, v]) => `${k}: ${v}`)].join('\n');
}

/** How a measure step gets its value: '' (a DUT command), 'dmm' or 'supply'. */
function sourceMode(step) {
  if (!step.source || typeof step.source !== 'object') return '';
  return SUPPLY_FUNCTIONS.has(step.source.function) ? 'supply' : 'dmm';
}

export class SequenceForm {
  /**
   * onEdit(path): a field's value changed (the definition is already updated).
   * onRebuild(): the shape changed (a step added, moved, retyped...): render again.
   */
  constructor({ onEdit, onRebuild }) {
    this.onEdit = onEdit;
    this.onRebuild = onRebuild;
    this.def = null;
    this.instruments = [];
    this.datalist = null;
    this.fieldByPath = new Map();
    this.idSeq = 0;
    /** The script sources of the version being edited ({modulePath: source}). */
    this.scripts = {};
    /** Per field path, what to redo after its value changes (a script step's source view). */
    this.afterEdit = new Map();
  }

  /** The form for `def` (edited in place); `instruments` ({id, kind}) feed the instrument fields' choices. */
  render(def, instruments = []) {
    this.def = def;
    this.instruments = instruments;
    this.fieldByPath = new Map();
    this.afterEdit = new Map();
    const d = def || {};
    const head = el(
      'fieldset',
      { className: 'seq-head', dataset: { fieldPath: '' } },
      el('legend', { text: 'Sequence' }),
      this.field(['name'], 'text', 'name', d.name),
      this.field(['description'], 'textarea', 'description', d.description),
      this.field(['failCommand'], 'text', 'fail command ({code}: the failing step; default FAIL {code})', d.failCommand),
      this.field(['stopOnFailure'], 'bool', 'stop at the first failing step', d.stopOnFailure ?? true),
      this.field(['defaultTimeoutMs'], 'int', 'default step timeout (ms)', d.defaultTimeoutMs),
      this.otherKeys([], d, SEQUENCE_KEYS),
      this.problemSlot(''),
    );
    this.register('', head);
    this.datalist = el('datalist', { id: 'instrument-ids' });
    this.setInstruments(instruments);
    return el('div', {}, head, this.stepList(['steps'], Array.isArray(d.steps) ? d.steps : [], null), variantsFieldset(this), this.datalist);
  }

  /** New choices for the instrument fields, without rendering again (a person may be typing). */
  setInstruments(instruments) {
    this.instruments = instruments;
    if (this.datalist)
      setChildren(
        this.datalist,
        instruments.map((i) => el('option', { value: i.id, text: `${i.kind} ${i.model || ''}`.trim() })),
      );
  }

  /** The script sources of the version being edited: the script steps' views show them. */
  setScripts(scripts) {
    this.scripts = scripts && typeof scripts === 'object' && !Array.isArray(scripts) ? scripts : {};
    for (const [path, redo] of this.afterEdit) if (path.endsWith('.module')) redo();
  }

  register(path, node) {
    if (!this.fieldByPath.has(path)) this.fieldByPath.set(path, node);
  }

  /** A structural change: apply it to the definition, then render again. */
  rebuild(change) {
    change();
    this.onRebuild();
  }

  // ---- steps ----

  /** A list of steps at `listParts` (the sequence's, or a group's). `parentNo` numbers them ("12.3"). */
  stepList(listParts, steps, parentNo) {
    const listPath = formatPath(listParts);
    const inGroup = parentNo !== null;
    const choices = inGroup ? ADDABLE_IN_GROUP : ADDABLE;
    const addType = el(
      'select',
      { attrs: { 'aria-label': inGroup ? `type of the new step in group ${parentNo}` : 'type of the new step' }, dataset: { addTo: listPath } },
      choices.map((t) => el('option', { value: t, text: t })),
    );
    const add = el(
      'div',
      { className: 'add-step' },
      addType,
      el('button', {
        type: 'button',
        text: inGroup ? `+ Add step to group ${parentNo}` : '+ Add step (before the last)',
        dataset: { addStep: listPath },
        on: { click: () => this.addStep(listParts, addType.value, inGroup) },
      }),
    );
    const wrap = el(
      'div',
      { className: inGroup ? 'steps inner-steps' : 'steps', dataset: { fieldPath: listPath } },
      this.problemSlot(listPath),
      steps.map((s, i) => this.stepFieldset(listParts, i, steps.length, parentNo)),
      add,
    );
    this.register(listPath, wrap);
    return wrap;
  }

  stepFieldset(listParts, i, count, parentNo) {
    const steps = getAt(this.def, listParts);
    const step = steps[i] && typeof steps[i] === 'object' ? steps[i] : {};
    const parts = [...listParts, i];
    const path = formatPath(parts);
    const no = parentNo === null ? `${i + 1}` : `${parentNo}.${i + 1}`;
    const type = step.type;
    const types = parentNo === null ? STEP_TYPES : STEP_TYPES.filter((t) => !NOT_IN_A_GROUP.has(t));
    const options = types.includes(type) ? types : [String(type), ...types];
    const typeSelect = el(
      'select',
      { dataset: { path: formatPath([...parts, 'type']) }, attrs: { 'aria-label': `step ${no} type` } },
      options.map((t) => el('option', { value: t, text: t, selected: t === type })),
    );
    typeSelect.addEventListener('change', () =>
      this.rebuild(() => {
        steps[i] = { ...structuredClone(NEW_STEP[typeSelect.value]), name: step.name };
      }),
    );
    const fields = (STEP_FIELDS[type] || [])
      .filter(([, , , shown]) => !shown || shown(step))
      .map(([key, kind, label]) => {
        const keyParts = Array.isArray(key) ? key : [key];
        if (kind === 'limit') return this.limitFieldset([...parts, 'limit'], step.limit, step, { optional: true });
        if (kind === 'source') return this.sourceFieldset(parts, step);
        if (kind === 'reads') return this.readsFieldset(parts, step);
        if (kind === 'steps')
          return el(
            'div',
            { className: 'group-steps' },
            el('div', { className: 'group-steps-title muted', text: `steps of group ${no}, run in order; the group runs again until they all pass` }),
            this.stepList([...parts, 'steps'], Array.isArray(step.steps) ? step.steps : [], no),
          );
        return this.field([...parts, ...keyParts], kind, label, getAt(step, keyParts));
      });
    const fieldset = el(
      'fieldset',
      { className: `step step-${type}${parentNo === null ? '' : ' inner-step'}`, dataset: { fieldPath: path, stepNo: no } },
      el(
        'legend',
        {},
        el('span', { className: 'step-no', text: `${no}.` }),
        ' ',
        typeSelect,
        el(
          'span',
          { className: 'step-tools' },
          el('button', { type: 'button', text: '↑', disabled: i === 0, attrs: { 'aria-label': `move step ${no} up` }, on: { click: () => this.moveStep(listParts, i, -1) } }),
          el('button', { type: 'button', text: '↓', disabled: i === count - 1, attrs: { 'aria-label': `move step ${no} down` }, on: { click: () => this.moveStep(listParts, i, 1) } }),
          el('button', { type: 'button', text: '✗ remove', attrs: { 'aria-label': `remove step ${no}` }, on: { click: () => this.rebuild(() => steps.splice(i, 1)) } }),
        ),
      ),
      this.field([...parts, 'name'], 'text', 'name', step.name),
      fields,
      this.operatorFields(parts),
      type === 'script' ? this.scriptView(parts) : null,
      this.otherKeys(parts, step, STEP_FIELDS[type] ? editedKeys(type) : new Set(['type', 'name'])),
      this.problemSlot(path),
      this.problemSlot(formatPath([...parts, 'type'])),
    );
    this.register(path, fieldset);
    this.register(formatPath([...parts, 'type']), fieldset);
    return fieldset;
  }

  /**
   * The words operators see for this step (any kind): operatorText instead of its name, and the
   * next action when a unit fails here (onFail). Choosing no action removes onFail.
   */
  operatorFields(parts) {
    const actionPath = [...parts, 'onFail', 'action'];
    this.afterEdit.set(formatPath(actionPath), () => {
      if (!getAt(this.def, actionPath)) setAt(this.def, [...parts, 'onFail'], undefined);
    });
    return el(
      'div',
      { className: 'operator-words' },
      this.field([...parts, 'operatorText'], 'words', 'operator words (shown instead of the name; a line per language: "de: ...")', getAt(this.def, [...parts, 'operatorText'])),
      this.field(actionPath, 'select:reject-bin|retest|call-engineer', 'when a unit fails here (onFail)', getAt(this.def, actionPath)),
      this.field([...parts, 'onFail', 'text'], 'words', 'words for that action (a line per language: "de: ...")', getAt(this.def, [...parts, 'onFail', 'text'])),
    );
  }

  addStep(listParts, type, atEnd) {
    this.rebuild(() => {
      let steps = getAt(this.def, listParts);
      if (!Array.isArray(steps)) {
        steps = [];
        setAt(this.def, listParts, steps);
      }
      const names = new Set(allSteps(this.def.steps).map((s) => s.name));
      let n = steps.length + 1;
      while (names.has(`New ${type} ${n}`)) n++;
      const step = { ...structuredClone(NEW_STEP[type]), name: `New ${type} ${n}` };
      if (type === 'group') step.steps[0].name = `New ${type} ${n}: wait`;
      steps.splice(atEnd ? steps.length : Math.max(0, steps.length - 1), 0, step);
    });
  }

  moveStep(listParts, i, by) {
    const steps = getAt(this.def, listParts);
    const j = i + by;
    if (j < 0 || j >= steps.length) return;
    this.rebuild(() => {
      [steps[i], steps[j]] = [steps[j], steps[i]];
    });
  }

  /** A script step's module source as stored in the version being edited, following its module field. */
  scriptView(stepParts) {
    const modulePath = formatPath([...stepParts, 'module']);
    const view = el('div', { className: 'script-view', dataset: { scriptFor: formatPath(stepParts) } });
    const show = () => {
      const module = getAt(this.def, [...stepParts, 'module']);
      view.dataset.module = typeof module === 'string' ? module : '';
      setChildren(view, el('div', { className: 'script-view-title muted', text: 'module source (read-only)' }), moduleSourceView(module, this.scripts));
    };
    show();
    this.afterEdit.set(modulePath, show);
    return view;
  }

  /** Where a measure step's value comes from: the DUT (command, capture) or an instrument (source). */
  sourceFieldset(stepParts, step) {
    const parts = [...stepParts, 'source'];
    const path = formatPath(parts);
    const mode = sourceMode(step);
    const select = el(
      'select',
      { dataset: { sourceFor: formatPath(stepParts) }, attrs: { 'aria-label': 'value from' } },
      [
        ['', 'the DUT (a command)'],
        ['dmm', 'a DMM'],
        ['supply', 'a supply channel'],
      ].map(([v, t]) => el('option', { value: v, text: t, selected: v === mode })),
    );
    select.addEventListener('change', () =>
      this.rebuild(() => {
        if (select.value === '') {
          delete step.source;
          step.command ??= NEW_STEP.measure.command;
          step.capture ??= NEW_STEP.measure.capture;
        } else {
          // An instrument gives a number itself: no command, no capture.
          delete step.command;
          delete step.capture;
          delete step.as;
          step.source = newSource(select.value, this.instruments);
        }
      }),
    );
    // With a source, a DUT setting still there is a conflict the daemon names: shown, to clear.
    const dutFields = DUT_VALUE_FIELDS.filter(([key]) => mode === '' || (step[key] !== undefined && !(key === 'as' && step.as === 'number')));
    const fields = [
      ...(mode === '' ? [] : SOURCE_FIELDS[mode].map(([key, kind, label]) => this.field([...parts, key], kind, label, step.source[key]))),
      ...dutFields.map(([key, kind, label]) => this.field([...stepParts, key], kind, label, step[key])),
    ];
    const known = new Set(SOURCE_FIELDS[mode || 'dmm'].map(([k]) => k));
    const fs = el(
      'fieldset',
      { className: 'source', dataset: { fieldPath: path } },
      el('legend', {}, 'value from ', select),
      fields,
      mode ? this.otherKeys(parts, step.source, known) : null,
      this.problemSlot(path),
    );
    this.register(path, fs);
    return fs;
  }

  /** The identify step's `read`: a field, a command and a capture per row. */
  readsFieldset(stepParts, step) {
    const parts = [...stepParts, 'read'];
    const path = formatPath(parts);
    const rows = Array.isArray(step.read) ? step.read : [];
    const fs = el(
      'fieldset',
      { className: 'reads', dataset: { fieldPath: path } },
      el('legend', { text: 'fields read one command each' }),
      rows.map((r, j) => {
        const rowParts = [...parts, j];
        const row = el(
          'div',
          { className: 'read-row', dataset: { fieldPath: formatPath(rowParts) } },
          this.field([...rowParts, 'field'], 'text', 'field', r && r.field),
          this.field([...rowParts, 'command'], 'text', 'command', r && r.command),
          this.field([...rowParts, 'capture'], 'text', 'capture (regex)', r && r.capture),
          el('button', {
            type: 'button',
            text: '✗',
            attrs: { 'aria-label': `remove read ${j + 1}` },
            on: {
              click: () =>
                this.rebuild(() => {
                  rows.splice(j, 1);
                  if (rows.length === 0) delete step.read;
                }),
            },
          }),
          this.problemSlot(formatPath(rowParts)),
        );
        this.register(formatPath(rowParts), row);
        return row;
      }),
      el(
        'div',
        {},
        el('button', {
          type: 'button',
          text: '+ Add a field to read',
          dataset: { addRead: formatPath(stepParts) },
          on: {
            click: () =>
              this.rebuild(() => {
                step.read = [...rows, { field: 'imei', command: 'AT+CGSN', capture: '^([0-9]{15})$' }];
              }),
          },
        }),
      ),
      this.problemSlot(path),
    );
    this.register(path, fs);
    return fs;
  }

  // ---- limits ----

  /**
   * The limit widget, for a step's limit or a variant's. `step` says how the value is read (a new
   * equals limit compares text or a number); `optional` offers "(no limit)"; `legend` (text or
   * nodes) heads it, `tools` follow the kind.
   */
  limitFieldset(parts, limit, step, { optional = true, legend = 'limit ', name = 'limit', tools = null } = {}) {
    const path = formatPath(parts);
    const kind = limit && typeof limit === 'object' ? limit.kind : '';
    const kinds = optional ? ['', 'range', 'equals', 'regex'] : ['range', 'equals', 'regex'];
    const kindSelect = el(
      'select',
      { dataset: { path: formatPath([...parts, 'kind']) }, attrs: { 'aria-label': `${name} kind` } },
      kinds.map((k) => el('option', { value: k, text: k || '(no limit)', selected: k === kind })),
    );
    kindSelect.addEventListener('change', () => {
      const k = kindSelect.value;
      const asText = step && step.as === 'string';
      this.rebuild(() =>
        setAt(this.def, parts, k === '' ? undefined : k === 'range' ? { kind: 'range', low: 0 } : k === 'equals' ? { kind: 'equals', value: asText ? 'PASS' : 0 } : { kind: 'regex', pattern: '^.+$' }),
      );
    });
    const fields = (LIMIT_FIELDS[kind] || []).map(([key, k, label]) => this.field([...parts, key], k, label, limit[key]));
    const fs = el(
      'fieldset',
      { className: 'limit', dataset: { fieldPath: path } },
      el('legend', {}, legend, kindSelect, tools),
      fields,
      this.problemSlot(path),
      this.problemSlot(formatPath([...parts, 'kind'])),
    );
    this.register(path, fs);
    this.register(formatPath([...parts, 'kind']), fs);
    return fs;
  }

  // ---- fields ----

  field(parts, kind, label, value) {
    const path = formatPath(parts);
    const id = `f-${++this.idSeq}`;
    let input;
    if (kind === 'bool' || kind === 'no-command') {
      input = el('input', { type: 'checkbox', id, checked: kind === 'bool' ? value === true : value === null });
    } else if (kind === 'textarea' || kind === 'lines' || kind === 'words') {
      const rows = kind === 'lines' ? Math.max(2, (Array.isArray(value) ? value.length : 0) + 1) : kind === 'words' ? Math.max(1, fieldText(kind, value).split('\n').length) : 2;
      input = el('textarea', { id, rows, value: fieldText(kind, value), spellcheck: false });
    } else if (kind.startsWith('select:') || kind.startsWith('choice:')) {
      const choices = kind.slice(7).split('|');
      const options = value !== undefined && value !== null && !choices.includes(String(value)) ? [String(value), ...choices] : choices;
      input = el(
        'select',
        { id },
        kind.startsWith('select:') ? el('option', { value: '', text: '(default)' }) : null,
        options.map((o) => el('option', { value: o, text: o, selected: o === String(value) })),
      );
    } else {
      input = el('input', {
        id,
        type: 'text',
        value: fieldText(kind, value),
        spellcheck: false,
        inputMode: kind === 'int' ? 'numeric' : kind === 'num' ? 'decimal' : 'text',
        attrs: { list: kind === 'instrument' ? 'instrument-ids' : null },
      });
    }
    input.dataset.path = kind === 'no-command' ? `${path}:none` : path;
    const problem = el('div', { className: 'field-problem', attrs: { role: 'alert' } });
    const wrap = el(
      'div',
      { className: `field field-${kind === 'no-command' ? 'bool' : kind.split(':')[0]}`, dataset: { fieldPath: path } },
      el('label', { htmlFor: id, text: label }),
      input,
      problem,
    );
    const checkbox = kind === 'bool' || kind === 'no-command';
    input.addEventListener(checkbox || input.tagName === 'SELECT' ? 'change' : 'input', () => {
      if (kind === 'no-command') {
        this.rebuild(() => setAt(this.def, parts, input.checked ? null : undefined));
        return;
      }
      const v = checkbox ? input.checked : input.tagName === 'SELECT' ? input.value || undefined : parseField(kind, input.value);
      setAt(this.def, parts, v);
      const redo = this.afterEdit.get(path);
      if (redo) redo();
      this.onEdit(path);
    });
    // The identify command's text field (when shown) is where a problem with "command" lands.
    this.register(path, wrap);
    return wrap;
  }

  /** Settings of `obj` the form has no field for: shown, kept as they are, and named in problems. */
  otherKeys(parts, obj, known) {
    if (!obj || typeof obj !== 'object') return null;
    const keys = Object.keys(obj).filter((k) => !known.has(k));
    if (keys.length === 0) return null;
    return el(
      'div',
      { className: 'other-keys' },
      keys.map((k) => {
        const path = formatPath([...parts, k]);
        const wrap = el(
          'div',
          { className: 'field field-other', dataset: { fieldPath: path, otherKey: k } },
          el('label', { text: `${k} (kept as it is; edit it in Raw JSON)` }),
          el('code', { className: 'mono', text: JSON.stringify(obj[k]) }),
          words(k, obj[k], obj.type),
          el('div', { className: 'field-problem', attrs: { role: 'alert' } }),
        );
        this.register(path, wrap);
        return wrap;
      }),
    );
  }

  problemSlot(path) {
    return el('div', { className: 'field-problem', attrs: { role: 'alert' }, dataset: { problemFor: path } });
  }
}

/** A setting in words beside its JSON (rule-words.js), or nothing. */
function words(key, value, stepType) {
  const text = ruleInWords(key, value, stepType);
  return text ? el('p', { className: 'rule-words', dataset: { ruleFor: key }, text }) : null;
}
