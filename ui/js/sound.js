// The optional sound on failure: a short two-tone beep through Web Audio, off by default. The
// choice is kept in this browser (localStorage). Browsers only allow audio after a click on the
// page, so the audio context is made when the operator switches the sound on.
/* global AudioContext, localStorage */
import { t } from './i18n.js';

const KEY = 'station.soundOnFail';

export class FailSound {
  constructor(button) {
    this.button = button;
    this.ctx = null;
    let stored = false;
    try {
      stored = localStorage.getItem(KEY) === 'on';
    } catch {
      stored = false;
    }
    this.enabled = false;
    // Without a click on this page the browser would keep the context suspended; ask again.
    this.wanted = stored;
    button.addEventListener('click', () => this.toggle());
    this.show();
  }

  toggle() {
    this.enabled = !this.enabled;
    this.wanted = this.enabled;
    try {
      localStorage.setItem(KEY, this.enabled ? 'on' : 'off');
    } catch {
      // private mode: the choice lasts until the page closes
    }
    if (this.enabled) {
      this.ensureContext();
      this.beep();
    }
    this.show();
  }

  show() {
    this.button.setAttribute('aria-pressed', String(this.enabled));
    this.button.textContent = `♪ ${t(this.enabled ? 'sound.on' : this.wanted ? 'sound.again' : 'sound.off')}`;
  }

  ensureContext() {
    if (this.ctx || typeof AudioContext !== 'function') return this.ctx;
    try {
      this.ctx = new AudioContext();
    } catch {
      this.ctx = null;
    }
    return this.ctx;
  }

  beep() {
    if (!this.enabled) return;
    const ctx = this.ensureContext();
    if (!ctx) return;
    if (ctx.state === 'suspended') ctx.resume().catch(() => undefined);
    const start = ctx.currentTime + 0.01;
    for (const [i, freq] of [880, 440].entries()) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + i * 0.22);
      gain.gain.exponentialRampToValueAtTime(0.25, start + i * 0.22 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.22 + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + i * 0.22);
      osc.stop(start + i * 0.22 + 0.21);
    }
  }
}
