// The engineer console's Users tab: one login per person. Lists the accounts (the built-in
// "operator" and "engineer" ones, whose PIN and password are set where the station starts, and
// each person's), adds one (a name, the role, a PIN for an operator or a password for an
// engineer), resets a person's PIN or password, disables and enables accounts. A disabled account,
// or one whose secret was reset, is logged out everywhere at once (the daemon does it).
import { api } from './api.js';
import { clock, el, setChildren, setText } from './dom.js';

const SOURCE_WORDS = { env: 'from the environment', config: 'from the configuration', generated: 'generated (credentials.txt)', unset: 'not set' };

export class UsersPanel {
  constructor(root, { self = () => '' } = {}) {
    this.root = root;
    this.self = self;
    /** The name whose reset form is open, or null. */
    this.editing = null;
    this.status = el('p', { className: 'users-status', attrs: { role: 'status', 'aria-live': 'polite' } });
    this.table = el('div', { className: 'users-table' });
    const name = el('input', { id: 'user-name', name: 'name', required: true, maxLength: 40, autocomplete: 'off' });
    const role = el('select', { id: 'user-role', name: 'role' }, el('option', { value: 'operator', text: 'operator' }), el('option', { value: 'engineer', text: 'engineer' }));
    const secret = el('input', { id: 'user-secret', name: 'secret', type: 'password', required: true, maxLength: 256, autocomplete: 'new-password' });
    const secretLabel = el('label', { htmlFor: 'user-secret', text: 'PIN (4–12 digits)' });
    role.addEventListener('change', () => {
      secretLabel.textContent = role.value === 'operator' ? 'PIN (4–12 digits)' : 'password (at least 8 characters)';
      secret.inputMode = role.value === 'operator' ? 'numeric' : 'text';
    });
    this.form = el(
      'form',
      {
        id: 'user-add',
        className: 'user-add',
        attrs: { 'aria-label': 'Add a user' },
        on: {
          submit: async (ev) => {
            ev.preventDefault();
            try {
              const { data } = await api('/api/users', { method: 'POST', body: { name: name.value.trim(), role: role.value, secret: secret.value } });
              setText(this.status, `✓ ${data.name} added (${data.role}).`);
              this.status.dataset.outcome = 'ok';
              name.value = '';
              secret.value = '';
              await this.load(false);
            } catch (err) {
              this.fail(err);
            }
          },
        },
      },
      el('h3', { text: 'Add a user' }),
      el('label', { htmlFor: 'user-name', text: 'name' }),
      name,
      el('label', { htmlFor: 'user-role', text: 'role' }),
      role,
      secretLabel,
      secret,
      el('button', { type: 'submit', className: 'primary', text: 'Add' }),
    );
    root.replaceChildren(
      el('p', {
        className: 'muted',
        text: 'One login per person: the record keeps who answered each prompt, acknowledged each alarm and saved each sequence version. The built-in accounts use the PIN and password set where the station starts (docs/security.md); disable them once everyone has their own.',
      }),
      this.table,
      this.status,
      this.form,
    );
  }

  fail(err) {
    this.status.dataset.outcome = 'error';
    setText(this.status, `✗ ${err.message}`);
  }

  async load(clearStatus = true) {
    if (clearStatus) setText(this.status, '');
    try {
      const { data } = await api('/api/users');
      // A PIN or password being typed into a reset form is not swept away by a list that comes in
      // meanwhile (the tab's own load, say): the list is drawn once that form is done.
      if (this.editing) return;
      setChildren(this.table, this.render(data.users));
    } catch (err) {
      setChildren(this.table, el('p', { className: 'error', text: `Cannot list users: ${err.message}` }));
    }
  }

  render(users) {
    return el(
      'table',
      { className: 'data users' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['name', 'role', 'state', 'PIN / password', 'added', 'last change', ''].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        users.map((u) =>
          el(
            'tr',
            { dataset: { user: u.name, disabled: String(u.disabled) } },
            el('td', { text: u.name }),
            el('td', { text: u.role }),
            el('td', { className: 'user-state', text: u.disabled ? '⊘ disabled' : '✓ enabled' }),
            el('td', { text: u.builtin ? `built-in: ${SOURCE_WORDS[u.secretSource] || u.secretSource}` : 'own' }),
            el('td', { text: `${clock(u.createdAt)} by ${u.createdBy}` }),
            el('td', { text: `${clock(u.updatedAt)} by ${u.updatedBy}` }),
            el('td', {}, this.actions(u)),
          ),
        ),
      ),
    );
  }

  actions(u) {
    const out = [];
    if (!u.builtin) {
      out.push(
        el('button', {
          type: 'button',
          text: u.role === 'operator' ? 'Reset PIN' : 'Reset password',
          dataset: { action: 'reset' },
          on: { click: () => this.reset(u) },
        }),
      );
    }
    const own = this.self().toLowerCase() === u.name.toLowerCase();
    out.push(
      el('button', {
        type: 'button',
        text: u.disabled ? 'Enable' : 'Disable',
        disabled: own && !u.disabled,
        title: own && !u.disabled ? 'you cannot disable your own account' : '',
        dataset: { action: u.disabled ? 'enable' : 'disable' },
        on: { click: () => this.setDisabled(u, !u.disabled) },
      }),
    );
    return out;
  }

  reset(u) {
    const what = u.role === 'operator' ? 'PIN' : 'password';
    const input = el('input', { type: 'password', name: 'secret', className: 'reset-secret', maxLength: 256, autocomplete: 'new-password', attrs: { 'aria-label': `new ${what} for ${u.name}` } });
    const row = [...this.table.querySelectorAll('tr[data-user]')].find((r) => r.dataset.user === u.name);
    const cell = row ? row.lastElementChild : null;
    if (!cell) return;
    this.editing = u.name;
    const done = () => {
      this.editing = null;
    };
    setChildren(
      cell,
      el(
        'form',
        {
          className: 'reset-form',
          on: {
            submit: async (ev) => {
              ev.preventDefault();
              try {
                await api(`/api/users/${encodeURIComponent(u.name)}/secret`, { method: 'POST', body: { secret: input.value } });
                done();
                this.status.dataset.outcome = 'ok';
                setText(this.status, `✓ New ${what} for ${u.name}: their sessions were ended.`);
                await this.load(false);
              } catch (err) {
                this.fail(err);
              }
            },
          },
        },
        input,
        el('button', { type: 'submit', className: 'primary', text: `Set ${what}` }),
        el('button', {
          type: 'button',
          text: 'Cancel',
          on: {
            click: () => {
              done();
              this.load();
            },
          },
        }),
      ),
    );
    input.focus();
  }

  async setDisabled(u, disabled) {
    try {
      await api(`/api/users/${encodeURIComponent(u.name)}/${disabled ? 'disable' : 'enable'}`, { method: 'POST' });
      this.status.dataset.outcome = 'ok';
      setText(this.status, disabled ? `✓ ${u.name} disabled and logged out.` : `✓ ${u.name} enabled.`);
      await this.load(false);
    } catch (err) {
      this.fail(err);
    }
  }
}
