// The conventions of firmware shells the shell console reads (Zephyr's shell, ESP-IDF's console,
// NuttX's nsh), as defaults and pure helpers: the prompt, the lines that mean a command failed,
// the boot banner and the log line format.

/** Zephyr's UART shell prompt (CONFIG_SHELL_PROMPT_UART). ESP-IDF's examples use "esp32> ", NuttX "nsh> ". */
export const DEFAULT_SHELL_PROMPT = 'uart:~$ ';

/**
 * Output lines that mean the command failed: a line starting "error" / "Error" / "ERROR" and a
 * colon or space (Zephyr's shell_error() messages by convention); Zephyr's "<cmd>: command not
 * found", "<cmd>: wrong parameter count" and "Please specify a subcommand."; ESP-IDF's
 * "Unrecognized command" and "Command returned non-zero error code: 0x.. (...)"; NuttX's
 * "nsh: <cmd>: command not found"; and "Unknown command".
 */
export const DEFAULT_ERROR_PATTERN =
  '^(?:error|Error|ERROR)[: ]|command not found|Unrecognized command|Unknown command|wrong parameter count|Please specify a subcommand|Command returned non-zero error code';

/** Zephyr's boot banner, "*** Booting Zephyr OS build v3.7.0 ***"; the build becomes a field. */
export const DEFAULT_BOOT_PATTERN = '\\*\\*\\* Booting Zephyr OS(?: build (?<build>\\S+))?';

/**
 * A Zephyr log line: "[00:00:01.234,000] <inf> main: message" (the timestamp optional, as with
 * CONFIG_LOG_BACKEND_FORMAT_TIMESTAMP off); its parts become the LOG event's fields.
 */
export const ZEPHYR_LOG_PATTERN = '^(?:\\[(?<timestamp>[0-9:.,]+)\\] )?<(?<level>err|wrn|inf|dbg)> (?<module>[^:]+): (?<message>.*)$';

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Whether a pattern compiles as a JavaScript regular expression; the compiler's message when not. */
export function regexProblem(source: string): string | null {
  try {
    new RegExp(source);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export interface PromptMatchers {
  /** Finds the prompt at the end of a line (trailing blanks allowed). */
  atEnd: RegExp;
  /** Finds the prompt at the start of a line (an echo printed after it). */
  atStart: RegExp;
  /** How the prompt is named in messages. */
  shown: string;
}

/**
 * A literal prompt matches as written, its trailing blanks optional (the prompt's last space is
 * often its own chunk); a regex prompt is used as given (then [ \t]* is allowed after it too).
 */
export function promptMatchers(prompt: string, isRegex: boolean): PromptMatchers {
  const source = isRegex ? prompt : escapeRegExp(prompt.trimEnd());
  return {
    atEnd: new RegExp(`(?:${source})[ \\t]*$`),
    atStart: new RegExp(`^(?:${source})[ \\t]*`),
    shown: isRegex ? `/${prompt}/` : JSON.stringify(prompt),
  };
}

/** A regex's named groups that matched, as event fields. */
export function namedGroups(m: RegExpExecArray): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(m.groups ?? {})) if (value !== undefined) fields[key] = value;
  return fields;
}
