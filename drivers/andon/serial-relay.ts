// A stack light on a USB-serial relay board of the common LCUS type (a CH340 USB-serial chip and a
// small microcontroller; 1, 2, 4 or 8 relays). Its protocol, as the boards' sellers publish it
// (docs/andon.md cites them), at 9600 baud 8N1: four bytes per command,
//   A0 <channel> <state> <sum>      channel 1-8, state 00 off / 01 on, sum = (A0 + channel + state) & FF
// e.g. A0 01 01 A2 closes relay 1 and A0 01 00 A1 opens it. The board does not answer, so a board
// that is gone shows as a port that closes or hangs up (drivers/transport/serial.ts notices both).
// Only the channels that change are written, except right after (re)opening, when all are.
import { serialOpener, type SerialOpenOptions } from '../transport/serial.js';
import type { OpenedPort } from '../transport/port.js';
import { LAMPS, type Lamp, type LampDevice, type LampDriver, type Lamps } from './lamps.js';

export const LCUS_START = 0xa0;

/** The 4-byte LCUS frame that sets one channel. */
export function lcusFrame(channel: number, on: boolean): Buffer {
  const state = on ? 1 : 0;
  return Buffer.from([LCUS_START, channel, state, (LCUS_START + channel + state) & 0xff]);
}

/** Parses one frame; null when it is not a well-formed LCUS command. */
export function parseLcusFrame(frame: Uint8Array): { channel: number; on: boolean } | null {
  if (frame.length !== 4 || frame[0] !== LCUS_START) return null;
  const [, channel, state, sum] = frame as unknown as [number, number, number, number];
  if (state > 1 || ((LCUS_START + channel + state) & 0xff) !== sum) return null;
  return { channel, on: state === 1 };
}

export interface SerialRelayOptions {
  path: string;
  baudRate: number;
  channels: Partial<Record<Lamp, number>>;
  /** For tests: @serialport/binding-mock. */
  binding?: SerialOpenOptions['binding'];
}

export class SerialRelayDriver implements LampDriver {
  readonly kind = 'serial-relay' as const;

  constructor(private readonly opts: SerialRelayOptions) {}

  get target(): string {
    return this.opts.path;
  }

  async open(): Promise<LampDevice> {
    const port = await serialOpener({ path: this.opts.path, baudRate: this.opts.baudRate, binding: this.opts.binding })();
    return this.device(port);
  }

  private device(port: OpenedPort): LampDevice {
    const lost = new Set<(reason: string) => void>();
    let gone: string | null = null;
    const goneWith = (why: string): void => {
      if (gone !== null) return;
      gone = why;
      clearInterval(watch);
      for (const l of lost) l(why);
    };
    port.stream.on('error', (err: Error) => goneWith(err.message));
    port.stream.on('close', () => goneWith('the port closed'));
    // A pulled adapter: its device node goes (serial.ts's alive check), whatever the stream says.
    const watch = setInterval(() => {
      if (port.alive && !port.alive()) goneWith('the relay board is gone (its device node was removed)');
    }, 250);
    watch.unref();
    const channels = LAMPS.filter((l) => this.opts.channels[l] !== undefined).map((l) => [l, this.opts.channels[l] as number] as const);
    let shown: Lamps | null = null;
    const send = (frame: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        port.stream.write(frame, (err) => (err ? reject(err) : resolve()));
      });
    return {
      write: async (lamps) => {
        if (gone !== null) throw new Error(gone);
        for (const [lamp, channel] of channels) {
          if (shown && shown[lamp] === lamps[lamp]) continue;
          await send(lcusFrame(channel, lamps[lamp]));
        }
        shown = { ...lamps };
      },
      close: async () => {
        clearInterval(watch);
        await port.close();
      },
      onLost: (listener) => {
        lost.add(listener);
        if (gone !== null) listener(gone);
      },
    };
  }
}
