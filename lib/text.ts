// Text from devices and people, made safe to put in a log line or a failure reason.

/** Escapes a line for a log or a failure reason: control and non-ASCII characters as \xNN / \uNNNN. */
export function escapeForDisplay(text: string, maxChars = 40): string {
  const head = text.length > maxChars ? text.slice(0, maxChars) : text;
  let out = '';
  for (const ch of head) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += `\\u{${code.toString(16)}}`;
  }
  return `"${out}"${text.length > maxChars ? `... (${text.length} chars)` : ''}`;
}

/**
 * Text another system wrote for people (an MES's reason), made one safe line: control, format and
 * line-break characters become spaces, runs of spaces one, the ends trimmed, cut at `maxChars`
 * with "…". Letters of any script are kept as they are: the words are for the operator to read.
 */
export function oneLine(text: string, maxChars = 300): string {
  const flat = text
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...flat];
  return chars.length > maxChars ? `${chars.slice(0, maxChars - 1).join('')}…` : flat;
}
