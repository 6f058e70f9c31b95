// What counts as text in a line from a DUT speaking AT commands or a firmware shell: UTF-8 (an
// operator name, a build path, a log message may carry any character) with no control characters
// left in it. Anything else is line noise (a baud-rate mismatch, a brown-out, a crashed UART
// driver) and is reported as garbage: never taken for an answer.

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The line as text, or null when it is not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** C0 controls other than TAB, DEL, and the C1 controls U+0080-U+009F. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}
