// The Alarms tab of the engineer console: the alarm board as it is now (GET /api/alarms), each
// alarm with a form to shelve it (a reason and how long: POST /api/alarms/:id/shelve), the shelves
// in force with an Unshelve button (DELETE /api/alarms/:id/shelve), and the alarm history, newest
// first (GET /api/alarms/history). The daemon records who shelved what, when and why.
import { api } from './api.js';
import { clock, el, setChildren, setText } from './dom.js';

const DURATIONS = [
  [15, '15 minutes'],
  [60, '1 hour'],
  [240, '4 hours'],
  [480, '8 hours (a shift)'],
  [1440, '24 hours'],
  [10080, '7 days'],
];

const EVENT_WORDS = { raised: '⚠ raised', cleared: '✓ cleared', acknowledged: '☑ acknowledged', shelved: '⏸ shelved', unshelved: '▶ unshelved' };

export class AlarmsPanel {
  constructor(root) {
    this.root = root;
    this.message = el('p', { className: 'muted', attrs: { role: 'status' } });
    this.current = el('div', { className: 'alarms-current' });
    this.shelves = el('div', { className: 'alarms-shelves' });
    this.history = el('div', { className: 'alarms-history' });
    const refresh = el('button', { type: 'button', text: 'Refresh', dataset: { action: 'refresh-alarms' }, on: { click: () => this.load() } });
    root.replaceChildren(
      el('p', {}, 'The alarms the station lists now. ', refresh),
      el('p', {
        className: 'muted',
        text: 'Shelving puts an alarm aside for a while, with a reason: operators see it as shelved, not as an alarm, and the same alarm raised again before the shelf ends stays shelved. When the shelf ends, an alarm still active comes back unacknowledged. Every shelf is kept in the history with who set it.',
      }),
      this.message,
      this.current,
      el('h3', { text: 'Shelved' }),
      this.shelves,
      el('h3', { text: 'History' }),
      this.history,
    );
  }

  async load() {
    try {
      const [{ data: board }, { data: history }] = await Promise.all([api('/api/alarms'), api('/api/alarms/history?limit=200')]);
      setText(this.message, board.alarms.length ? '' : 'No alarm is listed.');
      setChildren(this.current, board.alarms.length ? this.renderCurrent(board.alarms) : null);
      setChildren(this.shelves, board.shelves.length ? this.renderShelves(board.shelves) : el('p', { className: 'muted', text: 'No alarm is shelved.' }));
      setChildren(this.history, history.events.length ? this.renderHistory(history.events) : el('p', { className: 'muted', text: 'No alarm yet.' }));
      return board;
    } catch (err) {
      setText(this.message, `Cannot read the alarms: ${err.message}`);
      return null;
    }
  }

  renderCurrent(alarms) {
    return el(
      'table',
      { className: 'data alarms-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['alarm', 'severity', 'message', 'since', 'status', 'shelve'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        alarms.map((a) =>
          el(
            'tr',
            { dataset: { alarm: a.alarmId } },
            el('td', { className: 'mono', text: a.alarmId }),
            el('td', { className: a.severity === 'critical' ? 'outcome-fail' : 'outcome-marginal', text: a.severity === 'critical' ? '‼ critical' : '⚠ warning' }),
            el('td', { className: 'reason', text: a.message }),
            el('td', { text: clock(a.since) }),
            el('td', {
              text: [a.cleared ? 'cleared' : 'active', a.acknowledged ? 'acknowledged' : '', a.shelved ? `shelved until ${clock(a.shelved.until)}` : ''].filter(Boolean).join(', '),
            }),
            el('td', {}, this.shelveForm(a)),
          ),
        ),
      ),
    );
  }

  shelveForm(a) {
    const reason = el('input', { type: 'text', name: 'reason', maxLength: 500, placeholder: 'why (at least 3 characters)', attrs: { 'aria-label': `why shelve ${a.alarmId}` } });
    const minutes = el(
      'select',
      { name: 'minutes', attrs: { 'aria-label': 'for how long' } },
      DURATIONS.map(([m, words]) => el('option', { value: String(m), text: words })),
    );
    const note = el('span', { className: 'error', attrs: { role: 'alert' } });
    const form = el(
      'form',
      {
        className: 'shelve-form',
        on: {
          submit: async (ev) => {
            ev.preventDefault();
            const button = form.querySelector('button');
            button.disabled = true;
            setText(note, '');
            try {
              await api(`/api/alarms/${encodeURIComponent(a.alarmId)}/shelve`, { method: 'POST', body: { reason: reason.value, minutes: Number(minutes.value) } });
              await this.load();
            } catch (err) {
              setText(note, err.body && Array.isArray(err.body.problems) ? err.body.problems.join('; ') : err.message);
              button.disabled = false;
            }
          },
        },
      },
      reason,
      minutes,
      el('button', { type: 'submit', text: a.shelved ? 'Shelve again' : 'Shelve' }),
      note,
    );
    return form;
  }

  renderShelves(shelves) {
    return el(
      'table',
      { className: 'data shelves-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['alarm', 'until', 'by', 'reason', ''].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        shelves.map(({ alarmId, shelf }) => {
          const note = el('span', { className: 'error', attrs: { role: 'alert' } });
          const button = el('button', {
            type: 'button',
            text: 'Unshelve',
            dataset: { action: 'unshelve' },
            on: {
              click: async () => {
                button.disabled = true;
                try {
                  await api(`/api/alarms/${encodeURIComponent(alarmId)}/shelve`, { method: 'DELETE' });
                  await this.load();
                } catch (err) {
                  setText(note, err.message);
                  button.disabled = false;
                }
              },
            },
          });
          return el(
            'tr',
            { dataset: { shelf: alarmId } },
            el('td', { className: 'mono', text: alarmId }),
            el('td', { text: clock(shelf.until) }),
            el('td', { text: shelf.by }),
            el('td', { className: 'reason', text: shelf.reason }),
            el('td', {}, button, note),
          );
        }),
      ),
    );
  }

  renderHistory(events) {
    return el(
      'table',
      { className: 'data history-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['time', 'alarm', 'what', 'by', 'details'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        events.map((e) =>
          el(
            'tr',
            { dataset: { event: e.event, alarm: e.alarmId } },
            el('td', { text: clock(e.at) }),
            el('td', { className: 'mono', text: e.alarmId }),
            el('td', { text: EVENT_WORDS[e.event] || e.event }),
            el('td', { text: e.by || '' }),
            el('td', { className: 'reason', text: e.event === 'shelved' ? `until ${clock(e.until)}: ${e.reason}` : e.message || '' }),
          ),
        ),
      ),
    );
  }
}
