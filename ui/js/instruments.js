// The bench instruments panel of the engineer console: each instrument from GET /api/health
// (what it is, where, its state and why, its serial number, its calibration), and the engineer's
// override of a calibration date that has passed (POST /api/instruments/:id/calibration-override,
// with a reason; the daemon records who and when). Health is public; the override needs the
// engineer session and its CSRF token (api.js sends it).
import { api } from './api.js';
import { clock, el, setChildren, setText } from './dom.js';

const STATE_LOOK = { ready: '✓ ready', connecting: '⟳ connecting', offline: '✗ offline', 'wrong-instrument': '✗ wrong instrument' };

/** Whether an instrument needs a person: not ready, or past its calibration with no override. */
export function needsAttention(i) {
  return i.state !== 'ready' || (i.calibrationPassed && !i.override);
}

export class InstrumentsPanel {
  /** onChange(instruments) runs after every load (the console marks its tab, the editor offers the ids). */
  constructor(root, { onChange }) {
    this.root = root;
    this.onChange = onChange;
    this.message = el('p', { className: 'muted', attrs: { role: 'status' } });
    this.table = el('div', { className: 'instruments-table' });
    this.andon = el('div', { className: 'andon-table' });
    const refresh = el('button', { type: 'button', text: 'Refresh', dataset: { action: 'refresh-instruments' }, on: { click: () => this.load() } });
    root.replaceChildren(
      el('p', {}, 'The bench instruments of this station, as the station sees them now. ', refresh),
      el('p', {
        className: 'muted',
        text: 'Past its calibration date, an instrument stops production testing on the slots that use it until an engineer overrides it here (recorded with the reason, the role and the time). Test mode only warns.',
      }),
      this.message,
      this.table,
      this.andon,
    );
  }

  async load() {
    try {
      const { data } = await api('/api/health');
      const instruments = Array.isArray(data.instruments) ? data.instruments : [];
      setText(this.message, instruments.length ? '' : 'This station has no bench instruments.');
      setChildren(this.table, instruments.length ? this.render(instruments) : null);
      setChildren(this.andon, data.andon ? this.renderAndon(data.andon) : null);
      this.onChange(instruments);
      return instruments;
    } catch (err) {
      setText(this.message, `Cannot read the instruments: ${err.message}`);
      return null;
    }
  }

  render(instruments) {
    return el(
      'table',
      { className: 'data instruments' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['id', 'kind', 'model', 'where', 'state', 'serial', 'calibration due', 'calibration'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        instruments.map((i) => this.row(i)),
      ),
    );
  }

  row(i) {
    return el(
      'tr',
      { dataset: { instrument: i.id }, className: needsAttention(i) ? 'attention' : '' },
      el('td', { className: 'mono', text: i.id }),
      el('td', { text: i.kind }),
      el('td', { text: i.model }),
      el('td', { className: 'mono', text: i.label || '–' }),
      el('td', { className: `instrument-state state-${i.state}` }, STATE_LOOK[i.state] || i.state, i.reason ? el('div', { className: 'reason', text: i.reason }) : null),
      el('td', { className: 'mono serial', text: i.serial || '–' }),
      el('td', { text: i.calibrationDue || '–' }),
      el('td', { className: 'calibration' }, this.calibration(i)),
    );
  }

  /** The stack light (GET /api/health's andon, docs/andon.md): the light now, and each output's state. */
  renderAndon(a) {
    const look = { connected: '✓ connected', connecting: '⟳ connecting', unreachable: '✗ unreachable', unavailable: '✗ unavailable' };
    return [
      el('h3', { text: 'Andon' }),
      el('p', { dataset: { andonLight: a.colour } }, `Light: ${a.colour}${a.blink ? ' (blinking)' : ''}, buzzer ${a.buzzer}: ${a.why}`),
      el(
        'table',
        { className: 'data andon-outputs' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ['output', 'kind', 'where', 'state', 'showing'].map((h) => el('th', { text: h })),
          ),
        ),
        el(
          'tbody',
          {},
          a.outputs.map((o) =>
            el(
              'tr',
              { dataset: { andonOutput: o.id }, className: o.state === 'connected' ? '' : 'attention' },
              el('td', { className: 'mono', text: o.id }),
              el('td', { text: o.kind }),
              el('td', { className: 'mono', text: o.target }),
              el('td', {}, look[o.state] || o.state, o.lastError ? el('div', { className: 'reason', text: o.lastError }) : null),
              el('td', { text: o.showing ?? '–' }),
            ),
          ),
        ),
      ),
    ];
  }

  calibration(i) {
    if (!i.calibrationDue) return el('span', { className: 'muted', text: 'no due date' });
    if (!i.calibrationPassed) return el('span', { className: 'outcome-pass', text: '✓ in date' });
    if (i.override) {
      return [
        el('span', { className: 'outcome-marginal', text: '◐ passed, overridden' }),
        el('div', { className: 'override muted', text: `by ${i.override.byRole} at ${clock(i.override.at)}: ${i.override.reason}` }),
      ];
    }
    const note = el('span', { className: 'override-result', attrs: { role: 'status' } });
    const reason = el('input', {
      type: 'text',
      name: 'reason',
      required: true,
      minLength: 3,
      maxLength: 500,
      placeholder: 'why testing may go on (checked against the reference, say)',
      attrs: { 'aria-label': `reason to override ${i.id}'s calibration` },
    });
    const form = el(
      'form',
      {
        className: 'override-form',
        hidden: true,
        on: {
          submit: (ev) => {
            ev.preventDefault();
            this.override(i, reason.value.trim(), form, note);
          },
        },
      },
      reason,
      el('button', { type: 'submit', className: 'primary', text: 'Override' }),
      el('button', {
        type: 'button',
        text: 'Cancel',
        on: {
          click: () => {
            form.hidden = true;
            ask.hidden = false;
          },
        },
      }),
    );
    const ask = el('button', {
      type: 'button',
      text: 'Override calibration',
      dataset: { overrideCalibration: i.id },
      on: {
        click: () => {
          ask.hidden = true;
          form.hidden = false;
          reason.focus();
        },
      },
    });
    return [el('span', { className: 'outcome-fail', text: `✗ passed on ${i.calibrationDue}` }), ' ', ask, form, note];
  }

  async override(instrument, reason, form, note) {
    if (reason.length < 3) {
      setText(note, 'Give a reason of at least 3 characters.');
      return;
    }
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    try {
      await api(`/api/instruments/${encodeURIComponent(instrument.id)}/calibration-override`, { method: 'POST', body: { reason } });
      await this.load();
    } catch (err) {
      setText(note, `✗ not overridden: ${err.message}`);
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  }
}
