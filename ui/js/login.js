// The login form both pages show when there is no session: the operator PIN or the engineer
// password. Wrong credentials and the login rate limit are shown in words on the form.
import { login } from './api.js';
import { el } from './dom.js';

/**
 * Renders the form into `container`; `onLogin(session)` runs after a successful login.
 * `roles`: the roles offered, the first one selected.
 */
export function renderLogin(container, { roles = ['operator', 'engineer'], title = 'Log in', note = '', onLogin }) {
  let role = roles[0];
  const label = el('label', { htmlFor: 'login-secret' });
  const input = el('input', { id: 'login-secret', name: 'secret', type: 'password', autocomplete: 'current-password', required: true, maxLength: 200 });
  const error = el('p', { id: 'login-error', className: 'login-error', attrs: { role: 'alert', 'aria-live': 'assertive' } });
  const submit = el('button', { type: 'submit', className: 'big', text: 'Log in' });

  const choose = (next) => {
    role = next;
    label.textContent = role === 'operator' ? 'Operator PIN' : 'Engineer password';
    input.inputMode = role === 'operator' ? 'numeric' : 'text';
    for (const b of roleButtons) b.setAttribute('aria-pressed', String(b.dataset.role === role));
    input.value = '';
    error.textContent = '';
  };
  const roleButtons = roles.map((r) =>
    el('button', {
      type: 'button',
      className: 'role-choice',
      text: r === 'operator' ? 'Operator' : 'Engineer',
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
          try {
            const session = await login(role, input.value);
            input.value = '';
            onLogin(session);
          } catch (err) {
            if (err.status === 429) error.textContent = `Too many login attempts. Try again in ${err.retryAfterSeconds ? `${err.retryAfterSeconds} s` : 'a few minutes'}.`;
            else if (err.status === 401) error.textContent = role === 'operator' ? 'Wrong PIN.' : 'Wrong password.';
            else error.textContent = `Cannot log in: ${err.message}`;
            input.select();
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    el('h2', { text: title }),
    note ? el('p', { className: 'login-note', text: note }) : null,
    roles.length > 1 ? el('div', { className: 'role-choices', attrs: { role: 'group', 'aria-label': 'Role' } }, roleButtons) : null,
    label,
    input,
    submit,
    error,
  );
  container.replaceChildren(form);
  choose(role);
  input.focus();
  return form;
}
