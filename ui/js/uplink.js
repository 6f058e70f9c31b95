// The engineer console's uplink tab: each sink of the uplink (GET /api/health's uplink.sinks: its
// id, kind, where it delivers, state, backlog, dead letters, last success and last error, and an
// MQTT sink's Sparkplug B edge node connection; no secret is in any of it), and the dead letters (GET /api/uplink/dead-letters), which can be sent
// again once the sink is fixed (POST /api/uplink/dead-letters/requeue).
import { api } from './api.js';
import { age, clock, el, setChildren, setText } from './dom.js';

const STATE_ICON = { online: '✓', degraded: '⚠', offline: '✗' };

/** An MQTT sink's Sparkplug B edge node (`sparkplug` in its health entry), in words; '–' without one. */
function sparkplugWords(sp) {
  if (!sp) return '–';
  if (sp.connected) return `✓ connected · bdSeq ${sp.bdSeq}${sp.lastBirthAt ? ` · born ${clock(sp.lastBirthAt)}` : ''}`;
  return `✗ disconnected${sp.disconnectedSince ? ` since ${clock(sp.disconnectedSince)}` : ''}${sp.lastError ? `: ${sp.lastError}` : ''}`;
}

export class UplinkPanel {
  constructor(root) {
    this.root = root;
    this.sinks = el('div', { className: 'uplink-sinks' });
    this.dead = el('div', { className: 'uplink-dead' });
    this.status = el('p', { className: 'muted', attrs: { role: 'status' } });
    const refresh = el('button', { type: 'button', text: 'Refresh' });
    refresh.addEventListener('click', () => this.load());
    setChildren(root, el('p', {}, refresh), el('h3', { text: 'Sinks' }), this.sinks, el('h3', { text: 'Dead letters' }), this.dead, this.status);
  }

  async load() {
    try {
      const [{ data: health }, { data: dead }] = await Promise.all([api('/api/health'), api('/api/uplink/dead-letters?limit=100')]);
      this.renderSinks(health.uplink);
      this.renderDead(dead.deadLetters);
    } catch (err) {
      setText(this.status, `Cannot load the uplink: ${err.message}`);
    }
  }

  renderSinks(uplink) {
    const sinks = (uplink && uplink.sinks) || [];
    if (sinks.length === 0) {
      setChildren(this.sinks, el('p', { text: `No sink is configured: ${uplink ? uplink.queued : 0} records wait in the outbox.` }));
      return;
    }
    setChildren(
      this.sinks,
      el(
        'table',
        { className: 'data sinks' },
        el(
          'thead',
          {},
          el('tr', {}, ...['sink', 'kind', 'delivers to', 'state', 'sparkplug', 'queued', 'oldest', 'dead letters', 'delivered', 'last success', 'last error'].map((h) => el('th', { text: h }))),
        ),
        el(
          'tbody',
          {},
          ...sinks.map((s) =>
            el(
              'tr',
              { attrs: { 'data-sink': s.id, 'data-state': s.state } },
              el('td', { text: s.id }),
              el('td', { text: s.kind }),
              el('td', { className: 'reason', text: s.target }),
              el('td', { text: `${STATE_ICON[s.state] || '?'} ${s.state}` }),
              el('td', { className: 'reason sparkplug', attrs: s.sparkplug ? { 'data-connected': String(s.sparkplug.connected) } : {}, text: sparkplugWords(s.sparkplug) }),
              el('td', { text: String(s.queued) }),
              el('td', { text: age(s.oldestQueuedAgeSeconds) }),
              el('td', { text: String(s.deadLetters) }),
              el('td', { text: String(s.delivered) }),
              el('td', { text: s.lastSuccessAt ? clock(s.lastSuccessAt) : '–' }),
              el('td', { className: 'reason', text: s.lastError || '' }),
            ),
          ),
        ),
      ),
    );
  }

  renderDead(list) {
    if (list.length === 0) {
      setChildren(this.dead, el('p', { text: 'None.' }));
      return;
    }
    const again = el('button', { type: 'button', text: `Send these ${list.length} again` });
    again.addEventListener('click', async () => {
      try {
        const { data } = await api('/api/uplink/dead-letters/requeue', { method: 'POST', body: { recordIds: [...new Set(list.map((d) => d.recordId))] } });
        setText(this.status, `✓ ${data.requeued} records queued again at ${clock(Date.now())}`);
        await this.load();
      } catch (err) {
        setText(this.status, `✗ ${err.message}`);
      }
    });
    setChildren(
      this.dead,
      el(
        'table',
        { className: 'data dead-letters' },
        el('thead', {}, el('tr', {}, ...['sink', 'device', 'verdict', 'refused at', 'reason'].map((h) => el('th', { text: h })))),
        el(
          'tbody',
          {},
          ...list.map((d) =>
            el(
              'tr',
              { attrs: { 'data-record': d.recordId } },
              el('td', { text: d.sink }),
              el('td', { className: 'mono', text: d.deviceId }),
              el('td', { text: d.status }),
              el('td', { text: clock(d.at) }),
              el('td', { className: 'reason', text: d.reason }),
            ),
          ),
        ),
      ),
      el('p', {}, again),
    );
  }
}
