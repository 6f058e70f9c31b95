// The read-only line screen (/line): the nest tiles, the shift's counters and the alarms, live,
// with no login and no controls. Its data comes on the /line socket namespace, which sends a
// snapshot and then only what a wall screen may show (station/server/line-screen.ts): no prompts,
// no failure reasons, no uplink or token details, no secrets. On a reconnect (a daemon restart,
// say) the server sends a fresh snapshot; the page never reloads and never asks for a login.
/* global io, setInterval */
import { byId, el, setChildren, setText } from './dom.js';
import { clock, languagePicker, onLanguageChange, t, translateStatic } from './i18n.js';
import { alarmOrder, alarmTitle, isActive, renderAlarmSummary, renderCounters } from './panels.js';
import { applyAlarmDelta } from './live.js';
import { SlotTile } from './tiles.js';

const state = { station: null, slots: [], alarms: new Map(), counters: {} };
const tiles = [];
const NO_ACTIONS = { start: async () => ({ ok: false, error: 'read only' }), answer: async () => ({ ok: false, error: 'read only' }) };
window.stationLine = { state, snapshots: 0, deltas: 0 };

const slotName = (i) => (state.slots[i] && state.slots[i].name) || t('slot.name', { n: i + 1 });

function buildTiles() {
  const root = byId('slots');
  tiles.length = 0;
  for (const s of state.slots) {
    const tile = new SlotTile(s.slot, NO_ACTIONS);
    // Read only: no start or clear button, no prompt area, no folded technical details.
    tile.startButton.remove();
    tile.clearButton.remove();
    tile.more.remove();
    tile.prompt.remove();
    tiles[s.slot] = tile;
  }
  setChildren(
    root,
    tiles.filter(Boolean).map((t) => t.root),
  );
  const n = state.slots.length;
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)));
  root.style.setProperty('--cols', String(cols));
  root.style.setProperty('--rows', String(Math.max(1, Math.ceil(n / cols))));
  root.dataset.count = String(n);
  // The dashboard's tile sizes for many nests (station.css).
  root.dataset.size = n > 16 ? 'many' : n > 8 ? 'some' : 'few';
}

function renderTile(i) {
  const tile = tiles[i];
  const s = state.slots[i];
  if (!tile || !s) return;
  tile.render(
    s,
    null,
    [...state.alarms.values()].filter((a) => a.slot === i),
  );
}

function renderAlarms() {
  const alarms = [...state.alarms.values()];
  renderAlarmSummary(byId('alarm-summary'), alarms, slotName);
  const root = byId('alarms');
  const sorted = alarms.filter((a) => !a.shelved).sort(alarmOrder);
  const active = sorted.filter(isActive).length;
  root.dataset.active = String(active);
  setText(root.querySelector('.alarm-count'), sorted.length === 0 ? t('alarms.none') : t('alarms.active', { count: active }));
  setChildren(
    root.querySelector('.alarm-list'),
    sorted.map((a) =>
      el(
        'li',
        {
          className: `alarm ${a.severity}${a.cleared ? ' cleared' : ''}${a.acknowledged ? ' acknowledged' : ''}`,
          dataset: { alarm: a.alarmId, severity: a.severity, status: a.cleared ? 'cleared' : 'active' },
        },
        el('span', { className: 'alarm-icon', attrs: { 'aria-hidden': 'true' }, text: a.severity === 'critical' ? '‼' : '⚠' }),
        el(
          'div',
          { className: 'alarm-body' },
          el('div', {
            className: 'alarm-title',
            text: alarmTitle({ ...a, shelved: null }, slotName),
          }),
          el('div', { className: 'alarm-message', text: a.message }),
          el('div', { className: 'alarm-since', text: t('alarms.since', { time: clock(a.since) }) }),
        ),
      ),
    ),
  );
}

function renderHeader() {
  const st = state.station || {};
  setText(byId('station-name'), st.name || 'BlinkUp Station');
  document.title = t('line.title', { station: st.name || 'BlinkUp Station' });
  const mode = byId('station-mode');
  setText(mode, st.mode === 'test' ? t('header.testMode') : '');
  mode.hidden = st.mode !== 'test';
}

function onSnapshot(snap) {
  window.stationLine.snapshots += 1;
  state.station = snap.station || {};
  state.slots = (snap.slots || []).map((s) => ({ ...s }));
  state.alarms = new Map((snap.alarms || []).map((a) => [a.alarmId, { ...a }]));
  state.counters = { ...(snap.counters || {}) };
  renderHeader();
  buildTiles();
  state.slots.forEach((_s, i) => renderTile(i));
  renderCounters(byId('counters'), state.counters);
  renderAlarms();
  document.body.dataset.synced = 'true';
}

function onDelta(delta) {
  window.stationLine.deltas += 1;
  const d = (delta && delta.d) || {};
  switch (delta && delta.t) {
    case 'slot': {
      const before = state.slots[d.slot];
      if (!before) return;
      Object.assign(before, d);
      renderTile(d.slot);
      return;
    }
    case 'alarm.raised':
    case 'alarm.cleared':
    case 'alarm.acked':
    case 'alarm.shelved':
    case 'alarm.unshelved': {
      const slots = applyAlarmDelta(state.alarms, delta.t, d);
      renderAlarms();
      for (const slot of slots) renderTile(slot);
      return;
    }
    case 'counters':
      state.counters = { ...state.counters, ...d };
      renderCounters(byId('counters'), state.counters);
      return;
    default:
      return;
  }
}

const STATUS_WORDS = { connecting: '◌ {word}', live: '● {word}', reconnecting: '◌ {word}', refused: '⊗ {word}' };
const STATUS_KEYS = { connecting: 'connection.connecting', live: 'connection.live', reconnecting: 'connection.reconnectingShort', refused: 'connection.notAvailable' };
let status = 'connecting';

function setStatus(next) {
  status = next;
  const node = byId('connection');
  node.dataset.status = next;
  setText(node, STATUS_WORDS[next] ? STATUS_WORDS[next].replace('{word}', t(STATUS_KEYS[next])) : next);
}

// The language picker: switches every text on the screen live, kept for this screen.
languagePicker(byId('lang-picker'));
translateStatic(document);
setStatus(status);
onLanguageChange(() => {
  setStatus(status);
  renderHeader();
  for (const tile of tiles) if (tile) tile.relabel();
  renderCounters(byId('counters'), state.counters);
  renderAlarms();
  setText(byId('clock'), clock(Date.now()));
});

// WebSocket only: the daemon checks the Origin a browser sends on the handshake.
const socket = io('/line', { path: '/socket.io', transports: ['websocket'] });
socket.on('connect', () => setStatus('live'));
socket.on('disconnect', () => setStatus('reconnecting'));
socket.on('connect_error', () => setStatus(socket.active ? 'reconnecting' : 'refused'));
socket.on('snapshot', onSnapshot);
socket.on('delta', onDelta);

setText(byId('clock'), clock(Date.now()));
setInterval(() => {
  setText(byId('clock'), clock(Date.now()));
  const now = Date.now();
  for (const t of tiles) if (t) t.tick(now);
}, 1000);
