// Picks a DUT console for the protocol a slot's firmware speaks (options.ts): the tagged lines,
// AT commands or a firmware shell, all on the same opener (a serial port, a simulator's cable).
import type { Logger } from 'pino';
import type { PortOpener } from '../transport/port.js';
import { AtConsole } from './at-console.js';
import type { DutConsole } from './console.js';
import { dutProtocolSchema, type DutProtocolInput, type DutProtocolOptions } from './options.js';
import { ShellConsole } from './shell-console.js';
import { TaggedConsole } from './tagged-console.js';

export interface CreateDutConsoleOptions {
  /** The slot's `dut.protocol`, parsed or as written (defaults are filled in); absent: tagged. */
  protocol?: DutProtocolOptions | DutProtocolInput;
  /** Where it is connected, for logs and messages: a port path or "sim:<slot>". */
  label: string;
  open: PortOpener;
  log: Logger;
  maxLineBytes: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
}

export function createDutConsole(opts: CreateDutConsoleOptions): DutConsole {
  const protocol = dutProtocolSchema.parse(opts.protocol);
  const port = { label: opts.label, open: opts.open, log: opts.log, maxLineBytes: opts.maxLineBytes, reconnectInitialMs: opts.reconnectInitialMs, reconnectMaxMs: opts.reconnectMaxMs };
  switch (protocol.kind) {
    case 'tagged':
      return new TaggedConsole(port);
    case 'at':
      return new AtConsole({ ...port, echo: protocol.echo, urcPrefixes: protocol.urcPrefixes, bootUrc: protocol.bootUrc, readyUrc: protocol.readyUrc });
    case 'shell':
      return new ShellConsole({
        ...port,
        prompt: protocol.prompt,
        promptIsRegex: protocol.promptIsRegex,
        lineEnding: protocol.lineEnding,
        echo: protocol.echo,
        errorPattern: protocol.errorPattern,
        bootPattern: protocol.bootPattern,
        logPattern: protocol.logPattern,
        promptSettleMs: protocol.promptSettleMs,
      });
  }
}

export { dutProtocolSchema, type DutProtocolInput, type DutProtocolOptions } from './options.js';
export type { DutConsole } from './console.js';
