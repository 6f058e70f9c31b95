// A keyboard-wedge scanner on the dashboard's screen types its scans as keystrokes, into whatever
// has focus. This catches them at the page: a burst of characters typed faster than a person types
// (on average under maxGapMs apart, none more than three times that) and ended by Enter or Tab is a scan, handed to onScan and taken back
// out of any field it was typed into; the page then routes it to a nest (dashboard.js), never by
// where the focus happens to be. Anything slower is a person: typing into a focused field works as
// always, and a single key with no field focused (Y, N, Space, Enter, arrows, digits) goes to
// onKey once no further key follows within three gaps (so a scan's letters never act as keys).
/* global clearTimeout, performance */

/** Default gap between a scanner's keystrokes: wedge scanners type a character every 2-20 ms; people rarely under 60 ms. */
export const WEDGE_MAX_GAP_MS = 35;
/** A scan has at least this many characters (a person's "y" then Enter is never one). */
export const WEDGE_MIN_LENGTH = 3;

export function isTextField(node) {
  if (!node || node.nodeType !== 1) return false;
  if (node.isContentEditable) return true;
  if (node.tagName === 'TEXTAREA' || node.tagName === 'SELECT') return true;
  if (node.tagName !== 'INPUT') return false;
  return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range', 'color', 'file', 'image'].includes((node.type || 'text').toLowerCase());
}

export class WedgeCapture {
  /**
   * opts: onScan(text, { field }) for a scan (field: the text field it was typed into, or null);
   * onKey(key, event) for a person's key with no text field focused (return true when it was used);
   * maxGapMs, minLength; enabled() (default: always).
   */
  constructor(opts) {
    this.onScan = opts.onScan;
    this.onKey = opts.onKey;
    this.maxGapMs = opts.maxGapMs ?? WEDGE_MAX_GAP_MS;
    this.minLength = opts.minLength ?? WEDGE_MIN_LENGTH;
    this.enabled = opts.enabled ?? (() => true);
    this.reset();
    this.pending = null;
    this.scans = 0;
    this.listener = (ev) => this.keydown(ev);
    document.addEventListener('keydown', this.listener, true);
  }

  stop() {
    document.removeEventListener('keydown', this.listener, true);
  }

  reset() {
    this.buffer = '';
    this.lastAt = -Infinity;
    this.firstAt = -Infinity;
    this.field = null;
    this.fieldBefore = null;
  }

  /** A pause this long ends a burst whatever came before (three times the gap: a busy computer may delay one key). */
  get breakMs() {
    return this.maxGapMs * 3;
  }

  keydown(ev) {
    if (!this.enabled() || ev.isComposing || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    const now = ev.timeStamp || performance.now();
    const field = isTextField(ev.target) ? ev.target : null;
    const gap = now - this.lastAt;
    if (ev.key === 'Enter' || ev.key === 'Tab') {
      if (this.buffer.length > 0 && gap <= this.breakMs) {
        // The end of a burst: a scan when it has its length and its keys came at scanner speed on average.
        const average = this.buffer.length > 1 ? (this.lastAt - this.firstAt) / (this.buffer.length - 1) : Infinity;
        if (this.buffer.length >= this.minLength && average <= this.maxGapMs) {
          ev.preventDefault();
          ev.stopPropagation();
          const text = this.buffer;
          const from = this.field;
          // What the scanner typed into a field is taken back out: the scan goes where routing says.
          if (from && this.fieldBefore && 'value' in from) {
            from.value = this.fieldBefore.value;
            try {
              from.setSelectionRange(this.fieldBefore.start, this.fieldBefore.end);
            } catch {
              // not every field has a selection
            }
          }
          this.cancelPending();
          this.reset();
          this.scans += 1;
          this.onScan(text, { field: from });
          return;
        }
        if (!field && this.buffer.length > 1) {
          // A fast burst too short or too uneven to be a scan: its Enter is not a person's key either.
          ev.preventDefault();
          this.cancelPending();
          this.reset();
          return;
        }
      }
      this.flushPending();
      this.reset();
      if (ev.key === 'Enter' && !field && !isActivatable(ev.target)) {
        if (this.onKey(ev.key, ev)) ev.preventDefault();
      }
      return;
    }
    if (ev.key.length !== 1) {
      // A named key (an arrow, Escape): a person's.
      this.flushPending();
      this.reset();
      if (!field && this.onKey(ev.key, ev)) ev.preventDefault();
      return;
    }
    if (gap > this.breakMs) {
      this.flushPending();
      this.reset();
    }
    if (this.buffer === '') {
      this.field = field;
      this.firstAt = now;
      this.fieldBefore = field && 'value' in field ? { value: field.value, start: field.selectionStart ?? field.value.length, end: field.selectionEnd ?? field.value.length } : null;
    }
    this.buffer += ev.key;
    this.lastAt = now;
    if (field) return; // typed into the field as always; taken back out if it turns out a scan
    // Nothing to type into: the key does nothing by itself (a Space would press a focused button)
    // until it is known to be a person's: no other key follows it within the pause that ends a burst.
    ev.preventDefault();
    if (this.buffer.length === 1) {
      const key = ev.key;
      const target = ev.target;
      this.pending = { key, target, timer: setTimeout(() => this.firePending(), this.breakMs + 10) };
    } else this.cancelPending();
  }

  firePending() {
    const p = this.pending;
    this.pending = null;
    if (!p || this.buffer.length !== 1) return;
    this.reset();
    // A lone Space on a focused button presses it, as it would have.
    if (p.key === ' ' && isActivatable(p.target)) {
      p.target.click();
      return;
    }
    this.onKey(p.key, { target: p.target });
  }

  flushPending() {
    if (!this.pending) return;
    clearTimeout(this.pending.timer);
    this.firePending();
  }

  cancelPending() {
    if (!this.pending) return;
    clearTimeout(this.pending.timer);
    this.pending = null;
  }
}

function isActivatable(node) {
  return Boolean(node && node.nodeType === 1 && (node.tagName === 'BUTTON' || node.tagName === 'A' || node.tagName === 'SUMMARY'));
}
