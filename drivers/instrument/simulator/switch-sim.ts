// A simulated switch unit speaking the SCPI-1999 ROUTe subsystem with channel lists, as the
// `scpi-switch` model expects: ROUT:CLOS (@n), ROUT:OPEN (@n), ROUT:OPEN:ALL, ROUT:CLOS? (@n).
// The bench (bench.ts) asks it which channels are closed to know what reaches a DMM.
import { MAX_SWITCH_CHANNEL } from '../models.js';
import { parseChannelList, ScpiCommandError } from './scpi-parser.js';
import { SimulatedScpiDevice, type DeviceIdentity, type SimCommand } from './scpi-device.js';

export class SimulatedSwitch extends SimulatedScpiDevice {
  private readonly closed = new Set<number>();
  /** Relay operations, as DIAG:REL:CYCL? would count them. */
  cycles = 0;

  constructor(identity: DeviceIdentity) {
    super('scpi-switch', identity, 'signed');
  }

  isClosed(channel: number): boolean {
    return this.closed.has(channel);
  }

  get closedChannels(): number[] {
    return [...this.closed].sort((a, b) => a - b);
  }

  protected reset(): void {
    this.closed.clear();
  }

  protected commands(): SimCommand[] {
    const list = (params: string[]): number[] => {
      if (params.length !== 1) throw new ScpiCommandError(params.length === 0 ? '-109' : '-108');
      const channels = parseChannelList(params[0] as string);
      if (!channels) throw new ScpiCommandError('-104');
      for (const ch of channels) if (ch < 1 || ch > MAX_SWITCH_CHANNEL) throw new ScpiCommandError('-222');
      return channels;
    };
    return [
      {
        pattern: 'ROUTe:CLOSe',
        run: ({ params }) => {
          for (const ch of list(params)) {
            if (this.closed.has(ch)) continue;
            this.closed.add(ch);
            this.cycles++;
          }
        },
      },
      {
        pattern: 'ROUTe:OPEN',
        run: ({ params }) => {
          for (const ch of list(params)) if (this.closed.delete(ch)) this.cycles++;
        },
      },
      {
        pattern: 'ROUTe:OPEN:ALL',
        run: () => {
          this.cycles += this.closed.size;
          this.closed.clear();
        },
      },
      {
        pattern: 'ROUTe:CLOSe?',
        run: ({ params }) =>
          list(params)
            .map((ch) => (this.closed.has(ch) ? '1' : '0'))
            .join(','),
      },
      {
        pattern: 'ROUTe:OPEN?',
        run: ({ params }) =>
          list(params)
            .map((ch) => (this.closed.has(ch) ? '0' : '1'))
            .join(','),
      },
    ];
  }
}
