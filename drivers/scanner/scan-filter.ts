// Between a scanner's driver and the station: what makes a run of characters a scan the line may
// act on. It drops the scanner's auto-Enter bounce (the same label again within `debounceMs`, or
// the empty scan of a double Enter) so one scan never starts a slot twice; it refuses control
// characters, escape sequences, over-long input, invisible or broken Unicode and configuration
// barcodes, each with a reason a person can act on; and it logs each distinct reason once per
// scanner (again, with a count, only after `relogAfterMs`), so a scanner stuck sending garbage
// cannot flood the log. The scanned text is never logged: a label can carry the mobile secret.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { monotonicMs } from '../../lib/clock.js';

/**
 * Scans that reprogram a scanner, or that a scanner sends while being programmed. A scanner
 * normally swallows its own menu codes, but one in the wrong mode passes them on, and an operator
 * may scan one from a manual by mistake. Documented in docs/protocols.md, "Scanners".
 */
export const CONFIG_BARCODE_PATTERNS: readonly RegExp[] = [
  /^\^FNC3/i, // Code 128 FNC3 (reader programming) as scanners and label software spell it
  /^[<{[]FNC3[>}\]]/i,
  /^\x1b(?!\[)/, // an ESC command (serial scanners' command prefix); ESC [ is an ANSI sequence instead
  /^NLS\d{4}/i, // Newland setting codes ("NLS0006010")
  /^\$[PS][A-Z0-9,]/, // Datalogic "$P..." / "$S..." programming commands
  /^\$[+-]$/, // Datalogic enter/exit programming mode
  /^(?:DEFALT|DEFOVR)\./, // Honeywell menu commands: restore factory / custom defaults
];

export interface ScanTextRules {
  /** Longest scan accepted, in characters. */
  maxLength: number;
  /** Control characters a scan may carry: GS (0x1D) separates GS1 fields; a Tab when it is a separator. */
  allowedControls: readonly string[];
  /** Scans refused as configuration barcodes. */
  configPatterns: readonly RegExp[];
}

export const DEFAULT_SCAN_RULES: ScanTextRules = { maxLength: 256, allowedControls: ['\x1d'], configPatterns: CONFIG_BARCODE_PATTERNS };

export type TextCheck = { ok: true } | { ok: false; reason: string };

const ESC = '\x1b';
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF\u180E]/u;
const OTHER_FORMAT = /\p{Cf}/u;
const UNASSIGNED_OR_PRIVATE = /[\p{Co}\p{Cn}]/u;
const ODD_SPACE = /[^\S ]|[\u2028\u2029\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/u;

/** Is this text acceptable as a scan? Pure; the reasons never quote the text. */
export function checkScanText(text: string, rules: ScanTextRules = DEFAULT_SCAN_RULES): TextCheck {
  if (text.length > rules.maxLength) return { ok: false, reason: `scan of ${text.length} characters is longer than the ${rules.maxLength}-character limit` };
  if (rules.configPatterns.some((p) => p.test(text))) return { ok: false, reason: 'configuration barcode ignored' };
  if (text.includes(ESC)) return { ok: false, reason: 'escape sequence in the scan' };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 || (c >= 0x7f && c <= 0x9f)) && !rules.allowedControls.includes(text.charAt(i))) {
      return { ok: false, reason: 'control characters in the scan' };
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
      else return { ok: false, reason: 'broken Unicode (an unpaired surrogate) in the scan' };
    }
  }
  if (BIDI.test(text)) return { ok: false, reason: 'bidirectional override characters in the scan' };
  if (ZERO_WIDTH.test(text)) return { ok: false, reason: 'zero-width characters in the scan' };
  if (OTHER_FORMAT.test(text)) return { ok: false, reason: 'invisible format characters in the scan' };
  if (UNASSIGNED_OR_PRIVATE.test(text)) return { ok: false, reason: 'unassigned or private-use characters in the scan' };
  // Tab and GS are allowed controls; other whitespace than a plain space is a look-alike.
  const withoutAllowed = rules.allowedControls.reduce((t, c) => t.split(c).join(''), text);
  if (ODD_SPACE.test(withoutAllowed)) return { ok: false, reason: 'unusual space characters in the scan' };
  if (/^\p{M}/u.test(text)) return { ok: false, reason: 'the scan starts with a combining mark' };
  if (/^[ ]+$/.test(withoutAllowed) || withoutAllowed === '') return { ok: false, reason: 'blank scan (only spaces or separators)' };
  return { ok: true };
}

export interface ScanFilterOptions {
  scannerId: string;
  log: Logger;
  /** The same text again from this scanner within this long of the last one is the auto-Enter bounce. */
  debounceMs?: number;
  maxLength?: number;
  allowedControls?: readonly string[];
  /** More configuration-barcode patterns than CONFIG_BARCODE_PATTERNS (a site's own scanner). */
  extraConfigPatterns?: readonly RegExp[];
  /** A reason logged already is logged again (with a count) after this long. */
  relogAfterMs?: number;
  /** The monotonic clock the debounce and relog windows are measured on (lib/clock.ts). */
  now?: () => number;
  /** The wall clock a scan's `at` is read from (default: `now` when given, else Date.now). */
  wallNow?: () => number;
}

export type FilterOutcome = { kind: 'scan'; text: string; at: number } | { kind: 'dropped'; why: 'empty' | 'duplicate' } | { kind: 'rejected'; reason: string; length: number };

/** Reasons remembered for rate-limited logging; a scanner that invents more forgets the oldest. */
const MAX_REMEMBERED_REASONS = 64;

export class ScanFilter {
  readonly rules: ScanTextRules;
  private readonly debounceMs: number;
  private readonly relogAfterMs: number;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  /** A digest of the last accepted scan, not the text: the filter holds no secret between scans. */
  private last: { digest: string; at: number } | null = null;
  private readonly logged = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly opts: ScanFilterOptions) {
    this.rules = {
      maxLength: opts.maxLength ?? DEFAULT_SCAN_RULES.maxLength,
      allowedControls: opts.allowedControls ?? DEFAULT_SCAN_RULES.allowedControls,
      configPatterns: [...CONFIG_BARCODE_PATTERNS, ...(opts.extraConfigPatterns ?? [])],
    };
    this.debounceMs = opts.debounceMs ?? 750;
    this.relogAfterMs = opts.relogAfterMs ?? 10 * 60_000;
    // Windows on the monotonic clock: a wall clock stepped back mid-window would drop the next
    // scan of the same label as a bounce.
    this.now = opts.now ?? monotonicMs;
    this.wallNow = opts.wallNow ?? opts.now ?? Date.now;
  }

  /** A complete scan from the driver (terminator already removed). */
  accept(text: string): FilterOutcome {
    const at = this.now();
    if (text === '') {
      this.opts.log.debug({ scanner: this.opts.scannerId }, 'empty scan dropped (a double Enter)');
      return { kind: 'dropped', why: 'empty' };
    }
    const check = checkScanText(text, this.rules);
    if (!check.ok) return this.reject(check.reason, text.length);
    const digest = createHash('sha256').update(text).digest('base64');
    if (this.last && this.last.digest === digest && at - this.last.at < this.debounceMs) {
      // The window slides: a scanner re-reading a label held under it keeps being one scan.
      this.last.at = at;
      this.opts.log.debug({ scanner: this.opts.scannerId, length: text.length }, 'repeated scan dropped (auto-Enter bounce)');
      return { kind: 'dropped', why: 'duplicate' };
    }
    this.last = { digest, at };
    return { kind: 'scan', text, at: this.wallNow() };
  }

  /** A scan refused before it became text (a driver's reason), or by `accept`: logged once per reason. */
  reject(reason: string, length: number): FilterOutcome {
    const at = this.now();
    const seen = this.logged.get(reason);
    if (!seen) {
      if (this.logged.size >= MAX_REMEMBERED_REASONS) this.logged.delete(this.logged.keys().next().value as string);
      this.logged.set(reason, { at, suppressed: 0 });
      this.opts.log.warn({ scanner: this.opts.scannerId, reason, length }, 'scan rejected');
    } else if (at - seen.at >= this.relogAfterMs) {
      this.opts.log.warn({ scanner: this.opts.scannerId, reason, length, repeats: seen.suppressed }, 'scan rejected (again)');
      seen.at = at;
      seen.suppressed = 0;
    } else {
      seen.suppressed++;
    }
    return { kind: 'rejected', reason, length };
  }
}
