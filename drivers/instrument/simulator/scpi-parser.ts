// A small SCPI parser for the simulated instruments, after SCPI-1999 Vol 1 ch. 6-7 and IEEE 488.2
// ch. 7: a program message is program units separated by `;`; a unit is a header (mnemonics
// separated by `:`, case-insensitive, each in its short or long form, some with a numeric suffix
// like SOURce2 or CH1; `*XXX` common commands), an optional `?`, then parameters separated by
// commas. After a `;`, a header that does not start with `:` continues from the previous header's
// path (`SOUR:VOLT 5;CURR 1` is SOUR:VOLT then SOUR:CURR). Channel lists are `(@1,3:5)`.
//
// Patterns use the guides' notation: `CONFigure:CURRent[:DC]`, `[SOURce#]:VOLTage[:LEVel]`, where
// capitals are the short form, `[...]` is an optional node and `#` a numeric suffix.

/** The standard errors the simulators raise (SCPI-1999 Vol 2, ch. 21.8). */
export const SCPI_ERRORS = {
  '-100': 'Command error',
  '-102': 'Syntax error',
  '-104': 'Data type error',
  '-108': 'Parameter not allowed',
  '-109': 'Missing parameter',
  '-113': 'Undefined header',
  '-200': 'Execution error',
  '-221': 'Settings conflict',
  '-222': 'Data out of range',
  '-224': 'Illegal parameter value',
  '-350': 'Queue overflow',
} as const;

export type ScpiErrorCode = keyof typeof SCPI_ERRORS;

export class ScpiCommandError extends Error {
  constructor(
    readonly code: ScpiErrorCode,
    readonly detail?: string,
  ) {
    super(SCPI_ERRORS[code]);
  }
}

export interface ProgramUnit {
  /** `*IDN` style common command. */
  common: boolean;
  /** Started with `:`: from the root, whatever came before. */
  root: boolean;
  /** Header mnemonics, as sent (no colons). */
  nodes: string[];
  query: boolean;
  /** Parameters as sent, trimmed; quoted strings keep their quotes. */
  params: string[];
}

/** Splits on `sep` outside quotes and parentheses. */
function splitOutside(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth = Math.max(0, depth - 1);
    else if (ch === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** Parses one program message (a line without its terminator). Throws ScpiCommandError(-102) on bad syntax. */
export function parseProgramMessage(line: string): ProgramUnit[] {
  const units: ProgramUnit[] = [];
  for (const raw of splitOutside(line, ';')) {
    const text = raw.trim();
    if (text.length === 0) continue;
    const match = /^(:?)(\*?[A-Za-z][A-Za-z0-9_:]*)(\?)?(?:\s+(.*))?$/.exec(text);
    if (!match) throw new ScpiCommandError('-102', text);
    const header = match[2] as string;
    if (header.endsWith(':') || header.includes('::')) throw new ScpiCommandError('-102', text);
    const common = header.startsWith('*');
    const paramText = (match[4] ?? '').trim();
    units.push({
      common,
      root: match[1] === ':' || common,
      nodes: common ? [header.toUpperCase()] : header.split(':'),
      query: match[3] === '?',
      params: paramText.length === 0 ? [] : splitOutside(paramText, ',').map((p) => p.trim()),
    });
  }
  return units;
}

interface PatternNode {
  short: string;
  long: string;
  optional: boolean;
  suffix: boolean;
}

export interface HeaderPattern {
  nodes: PatternNode[];
  query: boolean;
  source: string;
}

/** Compiles `[SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]?` style patterns. */
export function compilePattern(source: string): HeaderPattern {
  let text = source.trim();
  const query = text.endsWith('?');
  if (query) text = text.slice(0, -1);
  const nodes: PatternNode[] = [];
  const re = /(\[)?:?([A-Za-z*][A-Za-z0-9]*)(#)?(\])?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) break;
    const word = m[2] as string;
    const short = word.replace(/[a-z0-9]/g, '') || word.toUpperCase();
    nodes.push({ short: short.toUpperCase(), long: word.toUpperCase(), optional: m[1] === '[', suffix: m[3] === '#' });
  }
  return { nodes, query, source };
}

/** Matches sent mnemonics against a pattern; the numeric suffixes (1 when omitted) come back. */
export function matchHeader(pattern: HeaderPattern, nodes: readonly string[]): number[] | null {
  const suffixes: number[] = [];
  const walk = (p: number, n: number): boolean => {
    if (p === pattern.nodes.length) return n === nodes.length;
    const node = pattern.nodes[p] as PatternNode;
    const sent = nodes[n];
    if (sent !== undefined) {
      const m = /^([A-Za-z*]+?)(\d*)$/.exec(sent.toUpperCase()) ?? /^([A-Za-z*]+)(\d*)$/.exec(sent.toUpperCase());
      if (m) {
        let word = m[1] as string;
        let digits = m[2] as string;
        // A mnemonic ending in a digit (CH1, SOUR2) without `#` in the pattern never matches.
        if (!node.suffix && digits) {
          word += digits;
          digits = '';
        }
        if (word === node.short || word === node.long) {
          suffixes.push(digits ? Number(digits) : 1);
          if (walk(p + 1, n + 1)) return true;
          suffixes.pop();
        }
      }
    }
    if (node.optional) {
      suffixes.push(1);
      if (walk(p + 1, n)) return true;
      suffixes.pop();
    }
    return false;
  };
  return walk(0, 0) ? suffixes : null;
}

/** `(@1,3:5)` → [1, 3, 4, 5]; null when the parameter is not a channel list. */
export function parseChannelList(param: string): number[] | null {
  const m = /^\(\s*@\s*(.*)\)$/.exec(param.trim());
  if (!m) return null;
  const channels: number[] = [];
  for (const part of (m[1] as string).split(',')) {
    const range = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(part);
    if (!range) throw new ScpiCommandError('-224', param);
    const from = Number(range[1]);
    const to = range[2] !== undefined ? Number(range[2]) : from;
    const step = from <= to ? 1 : -1;
    for (let c = from; step > 0 ? c <= to : c >= to; c += step) {
      channels.push(c);
      if (channels.length > 10_000) throw new ScpiCommandError('-224', param);
    }
  }
  return channels;
}

/** A numeric parameter (NRf, or MIN/MAX/DEF resolved by the caller's table); throws -104/-224. */
export function numericParam(param: string | undefined, named: Partial<Record<'MIN' | 'MAX' | 'DEF' | 'AUTO', number>> = {}): number {
  if (param === undefined || param === '') throw new ScpiCommandError('-109');
  const word = param.toUpperCase();
  for (const [key, value] of Object.entries(named)) {
    if (value === undefined) continue;
    const long = { MIN: 'MINIMUM', MAX: 'MAXIMUM', DEF: 'DEFAULT', AUTO: 'AUTO' }[key];
    if (word === key || word === long) return value;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(param)) throw new ScpiCommandError(/^[A-Za-z]/.test(param) ? '-224' : '-104', param);
  return Number(param);
}

/** ON/OFF/1/0. */
export function booleanParam(param: string | undefined): boolean {
  if (param === undefined || param === '') throw new ScpiCommandError('-109');
  const word = param.toUpperCase();
  if (word === 'ON' || word === '1') return true;
  if (word === 'OFF' || word === '0') return false;
  throw new ScpiCommandError('-224', param);
}
