// The DUT console protocol (docs/protocols.md): ASCII lines over the DUT's test UART.
//   station -> DUT   @<tag> <COMMAND> [args...]
//   DUT -> station   @<tag> OK [payload]      | @<tag> ERR <CODE> [message]
//                    !<EVENT> [key=value...]  (unsolicited: BOOT, READY, ...)
//                    #<anything>              (firmware debug output, ignored)
// Tags tie an answer to its request, so a late answer to a timed-out request is never taken for
// the answer to the next one.

export const MAX_TAG = 9999;

export type DutLine =
  | { kind: 'reply'; tag: number; ok: true; payload: string }
  | { kind: 'reply'; tag: number; ok: false; code: string; message: string }
  | { kind: 'event'; name: string; fields: Record<string, string>; payload: string }
  | { kind: 'debug'; text: string }
  | { kind: 'garbage'; line: string; reason: string };

const PRINTABLE = /^[\x20-\x7e]*$/;
const REPLY = /^@(\d{1,4}) (OK|ERR)(?: (.*))?$/;
const EVENT = /^!([A-Z][A-Z0-9_]{0,31})(?: (.*))?$/;

/** key=value tokens separated by single spaces; values may not contain spaces. */
export function parseFields(payload: string): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!payload) return fields;
  for (const token of payload.split(' ')) {
    const eq = token.indexOf('=');
    if (eq > 0) fields[token.slice(0, eq)] = token.slice(eq + 1);
  }
  return fields;
}

export function parseDutLine(raw: string): DutLine {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (!PRINTABLE.test(line)) return { kind: 'garbage', line, reason: 'control or non-ASCII characters' };
  const first = line.charCodeAt(0);
  if (first === 64 /* @ */) {
    const m = REPLY.exec(line);
    if (!m) return { kind: 'garbage', line, reason: 'malformed reply' };
    const tag = Number(m[1]);
    const rest = m[3] ?? '';
    if (m[2] === 'OK') return { kind: 'reply', tag, ok: true, payload: rest };
    const sp = rest.indexOf(' ');
    const code = sp < 0 ? rest : rest.slice(0, sp);
    if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(code)) return { kind: 'garbage', line, reason: 'ERR reply without an error code' };
    return { kind: 'reply', tag, ok: false, code, message: sp < 0 ? '' : rest.slice(sp + 1) };
  }
  if (first === 33 /* ! */) {
    const m = EVENT.exec(line);
    if (!m) return { kind: 'garbage', line, reason: 'malformed event' };
    const payload = m[2] ?? '';
    return { kind: 'event', name: m[1] as string, fields: parseFields(payload), payload };
  }
  if (first === 35 /* # */) return { kind: 'debug', text: line.slice(1) };
  if (line.length === 0) return { kind: 'debug', text: '' };
  return { kind: 'garbage', line, reason: 'not a reply, event or debug line' };
}

export function formatRequest(tag: number, command: string): string {
  return `@${tag} ${command}\n`;
}

export function formatReply(tag: number, reply: { ok: true; payload?: string } | { ok: false; code: string; message?: string }): string {
  if (reply.ok) return reply.payload ? `@${tag} OK ${reply.payload}\n` : `@${tag} OK\n`;
  return reply.message ? `@${tag} ERR ${reply.code} ${reply.message}\n` : `@${tag} ERR ${reply.code}\n`;
}

export function formatEvent(name: string, fields: Record<string, string | number> = {}): string {
  const payload = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return payload ? `!${name} ${payload}\n` : `!${name}\n`;
}

/** Parses a station request line as the DUT sees it. */
export function parseRequest(raw: string): { tag: number; command: string; args: string[] } | null {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const m = /^@(\d{1,4}) ([A-Z][A-Z0-9_]{0,31})((?: [\x21-\x7e]+)*)$/.exec(line);
  if (!m) return null;
  return { tag: Number(m[1]), command: m[2] as string, args: m[3] ? (m[3].trim().split(' ') as string[]) : [] };
}
