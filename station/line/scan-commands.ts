// Command barcodes: what an operator scans instead of touching the screen (docs/protocols.md,
// "Command barcodes"). CMD:PASS / CMD:YES and CMD:FAIL / CMD:NO answer a nest's yes/no question;
// CMD:START starts a nest; CMD:CLEAR clears a verdict kept on a dashboard tile (the dashboard's
// own; nothing on the station). Each may name its nest (1-based): CMD:START:3. The dashboard
// (ui/js/dashboard.js) reads the same texts from a keyboard-wedge scanner.

export type ScanCommand = { verb: 'pass' | 'fail' | 'start' | 'clear'; slot: number | null };

const COMMAND = /^CMD:(PASS|YES|FAIL|NO|START|CLEAR)(?::(\d{1,2}))?$/i;

/** The command a scan is, or null for any other scan. `slot` is 0-based (null: the scan's own nest). */
export function parseScanCommand(text: string): ScanCommand | null {
  const m = COMMAND.exec(text.trim());
  if (!m) return null;
  const word = (m[1] as string).toUpperCase();
  const verb = word === 'PASS' || word === 'YES' ? 'pass' : word === 'FAIL' || word === 'NO' ? 'fail' : word === 'START' ? 'start' : 'clear';
  return { verb, slot: m[2] === undefined ? null : Number(m[2]) - 1 };
}

/** Answers that mean yes, and no, on a prompt's buttons (the dashboard marks them ✓ and ✗). */
export const POSITIVE_ANSWERS: ReadonlySet<string> = new Set(['yes', 'ok', 'pass', 'confirm', 'confirmed', 'green']);
export const NEGATIVE_ANSWERS: ReadonlySet<string> = new Set(['no', 'fail', 'reject', 'red']);

/** A prompt's answer for a yes (pass) or no (fail) command, or null when it offers none. */
export function answerFor(answers: readonly string[], verb: 'pass' | 'fail'): string | null {
  const set = verb === 'pass' ? POSITIVE_ANSWERS : NEGATIVE_ANSWERS;
  return answers.find((a) => set.has(a.toLowerCase())) ?? null;
}
