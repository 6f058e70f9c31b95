// The script modules of a sequence version, shown read-only: GET /api/sequences/:hash gives them as
// `scripts`, {modulePath: sourceText}, the entries its script steps name and the local modules they
// import, as saved with the version (a stored version runs those, whatever is on disk now). A
// source is an engineer's file: it goes into the page as text (textContent), never as markup.
import { el } from './dom.js';
import { allSteps } from './editor-kinds.js';

/** What the step form shows for a module the version being edited has no source of. */
export const NOT_IN_VERSION = 'not in this version: saved with the sequence, the station reads it from its sequences folder';

/** Lines of a source text: "a\nb" and "a\nb\n" are 2; "" is 0. */
export function lineCount(source) {
  if (typeof source !== 'string' || source === '') return 0;
  const n = source.split('\n').length;
  return source.endsWith('\n') ? n - 1 : n;
}

function linesText(source) {
  const n = lineCount(source);
  return `${n} line${n === 1 ? '' : 's'}`;
}

/**
 * The module a version diff's entry is about, or null for an entry of the definition: the daemon
 * names a script module's entry scripts["<module path>"] (before and after: the first 12 hex digits
 * of its source's SHA-256; no before: added; no after: removed).
 */
export function scriptDiffModule(path) {
  const m = /^scripts\[("(?:[^"\\]|\\.)*")\]$/.exec(typeof path === 'string' ? path : '');
  if (!m) return null;
  try {
    return JSON.parse(m[1]);
  } catch {
    return null;
  }
}

/** What a script module's diff entry says happened to it. */
export function scriptChange(entry) {
  return !('before' in entry) ? 'new' : !('after' in entry) ? 'removed' : 'changed';
}

/** A version's sources as [modulePath, source] pairs, in the order the daemon read them. */
export function scriptEntries(scripts) {
  if (!scripts || typeof scripts !== 'object' || Array.isArray(scripts)) return [];
  return Object.entries(scripts).filter(([, source]) => typeof source === 'string');
}

/** One module, collapsed: its path and length as the summary, its source in a <pre>. */
function sourceDetails(modulePath, source, note) {
  return el(
    'details',
    { className: 'script-source', dataset: { module: modulePath } },
    el(
      'summary',
      {},
      el('span', { className: 'mono script-path', text: modulePath }),
      el('span', { className: 'muted script-lines', text: ` · ${linesText(source)}` }),
      note ? el('span', { className: 'muted', text: ` · ${note}` }) : null,
    ),
    el('pre', { className: 'script-text mono', text: source }),
  );
}

/**
 * A version's "Scripts" section: every module with its source, read-only and collapsed.
 * `definition` names the steps that run each entry; a module no step names is imported by one.
 * With `diff` (the version's diff against the one before), each module says whether it is new or
 * changed, and the modules the previous version had and this one has not are listed.
 */
export function renderScripts(scripts, definition = null, diff = null) {
  const entries = scriptEntries(scripts);
  const changes = new Map();
  for (const d of Array.isArray(diff) ? diff : []) {
    const modulePath = d && scriptDiffModule(d.path);
    if (modulePath !== null) changes.set(modulePath, scriptChange(d));
  }
  const change = (modulePath) => ({ new: 'new in this version', changed: 'changed since the previous version' })[changes.get(modulePath)] || null;
  const gone = [...changes].filter(([, c]) => c === 'removed').map(([m]) => m);
  const runBy = new Map();
  for (const s of allSteps(definition && definition.steps)) {
    if (s.type === 'script' && typeof s.module === 'string') runBy.set(s.module, [...(runBy.get(s.module) || []), s.name]);
  }
  const note = (modulePath) =>
    [
      runBy.has(modulePath)
        ? `run by ${runBy
            .get(modulePath)
            .map((n) => `"${n}"`)
            .join(', ')}`
        : 'imported by a script',
      change(modulePath),
    ]
      .filter(Boolean)
      .join(' · ');
  return el(
    'section',
    { className: 'version-scripts', attrs: { 'aria-label': 'Scripts' } },
    el('h4', { text: `Scripts (${entries.length})` }),
    entries.length === 0
      ? el('p', { className: 'muted', text: 'This version has no script modules.' })
      : [
          el('p', { className: 'muted', text: 'The script modules and the local modules they import, as saved with this version (read-only).' }),
          ...entries.map(([modulePath, source]) => {
            const node = sourceDetails(modulePath, source, note(modulePath));
            const changed = changes.get(modulePath);
            if (changed === 'new' || changed === 'changed') node.dataset.change = changed;
            return node;
          }),
        ],
    gone.length ? el('p', { className: 'muted scripts-gone', text: `No longer in this version: ${gone.join(', ')}` }) : null,
  );
}

/** The step form's view of a script step's module: its source in `scripts`, or why there is none. */
export function moduleSourceView(modulePath, scripts) {
  const source = typeof modulePath === 'string' ? scriptEntries(scripts).find(([m]) => m === modulePath) : undefined;
  if (!source) return el('p', { className: 'muted script-missing', text: typeof modulePath === 'string' && modulePath !== '' ? NOT_IN_VERSION : 'no module named yet' });
  return sourceDetails(source[0], source[1], 'as stored in the version being edited');
}
