// Serves a simulated nest as a Zephyr test image with a shell on its UART (docs/protocols.md, "The
// simulated shell unit"): the `*** Booting Zephyr OS ***` banner, Zephyr log lines, a `uart:~$ `
// prompt once the factory firmware is ready, and `factory ...` commands. The bytes are Zephyr's
// own: the prompt in green (ESC [1;32m ... ESC [m), errors in red with the colour reset after
// the line's CR LF, log lines printed over the prompt after moving the cursor back and clearing
// (ESC [8D ESC [J), then the prompt drawn again; the typed command echoed after the prompt.
import { parseFields } from '../../console/tagged-protocol.js';
import { monotonicMs } from '../../../lib/clock.js';
import { NestConsoleAdapter } from './console-adapter.js';

/** Faults of the shell personality, on top of the nest's own (garbage, overlong, hang, unplug). */
export type ShellFault = 'no-prompt';

export const ZEPHYR_VERSION = '3.7.0';
const PROMPT_TEXT = 'uart:~$ ';
const PROMPT = `\x1b[1;32m${PROMPT_TEXT}\x1b[m`;
const RED = '\x1b[1;31m';
const GREEN = '\x1b[1;32m';
const MODES_OFF = '\x1b[m';
const LOG_DEFAULT = '\x1b[0m';

type Printed = { text: string; colour?: string };

const SUBCOMMANDS: Record<string, { command: string; args: number }> = {
  ident: { command: 'IDENT', args: 0 },
  meas: { command: 'MEAS', args: 1 },
  selftest: { command: 'SELFTEST', args: 1 },
  led: { command: 'LED', args: 1 },
  bless: { command: 'BLESS', args: 0 },
  fail: { command: 'FAIL', args: 1 },
};

export class NestShellAdapter extends NestConsoleAdapter {
  /** Whether the prompt is what the terminal line shows now (a log line must be drawn over it). */
  private promptShown = false;
  private echo = true;
  /** This boot's shell never shows a prompt (the `no-prompt` fault). */
  private promptless = false;
  private readonly faults: ShellFault[] = [];
  private bootedAt = monotonicMs();

  /** `no-prompt`: from the next boot on, until the one after it, the shell never shows its prompt. */
  injectFault(kind: ShellFault): void {
    this.faults.push(kind);
  }

  protected onCommandLine(line: string): void {
    if (this.nest.hung) return; // a hung MCU does not even echo
    if (this.echo) this.write(line);
    this.write('\r\n');
    this.promptShown = false;
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '');
    if (words.length === 0) {
      this.showPrompt();
      return;
    }
    this.afterLatency(() => {
      const printed = this.execute(words);
      if (printed === null) return; // silent: hung, or the cable went
      for (const p of printed) this.write(p.colour ? `${p.colour}${p.text}\r\n${MODES_OFF}` : `${p.text}\r\n`);
      this.showPrompt();
    });
  }

  protected onNestEvent(name: string, fields: Record<string, string | number>): void {
    if (name === 'BOOT') {
      this.bootedAt = monotonicMs();
      this.promptShown = false;
      this.echo = true;
      this.promptless = this.faults[0] === 'no-prompt';
      if (this.promptless) this.faults.shift();
      this.write(`\r\n*** Booting Zephyr OS build v${ZEPHYR_VERSION} ***\r\n`);
      this.logLine('inf', 'factory', `factory firmware factory-2.3.1, model ${fields.model ?? 'unknown'}`);
      return;
    }
    if (name === 'READY') {
      this.logLine('inf', 'factory', 'ready for test');
      this.showPrompt();
      return;
    }
    const payload = Object.entries(fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    this.logLine('inf', 'factory', payload ? `${name} ${payload}` : name);
  }

  protected chatter(): void {
    if (this.rng.chance(0.5)) this.logLine('inf', 'sensor', `light ${300 + this.rng.int(200)} lux`);
    else this.logLine('wrn', 'net', 'no carrier, retrying');
  }

  private showPrompt(): void {
    if (this.promptless) return;
    this.write(PROMPT);
    this.promptShown = true;
  }

  /** A Zephyr log line: timestamp, level in its colour, module, message; over the prompt if shown. */
  private logLine(level: 'err' | 'wrn' | 'inf', module: string, message: string): void {
    const ms = Math.floor(monotonicMs() - this.bootedAt);
    const stamp = `[${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)},000]`;
    const colour = level === 'err' ? RED : level === 'wrn' ? '\x1b[1;33m' : LOG_DEFAULT;
    const line = `${stamp} ${colour}<${level}> ${module}: ${message}${LOG_DEFAULT}\r\n`;
    if (this.promptShown) {
      // The shell clears its line (cursor back over the prompt, clear to the end), prints the log
      // line, and draws the prompt again.
      this.write(`\x1b[${PROMPT_TEXT.length}D\x1b[J${line}${PROMPT}`);
    } else this.write(line);
  }

  /** One command line as the shell carries it out: what it prints, or null for nothing at all. */
  private execute(words: string[]): Printed[] | null {
    const [root = '', sub, ...args] = words;
    if (root === 'kernel' && sub === 'version') return [{ text: `Zephyr version ${ZEPHYR_VERSION}` }];
    if (root === 'kernel' && sub === 'uptime') return [{ text: `Uptime: ${Math.floor(monotonicMs() - this.bootedAt)} ms` }];
    if (root === 'help')
      return [{ text: 'Available commands:' }, { text: '  factory  :Factory test commands' }, { text: '  help     :Prints the help message.' }, { text: '  kernel   :Kernel commands' }];
    if (root === 'shell' && sub === 'echo' && (args[0] === 'on' || args[0] === 'off')) {
      this.echo = args[0] === 'on';
      return [];
    }
    if (root !== 'factory') return [{ text: `${words.join(' ')}: command not found`, colour: RED }];
    if (sub === undefined) return [{ text: 'factory - Factory test commands' }, { text: 'Subcommands:' }, ...Object.keys(SUBCOMMANDS).map((s) => ({ text: `  ${s}` }))];
    const spec = SUBCOMMANDS[sub];
    if (!spec) return [{ text: `factory ${sub}: command not found`, colour: RED }];
    if (args.length !== spec.args) return [{ text: `factory ${sub}: wrong parameter count`, colour: RED }];
    const outcome = this.nest.execute(
      spec.command,
      args.map((a) => a.toUpperCase()),
    );
    switch (outcome.kind) {
      case 'ok':
        return this.words(sub, args, parseFields(outcome.payload));
      case 'err':
        return [{ text: `error: ${outcome.code === 'BUSY' ? 'busy (booting)' : outcome.message}`, colour: RED }];
      case 'garbage':
        this.write(`${outcome.line}\r\n`);
        return null;
      case 'silent':
      case 'unplug':
        return null;
    }
  }

  private words(sub: string, args: string[], f: Record<string, string>): Printed[] {
    switch (sub) {
      case 'ident': {
        const lines = [`id: ${f.id}`, `mac: ${f.mac}`, `fw: ${f.fw}`, ...(f.model ? [`model: ${f.model}`] : []), `blessed: ${f.blessed}`];
        if (f.iccid) lines.push(`iccid: ${f.iccid}`, `imei: ${f.imei}`);
        if (f.platform) lines.push(`platform: ${f.platform}`);
        return lines.map((text) => ({ text }));
      }
      case 'meas':
        return [{ text: `${(args[0] as string).toLowerCase()}: ${f.v} ${f.unit}` }];
      case 'selftest':
        return [{ text: `${(args[0] as string).toLowerCase()}: ${f.result}`, colour: f.result === 'PASS' ? GREEN : RED }];
      case 'led':
        return [{ text: `led: ${f.led}` }];
      case 'bless':
        this.unitReady = false;
        return f.rework === '1' ? [{ text: 'blessed: 1' }, { text: 'rework: 1' }] : [{ text: 'blessed: 1' }];
      default:
        this.unitReady = false;
        return [{ text: `led: ${f.led}` }];
    }
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}
