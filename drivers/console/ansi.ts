// Terminal escape sequences in a DUT's console output (ECMA-48 / ANSI X3.64, as VT100 terminals
// and xterm read them): firmware shells colour their prompt, their errors and their log lines,
// move the cursor to redraw the line being typed, and clear the line before printing a log line
// over the prompt. The station reads text, so this module turns a line of terminal output into
// the text a terminal would show on that line.
//
// The grammar (ECMA-48 §5.3-5.6, 7-bit and 8-bit forms):
//   CSI  ESC [ or U+009B, parameter bytes 0x30-0x3F*, intermediate bytes 0x20-0x2F*, a final byte 0x40-0x7E
//   OSC  ESC ] or U+009D, then anything up to BEL or ST (ESC \ or U+009C)
//   DCS, SOS, PM, APC  ESC P / X / ^ / _ (or U+0090 / U+0098 / U+009E / U+009F), up to ST (BEL accepted)
//   nF   ESC, intermediate bytes 0x20-0x2F+, a final byte 0x30-0x7E (ESC ( B: character sets)
//   Fp, Fe, Fs  ESC and one byte 0x30-0x7E (ESC 7 and ESC 8 save and restore the cursor, ESC c ...)
// An ESC that starts none of these is not a sequence: it stays in the text, where the caller's
// check for control characters finds it. A sequence cut off by the end of the text is reported as
// such, so a caller holding a partial line can wait for the rest.

export type AnsiToken =
  | { kind: 'text'; text: string }
  | { kind: 'csi'; params: string; intermediates: string; final: string }
  /** OSC, DCS, SOS, PM, APC: a string for the terminal, never shown. */
  | { kind: 'string' }
  /** nF, Fp, Fe, Fs: two- or three-byte sequences with nothing to show. */
  | { kind: 'escape' };

export interface Tokenized {
  tokens: AnsiToken[];
  /** Where an escape sequence begins that the text ends before finishing (null: none). */
  incompleteAt: number | null;
}

const ESC = '\x1b';
const C1_CSI = '\u009b';
const C1_ST = '\u009c';
/** 8-bit introducers of control strings, and what ESC + byte introduces them in 7 bits. */
const C1_STRINGS = new Set(['\u009d', '\u0090', '\u0098', '\u009e', '\u009f']);
const ESC_STRINGS = new Set([']', 'P', 'X', '^', '_']);

const inRange = (ch: string, low: number, high: number): boolean => {
  const code = ch.charCodeAt(0);
  return code >= low && code <= high;
};

/** Splits text into runs to show and escape sequences. */
export function tokenizeAnsi(text: string): Tokenized {
  const tokens: AnsiToken[] = [];
  let run = '';
  const flush = (): void => {
    if (run) tokens.push({ kind: 'text', text: run });
    run = '';
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    const isEsc = ch === ESC;
    if (!isEsc && ch !== C1_CSI && !C1_STRINGS.has(ch)) {
      run += ch;
      i++;
      continue;
    }
    // Where the body of the sequence starts, and what kind it is.
    let kind: 'csi' | 'string' | 'short';
    let body: number;
    if (isEsc) {
      if (i + 1 >= text.length) {
        flush();
        return { tokens, incompleteAt: i };
      }
      const next = text[i + 1] as string;
      if (next === '[') kind = 'csi';
      else if (ESC_STRINGS.has(next)) kind = 'string';
      else if (inRange(next, 0x20, 0x7e)) kind = 'short';
      else {
        run += ch; // a lone ESC: left for the caller to refuse
        i++;
        continue;
      }
      body = kind === 'short' ? i + 1 : i + 2;
    } else {
      kind = ch === C1_CSI ? 'csi' : 'string';
      body = i + 1;
    }
    const end = kind === 'csi' ? endOfCsi(text, body) : kind === 'string' ? endOfString(text, body) : endOfShort(text, body);
    if (end === 'incomplete') {
      flush();
      return { tokens, incompleteAt: i };
    }
    if (end === 'broken') {
      run += ch; // the introducer stays visible, the rest is plain text
      i++;
      continue;
    }
    flush();
    if (kind === 'csi') {
      const seq = text.slice(body, end);
      const params = /^[\x30-\x3f]*/.exec(seq)?.[0] ?? '';
      tokens.push({ kind: 'csi', params, intermediates: seq.slice(params.length, -1), final: seq.slice(-1) });
    } else tokens.push(kind === 'string' ? { kind: 'string' } : { kind: 'escape' });
    i = end;
  }
  flush();
  return { tokens, incompleteAt: null };
}

/** The index just past a CSI sequence whose parameters start at `from`. */
function endOfCsi(text: string, from: number): number | 'incomplete' | 'broken' {
  let i = from;
  while (i < text.length && inRange(text[i] as string, 0x30, 0x3f)) i++;
  while (i < text.length && inRange(text[i] as string, 0x20, 0x2f)) i++;
  if (i >= text.length) return 'incomplete';
  return inRange(text[i] as string, 0x40, 0x7e) ? i + 1 : 'broken';
}

/** The index just past a control string's terminator (BEL, ESC \ or ST). */
function endOfString(text: string, from: number): number | 'incomplete' {
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\x07' || ch === C1_ST) return i + 1;
    if (ch === ESC) {
      if (i + 1 >= text.length) return 'incomplete';
      if (text[i + 1] === '\\') return i + 2;
    }
  }
  return 'incomplete';
}

/** The index just past an nF / Fp / Fe / Fs sequence whose first byte after ESC is at `from`. */
function endOfShort(text: string, from: number): number | 'incomplete' | 'broken' {
  let i = from;
  while (i < text.length && inRange(text[i] as string, 0x20, 0x2f)) i++;
  if (i >= text.length) return 'incomplete';
  return inRange(text[i] as string, 0x30, 0x7e) ? i + 1 : 'broken';
}

/**
 * The text without its escape sequences. A sequence the text ends before finishing is kept as
 * it is (its ESC then fails a control-character check), unless `dropIncomplete` (a partial line
 * whose rest has not arrived yet).
 */
export function stripAnsi(text: string, opts: { dropIncomplete?: boolean } = {}): string {
  const { tokens, incompleteAt } = tokenizeAnsi(text);
  let out = '';
  for (const t of tokens) if (t.kind === 'text') out += t.text;
  if (incompleteAt !== null && !opts.dropIncomplete) out += text.slice(incompleteAt);
  return out;
}

/**
 * What a terminal shows on one line after this output, starting from an empty line at column 0:
 * printable characters overwrite the cell under the cursor; CR goes to column 0 and BS one column
 * left; CSI n D / n C / n G move the cursor left, right or to column n; CSI K and CSI J erase to
 * the end (0), from the start (1) or all of the line (2, 3). Colours and every other sequence are
 * dropped. Cursor up and down are ignored (one line is all there is). Control characters other
 * than CR, BS and TAB are kept in the text, for the caller to refuse.
 *
 * This is how Zephyr's shell output reads right: before a log line it moves the cursor back over
 * the prompt and clears to the end of the screen (ESC [ 8 D ESC [ J), and its colour reset for a
 * line comes after the line's CR LF, at the start of the next line.
 */
export function renderLine(text: string, opts: { dropIncomplete?: boolean } = {}): string {
  const { tokens, incompleteAt } = tokenizeAnsi(text);
  const cells: string[] = [];
  let cursor = 0;
  const put = (ch: string): void => {
    while (cells.length < cursor) cells.push(' ');
    cells[cursor] = ch;
    cursor++;
  };
  const write = (run: string): void => {
    for (const ch of run) {
      if (ch === '\r') cursor = 0;
      else if (ch === '\b') cursor = Math.max(0, cursor - 1);
      else put(ch);
    }
  };
  for (const t of tokens) {
    if (t.kind === 'text') write(t.text);
    else if (t.kind === 'csi' && t.intermediates === '') {
      const n = Number.parseInt(t.params, 10);
      const count = Number.isFinite(n) && n > 0 ? n : 1;
      const mode = Number.isFinite(n) ? n : 0;
      switch (t.final) {
        case 'D':
          cursor = Math.max(0, cursor - count);
          break;
        case 'C':
          cursor += count;
          break;
        case 'G':
          cursor = count - 1;
          break;
        case 'K':
        case 'J':
          if (mode === 0) cells.length = Math.min(cells.length, cursor);
          else if (mode === 1) for (let i = 0; i <= cursor && i < cells.length; i++) cells[i] = ' ';
          else cells.length = 0;
          break;
        default:
          break; // colours (m), cursor up / down, modes: nothing to show
      }
    }
  }
  if (incompleteAt !== null && !opts.dropIncomplete) write(text.slice(incompleteAt));
  return cells.join('');
}
