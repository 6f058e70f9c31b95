// Serves a simulated nest as a cellular module with factory firmware: V.250 / 27.007 AT commands
// for its identity and signal, vendor `AT#` commands for the rest of the factory test
// (docs/protocols.md, "The simulated AT unit"). Units served this way are cellular: the nest
// should be built with `cellularRate: 1` (runNestOnSerial does); a unit without an ICCID answers
// the ICCID commands +CME ERROR: 10 (SIM not inserted).
//
// What it sends: the echo of each command line when echo is on (ATE1, the default after boot);
// each answer as V.250 frames it (CR LF info CR LF ... CR LF OK CR LF); `RDY` when the factory
// firmware is ready, then +CFUN / +CPIN / +QIND URCs; now and then +CREG, +CEREG or +QIND "csq"
// URCs; the nest's other events (BLINKUP, ENROLL) as `#<EVENT>: key=value ...` URCs.
import { parseFields } from '../../console/tagged-protocol.js';
import { CME_ERRORS, csqRssiFromDbm } from '../../console/at-protocol.js';
import { NestConsoleAdapter } from './console-adapter.js';
import type { CommandOutcome } from './firmware.js';

/** Faults of the AT personality, on top of the nest's own (garbage, overlong, hang, unplug). */
export type AtFault = 'identity-error';

const FIRMWARE = 'factory-2.3.1';
const MANUFACTURER = 'Electric Imp';

/** Commands that read the unit's identity: the `identity-error` fault answers one of them ERROR. */
const IDENTITY_COMMANDS = new Set(['I', 'I0', '+CGSN', '+GSN', '+CCID', '+QCCID', '+CGMM', '#DEVID', '#MAC']);

type Answer = { lines: string[] } | { error: number | 'ERROR' } | { raw: string } | null;

export class NestAtAdapter extends NestConsoleAdapter {
  private echo = true;
  /** +CMEE: 0 plain ERROR, 1 numeric +CME ERROR, 2 verbose. The simulator boots with 1. */
  private cmee = 1;
  private readonly faults: AtFault[] = [];

  /** The next identity command (ATI, AT+CGSN, AT+CCID, AT+QCCID, AT+CGMM, AT#DEVID, AT#MAC) answers ERROR. */
  injectFault(kind: AtFault): void {
    this.faults.push(kind);
  }

  protected onCommandLine(line: string): void {
    if (this.nest.hung) return; // a hung module does not even echo
    if (this.echo) this.write(`${line}\r`);
    const command = line.trim();
    // V.250 §5.2.1: a line that does not start with AT is not a command line; nothing answers it.
    if (!/^AT/i.test(command)) return;
    this.afterLatency(() => this.answer(command));
  }

  protected onNestEvent(name: string, fields: Record<string, string | number>): void {
    if (name === 'BOOT') {
      // Settings not stored with AT&W are back to their power-on values.
      this.echo = true;
      this.cmee = 1;
      return;
    }
    if (name === 'READY') {
      this.urc('RDY');
      this.urc('+CFUN: 1');
      // The SIM and phonebook come up a little later, often in the middle of the first command.
      this.afterLatency(() => {
        this.urc('+CPIN: READY');
        this.urc('+QIND: PB DONE');
      });
      return;
    }
    const payload = Object.entries(fields)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    this.urc(payload ? `#${name}: ${payload}` : `#${name}`);
  }

  protected chatter(): void {
    const pick = this.rng.int(3);
    if (pick === 0) this.urc('+CREG: 1');
    else if (pick === 1) this.urc(`+CEREG: 1,"1A2B","01C4D${this.rng.int(10)}0F",7`);
    else this.urc(`+QIND: "csq",${10 + this.rng.int(20)},99`);
  }

  private urc(text: string): void {
    this.write(`\r\n${text}\r\n`);
  }

  private answer(command: string): void {
    const result = this.execute(command.slice(2).trim());
    if (result === null) return; // silent: hung, or the cable went
    if ('raw' in result) {
      this.write(result.raw);
      return;
    }
    if ('lines' in result) {
      this.write(`${result.lines.map((l) => `\r\n${l}\r\n`).join('')}\r\nOK\r\n`);
      return;
    }
    this.write(`\r\n${this.errorCode(result.error)}\r\n`);
  }

  private errorCode(error: number | 'ERROR'): string {
    if (error === 'ERROR' || this.cmee === 0) return 'ERROR';
    if (this.cmee === 2) {
      const text = CME_ERRORS[error] ?? 'unknown';
      return `+CME ERROR: ${text.charAt(0).toUpperCase()}${text.slice(1)}`;
    }
    return `+CME ERROR: ${error}`;
  }

  /** One command (the text after AT) as the module carries it out. */
  private execute(body: string): Answer {
    const [head = '', ...rest] = body.split(/[ =]/);
    // A read command (AT+CMEE?) is named without its ?.
    const read = head.endsWith('?');
    const name = head.replace(/\?$/, '').toUpperCase();
    const args = rest.filter((a) => a !== '');
    if (body.endsWith('=?')) return { error: 4 }; // test commands: operation not supported here
    if (IDENTITY_COMMANDS.has(name) && this.faults[0] === 'identity-error') {
      this.faults.shift();
      return { error: 'ERROR' };
    }
    switch (name) {
      case '':
        return { lines: [] };
      case 'E':
      case 'E0':
      case 'E1':
        this.echo = name === 'E1';
        return { lines: [] };
      case '+CMEE': {
        if (read) return { lines: [`+CMEE: ${this.cmee}`] };
        const n = Number(args[0]);
        if (![0, 1, 2].includes(n)) return { error: 50 };
        this.cmee = n;
        return { lines: [] };
      }
      case '+CPAS':
        // 27.007 §8.1 phone activity status: 0 ready, 2 unknown (still starting).
        return { lines: [`+CPAS: ${this.unitReady ? 0 : 2}`] };
      case '+CGMI':
        return { lines: [MANUFACTURER] };
      case '+CGMR':
        return { lines: [FIRMWARE] };
      case 'I':
      case 'I0':
      case '+CGMM': {
        const unit = this.nest.currentUnit;
        if (!unit) return null;
        const model = unit.iccid ? 'imp006' : 'imp004m';
        return { lines: name === '+CGMM' ? [model] : [MANUFACTURER, model, `Revision: ${FIRMWARE}`] };
      }
      case '+CGSN':
      case '+GSN':
        return this.fromNest('IDENT', [], (f) => (f.imei ? [f.imei] : null));
      case '+CCID':
      case '+QCCID':
        return this.fromNest('IDENT', [], (f) => (f.iccid ? [`${name}: ${f.iccid}`] : { error: 10 }));
      case '#DEVID':
        return this.fromNest('IDENT', [], (f) => [`#DEVID: ${f.id ?? ''}`]);
      case '#MAC':
        return this.fromNest('IDENT', [], (f) => [`#MAC: ${f.mac ?? ''}`]);
      case '+CSQ':
        return this.fromNest('MEAS', ['RSSI'], (f) => [`+CSQ: ${csqRssiFromDbm(Number(f.v))},99`]);
      case '#MEAS':
        if (args.length !== 1) return { error: 50 };
        return this.fromNest('MEAS', [(args[0] as string).toUpperCase()], (f) => [`#MEAS: ${f.v},${f.unit}`]);
      case '#SELFTEST':
        if (args.length !== 1) return { error: 50 };
        return this.fromNest('SELFTEST', [(args[0] as string).toUpperCase()], (f) => [`#SELFTEST: ${f.result}`]);
      case '#LED':
        if (args.length !== 1) return { error: 50 };
        return this.fromNest('LED', [(args[0] as string).toUpperCase()], (f) => [`#LED: ${f.led}`]);
      case '#BLESS':
        return this.fromNest('BLESS', [], (f) => {
          this.unitReady = false;
          return [f.rework === '1' ? '#BLESS: 1,rework' : '#BLESS: 1'];
        });
      case '#FAIL':
        if (args.length > 1) return { error: 50 };
        return this.fromNest('FAIL', args, (f) => {
          this.unitReady = false;
          return [`#LED: ${f.led}`];
        });
      case '#SLEEP':
        // Accepted; the simulated unit has no low-power state to enter.
        return { lines: [] };
      default:
        return { error: 'ERROR' };
    }
  }

  /** Runs a firmware command and words its outcome as AT: faults, BUSY and BAD_ARG included. */
  private fromNest(command: string, args: string[], words: (fields: Record<string, string>) => string[] | { error: number } | null): Answer {
    const outcome: CommandOutcome = this.nest.execute(command, args);
    switch (outcome.kind) {
      case 'ok': {
        const lines = words(parseFields(outcome.payload));
        return lines === null ? { error: 'ERROR' } : Array.isArray(lines) ? { lines } : lines;
      }
      case 'err':
        // Still booting: operation not allowed; a bad argument: incorrect parameters.
        return { error: outcome.code === 'BUSY' ? 3 : outcome.code === 'BAD_ARG' ? 50 : 100 };
      case 'garbage':
        return { raw: `${outcome.line}\r\n` };
      case 'silent':
      case 'unplug':
        return null;
    }
  }
}
