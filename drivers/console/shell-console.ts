// The firmware shell console (docs/protocols.md, "Firmware shells"): a DUT whose test image offers
// an interactive shell (Zephyr's shell, ESP-IDF's console, NuttX's nsh). The station types a
// command and a line ending; the shell echoes it, prints its output and shows its prompt again.
// The answer is every output line between the echo and that prompt.
//
// How output is read:
//  - Lines end with LF (a CR before it is harmless). Each line is rendered as a terminal would
//    show it (drivers/console/ansi.ts): colours dropped, CR, BS, cursor moves and erases applied,
//    so a log line printed over the prompt reads as the log line. What is left must be UTF-8 text
//    with no control characters, within maxLineBytes; anything else is garbage, and the request
//    in flight fails with it.
//  - The prompt comes with no line end. It is looked for at the end of the unfinished line after
//    every chunk, and taken once the line has ended with it for `promptSettleMs`: a prompt split
//    across chunks (or followed by its colour reset) is seen whole, and text that goes on after
//    a prompt-like string on the same line is not taken for one.
//  - The first output line equal to the command (after a prompt, if one is on the line) is the
//    echo and is skipped. With `echo: "on"` (the default) the answer starts only after the echo: a
//    prompt before it (a redraw, a late prompt) does not end the command.
//  - An output line matching `errorPattern` makes the command `rejected`.
//  - A line matching `bootPattern` (Zephyr's "*** Booting Zephyr OS ...") is emitted as BOOT; the
//    next prompt after it as READY. A command in flight when the unit boots is abandoned.
//  - Lines matching `logPattern` (Zephyr's "[00:00:01.234,000] <inf> main: ...") are never part
//    of an answer: each is emitted as a LOG event (fields timestamp, level, module, message).
//    Other output between commands is ignored.
import { escapeForDisplay } from '../../lib/text.js';
import { LineFramer } from '../transport/line-framer.js';
import { RequestError } from '../transport/request-error.js';
import { renderLine } from './ansi.js';
import { CommandConsole, type EchoMode, type LineConsoleOptions, type Pending } from './command-console.js';
import { decodeUtf8, hasControlCharacters } from './line-text.js';
import { DEFAULT_BOOT_PATTERN, DEFAULT_ERROR_PATTERN, DEFAULT_SHELL_PROMPT, namedGroups, promptMatchers, ZEPHYR_LOG_PATTERN, type PromptMatchers } from './shell-protocol.js';

export type ShellLineEnding = '\r\n' | '\n' | '\r';

export interface ShellConsoleOptions extends LineConsoleOptions {
  /** The prompt, as shown (default Zephyr's "uart:~$ "), or a regular expression with `promptIsRegex`. */
  prompt?: string;
  promptIsRegex?: boolean;
  /** What ends a typed command (default CR LF). */
  lineEnding?: ShellLineEnding;
  /** "on" (default): the shell echoes, and its answer starts after the echo. "auto": an echo is skipped when it comes. "off": never looked for. */
  echo?: EchoMode;
  /** An output line matching this makes the command `rejected`. */
  errorPattern?: string;
  /** A line matching this is the boot banner (BOOT); null: none. */
  bootPattern?: string | null;
  /** Log lines, never part of an answer, emitted as LOG events; null: none. */
  logPattern?: string | null;
  /** How long the unfinished line must stay a prompt before it is taken for one. */
  promptSettleMs?: number;
}

interface ShellAnswer {
  echoSeen: boolean;
  lines: string[];
}

export class ShellConsole extends CommandConsole<ShellAnswer> {
  /** A shell that answers `help` and shows its prompt again is up (Zephyr, ESP-IDF and NuttX all have it). */
  readonly readyProbe = { command: 'help', ready: /^/ };
  private readonly framer: LineFramer;
  private readonly prompt: PromptMatchers;
  private readonly lineEnding: ShellLineEnding;
  private readonly echo: EchoMode;
  private readonly errorRe: RegExp;
  private readonly bootRe: RegExp | null;
  private readonly logRe: RegExp | null;
  private readonly settleMs: number;
  private settleTimer: NodeJS.Timeout | null = null;
  /** A boot banner came and its first prompt has not: that prompt is READY. */
  private awaitingReady = false;

  constructor(opts: ShellConsoleOptions) {
    super(opts, 'shell console');
    this.framer = new LineFramer('\n', opts.maxLineBytes);
    this.prompt = promptMatchers(opts.prompt ?? DEFAULT_SHELL_PROMPT, opts.promptIsRegex ?? false);
    this.lineEnding = opts.lineEnding ?? '\r\n';
    this.echo = opts.echo ?? 'on';
    this.errorRe = new RegExp(opts.errorPattern ?? DEFAULT_ERROR_PATTERN);
    const boot = opts.bootPattern === undefined ? DEFAULT_BOOT_PATTERN : opts.bootPattern;
    this.bootRe = boot === null ? null : new RegExp(boot);
    const log = opts.logPattern === undefined ? ZEPHYR_LOG_PATTERN : opts.logPattern;
    this.logRe = log === null ? null : new RegExp(log);
    this.settleMs = opts.promptSettleMs ?? 30;
  }

  protected newAnswer(): ShellAnswer {
    return { echoSeen: false, lines: [] };
  }

  protected encode(command: string): string {
    return command + this.lineEnding;
  }

  protected resetFraming(): void {
    this.cancelSettle();
    this.framer.discardPartial();
  }

  protected override beforeWrite(): void {
    // A prompt already on the line is the one the command is typed after: take it now, so the
    // echo reads as the command alone and the old prompt cannot end the new command.
    this.cancelSettle();
    this.onPromptSettled();
  }

  protected timeoutReason(pending: Pending<ShellAnswer>): string {
    const { command, timeoutMs, state } = pending;
    let reason = `no prompt (${this.prompt.shown}) after "${command}" within ${timeoutMs} ms`;
    if (this.echo === 'on' && !state.echoSeen) reason += ': the shell never echoed the command (echo is "on")';
    const last = state.lines.filter((l) => l !== '').at(-1);
    if (last !== undefined) reason += `; last line: ${escapeForDisplay(last)}`;
    if (this.framer.overflowing) reason += `; the DUT is sending a line longer than ${this.base.maxLineBytes} bytes with no end`;
    else {
      // What the shell did show instead of the prompt: a wrong prompt setting reads at a glance.
      const unfinished = this.unfinishedLine();
      if (unfinished) reason += `; unfinished line: ${escapeForDisplay(unfinished)}`;
    }
    return reason;
  }

  protected onData(chunk: Buffer): void {
    for (const line of this.framer.push(chunk)) {
      if (line.kind === 'overflow') this.reportGarbage(line.kept.toString('latin1'), `line of ${line.length} bytes exceeds the ${this.base.maxLineBytes}-byte limit`);
      else this.onLineBytes(line.bytes);
    }
    // The prompt is taken once the unfinished line has ended with it, at every chunk, for
    // settleMs. Text that goes on after it cancels the wait; a log line printed over the prompt
    // and the prompt drawn again does not (a chatty unit would otherwise never be at its prompt).
    if (this.promptOnLine() === null) this.cancelSettle();
    else if (!this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = null;
        this.onPromptSettled();
      }, this.settleMs);
    }
  }

  private cancelSettle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
  }

  private onLineBytes(line: Buffer): void {
    // The CR of a CR LF line end is not part of the line (and a quote of it is clearer without).
    const bytes = line.at(-1) === 13 ? line.subarray(0, -1) : line;
    const text = decodeUtf8(bytes);
    if (text === null) return this.reportGarbage(bytes.toString('latin1'), 'invalid UTF-8');
    const shown = renderLine(text);
    if (hasControlCharacters(shown)) return this.reportGarbage(text, 'control characters');
    this.onLine(shown.trimEnd());
  }

  private onLine(line: string): void {
    const boot = this.bootRe?.exec(line);
    if (boot) return this.onBoot(line, boot);
    const log = this.logRe?.exec(line);
    if (log) {
      const fields = namedGroups(log);
      this.events.emit('event', { name: 'LOG', fields, payload: fields.message ?? line });
      return;
    }
    const pending = this.pending;
    if (!pending) {
      if (line) this.log.debug({ line: escapeForDisplay(line) }, 'shell output between commands ignored');
      return;
    }
    const answer = pending.state;
    if (!answer.echoSeen && this.echo !== 'off' && answer.lines.every((l) => l === '') && this.isEcho(line, pending.command)) {
      answer.echoSeen = true;
      answer.lines = [];
      return;
    }
    if (this.echo === 'on' && !answer.echoSeen) {
      if (line) this.log.debug({ command: pending.command, line: escapeForDisplay(line) }, 'output before the echo (a late answer to an earlier command) ignored');
      return;
    }
    // A prompt at the start of a line is the shell's, not output: a prompt alone on its line (an
    // empty command, a late prompt) is dropped, and output printed after one keeps the rest.
    const prompt = this.prompt.atStart.exec(line);
    if (prompt) {
      const rest = line.slice(prompt[0].length);
      if (rest.trim() === '') return;
      answer.lines.push(rest);
      return;
    }
    answer.lines.push(line);
  }

  /**
   * The echo is the command as typed, after what the line showed when it was typed: the prompt,
   * or another prompt than the one set (`nsh> ` where `uart:~$ ` was expected), so that such a
   * mistake times out naming both instead of taking the echo for output.
   */
  private isEcho(line: string, command: string): boolean {
    const typed = command.trim();
    if (line.replace(this.prompt.atStart, '').trim() === typed) return true;
    const shown = line.trimEnd();
    return shown.endsWith(typed) && /[$#>%:\]] ?$/.test(shown.slice(0, -typed.length));
  }

  private onBoot(line: string, match: RegExpExecArray): void {
    this.awaitingReady = true;
    this.events.emit('event', { name: 'BOOT', fields: namedGroups(match), payload: line });
    // A unit that restarts never finishes the command it had: it is abandoned now, not at its timeout.
    this.pending?.reject(new RequestError('aborted', `"${this.pending.command}" abandoned: the DUT restarted (${escapeForDisplay(line)})`));
  }

  /** The unfinished line as shown, when it is not text yet (null) or empty (''). */
  private unfinishedLine(): string | null {
    const bytes = this.framer.peek();
    if (bytes.length === 0) return '';
    const text = decodeUtf8(bytes);
    return text === null ? null : renderLine(text, { dropIncomplete: true });
  }

  /** When the unfinished line ends with the prompt: what is before the prompt on it. */
  private promptOnLine(): { before: string } | null {
    if (this.framer.overflowing) return null;
    const shown = this.unfinishedLine();
    if (!shown) return null;
    const m = this.prompt.atEnd.exec(shown);
    return m ? { before: shown.slice(0, m.index).trimEnd() } : null;
  }

  private onPromptSettled(): void {
    const found = this.promptOnLine();
    if (!found) return;
    this.framer.discardPartial();
    // Output printed with no line end before the prompt is still output.
    if (found.before) {
      if (hasControlCharacters(found.before)) this.reportGarbage(found.before, 'control characters');
      else this.onLine(found.before);
    }
    if (this.awaitingReady) {
      this.awaitingReady = false;
      this.events.emit('event', { name: 'READY', fields: {}, payload: '' });
    }
    const pending = this.pending;
    if (!pending) return;
    if (this.echo === 'on' && !pending.state.echoSeen) {
      this.log.debug({ command: pending.command }, 'a prompt before the echo (a redraw or a late prompt) ignored');
      return;
    }
    const lines = trimBlankLines(pending.state.lines);
    const error = lines.find((l) => this.errorRe.test(l));
    if (error !== undefined) pending.reject(new RequestError('rejected', `DUT refused "${pending.command}": ${escapeForDisplay(error, 120)}`, 'ERROR'));
    else pending.resolve(lines.join('\n'));
  }
}

function trimBlankLines(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start] === '') start++;
  while (end > start && lines[end - 1] === '') end--;
  return lines.slice(start, end);
}
