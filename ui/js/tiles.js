// One tile per slot on the operator dashboard: the state in a big word with its own symbol and
// border pattern (colour is never the only cue), the step in progress in the operator's words, the
// Device ID, after a failure or a stop what to do next in plain words (the technical reason folded
// behind "details"), the elapsed time, the open prompt with its answer buttons, and the start
// button. A verdict stays on the tile until the next unit starts or an operator clears it.
// A tile is built once and then updated in place by the deltas that touch its slot.
/* global queueMicrotask, clearTimeout */
import { duration, el, setChildren, setText } from './dom.js';
import { language, localText, t } from './i18n.js';
import { isTextField } from './wedge.js';

/** Symbol and word per slot state; the CSS gives each its colour and border pattern. */
export const STATE_ICON = {
  offline: '⊘',
  idle: '○',
  waiting: '▶',
  identifying: '⟳',
  blinkup: '✺',
  testing: '⟳',
  blessing: '★',
  pass: '✓',
  fail: '✗',
  interrupted: '⚠',
  refused: '⊗',
};

/**
 * About how many em a state word and its symbol take in the tile's heavy type (CJK characters are
 * a full em, Latin capitals about 0.82): the CSS shrinks a long word (German, Spanish) to the
 * tile's width with it instead of cutting it off.
 */
export function wordEms(word) {
  let ems = 1.5; // the symbol and the gap after it
  for (const ch of word) ems += /[\u2e80-\u9fff\uac00-\ud7af\uff00-\uffef]/u.test(ch) ? 1.02 : ch === ' ' || ch === '.' ? 0.35 : 0.82;
  return Math.round(ems * 100) / 100;
}

/** A state's word in the screen's language (catalogue key state.<name>). */
export function stateWord(state) {
  return STATE_ICON[state] ? t(`state.${state}`) : String(state).toUpperCase();
}

const RUNNING = new Set(['identifying', 'blinkup', 'testing', 'blessing']);
export const POSITIVE = new Set(['yes', 'ok', 'pass', 'confirm', 'confirmed', 'green']);
export const NEGATIVE = new Set(['no', 'fail', 'reject', 'red']);

/** The next action after a failure or a stop, in plain words (a step's onFail.action). */
export const ACTION_ICON = { 'reject-bin': '⤓', retest: '↻', 'call-engineer': '☎' };

function actionWords(action) {
  return `${ACTION_ICON[action]} ${t(`action.${action}`)}`;
}

/** A slot's reason as operators read it (the daemon's words for the hints it gives). */
function hintWords(reason) {
  if (!reason) return '';
  if (/^DUT ready: press start$/i.test(reason)) return t('hint.unitReady');
  if (/^place a unit and start$/i.test(reason)) return t('hint.placeUnit');
  return '';
}

export class SlotTile {
  /** actions: start(slot), answer(promptId, answer), each resolving to the server's ack. */
  constructor(slot, actions) {
    this.slot = slot;
    this.actions = actions;
    this.noticeTimer = null;
    this.runStart = { runId: null, at: null };
    /** The last verdict, kept on the tile while the slot is idle or offline, until the next unit starts or it is cleared. */
    this.held = null;
    this.name = el('h2', { className: 'tile-name' });
    this.selMark = el('span', { className: 'tile-selected-mark', hidden: true });
    this.elapsed = el('span', { className: 'tile-elapsed' });
    this.icon = el('span', { className: 'state-icon', attrs: { 'aria-hidden': 'true' } });
    this.word = el('span', { className: 'state-word' });
    this.stateBox = el('div', { className: 'tile-state' }, this.icon, this.word);
    this.step = el('div', { className: 'tile-step' });
    this.progress = el('progress', { className: 'tile-progress', max: 1, value: 0 });
    this.deviceId = el('span', { className: 'device-id' });
    this.deviceLabel = el('span', { className: 'device-label' });
    this.device = el('div', { className: 'tile-device' }, this.deviceLabel, this.deviceId);
    this.guideWhat = el('div', { className: 'guidance-what' });
    this.guideNext = el('div', { className: 'guidance-next' });
    this.guidance = el('div', { className: 'tile-guidance', hidden: true }, this.guideWhat, this.guideNext);
    this.hint = el('div', { className: 'tile-hint' });
    this.reason = el('div', { className: 'tile-reason' });
    this.moreSummary = el('summary');
    this.more = el('details', { className: 'tile-more' }, this.moreSummary, this.reason);
    this.detail = el('div', { className: 'tile-detail' });
    this.alarm = el('div', { className: 'tile-alarm', attrs: { role: 'status' } });
    this.prompt = el('div', { className: 'tile-prompt', hidden: true, attrs: { 'aria-live': 'assertive' } });
    this.notice = el('div', { className: 'tile-notice', hidden: true, attrs: { role: 'alert' } });
    this.clearButton = el('button', {
      type: 'button',
      className: 'tile-clear',
      hidden: true,
      on: { click: () => this.clearVerdict() },
    });
    this.startButton = el('button', { type: 'button', className: 'tile-start big', on: { click: () => this.start() } });
    this.root = el(
      'section',
      { className: 'tile', dataset: { slot, state: 'offline' } },
      el('header', { className: 'tile-head' }, this.name, this.selMark, this.elapsed),
      this.stateBox,
      this.step,
      this.progress,
      this.device,
      this.guidance,
      this.hint,
      this.more,
      this.detail,
      this.alarm,
      this.prompt,
      this.notice,
      el('div', { className: 'tile-actions' }, this.clearButton, this.startButton),
    );
    this.state = null;
    this.live = null;
    this.promptShown = null;
    this.openPrompt = null;
    this.scanInput = null;
    this.last = null;
    this.labels();
  }

  /** The tile's own words (not the slot's), in the screen's language. */
  labels() {
    setText(this.selMark, t('tile.selected'));
    this.elapsed.setAttribute('aria-label', t('tile.elapsedLabel'));
    setText(this.deviceLabel, `${t('tile.deviceId')} `);
    setText(this.moreSummary, t('tile.details'));
    setText(this.clearButton, t('tile.clear'));
    this.clearButton.title = t('tile.clearTitle');
    setText(this.startButton, t('tile.start'));
    this.root.setAttribute('aria-label', t('tile.ariaLabel', { n: this.slot + 1 }));
  }

  /** Redraws every text in the new language (the open prompt is drawn again). */
  relabel() {
    this.labels();
    this.promptShown = undefined;
    if (this.last) this.render(this.last.s, this.last.prompt, this.last.alarms);
  }

  /** Updates the tile from the slot's state, its open prompt (or null) and its alarms. */
  render(s, prompt, alarms) {
    this.last = { s, prompt, alarms };
    this.live = s;
    // The station keeps the last verdict (every screen, and a reloaded one, shows it); an older station does not say.
    const kept = s.lastVerdict;
    if (kept) this.held = { runId: kept.runId, state: kept.verdict, deviceId: kept.deviceId, reason: kept.reason, guidance: kept.guidance ?? null, step: kept.step, since: kept.finishedAt };
    else if (kept === null) this.held = null;
    else if (s.state === 'pass' || s.state === 'fail')
      this.held = { runId: s.runId, state: s.state, deviceId: s.deviceId, reason: s.reason, guidance: s.guidance ?? null, step: s.step, since: s.since };
    else if (s.state !== 'idle' && s.state !== 'offline') this.held = null;
    const ready = s.state === 'idle' && typeof s.reason === 'string' && /press start/i.test(s.reason) && /ready/i.test(s.reason);
    const holding = Boolean(this.held) && (s.state === 'idle' || s.state === 'offline');
    const v = holding
      ? { ...s, state: this.held.state, deviceId: this.held.deviceId, reason: this.held.reason, guidance: this.held.guidance, step: this.held.step, since: this.held.since, detail: null }
      : s;
    const shown = v.state === 'idle' && ready ? 'waiting' : v.state;
    this.state = v;
    const look = { icon: STATE_ICON[shown] || '?', word: stateWord(shown) };
    if (this.root.dataset.state !== shown) {
      this.root.dataset.state = shown;
      this.more.open = false; // details folded again for each new state
    }
    this.root.dataset.live = s.state;
    this.root.classList.toggle('held', holding);
    this.root.classList.toggle('disconnected', s.connected === false);
    setText(this.name, s.name || t('slot.name', { n: s.slot + 1 }));
    setText(this.icon, look.icon);
    setText(this.word, look.word);
    this.stateBox.style.setProperty('--em', String(wordEms(look.word)));
    if (s.runId && s.runId !== this.runStart.runId) {
      this.runStart = { runId: s.runId, at: s.since ?? null };
      this.more.open = false;
    }
    const running = RUNNING.has(v.state);
    if (v.step && (running || v.state === 'fail' || v.state === 'interrupted')) {
      setText(this.step, t('tile.step', { index: v.step.index + 1, count: v.step.count, words: localText(v.step, 'words') || v.step.name }));
      this.step.title = v.step.name;
      this.progress.max = v.step.count;
      this.progress.value = running ? v.step.index + 1 : v.step.count;
    } else {
      setText(this.step, '');
      this.step.removeAttribute('title');
      this.progress.value = 0;
    }
    this.progress.hidden = !running;
    this.step.hidden = !this.step.textContent;
    setText(this.deviceId, v.deviceId || '–');
    this.device.hidden = !v.deviceId && !running;
    const slotAlarms = alarms.filter((a) => !a.acknowledged && !a.shelved);
    setText(this.alarm, slotAlarms.length ? `⚠ ${t('tile.alarm', { messages: slotAlarms.map((a) => a.message).join(' · ') })}` : '');
    this.alarm.hidden = slotAlarms.length === 0;
    // A stopped nest says why once: its alarm on the tile when it has one, else the reason itself.
    const reasonShown = v.state === 'refused' && slotAlarms.length === 0 && Boolean(v.reason);
    this.renderGuidance(v, s, holding, ready, reasonShown);
    // The reason as the station gave it (a step's message, escaped bytes and all) is for engineers:
    // folded behind "details" after a failure or a stop; a hint for the operator is in words above.
    setText(this.reason, v.reason || '');
    this.more.hidden = !v.reason || Boolean(hintWords(v.reason)) || reasonShown;
    setText(this.detail, v.detail || '');
    this.detail.hidden = !v.detail;
    // Start is offered on an idle slot, and stands out when a unit is ready and waits for it
    // (line.autoStart "manual": the slot says "press start").
    this.startButton.hidden = Boolean(prompt) || !(ready || s.state === 'idle');
    this.startButton.classList.toggle('ready', ready);
    this.clearButton.hidden = !holding;
    this.renderPrompt(prompt);
    this.root.classList.toggle('has-prompt', Boolean(prompt));
    this.tick(Date.now());
  }

  renderGuidance(v, live, holding, ready, reasonShown) {
    let what = '';
    let next = null;
    let action = '';
    if (v.state === 'fail') {
      const g = v.guidance || { step: (v.reason || '').split(': ')[0], words: null, action: 'reject-bin', text: null };
      what = t('guidance.failed', { what: localText(g, 'words') || g.step || t('guidance.theTest') });
      action = ACTION_ICON[g.action] ? g.action : 'reject-bin';
      const text = localText(g, 'text');
      next = `${actionWords(action)}${text ? `: ${text}` : ''}`;
    } else if (v.state === 'interrupted') {
      what = t('guidance.interrupted');
      action = 'retest';
      next = actionWords(action);
    } else if (v.state === 'refused') {
      what = t('guidance.stopped');
      action = 'call-engineer';
      next = actionWords(action);
    }
    setText(this.guideWhat, what);
    setText(this.guideNext, next || '');
    this.guideNext.hidden = !next;
    this.guidance.hidden = !what;
    if (action) this.guidance.dataset.action = action;
    else delete this.guidance.dataset.action;
    // Under a kept verdict: what the nest is doing now.
    const hint = holding
      ? ready
        ? t('hint.nextReady')
        : live.state === 'offline'
          ? t('hint.notConnected')
          : hintWords(live.reason) || t('hint.placeNext')
      : reasonShown
        ? v.reason
        : hintWords(v.reason);
    setText(this.hint, hint);
    this.hint.hidden = !hint;
  }

  /** Takes a kept verdict off the tile (the operator has dealt with the unit), and off the station's slot for every screen. */
  clearVerdict() {
    if (!this.held) return false;
    this.held = null;
    if (this.last && this.last.s.lastVerdict) this.last.s.lastVerdict = null;
    if (this.last) this.render(this.last.s, this.last.prompt, this.last.alarms);
    if (this.actions.clear) this.actions.clear(this.slot).then((ack) => ack && !ack.ok && this.showNotice(`Clear not taken: ${ack.error}`));
    return true;
  }

  setSelected(selected) {
    this.root.classList.toggle('selected', selected);
    this.selMark.hidden = !selected;
    if (selected) this.root.setAttribute('aria-current', 'true');
    else this.root.removeAttribute('aria-current');
  }

  /** The open prompt's kind: 'scan', 'choice' or null. */
  get promptKind() {
    const p = this.openPrompt;
    if (!p) return null;
    return isScanPrompt(p) ? 'scan' : 'choice';
  }

  renderPrompt(prompt) {
    const id = prompt ? prompt.promptId : null;
    if (id === this.promptShown) return;
    this.promptShown = id;
    this.openPrompt = prompt || null;
    this.scanInput = null;
    if (!prompt) {
      setChildren(this.prompt);
      this.prompt.hidden = true;
      delete this.prompt.dataset.prompt;
      delete this.prompt.dataset.kind;
      return;
    }
    this.prompt.hidden = false;
    this.prompt.dataset.prompt = prompt.promptId;
    const answers = Array.isArray(prompt.answers) ? prompt.answers : [];
    const scan = isScanPrompt(prompt);
    this.prompt.dataset.kind = scan ? 'scan' : 'choice';
    const body = [el('p', { className: 'prompt-text', text: localText(prompt, 'text') || t('prompt.asks') })];
    if (scan && prompt.expected) body.push(el('p', { className: 'prompt-expected', text: t('prompt.scan', { what: localText(prompt, 'expected') }) }));
    if (scan && prompt.format) body.push(el('details', { className: 'prompt-format' }, el('summary', { text: t('tile.details') }), el('code', { text: prompt.format })));
    if (scan) {
      const input = el('input', { type: 'text', className: 'prompt-scan', autocomplete: 'off', spellcheck: false, maxLength: 500, attrs: { 'aria-label': t('prompt.scanLabel') } });
      this.scanInput = input;
      const form = el(
        'form',
        {
          className: 'prompt-scan-form',
          on: {
            submit: (ev) => {
              ev.preventDefault();
              if (input.value) this.submitScan(input.value, { field: input });
            },
          },
        },
        input,
        el('button', { type: 'submit', className: 'big', text: t('prompt.enter') }),
      );
      body.push(form);
      // Focus goes to the new field only when nobody is typing somewhere else: a prompt opening on
      // another nest never takes the focus from a field in use (scans are routed, not typed into focus).
      queueMicrotask(() => {
        if (!isTextField(document.activeElement) && input.isConnected) input.focus({ preventScroll: true });
      });
    } else {
      const buttons = answers.map((answer) =>
        el('button', {
          type: 'button',
          className: `big answer ${POSITIVE.has(answer.toLowerCase()) ? 'positive' : NEGATIVE.has(answer.toLowerCase()) ? 'negative' : ''}`,
          text: `${POSITIVE.has(answer.toLowerCase()) ? '✓ ' : NEGATIVE.has(answer.toLowerCase()) ? '✗ ' : ''}${answerWord(answer)}`,
          dataset: { answer },
        }),
      );
      for (const b of buttons) b.addEventListener('click', () => this.answer(prompt.promptId, b.dataset.answer, buttons));
      body.push(el('div', { className: 'prompt-answers' }, buttons));
      const keys = [answers.find((a) => POSITIVE.has(a.toLowerCase())) ? 'Y' : '', answers.find((a) => NEGATIVE.has(a.toLowerCase())) ? 'N' : ''].filter(Boolean);
      if (keys.length) body.push(el('p', { className: 'prompt-keys', text: t('prompt.keys', { keys: keys.join(' / ') }) }));
    }
    setChildren(this.prompt, body);
  }

  /**
   * A scan for this tile's scan prompt (typed into its field, or routed here from the page's
   * scanner). A refused scan is cleared from the field and the field keeps (or gets back) the
   * focus, ready for the next scan; the reason is shown on the tile. Resolves to the ack.
   */
  async submitScan(text, { field } = {}) {
    const p = this.openPrompt;
    if (!p || !isScanPrompt(p)) {
      this.showNotice(t('notice.scanRefused', { why: t('notice.notWaitingScan') }));
      return { ok: false, error: 'no scan prompt' };
    }
    const input = this.scanInput;
    const hadFocus = Boolean(input) && (field === input || document.activeElement === input);
    const ack = await this.actions.answer(p.promptId, text);
    if (!ack.ok) {
      this.scanRefused(ack.error || 'unknown error');
      if (input && input.isConnected) {
        input.value = '';
        if (hadFocus || !isTextField(document.activeElement)) input.focus({ preventScroll: true });
      }
    }
    return ack;
  }

  /** Answers the open choice prompt with its positive (yes) or negative (no) answer; why not, or null. */
  async answerChoice(positive) {
    const p = this.openPrompt;
    if (!p || isScanPrompt(p)) return t('notice.notAskingChoice');
    const set = positive ? POSITIVE : NEGATIVE;
    const answer = (p.answers || []).find((a) => set.has(a.toLowerCase()));
    if (!answer) return t(positive ? 'notice.noYesAnswer' : 'notice.noNoAnswer');
    const buttons = [...this.prompt.querySelectorAll('button.answer')];
    await this.answer(p.promptId, answer, buttons);
    return null;
  }

  async answer(promptId, answer, controls) {
    for (const c of controls) c.disabled = true;
    const ack = await this.actions.answer(promptId, answer);
    if (!ack.ok) {
      this.showNotice(t('notice.answerNotTaken', { why: ack.error || t('notice.unknownError') }));
      for (const c of controls) c.disabled = false;
    }
    return ack;
  }

  async start() {
    this.startButton.disabled = true;
    const ack = await this.actions.start(this.slot);
    this.startButton.disabled = false;
    if (!ack.ok) this.showNotice(t('notice.notStarted', { why: ack.error || t('notice.unknownError') }));
    return ack;
  }

  /**
   * A scan the prompt refused: said in the operator's words (what to scan instead), the station's
   * reason (a format, a regex) kept on the notice's tooltip for an engineer.
   */
  scanRefused(reason) {
    const p = this.openPrompt;
    const words = p && isScanPrompt(p) && p.expected ? t('notice.scanRefusedExpected', { what: localText(p, 'expected') }) : t('notice.scanRefused', { why: reason });
    this.showNotice(words, reason);
  }

  showNotice(text, technical = null) {
    if (technical) this.notice.title = technical;
    else this.notice.removeAttribute('title');
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

/** Answer words the catalogues translate on the buttons (the answer sent is still the sequence's own word). */
const KNOWN_ANSWERS = new Set(['yes', 'no', 'ok', 'pass', 'fail', 'confirm', 'reject', 'retry', 'skip']);

/** A prompt's answer as shown on its button: a known word in the screen's language (in English, as the sequence spells it). */
function answerWord(answer) {
  const key = answer.toLowerCase();
  return language() !== 'en' && KNOWN_ANSWERS.has(key) ? t(`answer.${key}`) : answer;
}

function isScanPrompt(p) {
  const answers = Array.isArray(p.answers) ? p.answers : [];
  return p.kind === 'scan' || p.input === 'scan' || answers.length === 0;
}
