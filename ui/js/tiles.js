// One tile per slot on the operator dashboard: the state in a big word with its own symbol and
// border pattern (colour is never the only cue), the step in progress, the Device ID, the reason
// for a failure, the elapsed time, the open prompt with its answer buttons, and the start button.
// A tile is built once and then updated in place by the deltas that touch its slot.
/* global queueMicrotask, clearTimeout */
import { duration, el, setChildren, setText } from './dom.js';

/** Symbol and word per slot state; the CSS gives each its colour and border pattern. */
export const STATE_LOOK = {
  offline: { icon: '⊘', word: 'OFFLINE' },
  idle: { icon: '○', word: 'IDLE' },
  identifying: { icon: '⟳', word: 'IDENTIFYING' },
  blinkup: { icon: '✺', word: 'BLINKUP' },
  testing: { icon: '⟳', word: 'TESTING' },
  blessing: { icon: '★', word: 'BLESSING' },
  pass: { icon: '✓', word: 'PASS' },
  fail: { icon: '✗', word: 'FAIL' },
  interrupted: { icon: '⚠', word: 'INTERRUPTED' },
  refused: { icon: '⊗', word: 'REFUSED' },
};

const RUNNING = new Set(['identifying', 'blinkup', 'testing', 'blessing']);
const POSITIVE = new Set(['yes', 'ok', 'pass', 'confirm', 'confirmed', 'green']);
const NEGATIVE = new Set(['no', 'fail', 'reject', 'red']);

export class SlotTile {
  /** actions: start(slot), answer(promptId, answer), each resolving to the server's ack. */
  constructor(slot, actions) {
    this.slot = slot;
    this.actions = actions;
    this.noticeTimer = null;
    this.runStart = { runId: null, at: null };
    this.name = el('h2', { className: 'tile-name' });
    this.elapsed = el('span', { className: 'tile-elapsed', attrs: { 'aria-label': 'elapsed time' } });
    this.icon = el('span', { className: 'state-icon', attrs: { 'aria-hidden': 'true' } });
    this.word = el('span', { className: 'state-word' });
    this.step = el('div', { className: 'tile-step' });
    this.progress = el('progress', { className: 'tile-progress', max: 1, value: 0 });
    this.deviceId = el('span', { className: 'device-id' });
    this.device = el('div', { className: 'tile-device' }, el('span', { className: 'device-label', text: 'Device ID ' }), this.deviceId);
    this.reason = el('div', { className: 'tile-reason' });
    this.detail = el('div', { className: 'tile-detail' });
    this.alarm = el('div', { className: 'tile-alarm', attrs: { role: 'status' } });
    this.prompt = el('div', { className: 'tile-prompt', hidden: true, attrs: { 'aria-live': 'assertive' } });
    this.notice = el('div', { className: 'tile-notice', hidden: true, attrs: { role: 'alert' } });
    this.startButton = el('button', { type: 'button', className: 'tile-start big', text: '▶ Start', on: { click: () => this.start() } });
    this.root = el(
      'section',
      { className: 'tile', dataset: { slot, state: 'offline' }, attrs: { 'aria-label': `slot ${slot + 1}` } },
      el('header', { className: 'tile-head' }, this.name, this.elapsed),
      el('div', { className: 'tile-state' }, this.icon, this.word),
      this.step,
      this.progress,
      this.device,
      this.reason,
      this.detail,
      this.alarm,
      this.prompt,
      this.notice,
      el('div', { className: 'tile-actions' }, this.startButton),
    );
    this.state = null;
    this.promptShown = null;
  }

  /** Updates the tile from the slot's state, its open prompt (or null) and its alarms. */
  render(s, prompt, alarms) {
    this.state = s;
    const look = STATE_LOOK[s.state] || { icon: '?', word: String(s.state).toUpperCase() };
    if (this.root.dataset.state !== s.state) this.root.dataset.state = s.state;
    this.root.classList.toggle('disconnected', s.connected === false);
    setText(this.name, s.name || `Slot ${s.slot + 1}`);
    setText(this.icon, look.icon);
    setText(this.word, look.word);
    if (s.runId && s.runId !== this.runStart.runId) this.runStart = { runId: s.runId, at: s.since ?? null };
    const running = RUNNING.has(s.state);
    if (s.step && (running || s.state === 'fail' || s.state === 'interrupted')) {
      setText(this.step, `step ${s.step.index + 1}/${s.step.count} · ${s.step.name}`);
      this.progress.max = s.step.count;
      this.progress.value = running ? s.step.index + 1 : s.step.count;
    } else {
      setText(this.step, '');
      this.progress.value = 0;
    }
    this.progress.hidden = !running;
    this.step.hidden = !this.step.textContent;
    setText(this.deviceId, s.deviceId || '–');
    this.device.hidden = !s.deviceId && !running;
    // A failure or interruption reason in words; for other states the reason is a hint (press start).
    setText(this.reason, s.reason || '');
    this.reason.hidden = !s.reason;
    setText(this.detail, s.detail || '');
    this.detail.hidden = !s.detail;
    const slotAlarms = alarms.filter((a) => !a.acknowledged && !a.shelved);
    setText(this.alarm, slotAlarms.length ? `⚠ ALARM: ${slotAlarms.map((a) => a.message).join(' · ')}` : '');
    this.alarm.hidden = slotAlarms.length === 0;
    // Start is offered on an idle slot, and stands out when a unit is ready and waits for it
    // (line.autoStart "manual": the slot says "press start").
    const ready = typeof s.reason === 'string' && /press start/i.test(s.reason);
    this.startButton.hidden = Boolean(prompt) || !(ready || s.state === 'idle');
    this.startButton.classList.toggle('ready', ready);
    this.renderPrompt(prompt);
    this.root.classList.toggle('has-prompt', Boolean(prompt));
    this.tick(Date.now());
  }

  renderPrompt(prompt) {
    const id = prompt ? prompt.promptId : null;
    if (id === this.promptShown) return;
    this.promptShown = id;
    if (!prompt) {
      setChildren(this.prompt);
      this.prompt.hidden = true;
      delete this.prompt.dataset.prompt;
      return;
    }
    this.prompt.hidden = false;
    this.prompt.dataset.prompt = prompt.promptId;
    const answers = Array.isArray(prompt.answers) ? prompt.answers : [];
    const scan = prompt.kind === 'scan' || prompt.input === 'scan' || answers.length === 0;
    const body = [el('p', { className: 'prompt-text', text: prompt.text || 'The station asks:' })];
    if (scan && prompt.expected) body.push(el('p', { className: 'prompt-expected', text: `Expected: ${prompt.expected}` }));
    if (scan) {
      const input = el('input', { type: 'text', className: 'prompt-scan', autocomplete: 'off', spellcheck: false, maxLength: 500, attrs: { 'aria-label': 'scan or type the answer' } });
      const form = el(
        'form',
        {
          className: 'prompt-scan-form',
          on: {
            submit: (ev) => {
              ev.preventDefault();
              if (input.value) this.answer(prompt.promptId, input.value, [input]);
            },
          },
        },
        input,
        el('button', { type: 'submit', className: 'big', text: 'Enter' }),
      );
      body.push(form);
      queueMicrotask(() => input.focus());
    } else {
      const buttons = answers.map((answer) =>
        el('button', {
          type: 'button',
          className: `big answer ${POSITIVE.has(answer.toLowerCase()) ? 'positive' : NEGATIVE.has(answer.toLowerCase()) ? 'negative' : ''}`,
          text: `${POSITIVE.has(answer.toLowerCase()) ? '✓ ' : NEGATIVE.has(answer.toLowerCase()) ? '✗ ' : ''}${answer}`,
          dataset: { answer },
        }),
      );
      for (const b of buttons) b.addEventListener('click', () => this.answer(prompt.promptId, b.dataset.answer, buttons));
      body.push(el('div', { className: 'prompt-answers' }, buttons));
    }
    setChildren(this.prompt, body);
  }

  async answer(promptId, answer, controls) {
    for (const c of controls) c.disabled = true;
    const ack = await this.actions.answer(promptId, answer);
    if (!ack.ok) {
      this.showNotice(`Answer not taken: ${ack.error || 'unknown error'}`);
      for (const c of controls) c.disabled = false;
    }
  }

  async start() {
    this.startButton.disabled = true;
    const ack = await this.actions.start(this.slot);
    this.startButton.disabled = false;
    if (!ack.ok) this.showNotice(`Not started: ${ack.error || 'unknown error'}`);
  }

  showNotice(text) {
    setText(this.notice, text);
    this.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      this.notice.hidden = true;
      setText(this.notice, '');
    }, 10_000);
  }

  /** Elapsed time, ticking locally: the run's time while it runs, else the time in this state. */
  tick(now, clockOffsetMs = 0) {
    const s = this.state;
    if (!s || typeof s.since !== 'number') {
      setText(this.elapsed, '');
      return;
    }
    const running = RUNNING.has(s.state);
    const from = running && this.runStart.runId === s.runId && typeof this.runStart.at === 'number' ? this.runStart.at : s.since;
    setText(this.elapsed, duration(now - clockOffsetMs - from));
  }
}
