// The confirmation before a sequence save: a save goes live on every slot (named), so the
// engineer confirms it and says what changed and why (the change note, required, kept with the
// version and shown in the version list with who saved it).
import { api } from './api.js';
import { el } from './dom.js';

/** The slots' names ("1: Nest 1"), or null when health cannot be read. */
async function slotNames() {
  try {
    const { data } = await api('/api/health');
    return data.slots.map((s) => `${s.slot + 1}: ${s.name}`);
  } catch {
    return null;
  }
}

/**
 * Asks for confirmation and a change note. Resolves to the note, or null when cancelled.
 * `name`: the sequence's name.
 */
export async function confirmSave(name) {
  const slots = await slotNames();
  return new Promise((resolve) => {
    const note = el('textarea', { id: 'save-note', name: 'note', rows: 3, maxLength: 500, required: true, attrs: { 'aria-describedby': 'save-note-help' } });
    const problem = el('p', { className: 'field-problem', attrs: { role: 'alert' } });
    const confirm = el('button', { type: 'submit', className: 'primary', text: 'Save and make it live', dataset: { action: 'confirm-save' } });
    const cancel = el('button', { type: 'button', text: 'Cancel', dataset: { action: 'cancel-save' } });
    const dialog = el(
      'dialog',
      { className: 'save-dialog', attrs: { 'aria-labelledby': 'save-dialog-title' } },
      el(
        'form',
        { attrs: { method: 'dialog' } },
        el('h2', { id: 'save-dialog-title', text: `Save "${name}" and make it live?` }),
        el('p', {
          className: 'save-slots',
          text: slots
            ? `It goes live on every slot (${slots.length}): ${slots.join(', ')}. The next run on each uses it; runs in progress finish with the version they started with.`
            : 'It goes live on every slot of this station. The next run on each uses it; runs in progress finish with the version they started with.',
        }),
        el('label', { htmlFor: 'save-note', text: 'Change note (what changed and why; kept with the version)' }),
        note,
        el('p', { id: 'save-note-help', className: 'muted', text: 'At least 3 characters. The version is recorded as saved by you.' }),
        problem,
        el('div', { className: 'dialog-buttons' }, cancel, confirm),
      ),
    );
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    confirm.addEventListener('click', (ev) => {
      ev.preventDefault();
      const text = note.value.trim();
      if (text.length < 3) {
        problem.textContent = 'Write a change note of at least 3 characters.';
        note.focus();
        return;
      }
      finish(text);
    });
    cancel.addEventListener('click', () => finish(null));
    dialog.addEventListener('cancel', () => finish(null));
    document.body.append(dialog);
    dialog.showModal();
    note.focus();
  });
}
