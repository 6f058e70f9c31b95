// The login form both pages show when there is no session: who you are (operators pick their
// name from a list, engineers type theirs; empty or the built-in name is the role's shared
// account) and the PIN or password. Wrong credentials and the login rate limit are shown in
// words on the form.
import { api, login } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

/**
 * Renders the form into `container`; `onLogin(session)` runs after a successful login.
 * `roles`: the roles offered, the first one selected.
 */
export function renderLogin(container, { roles = ['operator', 'engineer'], title = t('login.title'), note = '', onLogin }) {
  let role = roles[0];
  let operatorNames = [];
  const label = el('label', { htmlFor: 'login-secret' });
  const input = el('input', { id: 'login-secret', name: 'secret', type: 'password', autocomplete: 'current-password', required: true, maxLength: 200 });
  const nameLabel = el('label', { htmlFor: 'login-name', text: t('login.name') });
  // Operators pick their name; engineers type theirs (the list of engineers is not public).
  const namePick = el('select', { id: 'login-name-pick', name: 'name', attrs: { 'aria-label': t('login.operatorName') } });
  const nameInput = el('input', { id: 'login-name', name: 'name', type: 'text', autocomplete: 'username', maxLength: 40, placeholder: 'engineer' });
  const error = el('p', { id: 'login-error', className: 'login-error', attrs: { role: 'alert', 'aria-live': 'assertive' } });
  const submit = el('button', { type: 'submit', className: 'big', text: t('login.submit') });

  const fillNames = () => {
    const names = operatorNames.length ? operatorNames : ['operator'];
    namePick.replaceChildren(...names.map((n) => el('option', { value: n, text: n === 'operator' ? t('login.sharedOperator') : n })));
    namePick.value = names.includes('operator') ? 'operator' : names[0];
  };

  const choose = (next) => {
    role = next;
    label.textContent = t(role === 'operator' ? 'login.pin' : 'login.password');
    input.inputMode = role === 'operator' ? 'numeric' : 'text';
    namePick.hidden = role !== 'operator';
    nameInput.hidden = role === 'operator';
    nameLabel.htmlFor = role === 'operator' ? 'login-name-pick' : 'login-name';
    for (const b of roleButtons) b.setAttribute('aria-pressed', String(b.dataset.role === role));
    input.value = '';
    error.textContent = '';
  };
  const roleButtons = roles.map((r) =>
    el('button', {
      type: 'button',
      className: 'role-choice',
      text: t(r === 'operator' ? 'login.operator' : 'login.engineer'),
      dataset: { role: r },
      on: {
        click: () => {
          choose(r);
          input.focus();
        },
      },
    }),
  );

  const form = el(
    'form',
    {
      className: 'login',
      attrs: { 'aria-label': title },
      on: {
        submit: async (ev) => {
          ev.preventDefault();
          error.textContent = '';
          submit.disabled = true;
          const name = role === 'operator' ? namePick.value : nameInput.value.trim();
          try {
            const session = await login(role, input.value, name === role ? '' : name);
            input.value = '';
            onLogin(session);
          } catch (err) {
            if (err.status === 429) error.textContent = err.retryAfterSeconds ? t('login.tooManySeconds', { n: err.retryAfterSeconds }) : t('login.tooMany');
            else if (err.status === 401) error.textContent = t(role === 'operator' ? 'login.wrongPin' : name ? 'login.wrongNamePassword' : 'login.wrongPassword');
            else error.textContent = t('login.cannot', { error: err.message });
            input.select();
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    el('h2', { text: title }),
    note ? el('p', { className: 'login-note', text: note }) : null,
    roles.length > 1 ? el('div', { className: 'role-choices', attrs: { role: 'group', 'aria-label': t('login.role') } }, roleButtons) : null,
    nameLabel,
    namePick,
    nameInput,
    label,
    input,
    submit,
    error,
  );
  container.replaceChildren(form);
  fillNames();
  choose(role);
  input.focus();
  if (roles.includes('operator'))
    api('/api/session/operators')
      .then(({ data }) => {
        operatorNames = Array.isArray(data.operators) ? data.operators : [];
        const kept = namePick.value;
        fillNames();
        if (operatorNames.includes(kept)) namePick.value = kept;
      })
      .catch(() => undefined); // the shared account stays offered
  return form;
}
