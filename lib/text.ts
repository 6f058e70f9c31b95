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
