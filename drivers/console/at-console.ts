// The AT command console (docs/protocols.md, "AT commands"): a DUT whose factory firmware is a
// cellular module's AT interpreter, or speaks like one. A command line goes out ending in CR
// (V.250 §5.2.1); back come the command's echo (if the module echoes: ATE1), information lines,
// and one final result code (OK, ERROR, +CME ERROR: <err>, ...). Unsolicited result codes (URCs)
// may come at any time, between commands and in the middle of an answer.
//
// How a line is read:
//  - CR and LF both end a line (V.250 frames responses with CR LF; an echo ends with CR alone;
//    some firmware sends LF alone). Empty lines are skipped.
//  - A line must be UTF-8 text without control characters and at most maxLineBytes; anything
//    else is garbage: reported, and the request in flight fails with it.
//  - While a command is in flight: its echo (the first line, equal to the command) is skipped; a
//    line starting with one of `urcPrefixes` (or the boot / ready URC) is a URC, unless the
//    command is the one that reports that code (AT+CREG? is answered with +CREG: ...); a final
//    result code ends the answer; every other line is an information line of the answer.
//  - Between commands: a line shaped like a result code is a URC; a late final result code (from
//    a command that timed out) and free text are ignored.
// A URC is emitted as an `event` named by its code (+CREG: 1,5 -> CREG, payload "1,5", fields
// {"0": "1", "1": "5"}). The `bootUrc` and `readyUrc` lines are also emitted as BOOT and READY,
// the events the slot starts and interrupts runs on.
import { escapeForDisplay } from '../../lib/text.js';
import { LineFramer } from '../transport/line-framer.js';
import { RequestError } from '../transport/request-error.js';
import { DEFAULT_URC_PREFIXES, looksLikeResultCode, parseFinalResult, parseUrc } from './at-protocol.js';
import { CommandConsole, type EchoMode, type LineConsoleOptions, type Pending } from './command-console.js';
import { decodeUtf8, hasControlCharacters } from './line-text.js';

export interface AtConsoleOptions extends LineConsoleOptions {
  /**
   * "auto" (default): an echoed command line is recognised and skipped. "on": the echo is
   * required, and lines before it are taken for the late answer to an earlier command and
   * ignored (the only guard against taking a late OK for the answer to the next command).
   * "off": no line is taken for an echo.
   */
  echo?: EchoMode;
  /** Lines starting with one of these are URCs even in the middle of an answer. */
  urcPrefixes?: readonly string[];
  /** A URC line (its start) that means the unit has just booted: also emitted as BOOT. */
  bootUrc?: string | null;
  /** A URC line (its start) that means the unit takes test commands: also emitted as READY. */
  readyUrc?: string | null;
}

interface AtAnswer {
  echoSeen: boolean;
  /** Lines that came before a required echo (echo "on"): an earlier command's late answer. */
  skippedBeforeEcho: number;
  lines: string[];
}

export class AtConsole extends CommandConsole<AtAnswer> {
  /** A module reports itself ready with AT+CPAS (27.007 §8.1: +CPAS: 0), whatever it answers to a bare AT. */
  readonly readyProbe = { command: 'AT+CPAS', ready: /\+CPAS: 0\b/ };
  private readonly framer: LineFramer;
  private readonly echo: EchoMode;
  private readonly urcPrefixes: readonly string[];
  private readonly bootUrc: string | null;
  private readonly readyUrc: string | null;

  constructor(opts: AtConsoleOptions) {
    super(opts, 'AT console');
    this.framer = new LineFramer('\n', opts.maxLineBytes);
    this.echo = opts.echo ?? 'auto';
    this.bootUrc = opts.bootUrc ?? null;
    this.readyUrc = opts.readyUrc ?? null;
    const prefixes = [...(opts.urcPrefixes ?? DEFAULT_URC_PREFIXES)];
    for (const mapped of [this.bootUrc, this.readyUrc]) if (mapped && !prefixes.includes(mapped)) prefixes.push(mapped);
    this.urcPrefixes = prefixes;
  }

  protected newAnswer(): AtAnswer {
    return { echoSeen: false, skippedBeforeEcho: 0, lines: [] };
  }

  protected encode(command: string): string {
    return `${command}\r`;
  }

  protected resetFraming(): void {
    this.framer.discardPartial();
  }

  protected timeoutReason(pending: Pending<AtAnswer>): string {
    const { command, timeoutMs, state } = pending;
    const overflow = this.framer.overflowing ? `; the DUT is sending a line longer than ${this.base.maxLineBytes} bytes with no end` : '';
    const last = state.lines.at(-1);
    if (last !== undefined) return `no final result code for "${command}" within ${timeoutMs} ms; last line: ${escapeForDisplay(last)}${overflow}`;
    if (this.echo === 'on' && !state.echoSeen) {
      const skipped = state.skippedBeforeEcho > 0 ? `; ${state.skippedBeforeEcho} line(s) before it were taken for a late answer to an earlier command` : '';
      return `no answer to "${command}" within ${timeoutMs} ms: its echo never came (echo is "on")${skipped}${overflow}`;
    }
    if (state.echoSeen) return `no answer to "${command}" within ${timeoutMs} ms: only its echo came back${overflow}`;
    return `no answer to "${command}" within ${timeoutMs} ms${overflow}`;
  }

  protected onData(chunk: Buffer): void {
    // CR ends a line as LF does: an echo ends with CR alone, responses with CR LF.
    const bytes = Buffer.from(chunk);
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 13) bytes[i] = 10;
    for (const line of this.framer.push(bytes)) {
      if (line.kind === 'overflow') this.reportGarbage(line.kept.toString('latin1'), `line of ${line.length} bytes exceeds the ${this.base.maxLineBytes}-byte limit`);
      else if (line.bytes.length > 0) this.onLineBytes(line.bytes);
    }
  }

  private onLineBytes(bytes: Buffer): void {
    const text = decodeUtf8(bytes);
    if (text === null) return this.reportGarbage(bytes.toString('latin1'), 'invalid UTF-8');
    if (hasControlCharacters(text)) return this.reportGarbage(text, 'control characters');
    const line = text.trimEnd();
    if (line.trim() === '') return;
    this.onLine(line);
  }

  private onLine(line: string): void {
    const pending = this.pending;
    const bare = line.trimStart();
    if (!pending) {
      if (parseFinalResult(bare)) this.log.debug({ line: escapeForDisplay(bare) }, 'a final result code with no command in flight (a late answer) ignored');
      else if (this.isUrc(bare, null) || looksLikeResultCode(bare)) this.onUrc(bare);
      else this.log.debug({ line: escapeForDisplay(bare) }, 'text between commands ignored');
      return;
    }
    const answer = pending.state;
    if (!answer.echoSeen && answer.lines.length === 0 && this.echo !== 'off' && bare.toUpperCase() === pending.command.trim().toUpperCase()) {
      answer.echoSeen = true;
      return;
    }
    if (this.isUrc(bare, pending.command)) return this.onUrc(bare);
    if (this.echo === 'on' && !answer.echoSeen) {
      answer.skippedBeforeEcho++;
      this.log.debug({ command: pending.command, line: escapeForDisplay(bare) }, 'a line before the echo, taken for a late answer to an earlier command, ignored');
      return;
    }
    const final = parseFinalResult(bare);
    if (!final) {
      answer.lines.push(line);
      return;
    }
    if (final.ok) {
      // CONNECT carries the connection's text (the rate): it stays in the answer; OK does not.
      const lines = final.line === 'OK' ? answer.lines : [...answer.lines, final.line];
      pending.resolve(lines.join('\n'));
      return;
    }
    const meaning = final.meaning ? ` (${final.meaning})` : '';
    pending.reject(new RequestError('rejected', `DUT refused "${pending.command}" with ${final.code}${meaning}`, final.code));
  }

  /**
   * A line starting with a URC prefix. In the middle of the answer to a command that reports the
   * same code (AT+CREG? answers +CREG: 0,1; AT+CPIN? answers +CPIN: READY) it is that answer.
   */
  private isUrc(line: string, command: string | null): boolean {
    const prefix = this.urcPrefixes.find((p) => line.startsWith(p));
    if (prefix === undefined) return false;
    if (command === null) return true;
    const code = /^[+^#%$*&][A-Za-z0-9_]+/.exec(prefix)?.[0];
    return !(code && command.toUpperCase().includes(code.toUpperCase()));
  }

  private onUrc(line: string): void {
    const urc = parseUrc(line);
    this.events.emit('event', urc);
    if (this.bootUrc && line.startsWith(this.bootUrc)) {
      if (urc.name !== 'BOOT') this.events.emit('event', { ...urc, name: 'BOOT' });
      // A unit that restarts never finishes the command it had: it is abandoned now, not at its timeout.
      this.pending?.reject(new RequestError('aborted', `"${this.pending.command}" abandoned: the DUT restarted (${escapeForDisplay(line)})`));
    }
    if (this.readyUrc && line.startsWith(this.readyUrc) && urc.name !== 'READY') this.events.emit('event', { ...urc, name: 'READY' });
  }
}
