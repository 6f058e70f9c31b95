// The operator dashboard (the default page): log in, then keep a local copy of the station's live
// state from the socket's snapshot and deltas, and redraw only the tile or panel a delta touches.
// Elapsed times tick locally once a second. window.stationDashboard exposes the live client and
// state for people debugging at the line and for the browser tests.
/* global setInterval, clearTimeout, crypto, ResizeObserver, getComputedStyle, localStorage, URLSearchParams */
import { getSession, logout } from './api.js';
import { ShiftChart } from './chart.js';
import { byId, el, setText, shortHash } from './dom.js';
import { clock, languagePicker, onLanguageChange, t, translateStatic } from './i18n.js';
import { applyAlarmDelta, LiveClient } from './live.js';
import { renderLogin } from './login.js';
import { renderAlarms, renderAlarmSummary, renderCounters, renderTokens, renderUplink } from './panels.js';
import { FailSound } from './sound.js';
import { SlotTile } from './tiles.js';
import { WedgeCapture } from './wedge.js';

const state = {
  station: null,
  sequence: null,
  slots: [],
  prompts: new Map(),
  alarms: new Map(),
  counters: null,
  uplink: null,
  tokens: null,
  shift: null,
  /** The nest the operator selected on this screen (arrow keys, its number, a SLOT barcode, a click), or null. */
  selected: null,
};
let tiles = [];
/** Estimate of (browser clock − station clock), from the `since` of live slot deltas. */
const offsetSamples = [];
let clockOffsetMs = 0;
let refusedRetries = 0;

const debug = {
  loadId: typeof crypto !== 'undefined' && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()),
  loadedAt: Date.now(),
  state,
  live: null,
  role: null,
  deltasApplied: 0,
};
window.stationDashboard = debug;

/**
 * A screen at one nest (`/?nest=N`, 1-based): its wedge scanner is fixed to that nest, as a station
 * scanner with a `slot` is: scans, yes/no keys and commands without a nest number go to nest N.
 * Null on a screen for the whole station (roaming).
 */
const FIXED_NEST = (() => {
  const n = Number(new URLSearchParams(window.location.search).get('nest'));
  return Number.isInteger(n) && n >= 1 && n <= 32 ? n - 1 : null;
})();
debug.fixedNest = FIXED_NEST;

const sound = new FailSound(byId('sound-toggle'));
const chart = new ShiftChart(byId('chart'));
const live = new LiveClient({ onSnapshot, onDelta, onStatus });
debug.live = live;

const actions = {
  start: (slot) => live.send('slot.start', { slot }),
  answer: (promptId, answer) => live.send('prompt.answer', { promptId, answer }),
  clear: (slot) => live.send('slot.clear', { slot }),
};

function slotName(i) {
  return (state.slots[i] && state.slots[i].name) || t('slot.name', { n: i + 1 });
}

function promptFor(slot) {
  let found = null;
  for (const p of state.prompts.values()) if (p.slot === slot && !found) found = p;
  return found;
}

function alarmsFor(slot) {
  return [...state.alarms.values()].filter((a) => a.slot === slot);
}

function renderTile(i) {
  const tile = tiles[i];
  const s = state.slots[i];
  if (!tile || !s) return;
  tile.render(s, promptFor(i), alarmsFor(i));
}

function buildTiles() {
  const root = byId('slots');
  tiles = state.slots.map((s, i) => new SlotTile(s.slot ?? i, actions));
  root.replaceChildren(...tiles.map((t) => t.root));
  // A click or a tap on a tile selects its nest (where keys and scans go when several nests ask).
  for (const t of tiles) t.root.addEventListener('pointerdown', () => select(t.slot));
  if (state.selected !== null && state.selected >= tiles.length) state.selected = null;
  // A screen fixed to one nest (`/?nest=N`) has it selected from the start.
  if (state.selected === null && FIXED_NEST !== null && FIXED_NEST < tiles.length) state.selected = FIXED_NEST;
  for (const t of tiles) t.setSelected(t.slot === state.selected);
  root.dataset.count = String(tiles.length);
  root.dataset.size = tiles.length > 16 ? 'many' : tiles.length > 8 ? 'some' : 'few';
  layoutSlots();
}

/** The tiles' shape that reads best: wider than tall, about 4:3. */
const TILE_ASPECT = 1.35;

/**
 * Columns and rows for `count` tiles in a `width` x `height` area: the grid whose cells hold the
 * largest TILE_ASPECT box (so four nests are 2 x 2 on a wide screen, not 3 + 1), fewer empty cells
 * on a tie. Exported on window.stationDashboard for the browser tests.
 */
export function gridFor(count, width, height, gap) {
  let best = { cols: 1, rows: Math.max(1, count), size: -1, empty: Infinity };
  if (count <= 0 || width <= 0 || height <= 0) return { cols: Math.max(1, Math.min(count, 2)), rows: Math.max(1, Math.ceil(count / 2)) };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const w = (width - (cols - 1) * gap) / cols;
    const h = (height - (rows - 1) * gap) / rows;
    const size = Math.min(w / TILE_ASPECT, h);
    const empty = cols * rows - count;
    if (size > best.size + 0.5 || (Math.abs(size - best.size) <= 0.5 && empty < best.empty)) best = { cols, rows, size, empty };
  }
  return { cols: best.cols, rows: best.rows };
}

function layoutSlots() {
  const root = byId('slots');
  const gap = parseFloat(getComputedStyle(root).rowGap) || 0;
  const { cols, rows } = gridFor(tiles.length, root.clientWidth, root.clientHeight, gap);
  if (root.style.getPropertyValue('--cols') !== String(cols)) root.style.setProperty('--cols', String(cols));
  if (root.style.getPropertyValue('--rows') !== String(rows)) root.style.setProperty('--rows', String(rows));
  root.dataset.grid = `${cols}x${rows}`;
}
debug.gridFor = gridFor;
if (typeof ResizeObserver === 'function') new ResizeObserver(() => layoutSlots()).observe(byId('slots'));

function renderHeader() {
  const st = state.station || {};
  setText(byId('station-name'), st.name || st.id || 'BlinkUp Station');
  const seq = state.sequence;
  setText(byId('sequence-info'), seq ? `${seq.name} · ${typeof seq.stepCount === 'number' ? t('header.steps', { count: seq.stepCount }) : t('header.stepsUnknown')} · ${shortHash(seq.hash)}` : '');
  document.title = t('dashboard.title', { station: st.name || st.id || 'BlinkUp Station' });
  const mode = byId('station-mode');
  setText(mode, st.mode === 'test' ? t('header.testMode') : '');
  mode.hidden = st.mode !== 'test';
}

/** The alarm an engineer's thresholds raise on the uplink's backlog (station/uplink-watch.ts). */
const UPLINK_ALARM = 'uplink.backlog';

function renderUplinkPanel() {
  const alarm = state.alarms.get(UPLINK_ALARM);
  renderUplink(byId('uplink'), state.uplink, Boolean(alarm && !alarm.cleared && !alarm.shelved));
}

function renderAlarmPanel() {
  const alarms = [...state.alarms.values()];
  renderAlarms(byId('alarms'), alarms, slotName, (alarmId) => live.send('alarm.ack', { alarmId }));
  renderAlarmSummary(byId('alarm-summary'), alarms, slotName);
}

// The summary in the top bar leads to the list.
byId('alarm-summary').addEventListener('click', () => {
  const panel = byId('alarms');
  panel.scrollIntoView({ block: 'nearest' });
  panel.focus({ preventScroll: true });
});

function onSnapshot(snap) {
  const sameSlots = snap.slots.length === state.slots.length;
  state.station = snap.station;
  state.sequence = snap.sequence;
  state.slots = snap.slots.map((s) => ({ ...s }));
  state.prompts = new Map((snap.prompts || []).map((p) => [p.promptId, { ...p }]));
  state.alarms = new Map((snap.alarms || []).map((a) => [a.alarmId, { ...a }]));
  state.counters = { ...(snap.counters || {}) };
  state.uplink = snap.uplink;
  state.tokens = snap.tokens;
  state.shift = snap.shift;
  if (!sameSlots || tiles.length === 0) buildTiles();
  renderHeader();
  state.slots.forEach((_s, i) => renderTile(i));
  renderCounters(byId('counters'), state.counters);
  chart.reset(snap.chart, (snap.shift && snap.shift.startedAt) || state.counters.shiftStartedAt);
  renderUplinkPanel();
  renderTokens(byId('tokens'), state.tokens);
  renderAlarmPanel();
  document.body.dataset.synced = 'true';
}

function onDelta(delta, { replayed }) {
  debug.deltasApplied += 1;
  const d = delta.d || {};
  switch (delta.t) {
    case 'slot': {
      const i = d.slot;
      if (typeof i !== 'number') return;
      const before = state.slots[i];
      if (!before) {
        state.slots[i] = { slot: i, ...d };
        buildTiles();
        state.slots.forEach((_s, j) => renderTile(j));
        return;
      }
      const wasFail = before.state === 'fail';
      Object.assign(before, d);
      if (!replayed && typeof d.since === 'number') noteClock(d.since);
      renderTile(i);
      if (!replayed && d.state === 'fail' && !wasFail) sound.beep();
      return;
    }
    case 'prompt.opened':
      state.prompts.set(d.promptId, { ...d });
      renderTile(d.slot);
      return;
    case 'scan.rejected':
      if (!replayed && typeof d.slot === 'number' && tiles[d.slot]) {
        if (d.promptId) tiles[d.slot].scanRefused(d.reason);
        else tiles[d.slot].showNotice(t('notice.scanRefused', { why: d.reason }));
      }
      return;
    case 'prompt.closed': {
      const p = state.prompts.get(d.promptId);
      state.prompts.delete(d.promptId);
      renderTile(p ? p.slot : d.slot);
      return;
    }
    // The server's alarm board decides what is listed: each delta carries the entry as it now is
    // (null: no longer listed); the page only shows it.
    case 'alarm.raised':
    case 'alarm.cleared':
    case 'alarm.acked':
    case 'alarm.shelved':
    case 'alarm.unshelved': {
      const slots = applyAlarmDelta(state.alarms, delta.t, d);
      renderAlarmPanel();
      if (d.alarmId === UPLINK_ALARM) renderUplinkPanel();
      for (const slot of slots) renderTile(slot);
      return;
    }
    case 'counters': {
      const shiftChanged = d.shiftStartedAt !== undefined && d.shiftStartedAt !== (state.counters || {}).shiftStartedAt;
      state.counters = { ...(state.counters || {}), ...d };
      renderCounters(byId('counters'), state.counters);
      if (shiftChanged) chart.setShift(d.shiftStartedAt);
      return;
    }
    case 'chart':
      chart.update(d);
      return;
    case 'uplink':
      state.uplink = { ...(state.uplink || {}), ...d };
      renderUplinkPanel();
      return;
    case 'tokens':
      state.tokens = { ...(state.tokens || {}), ...d };
      renderTokens(byId('tokens'), state.tokens);
      return;
    case 'sequence':
      state.sequence = { ...d };
      renderHeader();
      return;
    default:
      // A delta type this page does not know (a newer daemon): nothing to draw.
      return;
  }
}

function noteClock(sinceMs) {
  offsetSamples.push(Date.now() - sinceMs);
  if (offsetSamples.length > 50) offsetSamples.shift();
  clockOffsetMs = Math.min(...offsetSamples);
  // Only a real difference between the clocks is worth correcting; network time is not.
  if (Math.abs(clockOffsetMs) < 1000) clockOffsetMs = 0;
}

const STATUS_TEXT = {
  connecting: ['◌', 'connection.connecting'],
  live: ['●', 'connection.live'],
  reconnecting: ['◌', 'connection.reconnecting'],
  refused: ['✗', 'connection.notConnected'],
  stopped: ['○', 'connection.disconnected'],
};
let lastStatus = { status: 'connecting', detail: undefined };

function statusText(status, detail) {
  if (status === 'refused' && detail === 'bad origin') return `✗ ${t('connection.badOrigin')}`;
  const look = STATUS_TEXT[status];
  return look ? `${look[0]} ${t(look[1])}` : status;
}

async function onStatus(status, detail) {
  lastStatus = { status, detail };
  const node = byId('connection');
  node.dataset.status = status;
  document.body.dataset.connection = status;
  setText(node, statusText(status, detail));
  if (status === 'live') refusedRetries = 0;
  if (status !== 'refused' || detail === 'bad origin') return;
  // Refused: the session ended (expired, logged out elsewhere, daemon restarted) or the token changed.
  const current = await getSession().catch(() => null);
  if (!current) {
    showLogin('login.sessionEnded');
    return;
  }
  if (refusedRetries++ < 5) setTimeout(() => live.reconnect(current.csrfToken), 1000 * refusedRetries);
}

/** The catalogue key of the note above the login form ('' for none). */
let loginNote = '';

function showLogin(noteKey = '') {
  loginNote = noteKey;
  live.stop();
  debug.role = null;
  document.body.dataset.view = 'login';
  byId('dashboard-view').hidden = true;
  byId('login-view').hidden = false;
  byId('logout').hidden = true;
  byId('engineer-link').hidden = true;
  setText(byId('session-role'), '');
  renderLogin(byId('login-view'), { roles: ['operator', 'engineer'], title: t('login.titleDashboard'), note: noteKey ? t(noteKey) : '', onLogin: (s) => showDashboard(s) });
}

function showDashboard(s) {
  debug.session = s;
  debug.role = s.role;
  document.body.dataset.view = 'dashboard';
  document.body.dataset.role = s.role;
  layoutSlots();
  byId('login-view').hidden = true;
  byId('login-view').replaceChildren();
  byId('dashboard-view').hidden = false;
  byId('logout').hidden = false;
  byId('engineer-link').hidden = s.role !== 'engineer';
  renderRole(s);
  live.reconnect(s.csrfToken);
}

function renderRole(s) {
  setText(byId('session-role'), `${t(s.role === 'engineer' ? 'login.engineer' : 'login.operator')}${s.user && s.user !== s.role ? ` · ${s.user}` : ''}`);
}

byId('logout').addEventListener('click', async () => {
  await logout().catch(() => undefined);
  showLogin();
});

// ---- scanner-first operation -------------------------------------------------------------------
// A keyboard-wedge scanner's scans are caught at the page (wedge.js) and routed to a nest here, as
// the station routes a roaming scanner's (docs/scanners-on-the-dashboard in docs/protocols.md):
// a command barcode acts (CMD:PASS, CMD:FAIL, CMD:START:<n>, ...); a SLOT barcode selects its nest
// for the next scan; any other scan goes to the selected nest when it waits for a scan, else to
// the only nest that does; with several waiting and none selected it is refused, never guessed.

const DEFAULT_SLOT_BARCODE = '^SLOT:(\\d{1,2})$';
const SLOT_SELECTION_MS = 30_000;
/** A SLOT barcode's selection for the next scan: { slot, until }. */
let slotSelection = null;
let pageNoticeTimer = null;

function slotBarcode() {
  const src = (state.station && state.station.slotBarcodePattern) || DEFAULT_SLOT_BARCODE;
  try {
    return new RegExp(src);
  } catch {
    return new RegExp(DEFAULT_SLOT_BARCODE);
  }
}

/** Command barcodes (docs/protocols.md): CMD:PASS | CMD:YES | CMD:FAIL | CMD:NO | CMD:START | CMD:CLEAR, each with an optional :<nest number>. */
const COMMAND = /^CMD:(PASS|YES|FAIL|NO|START|CLEAR)(?::(\d{1,2}))?$/i;

function select(slot) {
  if (slot === null || !tiles[slot]) return;
  state.selected = slot;
  for (const t of tiles) t.setSelected(t.slot === slot);
  debug.selected = slot;
}

function pageNotice(text) {
  const node = byId('scan-notice');
  setText(node, text);
  node.hidden = !text;
  clearTimeout(pageNoticeTimer);
  pageNoticeTimer = setTimeout(() => {
    node.hidden = true;
    setText(node, '');
  }, 8000);
}

/** The nest a scan or a key is for: an explicit nest, a SLOT barcode's selection, the selected nest, or the only one asking. */
function targetFor(kind, explicit) {
  if (explicit !== null && explicit !== undefined) return tiles[explicit] ? { slot: explicit } : { error: t('notice.noSuchNest', { n: explicit + 1 }) };
  if (FIXED_NEST !== null) return tiles[FIXED_NEST] ? { slot: FIXED_NEST } : { error: t('notice.noSuchNest', { n: FIXED_NEST + 1 }) };
  const asking = tiles.filter((t) => t.promptKind === kind).map((t) => t.slot);
  if (kind === 'scan' && slotSelection) {
    const sel = slotSelection;
    slotSelection = null;
    if (Date.now() < sel.until) return { slot: sel.slot };
  }
  if (state.selected !== null && asking.includes(state.selected)) return { slot: state.selected };
  if (asking.length === 1) return { slot: asking[0] };
  if (asking.length === 0) return { error: t(kind === 'scan' ? 'notice.noneWaitingScan' : 'notice.noneWaitingChoice') };
  return { error: t(kind === 'scan' ? 'notice.severalWaitingScan' : 'notice.severalWaitingChoice', { count: asking.length }) };
}

async function answerChoice(positive, explicit) {
  const target = targetFor('choice', explicit);
  if (target.error) return pageNotice(target.error);
  select(target.slot);
  const why = await tiles[target.slot].answerChoice(positive);
  if (why) tiles[target.slot].showNotice(why);
}

function startNest(explicit) {
  const slot = explicit ?? state.selected;
  if (slot === null || slot === undefined) return pageNotice(t('notice.selectToStart'));
  if (!tiles[slot]) return pageNotice(t('notice.noSuchNest', { n: slot + 1 }));
  select(slot);
  tiles[slot].start();
}

function onWedgeScan(text) {
  if (document.body.dataset.view !== 'dashboard') return;
  debug.lastScan = { text, at: Date.now() };
  const cmd = COMMAND.exec(text.trim());
  if (cmd) {
    const verb = cmd[1].toUpperCase();
    const explicit = cmd[2] === undefined ? null : Number(cmd[2]) - 1;
    if (verb === 'PASS' || verb === 'YES') answerChoice(true, explicit);
    else if (verb === 'FAIL' || verb === 'NO') answerChoice(false, explicit);
    else if (verb === 'START') startNest(explicit);
    else if (verb === 'CLEAR') {
      const slot = explicit ?? state.selected;
      if (slot !== null && tiles[slot] && !tiles[slot].clearVerdict()) tiles[slot].showNotice(t('notice.noVerdict'));
    }
    return;
  }
  const slotMatch = slotBarcode().exec(text);
  if (slotMatch) {
    const slot = Number(slotMatch[1]) - 1;
    if (!Number.isInteger(slot) || !tiles[slot]) return pageNotice(t('notice.slotBarcodeUnknown', { n: slotMatch[1], count: tiles.length }));
    slotSelection = { slot, until: Date.now() + SLOT_SELECTION_MS };
    select(slot);
    return pageNotice(t('notice.slotSelected', { nest: slotName(slot) }));
  }
  const target = targetFor('scan', null);
  if (target.error) return pageNotice(t('notice.scanNotUsed', { why: target.error }));
  tiles[target.slot].submitScan(text, {});
}

function onKey(key) {
  if (document.body.dataset.view !== 'dashboard' || tiles.length === 0) return false;
  if (key === 'y' || key === 'Y') return (answerChoice(true), true);
  if (key === 'n' || key === 'N') return (answerChoice(false), true);
  if (key === ' ' || key === 'Enter') return (startNest(), true);
  if (/^[1-9]$/.test(key)) {
    const slot = Number(key) - 1;
    if (tiles[slot]) select(slot);
    return true;
  }
  const cols = Number(byId('slots').style.getPropertyValue('--cols')) || 1;
  const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols }[key];
  if (step !== undefined) {
    const from = state.selected === null ? (step > 0 ? -1 : tiles.length) : state.selected;
    select(Math.min(tiles.length - 1, Math.max(0, from + step)));
    return true;
  }
  if (key === 'Escape') {
    state.selected = null;
    for (const t of tiles) t.setSelected(false);
    debug.selected = null;
    return true;
  }
  return false;
}

/** This screen's longest gap between a scanner's keystrokes (a slow scanner or PC): localStorage "station.wedgeMaxGapMs". */
function storedGap() {
  try {
    const ms = Number(localStorage.getItem('station.wedgeMaxGapMs'));
    return Number.isFinite(ms) && ms >= 5 && ms <= 200 ? ms : undefined;
  } catch {
    return undefined;
  }
}
const wedge = new WedgeCapture({ onScan: onWedgeScan, onKey, maxGapMs: storedGap(), enabled: () => document.body.dataset.view === 'dashboard' });
debug.wedge = wedge;
debug.selected = null;
/** For the browser tests: redraws one tile from the kept state. */
debug.renderTile = (i) => renderTile(i);

// The language picker (top bar): every text on the screen switches live; the choice is kept for this screen.
languagePicker(byId('lang-picker'));
translateStatic(document);
setText(byId('connection'), statusText(lastStatus.status, lastStatus.detail));
onLanguageChange(() => {
  setText(byId('connection'), statusText(lastStatus.status, lastStatus.detail));
  setText(byId('clock'), clock(Date.now()));
  sound.show();
  chart.relabel();
  if (document.body.dataset.view === 'login') {
    renderLogin(byId('login-view'), { roles: ['operator', 'engineer'], title: t('login.titleDashboard'), note: loginNote ? t(loginNote) : '', onLogin: (s) => showDashboard(s) });
    return;
  }
  if (debug.session) renderRole(debug.session);
  if (!state.station) return;
  renderHeader();
  for (const tile of tiles) tile.relabel();
  renderCounters(byId('counters'), state.counters);
  renderUplinkPanel();
  renderTokens(byId('tokens'), state.tokens);
  renderAlarmPanel();
});

setInterval(() => {
  const now = Date.now();
  for (const t of tiles) t.tick(now, clockOffsetMs);
  setText(byId('clock'), clock(now));
}, 1000);

(async () => {
  try {
    const s = await getSession();
    if (s) showDashboard(s);
    else showLogin();
  } catch (err) {
    setText(byId('connection'), `✗ ${t('connection.unreachable', { error: err.message })}`);
    byId('login-view').hidden = false;
    byId('login-view').append(el('p', { className: 'login-error', text: t('login.noAnswer') }));
  }
})();
