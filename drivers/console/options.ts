// The DUT protocol a slot's console speaks (`slots[].dut.protocol` in the station config): the
// station's own tagged lines (the default), AT commands, or a firmware shell. This driver owns
// the schema; the station's config schema composes it. docs/protocols.md describes each option.
import { z } from 'zod';
import { DEFAULT_URC_PREFIXES } from './at-protocol.js';
import { DEFAULT_BOOT_PATTERN, DEFAULT_ERROR_PATTERN, DEFAULT_SHELL_PROMPT, regexProblem, ZEPHYR_LOG_PATTERN } from './shell-protocol.js';

const regexSource = z
  .string()
  .min(1)
  .max(500)
  .superRefine((source, ctx) => {
    const problem = regexProblem(source);
    if (problem) ctx.addIssue({ code: 'custom', message: `must be a valid regular expression (${problem})` });
  });

/** Printable text without line ends: what a URC or a prompt can be. */
const lineText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\x00-\x1f\x7f]+$/, 'must be printable text with no line end');

const echo = z.enum(['auto', 'on', 'off']);

export const taggedProtocolSchema = z.strictObject({ kind: z.literal('tagged') });

export const atProtocolSchema = z.strictObject({
  kind: z.literal('at'),
  /** auto: an echoed command line is skipped; on: the echo is required (lines before it are a
   *  late answer to an earlier command); off: no line is taken for an echo. */
  echo: echo.default('auto'),
  /** Lines starting with one of these are unsolicited result codes even in the middle of an answer. */
  urcPrefixes: z
    .array(lineText(32))
    .max(64)
    .default([...DEFAULT_URC_PREFIXES]),
  /** The URC (the start of its line) sent when the unit has booted: emitted as BOOT too. */
  bootUrc: lineText(64).nullable().default(null),
  /** The URC (the start of its line) sent when the unit takes test commands: emitted as READY too. */
  readyUrc: lineText(64).nullable().default('RDY'),
});

export const shellProtocolSchema = z
  .strictObject({
    kind: z.literal('shell'),
    /** The prompt as the shell shows it (Zephyr "uart:~$ ", ESP-IDF "esp32> ", NuttX "nsh> "). */
    prompt: lineText(200).default(DEFAULT_SHELL_PROMPT),
    /** `prompt` is a regular expression (matched at the end of the unfinished line). */
    promptIsRegex: z.boolean().default(false),
    /** What ends a typed command. */
    lineEnding: z.enum(['\r\n', '\n', '\r']).default('\r\n'),
    /** on: the shell echoes, and the answer starts after the echo; auto: an echo is skipped when
     *  it comes; off: the shell does not echo. */
    echo: echo.default('on'),
    /** An output line matching this makes the command fail (`rejected`). */
    errorPattern: regexSource.default(DEFAULT_ERROR_PATTERN),
    /** A line matching this is the boot banner (BOOT); the first prompt after it is READY. */
    bootPattern: regexSource.nullable().default(DEFAULT_BOOT_PATTERN),
    /** Log lines: never part of an answer, each emitted as a LOG event; null: no log lines. */
    logPattern: regexSource.nullable().default(ZEPHYR_LOG_PATTERN),
    /** How long the unfinished line must stay a prompt before it is taken for one. */
    promptSettleMs: z.number().int().min(0).max(2000).default(30),
  })
  .superRefine((shell, ctx) => {
    if (shell.promptIsRegex) {
      const problem = regexProblem(shell.prompt);
      if (problem) ctx.addIssue({ code: 'custom', path: ['prompt'], message: `must be a valid regular expression (${problem})` });
      else if (new RegExp(`(?:${shell.prompt})$`).test('')) ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'matches an empty line: it would find a prompt everywhere' });
    } else if (shell.prompt.trim() === '') ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'needs a character other than a space' });
  });

export const dutProtocolSchema = z.discriminatedUnion('kind', [taggedProtocolSchema, atProtocolSchema, shellProtocolSchema]).default({ kind: 'tagged' });

export type DutProtocolOptions = z.output<typeof dutProtocolSchema>;
/** As written in the config, before defaults are filled in. */
export type DutProtocolInput = z.input<typeof dutProtocolSchema>;
export type AtProtocolOptions = z.output<typeof atProtocolSchema>;
export type ShellProtocolOptions = z.output<typeof shellProtocolSchema>;
