// The dashboard's side panels: shift counters and yields, the uplink (state, backlog, oldest
// record, each sink when there are several), the factory token pool, and the alarms that need acknowledging. Each panel renders
// from its own slice of the live state, so a delta redraws only the panel it touches.
import { age, clock, el, percent, setChildren, setText } from './dom.js';

export function renderCounters(root, counters) {
  const c = counters || {};
  const values = {
    tested: c.tested ?? 0,
    passed: c.passed ?? 0,
    failed: c.failed ?? 0,
    firstPassYield: percent(c.firstPassYield ?? null),
    finalYield: percent(c.finalYield ?? null),
    unitsPerHour: typeof c.unitsPerHour === 'number' ? String(Math.round(c.unitsPerHour * 10) / 10) : '–',
  };
  for (const [key, value] of Object.entries(values)) {
    const node = root.querySelector(`[data-counter="${key}"] .stat-value`);
    if (node) setText(node, value);
  }
  const since = root.querySelector('[data-shift-start]');
  if (since) setText(since, c.shiftStartedAt ? `shift since ${clock(c.shiftStartedAt)}` : '');
}

/**
 * The uplink as operators need it: a calm status (is it sending, the backlog, the oldest record's
 * age), never red. An outage costs the line nothing while records queue; it becomes an alarm
 * (uplink.backlog, in the alarm list) only past the thresholds an engineer set, and then the panel
 * is marked too. The last error is for engineers (shown to an engineer session only).
 */
const UPLINK_LOOK = {
  online: { icon: '✓', word: 'sending' },
  degraded: { icon: '⟳', word: 'retrying' },
  offline: { icon: '◌', word: 'waiting for the cloud' },
  'not configured': { icon: '–', word: 'not configured' },
};

export function renderUplink(root, uplink, alarmed = false) {
  const u = uplink || { state: 'not configured', queued: null, oldestQueuedAgeSeconds: null, deadLetters: 0, lastError: null };
  const look = UPLINK_LOOK[u.state] || { icon: '?', word: String(u.state) };
  root.dataset.state = u.state;
  root.dataset.alarm = String(Boolean(alarmed));
  setText(root.querySelector('.uplink-state'), `${look.icon} ${look.word}${u.sink === 'file' ? ' (to a folder)' : u.sink === 'particle' ? ' (to Particle)' : ''}`);
  setText(root.querySelector('[data-uplink="queued"]'), u.queued ?? '–');
  setText(root.querySelector('[data-uplink="oldest"]'), age(u.oldestQueuedAgeSeconds));
  setText(root.querySelector('[data-uplink="dead"]'), u.deadLetters ?? 0);
  // With several sinks, each on a line of its own: the backlog above is the union of theirs.
  const sinks = root.querySelector('.uplink-sinks');
  const list = Array.isArray(u.sinks) && u.sinks.length > 1 ? u.sinks : [];
  sinks.hidden = list.length === 0;
  setChildren(
    sinks,
    list.map((s) =>
      el('li', { dataset: { sink: s.id, state: s.state }, text: `${(UPLINK_LOOK[s.state] || { icon: '?' }).icon} ${s.id}: ${s.queued} queued${s.deadLetters ? `, ${s.deadLetters} dead` : ''}` }),
    ),
  );
  const err = root.querySelector('.uplink-error');
  setText(err, u.lastError ? `last error: ${u.lastError}` : '');
  err.hidden = !u.lastError;
}

export function renderTokens(root, tokens) {
  const t = tokens || {};
  const available = typeof t.available === 'number' ? t.available : null;
  const target = typeof t.target === 'number' ? t.target : null;
  const low = typeof t.lowWater === 'number' ? t.lowWater : 0;
  const level = available === null ? 'unknown' : available === 0 ? 'empty' : available < low ? 'low' : 'ok';
  root.dataset.level = level;
  const word = { empty: '✗ EMPTY', low: '⚠ LOW', ok: '✓ OK', unknown: '–' }[level];
  setText(root.querySelector('.tokens-state'), word);
  setText(root.querySelector('[data-tokens="available"]'), available ?? '–');
  setText(root.querySelector('[data-tokens="target"]'), target === null ? '' : `of ${target}`);
  const meter = root.querySelector('meter');
  meter.max = Math.max(target ?? 1, available ?? 0, 1);
  meter.low = low;
  meter.high = target ?? meter.max;
  meter.optimum = meter.max;
  meter.value = available ?? 0;
}

/** An alarm whose cause is still there and that nobody shelved: what the line must see. */
export function isActive(a) {
  return !a.cleared && !a.shelved;
}

const SEVERITY_RANK = { critical: 0, warning: 1 };
const GROUP = (a) => (a.shelved ? 2 : a.cleared ? 1 : 0);

/**
 * The order alarms are listed in: active ones first (critical before warning, not yet
 * acknowledged before acknowledged, then the oldest first), then the cleared ones still waiting
 * for an acknowledgement (newest first), then the shelved ones. So the first Acknowledge button is
 * always on a live alarm when there is one.
 */
export function alarmOrder(a, b) {
  const group = GROUP(a) - GROUP(b);
  if (group !== 0) return group;
  const severity = (SEVERITY_RANK[a.severity] ?? 2) - (SEVERITY_RANK[b.severity] ?? 2);
  if (severity !== 0) return severity;
  if (GROUP(a) === 0 && a.acknowledged !== b.acknowledged) return a.acknowledged ? 1 : -1;
  return GROUP(a) === 0 ? sinceMs(a) - sinceMs(b) : sinceMs(b) - sinceMs(a);
}

/** The worst active alarm (alarmOrder's first), or null. */
export function worstActive(alarms) {
  const active = alarms.filter(isActive).sort(alarmOrder);
  return active.length ? active[0] : null;
}

/**
 * The top bar's alarm summary: how many alarms are active and the worst of them, in words, a
 * symbol and a colour (and a double border for critical). With none active it says so, and how
 * many cleared ones still wait for an acknowledgement.
 */
export function renderAlarmSummary(node, alarms, slotName) {
  const active = alarms.filter(isActive);
  const worst = worstActive(alarms);
  const toAck = alarms.filter((a) => !a.acknowledged && !a.shelved).length;
  const shelved = alarms.filter((a) => a.shelved).length;
  const level = worst ? worst.severity : 'none';
  node.dataset.level = level;
  node.dataset.count = String(active.length);
  setText(node.querySelector('.alarm-summary-icon'), level === 'critical' ? '‼' : level === 'warning' ? '⚠' : '✓');
  const extra = [toAck && worst ? `${toAck} to acknowledge` : '', shelved ? `${shelved} shelved` : ''].filter(Boolean).join(', ');
  setText(
    node.querySelector('.alarm-summary-count'),
    active.length === 0
      ? `No active alarms${toAck ? ` · ${toAck} cleared, to acknowledge` : ''}${shelved ? ` · ${shelved} shelved` : ''}`
      : `${active.length} ACTIVE ALARM${active.length === 1 ? '' : 'S'}${extra ? ` (${extra})` : ''}`,
  );
  setText(
    node.querySelector('.alarm-summary-worst'),
    worst ? `${worst.severity === 'critical' ? 'CRITICAL' : 'WARNING'}${worst.slot === null || worst.slot === undefined ? '' : ` · ${slotName(worst.slot)}`}: ${worst.message}` : '',
  );
}

/**
 * Alarms in alarmOrder: active first, then cleared ones, then shelved ones. `ack(alarmId)` resolves
 * to the server's ack. A cleared alarm stays (marked cleared) until acknowledged.
 */
export function renderAlarms(root, alarms, slotName, ack) {
  const list = root.querySelector('.alarm-list');
  const sorted = [...alarms].sort(alarmOrder);
  const open = sorted.filter((a) => !a.acknowledged && !a.shelved).length;
  const active = sorted.filter(isActive).length;
  root.dataset.open = String(open);
  root.dataset.active = String(active);
  setText(root.querySelector('.alarm-count'), sorted.length === 0 ? 'none' : `${active} active${open ? ` · ${open} to acknowledge` : ''}`);
  setChildren(
    list,
    sorted.map((a) => {
      const notice = el('span', { className: 'alarm-notice', attrs: { role: 'alert' } });
      const button = a.acknowledged
        ? null
        : el('button', {
            type: 'button',
            className: 'alarm-ack',
            text: 'Acknowledge',
            on: {
              click: async () => {
                button.disabled = true;
                const res = await ack(a.alarmId);
                if (!res.ok) {
                  button.disabled = false;
                  notice.textContent = `not acknowledged: ${res.error || 'unknown error'}`;
                }
              },
            },
          });
      const shelf = a.shelved ? el('div', { className: 'alarm-shelf', text: `shelved until ${clock(a.shelved.until)} by ${a.shelved.by}: ${a.shelved.reason}` }) : null;
      return el(
        'li',
        {
          className: `alarm ${a.severity}${a.cleared ? ' cleared' : ''}${a.acknowledged ? ' acknowledged' : ''}${a.shelved ? ' shelved' : ''}`,
          dataset: { alarm: a.alarmId, severity: a.severity, status: a.shelved ? 'shelved' : a.cleared ? 'cleared' : 'active' },
        },
        el('span', { className: 'alarm-icon', attrs: { 'aria-hidden': 'true' }, text: a.shelved ? '⏸' : a.severity === 'critical' ? '‼' : '⚠' }),
        el(
          'div',
          { className: 'alarm-body' },
          el('div', {
            className: 'alarm-title',
            text: `${a.severity === 'critical' ? 'CRITICAL' : 'WARNING'}${a.slot === null || a.slot === undefined ? '' : ` · ${slotName(a.slot)}`}${a.cleared ? ' · cleared' : ''}${a.shelved ? ' · shelved' : ''}${a.acknowledged ? ' · acknowledged' : ''}`,
          }),
          el('div', { className: 'alarm-message', text: a.message }),
          el('div', { className: 'alarm-since', text: `since ${clock(a.since)}` }),
          shelf,
          notice,
        ),
        button,
      );
    }),
  );
}

function sinceMs(a) {
  const t = typeof a.since === 'number' ? a.since : Date.parse(a.since);
  return Number.isNaN(t) ? 0 : t;
}
