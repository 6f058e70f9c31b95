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
    el('summary', {}, el('span', { className: 'mono script-path', text: modulePath }), el('span', { className: 'muted script-lines', text: ` · ${linesText(source)}` }), note ? el('span', { className: 'muted', text: ` · ${note}` }) : null),
    el('pre', { className: 'script-text mono', text: source }),
  );
}

/**
 * A version's "Scripts" section: every module with its source, read-only and collapsed.
 * `definition` names the steps that run each entry; a module no step names is imported by one.
 * With `previous` (the previous version's scripts), each module says whether it changed: the
 * definition's diff does not see a change to a script.
 */
export function renderScripts(scripts, definition = null, previous = null) {
  const entries = scriptEntries(scripts);
  const before = previous ? new Map(scriptEntries(previous)) : null;
  const change = (modulePath, source) => (!before ? null : !before.has(modulePath) ? 'new in this version' : before.get(modulePath) !== source ? 'changed since the previous version' : null);
  const gone = before ? [...before.keys()].filter((m) => !entries.some(([e]) => e === m)) : [];
  const runBy = new Map();
  for (const s of allSteps(definition && definition.steps)) {
    if (s.type === 'script' && typeof s.module === 'string') runBy.set(s.module, [...(runBy.get(s.module) || []), s.name]);
  }
  const note = (modulePath, source) =>
    [runBy.has(modulePath) ? `run by ${runBy.get(modulePath).map((n) => `"${n}"`).join(', ')}` : 'imported by a script', change(modulePath, source)].filter(Boolean).join(' · ');
  return el(
    'section',
    { className: 'version-scripts', attrs: { 'aria-label': 'Scripts' } },
    el('h4', { text: `Scripts (${entries.length})` }),
    entries.length === 0
      ? el('p', { className: 'muted', text: 'This version has no script modules.' })
      : [
          el('p', { className: 'muted', text: 'The script modules and the local modules they import, as saved with this version (read-only).' }),
          ...entries.map(([modulePath, source]) => {
            const node = sourceDetails(modulePath, source, note(modulePath, source));
            const changed = change(modulePath, source);
            if (changed) node.dataset.change = changed.startsWith('new') ? 'new' : 'changed';
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
