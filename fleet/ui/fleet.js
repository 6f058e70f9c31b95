// The fleet view's page (docs/fleet.md): every station's card, grouped by site, area and line,
// kept live from the fleet server's socket.io diffs. Read-only: nothing is sent back.
//
// The server sends the whole fleet once ('snapshot'), then the views of the stations that changed
// ('diff', at most 4 a second per station). Diffs are applied in the next animation frame, each
// card changed in place (only the texts and attributes that differ); with 1,000 stations a frame
// touches only the cards that changed.
//
// window.fleetView (read by the tests and the bench): how many cards, and how far behind the page
// is: for each slot state word and each last unit a diff shows, the time from its publish time in
// the payload (the slot's `since`, the record's `endedAt`) to the frame that showed it, in ms. To
// tell where that time goes: `transport`, from the server sending a diff to its arrival, and
// `frame`, from the first diff's arrival to the frame that applied it; and `viewLag`, from the fleet
// server receiving a change to the frame that showed it (what the view itself adds), and `held`,
// how long the server held each station's change (its rate limit and batching).

const SYMBOL = { online: '●', offline: '✕', unknown: '?' };
const SLOT_SYMBOL = { idle: '○', identifying: '…', blinkup: '✺', testing: '▶', blessing: '✓', pass: '✔', fail: '✘', interrupted: '!', refused: '⊘', offline: '✕' };
const GROUP_KEY = (v) => `${v.enterprise}/${v.site}/${v.area}/${v.line}`;

const main = document.getElementById('fleet');
const countsEl = document.getElementById('counts');
const brokerEl = document.getElementById('broker');
const badEl = document.getElementById('bad');
const emptyEl = document.getElementById('empty');

/** key → { view, el } */
const cards = new Map();
/** group key → { el, list } */
const groups = new Map();
/** Views waiting for the next frame (key → view, or null: removed). */
const queued = new Map();
let frame = 0;
let summary = null;
let summaryChanged = false;

const stats = { cards: 0, applied: 0, lag: [], transport: [], frame: [], viewLag: [], held: [], snapshotAt: 0 };
/** key -> when the fleet server first had the change a queued view carries (ms). */
const heldFrom = new Map();
let receivedAt = 0;
window.fleetView = stats;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function percent(r) {
  return r === null || r === undefined ? '–' : `${(r * 100).toFixed(1)} %`;
}

function groupFor(v) {
  const key = GROUP_KEY(v);
  let g = groups.get(key);
  if (g) return g;
  const section = el('section', 'fleet-group');
  section.dataset.group = key;
  const h = el('h2', 'fleet-group-title', `${v.site} · ${v.area} · ${v.line}`);
  h.title = v.enterprise;
  const list = el('div', 'fleet-cards');
  section.append(h, list);
  // Groups in name order.
  let before = null;
  for (const [k, other] of groups) if (k > key && (!before || k < before.dataset.group)) before = other.el;
  main.insertBefore(section, before);
  g = { el: section, list };
  groups.set(key, g);
  return g;
}

/** A card's parts, built once; renderCard changes only what differs (a slot's word, a figure). */
function buildCard(a) {
  const head = el('header', 'fleet-card-head');
  const name = el('span', 'fleet-station');
  const state = el('span', 'fleet-state');
  head.append(name, state);
  const reason = el('p', 'fleet-reason');
  const slots = el('ol', 'fleet-slots');
  const figures = el('dl', 'fleet-figures');
  const fig = (label, cls) => {
    const dd = el('dd', cls);
    figures.append(el('dt', null, label), dd);
    return dd;
  };
  const parts = { name, state, reason, slots, yield: fig('yield', 'fleet-yield'), tested: fig('units', 'fleet-tested'), backlog: fig('backlog', 'fleet-backlog') };
  parts.alarm = el('p', 'fleet-alarm');
  parts.unit = el('p', 'fleet-unit');
  a.append(head, reason, slots, figures, parts.alarm, parts.unit);
  return parts;
}

function text(node, value) {
  if (node.textContent !== value) node.textContent = value;
}

function attr(node, name, value) {
  if (value === null || value === undefined) {
    if (node.hasAttribute(name)) node.removeAttribute(name);
  } else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function renderCard(a, v) {
  const f = a.fleetParts || (a.fleetParts = buildCard(a));
  attr(a, 'data-state', v.state);
  attr(a, 'data-alarm', v.alarms.worst ? v.alarms.worst.severity : 'none');
  text(f.name, v.stationId);
  text(f.state, `${SYMBOL[v.state] || '?'} ${v.state === 'unknown' ? 'NO STATE' : v.state.toUpperCase()}`);
  f.reason.hidden = !(v.state === 'offline' && v.reason);
  text(f.reason, v.state === 'offline' && v.reason ? v.reason : '');
  while (f.slots.children.length > v.slots.length) f.slots.lastElementChild.remove();
  while (f.slots.children.length < v.slots.length) f.slots.append(el('li', 'fleet-slot'));
  v.slots.forEach((s, i) => {
    const li = f.slots.children[i];
    text(li, `${SLOT_SYMBOL[s.state] || '·'} ${s.state}`);
    attr(li, 'data-state', s.state);
    attr(li, 'data-slot', String(s.slot));
    attr(li, 'title', `${s.name}${s.deviceId ? ` · ${s.deviceId}` : ''}`);
  });
  const sh = v.shift;
  text(f.yield, sh ? (sh.tested > 0 ? percent(sh.firstPassYield) : 'no unit') : '–');
  attr(f.yield, 'title', sh ? `first-pass yield this shift: ${sh.passed} of ${sh.tested} passed, ${sh.unitsPerHour} units/h` : 'no metrics yet');
  text(f.tested, sh ? String(sh.tested) : '–');
  const b = v.backlog;
  text(f.backlog, b ? String(b.queued) : '–');
  attr(f.backlog, 'data-level', b && b.queued > 0 ? (b.oldestQueuedAgeSeconds !== null && b.oldestQueuedAgeSeconds > 300 ? 'warn' : 'some') : null);
  const w = v.alarms.worst;
  text(f.alarm, w ? `⚠ ${v.alarms.count} · ${w.message}` : 'no alarm');
  attr(f.alarm, 'data-level', w ? w.severity : null);
  attr(f.alarm, 'title', w ? w.alarmId : null);
  const u = v.lastUnit;
  text(f.unit, u ? `${u.status === 'blessed' ? '✔' : '✘'} ${new Date(u.endedAt).toLocaleTimeString()} ${u.status} ${u.deviceId}` : 'no unit yet');
  attr(f.unit, 'data-status', u ? u.status : null);
  attr(f.unit, 'title', u && u.failStep ? `${u.failStep}: ${u.reason || ''}` : null);
}

function place(v) {
  const g = groupFor(v);
  const a = el('article', 'fleet-card');
  a.dataset.station = v.key;
  a.dataset.stationId = v.stationId;
  let before = null;
  for (const c of g.list.children) {
    if (c.dataset.stationId > v.stationId) {
      before = c;
      break;
    }
  }
  g.list.insertBefore(a, before);
  return a;
}

function remove(key) {
  const c = cards.get(key);
  if (!c) return;
  cards.delete(key);
  const list = c.el.parentElement;
  c.el.remove();
  if (list && list.children.length === 0) {
    const section = list.parentElement;
    groups.delete(section.dataset.group);
    section.remove();
  }
}

function lagOf(before, v, now) {
  if (stats.lag.length > 200000) return;
  for (const s of v.slots) {
    const old = before && before.slots.find((x) => x.slot === s.slot);
    if (!old || old.state !== s.state) stats.lag.push(now - s.since);
  }
  if (v.lastUnit && (!before || !before.lastUnit || before.lastUnit.endedAt !== v.lastUnit.endedAt)) stats.lag.push(now - v.lastUnit.endedAt);
}

function apply(v, measure) {
  const c = cards.get(v.key);
  if (c && GROUP_KEY(c.view) !== GROUP_KEY(v)) remove(v.key);
  const have = cards.get(v.key);
  const card = have ? have.el : place(v);
  if (measure) lagOf(have ? have.view : null, v, Date.now());
  renderCard(card, v);
  cards.set(v.key, { view: v, el: card });
}

function renderSummary() {
  if (!summary) return;
  const s = summary;
  countsEl.textContent = `${s.stations} stations · ${s.online} online · ${s.offline} offline${s.unknown ? ` · ${s.unknown} without state` : ''}`;
  countsEl.dataset.offline = String(s.offline);
  brokerEl.dataset.status = s.broker.connected ? 'live' : 'reconnecting';
  brokerEl.textContent = s.broker.connected ? `● BROKER ${s.broker.target}` : `◌ BROKER DOWN ${s.broker.problem || ''}`;
  badEl.hidden = s.badPayloads === 0;
  badEl.textContent = `${s.badPayloads} bad payloads ignored`;
  emptyEl.hidden = s.stations > 0;
}

function flush() {
  frame = 0;
  if (stats.frame.length < 200000) stats.frame.push(Date.now() - receivedAt);
  const now = Date.now();
  for (const [key, v] of queued) {
    if (v === null) remove(key);
    else apply(v, true);
    stats.applied++;
    const from = heldFrom.get(key);
    if (from !== undefined && stats.viewLag.length < 200000) stats.viewLag.push(now - from);
  }
  queued.clear();
  heldFrom.clear();
  stats.cards = cards.size;
  if (summaryChanged) renderSummary();
  summaryChanged = false;
}

const socket = window.io({ path: '/socket.io', transports: ['websocket'] });
socket.on('connect', () => {
  brokerEl.dataset.status = 'connecting';
});
socket.on('disconnect', () => {
  brokerEl.dataset.status = 'reconnecting';
  brokerEl.textContent = '◌ FLEET SERVER LOST: reconnecting';
});
socket.on('snapshot', (msg) => {
  // A (re)connect: the fleet as the server has it now replaces the page's.
  queued.clear();
  heldFrom.clear();
  for (const key of [...cards.keys()]) remove(key);
  for (const v of msg.stations) apply(v, false);
  summary = msg.summary;
  stats.cards = cards.size;
  stats.snapshotAt = Date.now();
  renderSummary();
});
socket.on('diff', (msg) => {
  if (msg.summary) {
    summary = msg.summary;
    summaryChanged = true;
  }
  const now = Date.now();
  if (stats.transport.length < 200000) stats.transport.push(now - msg.sentAt);
  msg.stations.forEach((v, i) => {
    queued.set(v.key, v);
    if (!heldFrom.has(v.key)) heldFrom.set(v.key, msg.sentAt - (msg.held[i] || 0));
    if (stats.held.length < 200000) stats.held.push(msg.held[i] || 0);
  });
  for (const key of msg.removed) queued.set(key, null);
  if (!frame) {
    receivedAt = now;
    frame = window.requestAnimationFrame(flush);
  }
});
