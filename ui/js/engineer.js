// The engineer console (/engineer.html), behind an engineer login: the sequence editor and its
// versions with diffs and script sources, device history and run detail, yield per step (by sequence version, all runs
// or one product variant's), measurements with their Cpk, histograms and control charts (analytics.js), the bench instruments and their calibration overrides, the alarms (shelving, with a
// reason and an end, and the history), the uplink's sinks and dead letters, CSV export of records, and
// simulated faults for simulated slots. An operator session gets a refusal and no data; the
// daemon enforces the same on every route.
/* global URLSearchParams */
import { AlarmsPanel } from './alarms-console.js';
import { AnalyticsPanel } from './analytics.js';
import { api, getSession, logout } from './api.js';
import { byId, clock, el, setChildren, setText, shortHash } from './dom.js';
import { dateTime } from './datetime.js';
import { SequenceEditor, renderDiff } from './editor.js';
import { DeviceHistory } from './history.js';
import { InstrumentsPanel, needsAttention } from './instruments.js';
import { renderLogin } from './login.js';
import { renderScripts } from './scripts.js';
import { UplinkPanel } from './uplink.js';
import { UsersPanel } from './users.js';
import { loadYield } from './yield.js';

const TABS = ['sequence', 'versions', 'devices', 'yield', 'analytics', 'instruments', 'alarms', 'uplink', 'export', 'simulation', 'users'];
const FAULTS = ['garbage', 'overlong', 'hang', 'unplug', 'bad-light', 'no-enroll', 'emitter-silent', 'emitter-garbage', 'invalid-token', 'expired-token', 'wrong-token-type', 'already-blessed'];

window.stationEngineer = { loadedAt: Date.now() };
let editor = null;
let history = null;
let instruments = null;
let alarms = null;
let uplink = null;
let analytics = null;
let users = null;
/** The logged-in engineer's name. */
let me = '';

function showTab(name) {
  const tab = TABS.includes(name) ? name : 'sequence';
  for (const t of TABS) {
    byId(`tab-${t}`).hidden = t !== tab;
    const b = document.querySelector(`[data-tab="${t}"]`);
    if (b) b.setAttribute('aria-current', String(t === tab));
  }
  if (tab === 'versions') loadVersions();
  if (tab === 'yield') loadYield();
  if (tab === 'analytics') (analytics ??= new AnalyticsPanel(byId('analytics-panel'))).load();
  if (tab === 'devices') history.showLatest();
  if (tab === 'instruments') instruments.load();
  if (tab === 'alarms') alarms.load();
  if (tab === 'uplink') (uplink ??= new UplinkPanel(byId('uplink-panel'))).load();
  if (tab === 'simulation') loadSimulation();
  if (tab === 'users') (users ??= new UsersPanel(byId('users-panel'), { self: () => me })).load();
}

// ---- sequence + versions ----

async function loadActiveIntoEditor() {
  const status = byId('sequence-load');
  try {
    const { data } = await api('/api/sequences');
    const { data: version } = await api(`/api/sequences/${encodeURIComponent(data.active)}`);
    editor.load(version.definition, { version: version.version, hash: version.hash, scripts: version.scripts });
    setText(status, `Active: version ${version.version} · ${version.name} · ${shortHash(version.hash)}`);
    status.dataset.activeHash = version.hash;
  } catch (err) {
    setText(status, `Cannot load the active sequence: ${err.message}`);
  }
}

async function loadVersions() {
  const list = byId('versions-list');
  const detail = byId('version-detail');
  try {
    const { data } = await api('/api/sequences');
    setChildren(
      list,
      el(
        'table',
        { className: 'data' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ['version', 'hash', 'name', 'saved', 'steps', 'by', 'change note', ''].map((h) => el('th', { text: h })),
          ),
        ),
        el(
          'tbody',
          {},
          data.versions.map((v) =>
            el(
              'tr',
              { dataset: { version: v.version, hash: v.hash }, className: v.hash === data.active ? 'active' : '' },
              el('td', {}, el('button', { type: 'button', className: 'linklike', text: `v${v.version}`, on: { click: () => showVersion(v.hash) } })),
              el('td', { className: 'mono', text: shortHash(v.hash) }),
              el('td', { text: v.name }),
              el('td', { text: dateTime(v.createdAt) }),
              el('td', { text: v.stepCount }),
              el('td', { className: 'version-by', text: v.by || (v.author === 'config' ? 'configuration' : v.author) }),
              el('td', { className: 'version-note', text: v.note || '' }),
              el('td', { text: v.hash === data.active ? '● active' : '' }),
            ),
          ),
        ),
      ),
    );
    if (!detail.dataset.hash && data.versions[0]) showVersion(data.versions[0].hash);
  } catch (err) {
    setChildren(list, el('p', { className: 'error', text: `Cannot list versions: ${err.message}` }));
  }
}

async function showVersion(hash) {
  const detail = byId('version-detail');
  try {
    const { data: v } = await api(`/api/sequences/${encodeURIComponent(hash)}`);
    detail.dataset.hash = v.hash;
    setChildren(
      detail,
      el('h3', { text: `Version ${v.version}: ${v.name}` }),
      el(
        'dl',
        { className: 'facts small' },
        el('dt', { text: 'hash' }),
        el('dd', { className: 'mono', text: v.hash }),
        el('dt', { text: 'saved' }),
        el('dd', { text: dateTime(v.createdAt) }),
        el('dt', { text: 'by' }),
        el('dd', { text: v.by || (v.author === 'config' ? 'the configuration' : v.author) }),
        v.note ? [el('dt', { text: 'change note' }), el('dd', { className: 'version-note', text: v.note })] : null,
        el('dt', { text: 'previous' }),
        el('dd', { className: 'mono', text: v.previousHash ? shortHash(v.previousHash) : '(first version)' }),
      ),
      el('button', {
        type: 'button',
        text: 'Open in the editor',
        on: {
          click: () => {
            editor.load(v.definition, { version: v.version, hash: v.hash, scripts: v.scripts });
            window.location.hash = 'sequence';
          },
        },
      }),
      el('h4', { text: v.previousHash ? 'Changes from the previous version' : 'First version' }),
      v.previousHash ? renderDiff(v.diff, v.definition) : null,
      // The diff's script entries mark the modules new or changed in this version, and list the gone ones.
      renderScripts(v.scripts, v.definition, v.previousHash ? v.diff : null),
    );
  } catch (err) {
    setChildren(detail, el('p', { className: 'error', text: `Cannot load version ${shortHash(hash)}: ${err.message}` }));
  }
}

// ---- export ----

function updateExportLink() {
  const params = new URLSearchParams();
  const since = byId('export-since').value;
  const until = byId('export-until').value;
  if (since) params.set('since', new Date(since).toISOString());
  if (until) params.set('until', new Date(until).toISOString());
  const q = params.toString();
  byId('export-link').href = `/api/export/records.csv${q ? `?${q}` : ''}`;
}

// ---- simulation ----

async function loadSimulation() {
  const slotSel = byId('fault-slot');
  if (slotSel.options.length) return;
  try {
    const { data } = await api('/api/health');
    setChildren(
      slotSel,
      data.slots.map((s) => el('option', { value: s.slot, text: `${s.slot + 1}: ${s.name}` })),
    );
  } catch (err) {
    setText(byId('fault-result'), `Cannot list slots: ${err.message}`);
  }
}

async function injectFault(ev) {
  ev.preventDefault();
  const slot = byId('fault-slot').value;
  const kind = byId('fault-kind').value;
  const out = byId('fault-result');
  try {
    await api(`/api/sim/slots/${encodeURIComponent(slot)}/faults`, { method: 'POST', body: { kind } });
    // The slot as the list and the dashboard name it: "3: Nest 3".
    const named = byId('fault-slot').selectedOptions[0]?.textContent || `${Number(slot) + 1}`;
    setText(out, `✓ ${kind} queued for ${named} at ${clock(Date.now())}`);
  } catch (err) {
    setText(out, `✗ ${err.message}`);
  }
}

// ---- sessions ----

function showLogin(note = '') {
  byId('console').hidden = true;
  byId('refusal').hidden = true;
  byId('logout').hidden = true;
  document.body.dataset.view = 'login';
  byId('login-view').hidden = false;
  renderLogin(byId('login-view'), { roles: ['engineer'], title: 'Engineer console', note, onLogin: (s) => enter(s) });
}

function showRefusal(session) {
  document.body.dataset.view = 'refused';
  byId('console').hidden = true;
  byId('login-view').hidden = true;
  byId('logout').hidden = false;
  const box = byId('refusal');
  box.hidden = false;
  setText(box.querySelector('.refusal-text'), `The engineer console needs an engineer login. You are logged in as ${session.role}.`);
}

function enter(session) {
  if (session.role !== 'engineer') {
    showRefusal(session);
    return;
  }
  document.body.dataset.view = 'console';
  byId('login-view').hidden = true;
  byId('login-view').replaceChildren();
  byId('refusal').hidden = true;
  byId('console').hidden = false;
  byId('logout').hidden = false;
  me = session.user || 'engineer';
  setText(byId('session-role'), me === 'engineer' ? 'Engineer' : `Engineer · ${me}`);
  if (!editor) {
    editor = new SequenceEditor(byId('editor'), {
      onSaved: (saved) => {
        // The saved version is the active one now: said at once, no reload.
        const status = byId('sequence-load');
        if (saved && saved.version) {
          setText(status, `Active: version ${saved.version} · ${editor.def && editor.def.name ? editor.def.name : ''} · ${shortHash(saved.hash)}`);
          status.dataset.activeHash = saved.hash;
        }
        byId('version-detail').dataset.hash = '';
        loadVersions();
      },
    });
    history = new DeviceHistory(byId('device-history'));
    instruments = new InstrumentsPanel(byId('instruments-panel'), {
      onChange: (list) => {
        byId('instruments-flag').hidden = !list.some(needsAttention);
        editor.setInstruments(list);
      },
    });
    alarms = new AlarmsPanel(byId('alarms-panel'));
    window.stationEngineer.editor = editor;
    window.stationEngineer.history = history;
  }
  instruments.load();
  loadActiveIntoEditor();
  showTab(window.location.hash.slice(1));
}

function wire() {
  for (const b of document.querySelectorAll('[data-tab]'))
    b.addEventListener('click', () => {
      window.location.hash = b.dataset.tab;
    });
  window.addEventListener('hashchange', () => {
    if (document.body.dataset.view === 'console') showTab(window.location.hash.slice(1));
  });
  byId('yield-version').addEventListener('change', loadYield);
  byId('yield-since').addEventListener('change', loadYield);
  byId('yield-variant').addEventListener('change', loadYield);
  byId('yield-refresh').addEventListener('click', loadYield);
  byId('export-since').addEventListener('change', updateExportLink);
  byId('export-until').addEventListener('change', updateExportLink);
  byId('fault-kind').replaceChildren(...FAULTS.map((f) => el('option', { value: f, text: f })));
  byId('fault-form').addEventListener('submit', injectFault);
  byId('reload-active').addEventListener('click', loadActiveIntoEditor);
  const out = async () => {
    await logout().catch(() => undefined);
    showLogin();
  };
  byId('logout').addEventListener('click', out);
  byId('refusal-logout').addEventListener('click', out);
  updateExportLink();
}

wire();
(async () => {
  try {
    const session = await getSession();
    if (!session) showLogin();
    else enter(session);
  } catch (err) {
    byId('login-view').hidden = false;
    setChildren(byId('login-view'), el('p', { className: 'error', text: `The station does not answer (${err.message}). Reload the page when it is back.` }));
  }
})();
