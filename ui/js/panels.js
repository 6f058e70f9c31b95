// The dashboard's side panels: shift counters and yields, the uplink (state, backlog, oldest
// record, each sink when there are several), the factory token pool, and the alarms that need acknowledging. Each panel renders
// from its own slice of the live state, so a delta redraws only the panel it touches.
import { el, setChildren, setText } from './dom.js';
import { age, clock, number, percent, t } from './i18n.js';

export function renderCounters(root, counters) {
  const c = counters || {};
  const values = {
    tested: number(c.tested ?? 0),
    passed: number(c.passed ?? 0),
    failed: number(c.failed ?? 0),
    firstPassYield: percent(c.firstPassYield ?? null),
    finalYield: percent(c.finalYield ?? null),
    unitsPerHour: typeof c.unitsPerHour === 'number' ? number(Math.round(c.unitsPerHour * 10) / 10) : '–',
  };
  for (const [key, value] of Object.entries(values)) {
    const node = root.querySelector(`[data-counter="${key}"] .stat-value`);
    if (node) setText(node, value);
  }
  const since = root.querySelector('[data-shift-start]');
  if (since) setText(since, c.shiftStartedAt ? t('counters.shiftSince', { time: clock(c.shiftStartedAt) }) : '');
}

/**
 * The uplink as operators need it: a calm status (is it sending, the backlog, the oldest record's
 * age), never red. An outage costs the line nothing while records queue; it becomes an alarm
 * (uplink.backlog, in the alarm list) only past the thresholds an engineer set, and then the panel
 * is marked too. The last error is for engineers (shown to an engineer session only).
 */
const UPLINK_ICON = { online: '✓', degraded: '⟳', offline: '◌', 'not configured': '–' };
const UPLINK_KEY = { online: 'uplink.online', degraded: 'uplink.degraded', offline: 'uplink.offline', 'not configured': 'uplink.notConfigured' };

export function renderUplink(root, uplink, alarmed = false) {
  const u = uplink || { state: 'not configured', queued: null, oldestQueuedAgeSeconds: null, deadLetters: 0, lastError: null };
  const look = { icon: UPLINK_ICON[u.state] || '?', word: UPLINK_KEY[u.state] ? t(UPLINK_KEY[u.state]) : String(u.state) };
  root.dataset.state = u.state;
  root.dataset.alarm = String(Boolean(alarmed));
  setText(root.querySelector('.uplink-state'), `${look.icon} ${look.word}${u.sink === 'file' ? ` ${t('uplink.toFolder')}` : u.sink === 'particle' ? ` ${t('uplink.toParticle')}` : ''}`);
  setText(root.querySelector('[data-uplink="queued"]'), typeof u.queued === 'number' ? number(u.queued) : '–');
  setText(root.querySelector('[data-uplink="oldest"]'), age(u.oldestQueuedAgeSeconds));
  setText(root.querySelector('[data-uplink="dead"]'), number(u.deadLetters ?? 0));
  // With several sinks, each on a line of its own: the backlog above is the union of theirs.
  const sinks = root.querySelector('.uplink-sinks');
  const list = Array.isArray(u.sinks) && u.sinks.length > 1 ? u.sinks : [];
  sinks.hidden = list.length === 0;
  setChildren(
    sinks,
    list.map((s) =>
      el('li', {
        dataset: { sink: s.id, state: s.state },
        text: `${UPLINK_ICON[s.state] || '?'} ${s.id}: ${t('uplink.sinkQueued', { count: s.queued })}${s.deadLetters ? `, ${t('uplink.sinkDead', { count: s.deadLetters })}` : ''}`,
      }),
    ),
  );
  const err = root.querySelector('.uplink-error');
  setText(err, u.lastError ? t('uplink.lastError', { error: u.lastError }) : '');
  err.hidden = !u.lastError;
}

export function renderTokens(root, tokens) {
  const pool = tokens || {};
  const available = typeof pool.available === 'number' ? pool.available : null;
  const target = typeof pool.target === 'number' ? pool.target : null;
  const low = typeof pool.lowWater === 'number' ? pool.lowWater : 0;
  const level = available === null ? 'unknown' : available === 0 ? 'empty' : available < low ? 'low' : 'ok';
  root.dataset.level = level;
  const word = level === 'unknown' ? '–' : `${{ empty: '✗', low: '⚠', ok: '✓' }[level]} ${t(`tokens.${level}`)}`;
  setText(root.querySelector('.tokens-state'), word);
  setText(root.querySelector('[data-tokens="available"]'), number(available));
  setText(root.querySelector('[data-tokens="target"]'), target === null ? '' : t('tokens.ofTarget', { target }));
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
  const extra = [toAck && worst ? t('alarms.toAck', { count: toAck }) : '', shelved ? t('alarms.shelvedCount', { count: shelved }) : ''].filter(Boolean).join(', ');
  setText(
    node.querySelector('.alarm-summary-count'),
    active.length === 0
      ? `${t('alarms.noneActive')}${toAck ? ` · ${t('alarms.clearedToAck', { count: toAck })}` : ''}${shelved ? ` · ${t('alarms.shelvedCount', { count: shelved })}` : ''}`
      : `${t('alarms.activeCount', { count: active.length })}${extra ? ` (${extra})` : ''}`,
  );
  setText(
    node.querySelector('.alarm-summary-worst'),
    worst ? `${severityWord(worst.severity)}${worst.slot === null || worst.slot === undefined ? '' : ` · ${slotName(worst.slot)}`}: ${worst.message}` : '',
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
  setText(root.querySelector('.alarm-count'), sorted.length === 0 ? t('alarms.none') : `${t('alarms.active', { count: active })}${open ? ` · ${t('alarms.toAck', { count: open })}` : ''}`);
  setChildren(
    list,
    sorted.map((a) => {
      const notice = el('span', { className: 'alarm-notice', attrs: { role: 'alert' } });
      const button = a.acknowledged
        ? null
        : el('button', {
            type: 'button',
            className: 'alarm-ack',
            text: t('alarms.acknowledge'),
            on: {
              click: async () => {
                button.disabled = true;
                const res = await ack(a.alarmId);
                if (!res.ok) {
                  button.disabled = false;
                  notice.textContent = t('alarms.notAcked', { why: res.error || t('notice.unknownError') });
                }
              },
            },
          });
      const shelf = a.shelved ? el('div', { className: 'alarm-shelf', text: t('alarms.shelvedUntil', { time: clock(a.shelved.until), by: a.shelved.by, reason: a.shelved.reason }) }) : null;
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
            text: alarmTitle(a, slotName),
          }),
          el('div', { className: 'alarm-message', text: a.message }),
          el('div', { className: 'alarm-since', text: t('alarms.since', { time: clock(a.since) }) }),
          shelf,
          notice,
        ),
        button,
      );
    }),
  );
}

/** CRITICAL or WARNING in the screen's language. */
export function severityWord(severity) {
  return t(severity === 'critical' ? 'alarms.critical' : 'alarms.warning');
}

/** An alarm's title line: its severity, its nest, and cleared / shelved / acknowledged. */
export function alarmTitle(a, slotName) {
  const marks = [a.cleared ? t('alarms.cleared') : '', a.shelved ? t('alarms.shelved') : '', a.acknowledged ? t('alarms.acknowledged') : ''].filter(Boolean);
  return [severityWord(a.severity), a.slot === null || a.slot === undefined ? '' : slotName(a.slot), ...marks].filter(Boolean).join(' · ');
}

function sinceMs(a) {
  const t = typeof a.since === 'number' ? a.since : Date.parse(a.since);
  return Number.isNaN(t) ? 0 : t;
}
