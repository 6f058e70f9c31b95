// The dashboard's side panels: shift counters and yields, the uplink (state, backlog, oldest
// record), the factory token pool, and the alarms that need acknowledging. Each panel renders
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

const UPLINK_LOOK = {
  online: { icon: '✓', word: 'ONLINE' },
  degraded: { icon: '⚠', word: 'DEGRADED' },
  offline: { icon: '✗', word: 'OFFLINE' },
  'not configured': { icon: '–', word: 'NOT CONFIGURED' },
};

export function renderUplink(root, uplink) {
  const u = uplink || { state: 'not configured', queued: null, oldestQueuedAgeSeconds: null, deadLetters: 0, lastError: null };
  const look = UPLINK_LOOK[u.state] || { icon: '?', word: String(u.state).toUpperCase() };
  root.dataset.state = u.state;
  setText(root.querySelector('.uplink-state'), `${look.icon} ${look.word}${u.sink === 'file' ? ' (file)' : u.sink === 'particle' ? ' (Particle)' : ''}`);
  setText(root.querySelector('[data-uplink="queued"]'), u.queued ?? '–');
  setText(root.querySelector('[data-uplink="oldest"]'), age(u.oldestQueuedAgeSeconds));
  setText(root.querySelector('[data-uplink="dead"]'), u.deadLetters ?? 0);
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

/**
 * Alarms, critical first then oldest first. `ack(alarmId)` resolves to the server's ack.
 * A cleared alarm stays (marked cleared) until acknowledged.
 */
export function renderAlarms(root, alarms, slotName, ack) {
  const list = root.querySelector('.alarm-list');
  const sorted = [...alarms].sort((a, b) => (a.severity === b.severity ? sinceMs(a) - sinceMs(b) : a.severity === 'critical' ? -1 : 1));
  const open = sorted.filter((a) => !a.acknowledged).length;
  root.dataset.open = String(open);
  setText(root.querySelector('.alarm-count'), open ? `${open} to acknowledge` : sorted.length ? 'all acknowledged' : 'none');
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
      return el(
        'li',
        { className: `alarm ${a.severity}${a.cleared ? ' cleared' : ''}${a.acknowledged ? ' acknowledged' : ''}`, dataset: { alarm: a.alarmId, severity: a.severity } },
        el('span', { className: 'alarm-icon', attrs: { 'aria-hidden': 'true' }, text: a.severity === 'critical' ? '‼' : '⚠' }),
        el(
          'div',
          { className: 'alarm-body' },
          el('div', {
            className: 'alarm-title',
            text: `${a.severity === 'critical' ? 'CRITICAL' : 'WARNING'}${a.slot === null || a.slot === undefined ? '' : ` · ${slotName(a.slot)}`}${a.cleared ? ' · cleared' : ''}${a.acknowledged ? ' · acknowledged' : ''}`,
          }),
          el('div', { className: 'alarm-message', text: a.message }),
          el('div', { className: 'alarm-since', text: `since ${clock(a.since)}` }),
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
