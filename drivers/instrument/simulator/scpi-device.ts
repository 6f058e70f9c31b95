// What every simulated SCPI instrument shares: *IDN? with its model and serial number, the error
// queue (SYST:ERR?, 20 entries, -350 when it overflows), *CLS/*RST/*OPC?, dispatching program
// messages to the model's command table, one message at a time, and carrying lines over any byte
// stream (the in-memory cable, a TCP connection, a pseudo-terminal) with a configurable latency.
// Faults for tests: the next answer garbled, withheld, over-long, or the line hung up.
import type { Duplex } from 'node:stream';
import { LineFramer } from '../../transport/line-framer.js';
import type { ModelName } from '../models.js';
import { compilePattern, matchHeader, parseProgramMessage, ScpiCommandError, SCPI_ERRORS, type HeaderPattern, type ScpiErrorCode } from './scpi-parser.js';

export interface CommandContext {
  params: string[];
  /** Numeric suffixes of the header's mnemonics (SOURce2 → 2; 1 when omitted), in pattern order. */
  suffixes: number[];
}

export interface SimCommand {
  /** Header pattern in the guides' notation; ends in `?` for a query. */
  pattern: string;
  /** Returns the answer of a query; throws ScpiCommandError to queue an error. */
  run(ctx: CommandContext): string | void | Promise<string | void>;
}

export interface DeviceIdentity {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
}

/** How SYST:ERR? is written: `+0,"No error"` (Keysight), `0,"No error"` (Rigol), `0  No Error`. */
export type ErrorStyle = 'signed' | 'plain' | 'bare';

export type SimFault = 'garbage' | 'silent' | 'overlong' | 'hang-up';

export interface AttachOptions {
  /** Line end the instrument is set to. */
  terminator?: 'LF' | 'CR' | 'CRLF';
  /** Time to carry out each program message before answering. */
  latencyMs?: number;
  /** The `hang-up` fault: drop the connection (pull the cable, close the socket). */
  hangUp?: () => void;
}

const QUEUE_SIZE = 20;
const GARBAGE = '\x1b[2J\xff\xfe\x00 brown-out';

export abstract class SimulatedScpiDevice {
  readonly model: ModelName;
  readonly identity: DeviceIdentity;
  private readonly errors: { code: number; message: string }[] = [];
  private compiled: { pattern: HeaderPattern; run: SimCommand['run'] }[] | null = null;
  private busy: Promise<unknown> = Promise.resolve();
  private readonly faults: SimFault[] = [];
  /** Every program message received, in order (for tests). */
  readonly received: string[] = [];
  keepReceived = false;

  constructor(
    model: ModelName,
    identity: DeviceIdentity,
    private readonly errorStyle: ErrorStyle,
    /** Common commands this model knows; the Siglent SPD3303X, for one, has no *CLS. */
    private readonly common: readonly ('*CLS' | '*RST' | '*OPC?' | '*ESR?')[] = ['*CLS', '*RST', '*OPC?', '*ESR?'],
  ) {
    this.model = model;
    this.identity = identity;
  }

  /** The model's own commands (common commands and SYST:ERR? are added here). */
  protected abstract commands(): SimCommand[];

  /** *RST: the model's power-on settings. */
  protected abstract reset(): void;

  /** The error queue, oldest first, as SYST:ERR? would return it. */
  get errorQueue(): string[] {
    return this.errors.map((e) => this.formatError(e.code, e.message));
  }

  /** The next answer gets this fault instead of what it should be. */
  injectFault(fault: SimFault): void {
    this.faults.push(fault);
  }

  /** Queues an instrument error, as the model does when a command fails. Real instruments write the
   *  standard text alone (`-222,"Data out of range"`); only an execution error carries a detail. */
  pushError(code: ScpiErrorCode | number, detail?: string): void {
    const text = typeof code === 'string' ? SCPI_ERRORS[code] : 'Device-specific error';
    const message = code === '-200' && detail ? `${text}; ${detail}` : text;
    if (this.errors.length >= QUEUE_SIZE) {
      this.errors[QUEUE_SIZE - 1] = { code: -350, message: SCPI_ERRORS['-350'] };
      return;
    }
    this.errors.push({ code: Number(code), message });
  }

  /** Carries out one program message; resolves with the answer line (null: nothing to answer). */
  execute(line: string): Promise<string | null> {
    const run = this.busy.then(() => this.executeNow(line));
    this.busy = run.catch(() => undefined);
    return run;
  }

  private async executeNow(line: string): Promise<string | null> {
    if (this.keepReceived) this.received.push(line);
    let units;
    try {
      units = parseProgramMessage(line);
    } catch (err) {
      this.pushError(err instanceof ScpiCommandError ? err.code : '-102');
      return null;
    }
    const answers: string[] = [];
    let path: string[] = [];
    for (const unit of units) {
      const candidates = unit.root ? [unit.nodes] : [[...path, ...unit.nodes], unit.nodes];
      let found: { run: SimCommand['run']; suffixes: number[] } | null = null;
      let resolved: string[] = unit.nodes;
      for (const nodes of candidates) {
        for (const c of this.table()) {
          if (c.pattern.query !== unit.query) continue;
          const suffixes = matchHeader(c.pattern, nodes);
          if (suffixes) {
            found = { run: c.run, suffixes };
            resolved = nodes;
            break;
          }
        }
        if (found) break;
      }
      if (!found) {
        this.pushError('-113', `${unit.nodes.join(':')}${unit.query ? '?' : ''}`);
        break;
      }
      if (!unit.common) path = resolved.slice(0, -1);
      try {
        const answer = await found.run({ params: unit.params, suffixes: found.suffixes });
        if (unit.query) answers.push(answer ?? '');
      } catch (err) {
        if (err instanceof ScpiCommandError) this.pushError(err.code, err.detail);
        else this.pushError('-200', (err as Error).message);
        break;
      }
    }
    return answers.length > 0 ? answers.join(';') : null;
  }

  private table(): { pattern: HeaderPattern; run: SimCommand['run'] }[] {
    if (this.compiled) return this.compiled;
    const common: SimCommand[] = [
      { pattern: '*IDN?', run: () => `${this.identity.manufacturer},${this.identity.model},${this.identity.serial},${this.identity.firmware}` },
      { pattern: 'SYSTem:ERRor[:NEXT]?', run: () => this.nextError() },
    ];
    if (this.common.includes('*CLS')) common.push({ pattern: '*CLS', run: () => void this.errors.splice(0) });
    if (this.common.includes('*RST')) common.push({ pattern: '*RST', run: () => this.reset() });
    if (this.common.includes('*OPC?')) common.push({ pattern: '*OPC?', run: () => '1' });
    if (this.common.includes('*ESR?')) common.push({ pattern: '*ESR?', run: () => (this.errors.length > 0 ? '32' : '0') });
    this.compiled = [...common, ...this.commands()].map((c) => ({ pattern: compilePattern(c.pattern), run: c.run }));
    return this.compiled;
  }

  private nextError(): string {
    const next = this.errors.shift();
    return next ? this.formatError(next.code, next.message) : this.formatError(0, 'No error');
  }

  private formatError(code: number, message: string): string {
    switch (this.errorStyle) {
      case 'signed':
        return `${code >= 0 ? '+' : ''}${code},"${message}"`;
      case 'plain':
        return `${code},"${message}"`;
      case 'bare':
        return `${code}  ${code === 0 ? 'No Error' : message}`;
    }
  }

  /** Speaks SCPI over a byte stream until detached (or the stream ends). */
  attach(stream: Duplex, opts: AttachOptions = {}): { detach(): void } {
    const terminator = opts.terminator ?? 'LF';
    const eol = terminator === 'CR' ? '\r' : terminator === 'CRLF' ? '\r\n' : '\n';
    const framer = new LineFramer(terminator === 'CR' ? '\r' : '\n', 64 * 1024);
    let attached = true;
    const timers = new Set<NodeJS.Timeout>();
    let chain: Promise<unknown> = Promise.resolve();
    const write = (text: string): void => {
      if (attached && !stream.destroyed && stream.writable) stream.write(Buffer.from(text, 'latin1'));
    };
    const answer = (response: string | null): void => {
      if (response === null || !attached) return;
      const fault = this.faults.shift();
      if (fault === 'silent') return;
      if (fault === 'garbage') return write(`${GARBAGE}${eol}`);
      if (fault === 'overlong') return write(`${'9'.repeat(300_000)}${eol}`);
      if (fault === 'hang-up') return opts.hangUp?.();
      write(`${response}${eol}`);
    };
    const onData = (chunk: Buffer): void => {
      for (const framed of framer.push(chunk)) {
        if (framed.kind === 'overflow') {
          this.pushError('-102', 'program message too long');
          continue;
        }
        let line = framed.bytes.toString('latin1');
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim().length === 0) continue;
        const latency = opts.latencyMs ?? 0;
        chain = chain.then(async () => {
          if (!attached) return;
          if (latency > 0) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(() => {
                timers.delete(t);
                resolve();
              }, latency);
              timers.add(t);
            });
          }
          if (!attached) return;
          answer(await this.execute(line));
        });
      }
    };
    stream.on('data', onData);
    return {
      detach: () => {
        attached = false;
        for (const t of timers) clearTimeout(t);
        timers.clear();
        stream.off('data', onData);
      },
    };
  }
}

/** Keysight's NR3 answer: `+1.23456789E-03`, `+9.90000000E+37`. */
export function formatNr3(value: number, digits = 8): string {
  const text = value
    .toExponential(digits)
    .toUpperCase()
    .replace(/E([+-])(\d)$/, 'E$10$2');
  return value >= 0 ? `+${text}` : text;
}

/** Fixed decimals, as the Rigol and Siglent supplies answer (`5.000`, `0.1200`). */
export function formatFixed(value: number, decimals: number): string {
  return value.toFixed(decimals);
}
