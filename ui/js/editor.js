// The sequence editor of the engineer console: a form (editor-form.js) with a field for every
// step setting, groups with their steps nested, and the product variants, and a raw-JSON view of
// the same definition. Validate and Save go to the daemon, which checks the sequence with the
// same rules it applies at start; each problem it reports carries a path
// ("steps[11].steps[3].limit.high", "variants[0].limits.Battery voltage") and is shown next to the
// field of that path. Nothing is saved while a problem remains. A script step shows its module's
// source as stored in the version being edited (the version's `scripts`), read-only.
/* global CSS, structuredClone */
import { confirmSave } from './save-dialog.js';
import { api } from './api.js';
import { el, setChildren, setText, shortHash, show } from './dom.js';
import { SequenceForm } from './editor-form.js';
import { formatPath, nearestPath, parsePath } from './paths.js';
import { scriptChange, scriptDiffModule } from './scripts.js';

/**
 * "steps[11].steps[3].limit.high" -> 'step 12 "Sleep test" › 12.4 "Sleep current"';
 * "variants[0].limits.x" -> 'variant 1 "widget-eu"'; '' for other paths. `definition` names them.
 */
function stepLabel(path, definition) {
  const parts = parsePath(path);
  if (parts[0] === 'variants' && typeof parts[1] === 'number') {
    const v = definition && Array.isArray(definition.variants) ? definition.variants[parts[1]] : null;
    return `variant ${parts[1] + 1}${v && v.name ? ` "${v.name}"` : ''}`;
  }
  const names = [];
  let list = definition && definition.steps;
  let no = '';
  for (let k = 0; parts[k] === 'steps' && typeof parts[k + 1] === 'number'; k += 2) {
    const step = Array.isArray(list) ? list[parts[k + 1]] : null;
    no = no ? `${no}.${parts[k + 1] + 1}` : `${parts[k + 1] + 1}`;
    names.push(`${names.length ? '' : 'step '}${no}${step && step.name ? ` "${step.name}"` : ''}`);
    list = step && step.steps;
  }
  return names.join(' › ');
}

/** A script module's entry: what happened to it; its values are its source's SHA-256 (12 digits). */
const SCRIPT_CHANGE = { new: 'script module added', removed: 'script module removed', changed: 'script module source changed' };

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
      diff.map((d) => {
        const script = scriptDiffModule(d.path) !== null;
        const label = script ? SCRIPT_CHANGE[scriptChange(d)] : stepLabel(d.path, definition);
        const value = (v) => (script ? `source sha256 ${v}…` : show(v));
        return el(
          'tr',
          { dataset: { diffPath: d.path, ...(script ? { scriptChange: scriptChange(d) } : {}) } },
          el('td', {}, el('span', { className: 'mono', text: d.path }), label ? el('span', { className: 'muted', text: ` · ${label}` }) : null),
          el('td', { className: 'mono before', text: 'before' in d ? value(d.before) : '(absent)' }),
          el('td', { className: 'mono after', text: 'after' in d ? value(d.after) : '(absent)' }),
        );
      }),
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
    this.loadedMeta = {};
    this.mode = 'form';
    this.instruments = [];
    this.fieldByPath = new Map();
    this.lastProblems = null;
    this.builder = new SequenceForm({
      onEdit: (path) => {
        this.clearFieldProblem(path);
        this.markDirty();
      },
      onRebuild: () => {
        this.renderForm();
        this.markDirty();
      },
    });
    this.form = el('div', { className: 'editor-form' });
    this.json = el('textarea', { className: 'editor-json mono', spellcheck: false, rows: 30, attrs: { 'aria-label': 'sequence JSON', 'data-path': '' } });
    this.jsonProblem = el('div', { className: 'field-problem', attrs: { role: 'alert' } });
    this.jsonWrap = el('div', { className: 'editor-json-wrap', hidden: true }, this.json, this.jsonProblem);
    this.status = el('div', { className: 'editor-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    this.summary = el('ul', { className: 'problem-summary', attrs: { 'aria-label': 'problems' } });
    this.result = el('div', { className: 'editor-result' });
    this.dirty = el('span', { className: 'dirty-badge', text: 'unsaved changes', hidden: true });
    this.loadedInfo = el('span', { className: 'loaded-info mono' });
    this.modeButton = el('button', { type: 'button', text: 'Raw JSON', dataset: { action: 'mode' }, on: { click: () => this.toggleMode() } });
    const validate = el('button', { type: 'button', className: 'primary', text: 'Validate', dataset: { action: 'validate' }, on: { click: () => this.validate() } });
    const save = el('button', { type: 'button', className: 'primary', text: 'Save as new version', dataset: { action: 'save' }, on: { click: () => this.save() } });
    const revert = el('button', { type: 'button', text: 'Discard changes', dataset: { action: 'discard' }, on: { click: () => this.revert() } });
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

  /**
   * Loads a definition (from GET /api/sequences/:hash) into the form. `meta`: the version's
   * number, hash and script sources ({modulePath: source}, its `scripts`).
   */
  load(definition, meta = {}) {
    this.def = structuredClone(definition);
    this.loadedJson = JSON.stringify(definition);
    this.loadedMeta = meta;
    this.builder.setScripts(meta.scripts);
    setText(this.loadedInfo, meta.version ? `editing from version ${meta.version} · ${shortHash(meta.hash)}` : '');
    this.clearProblems();
    setChildren(this.result);
    setText(this.status, '');
    this.renderForm();
    this.json.value = JSON.stringify(this.def, null, 2);
    this.markDirty();
  }

  /** The station's instruments ({id, kind, model}, from /api/health): the choices of instrument fields. */
  setInstruments(instruments) {
    this.instruments = Array.isArray(instruments) ? instruments : [];
    this.builder.setInstruments(this.instruments);
  }

  revert() {
    if (this.loadedJson) this.load(JSON.parse(this.loadedJson), this.loadedMeta);
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

  renderForm() {
    if (!this.def || typeof this.def !== 'object' || Array.isArray(this.def)) this.def = {};
    setChildren(this.form, this.builder.render(this.def, this.instruments));
    this.fieldByPath = this.builder.fieldByPath;
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
    const input = wrap.querySelector(':scope > [data-path]');
    if (input) input.removeAttribute('aria-invalid');
  }

  /** The registered path a problem belongs at: itself, or the nearest enclosing part of the form. */
  placeOf(path) {
    if (this.fieldByPath.has(path)) return path;
    return nearestPath(path, (c) => this.fieldByPath.has(c)) ?? '';
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
      const at = this.placeOf(path);
      const wrap = this.fieldByPath.get(at);
      if (wrap) {
        wrap.classList.add('has-problem');
        // A field has one slot; a fieldset has one per path it stands for. Never a nested one.
        const slot = wrap.matches('.field')
          ? wrap.querySelector(':scope > .field-problem')
          : wrap.querySelector(`:scope > .field-problem[data-problem-for="${CSS.escape(at)}"]`) || wrap.querySelector(':scope > .field-problem');
        if (slot) slot.textContent = slot.textContent ? `${slot.textContent}; ${p.message}` : p.message;
        const input = wrap.matches('.field') ? wrap.querySelector(':scope > [data-path]') : null;
        if (input) input.setAttribute('aria-invalid', 'true');
      }
      const label = stepLabel(path, this.def);
      items.push(
        el(
          'li',
          {},
          el('button', {
            type: 'button',
            className: 'linklike',
            text: `${path || '(sequence)'}${label ? ` (${label})` : ''}: ${p.message}`,
            on: {
              click: () => {
                const w = this.fieldByPath.get(at);
                const f = w && (w.querySelector('[data-path]') || w);
                if (f) {
                  f.scrollIntoView({ block: 'center' });
                  if (f.focus) f.focus();
                }
              },
            },
          }),
        ),
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
    // Checked first: a sequence with a problem is never offered for saving.
    setText(this.status, 'Checking…');
    const check = await api('/api/sequences/validate', { method: 'POST', body: this.def, allow: [400, 422] }).catch((err) => ({ status: err.status || 0, data: { error: err.message } }));
    if (check.status !== 200 || !check.data || check.data.ok === false) return this.showAnswer(check.status, check.data, 'save');
    // It goes live on every slot: confirmed, with a change note (save-dialog.js).
    const note = await confirmSave(this.def && this.def.name ? this.def.name : 'the sequence');
    if (note === null) {
      this.status.dataset.outcome = 'cancelled';
      setText(this.status, 'Not saved: cancelled.');
      return false;
    }
    setText(this.status, 'Saving…');
    const { status, data } = await api('/api/sequences', { method: 'POST', body: { definition: this.def, note }, allow: [400, 422] }).catch((err) => ({
      status: err.status || 0,
      data: { error: err.message },
    }));
    const ok = this.showAnswer(status, data, 'save');
    if (ok) {
      this.loadedJson = JSON.stringify(this.def);
      setText(this.loadedInfo, `editing from version ${data.version} · ${shortHash(data.hash)}`);
      this.loadedMeta = { version: data.version, hash: data.hash, scripts: this.loadedMeta.scripts };
      this.markDirty();
      this.onSaved(data);
      await this.loadScriptsOf(data.hash);
    }
    return ok;
  }

  /** The script sources saved with version `hash` (read from the station's folder at save), now the edited version's. */
  async loadScriptsOf(hash) {
    try {
      const { data } = await api(`/api/sequences/${encodeURIComponent(hash)}`);
      if (this.loadedMeta.hash !== hash) return; // another version was loaded meanwhile
      this.loadedMeta = { ...this.loadedMeta, scripts: data.scripts };
      this.builder.setScripts(data.scripts);
    } catch {
      // Kept as they were: the form still edits; the versions tab shows the saved sources.
    }
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
          el(
            'dl',
            { className: 'facts small' },
            el('dt', { text: 'version' }),
            el('dd', { dataset: { saved: 'version' }, text: data.version }),
            el('dt', { text: 'hash' }),
            el('dd', { className: 'mono', dataset: { saved: 'hash' }, text: data.hash }),
            data.by ? [el('dt', { text: 'saved by' }), el('dd', { dataset: { saved: 'by' }, text: data.by })] : null,
            data.note ? [el('dt', { text: 'change note' }), el('dd', { dataset: { saved: 'note' }, text: data.note })] : null,
          ),
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
