// The AT command conventions the AT console reads (ITU-T V.250, 3GPP TS 27.007 and 27.005), as
// pure functions: which lines are final result codes, how an unsolicited result code (URC) is
// named and its fields read, what a +CME / +CMS error number means, and 27.007's signal-quality
// scale. Only the verbose form of result codes is read (ATV1, every modem's default); numeric
// result codes (ATV0) are not supported.

/** URCs a cellular module sends by itself (registration, power-on, SIM, ring), found even in the middle of an answer. */
export const DEFAULT_URC_PREFIXES: readonly string[] = ['+CREG:', '+CEREG:', '+CGREG:', 'RDY', '+CFUN:', '+QIND:', '^SYSSTART', '+CPIN:', '+QUSIM:', 'RING'];

/** V.250 §5.7.1 final result codes, and 27.007 §9.2 / 27.005 §3.2.5 errors. */
export type FinalResult = { ok: true; line: string } | { ok: false; code: string; meaning: string | null };

const DIAL_FAILURES = new Set(['NO CARRIER', 'BUSY', 'NO ANSWER', 'NO DIALTONE']);

/** The final result code a line is, or null for any other line. */
export function parseFinalResult(line: string): FinalResult | null {
  if (line === 'OK') return { ok: true, line };
  // CONNECT ends a dial (or a switch to data mode) in success; its text may carry the rate.
  if (line === 'CONNECT' || line.startsWith('CONNECT ')) return { ok: true, line };
  if (line === 'ERROR') return { ok: false, code: 'ERROR', meaning: null };
  if (DIAL_FAILURES.has(line)) return { ok: false, code: line, meaning: null };
  const m = /^\+(CME|CMS) ERROR: ?(.+)$/.exec(line);
  if (m) {
    const detail = (m[2] as string).trim();
    const table = m[1] === 'CME' ? CME_ERRORS : CMS_ERRORS;
    return { ok: false, code: line, meaning: /^\d+$/.test(detail) ? (table[Number(detail)] ?? null) : null };
  }
  return null;
}

/** 3GPP TS 27.007 §9.2.1 and §9.2.2: the +CME ERROR numbers a factory test is likely to meet. */
export const CME_ERRORS: Record<number, string> = {
  0: 'phone failure',
  1: 'no connection to phone',
  3: 'operation not allowed',
  4: 'operation not supported',
  5: 'PH-SIM PIN required',
  10: 'SIM not inserted',
  11: 'SIM PIN required',
  12: 'SIM PUK required',
  13: 'SIM failure',
  14: 'SIM busy',
  15: 'SIM wrong',
  16: 'incorrect password',
  20: 'memory full',
  21: 'invalid index',
  22: 'not found',
  23: 'memory failure',
  24: 'text string too long',
  25: 'invalid characters in text string',
  30: 'no network service',
  31: 'network timeout',
  32: 'network not allowed, emergency calls only',
  50: 'incorrect parameters',
  100: 'unknown',
};

/** 3GPP TS 27.005 §3.2.5: +CMS ERROR numbers. */
export const CMS_ERRORS: Record<number, string> = {
  300: 'ME failure',
  302: 'operation not allowed',
  303: 'operation not supported',
  304: 'invalid PDU mode parameter',
  305: 'invalid text mode parameter',
  310: 'SIM not inserted',
  311: 'SIM PIN required',
  313: 'SIM failure',
  314: 'SIM busy',
  320: 'memory failure',
  321: 'invalid memory index',
  322: 'memory full',
  330: 'SMSC address unknown',
  331: 'no network service',
  332: 'network timeout',
  500: 'unknown error',
};

export interface Urc {
  /** The code without its sigil (+ ^ # % $ * &) or colon, upper case, other characters as _. */
  name: string;
  /** What follows the colon, trimmed ('' when none). */
  payload: string;
  fields: Record<string, string>;
}

/**
 * Whether a line between commands has the shape of a result code: a sigil and a name with an
 * optional `: payload` (+CREG: 1, ^SYSSTART, #BLINKUP: result=ok), or upper-case words (RDY,
 * RING, NO CARRIER, POWERED DOWN). Free text (the tail of a late ATI answer, a boot banner) is not.
 */
export function looksLikeResultCode(line: string): boolean {
  return /^[+^#%$*&][A-Za-z][A-Za-z0-9_.-]*(?::.*)?$/.test(line) || /^[A-Z][A-Z0-9_]*(?: [A-Z][A-Z0-9_]*)*$/.test(line);
}

/** Names a URC line and reads its fields. */
export function parseUrc(line: string): Urc {
  const colon = line.indexOf(':');
  const code = colon < 0 ? line : line.slice(0, colon);
  const payload = colon < 0 ? '' : line.slice(colon + 1).trim();
  const name =
    code
      .replace(/^[+^#%$*&]/, '')
      .toUpperCase()
      .replace(/[^A-Z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'URC';
  return { name, payload, fields: parseUrcFields(payload) };
}

const KEY_VALUE_LIST = /^[A-Za-z_][\w.-]*=\S*(?: [A-Za-z_][\w.-]*=\S*)*$/;
const KEY_VALUE = /^([A-Za-z_][\w.-]*)=(.*)$/;

/**
 * Fields of a URC payload:
 *  - `key=value` tokens separated by spaces (`result=ok reason=expired-token`): by key;
 *  - otherwise 27.007's comma-separated parameters (`1,"00C3","0000B21D",7`): by position, "0"
 *    for the first, with double quotes removed and commas inside quotes kept; a parameter written
 *    `key=value` is stored by its key instead (its position is still counted).
 */
export function parseUrcFields(payload: string): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!payload) return fields;
  if (KEY_VALUE_LIST.test(payload)) {
    for (const token of payload.split(' ')) {
      const m = KEY_VALUE.exec(token);
      if (m) fields[m[1] as string] = m[2] as string;
    }
    return fields;
  }
  splitParameters(payload).forEach((item, index) => {
    const m = KEY_VALUE.exec(item);
    if (m && !item.startsWith('"')) fields[m[1] as string] = unquote(m[2] as string);
    else fields[String(index)] = unquote(item);
  });
  return fields;
}

function splitParameters(payload: string): string[] {
  const items: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of payload) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      items.push(current.trim());
      current = '';
    } else current += ch;
  }
  items.push(current.trim());
  return items;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/**
 * 27.007 §8.5 +CSQ <rssi>: 0 is -113 dBm or less, 1 is -111 dBm, 2-30 are -109 to -53 dBm in
 * steps of 2, 31 is -51 dBm or more; 99 is not known. Rounded down to the step at or below.
 */
export function csqRssiFromDbm(dbm: number): number {
  if (!Number.isFinite(dbm)) return 99;
  return Math.min(31, Math.max(0, Math.floor((dbm + 113) / 2)));
}

/** The lowest signal level a +CSQ <rssi> stands for, in dBm (null for 99, not known). */
export function dbmFromCsqRssi(rssi: number): number | null {
  if (rssi === 99 || rssi < 0 || rssi > 31) return null;
  return -113 + 2 * rssi;
}
