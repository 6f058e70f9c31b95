// A stack light on a USB-HID relay of the common dcttech "USBRelayN" kind (V-USB firmware, USB ID
// 16c0:05df, product string "USBRelay1".."USBRelay8"). Its protocol, as the open reconstruction of
// the vendor's library documents it (docs/andon.md cites it), is HID feature reports of 8 data
// bytes after the report ID 0:
//   set     [00, FF, n, 0, 0, 0, 0, 0, 0]  relay n (1-8) on;  [00, FD, n, 0...] off
//   get     feature report 0, 9 bytes: [00, id(5 ASCII bytes), 0, ?, states] with relay n at bit n-1
// Each set is read back and checked, as that library does: a relay that did not switch is an error.
// node-hid is loaded lazily (as drivers/emitter/hid-led.ts does): a machine without hidapi runs
// every other output, and this one says what to install instead of retrying.
import { loadNodeHid } from '../emitter/hid-led.js';
import { LAMPS, LampUnavailableError, type Lamp, type LampDevice, type LampDriver, type Lamps } from './lamps.js';
import { HidUnavailableError } from '../emitter/hid-led.js';

export const HidRelayCommand = { ON: 0xff, OFF: 0xfd, ALL_ON: 0xfe, ALL_OFF: 0xfc } as const;
/** Report ID and 8 data bytes. */
export const RELAY_REPORT_BYTES = 9;
/** Where the relay states are in the status report (after the ID and 5 name bytes and 2 more). */
export const RELAY_STATE_BYTE = 8;

/** What the driver needs of an open HID relay: node-hid's HIDAsync, or the simulator. */
export interface HidRelayDeviceLike {
  sendFeatureReport(data: number[]): Promise<number> | number;
  getFeatureReport(reportId: number, length: number): Promise<Buffer | number[]> | Buffer | number[];
  close(): Promise<void> | void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
}

export type HidRelayOpener = () => Promise<HidRelayDeviceLike>;

/** The feature report that switches relay `n` (1-8). */
export function relayReport(relay: number, on: boolean): number[] {
  return [0x00, on ? HidRelayCommand.ON : HidRelayCommand.OFF, relay, 0, 0, 0, 0, 0, 0];
}

/** Opens a hidraw path with node-hid; a node-hid that cannot load is LampUnavailableError (not retried). */
export function nodeHidRelayOpener(path: string): HidRelayOpener {
  return async () => {
    let hid: Awaited<ReturnType<typeof loadNodeHid>>;
    try {
      hid = await loadNodeHid();
    } catch (err) {
      throw err instanceof HidUnavailableError ? new LampUnavailableError(err.message.replace('USB-HID emitters', 'USB-HID relays')) : err;
    }
    try {
      return (await hid.HIDAsync.open(path)) as unknown as HidRelayDeviceLike;
    } catch (err) {
      throw new Error(`cannot open HID relay ${path}: ${(err as Error).message}`);
    }
  };
}

export class HidRelayDriver implements LampDriver {
  readonly kind = 'hid-relay' as const;

  constructor(
    private readonly opts: { path: string; channels: Partial<Record<Lamp, number>> },
    private readonly opener: HidRelayOpener = nodeHidRelayOpener(opts.path),
  ) {}

  get target(): string {
    return this.opts.path;
  }

  async open(): Promise<LampDevice> {
    const device = await this.opener();
    const lost = new Set<(reason: string) => void>();
    let gone: string | null = null;
    device.on('error', (err) => {
      if (gone !== null) return;
      gone = err.message;
      for (const l of lost) l(err.message);
    });
    const channels = LAMPS.filter((l) => this.opts.channels[l] !== undefined).map((l) => [l, this.opts.channels[l] as number] as const);
    let shown: Lamps | null = null;
    /** Reads the relay bits back; the relays of `which` that do not show `lamps`. */
    const check = async (lamps: Lamps, which: typeof channels): Promise<{ wrong: number[]; states: number }> => {
      const status = await device.getFeatureReport(0, RELAY_REPORT_BYTES);
      const states = status[RELAY_STATE_BYTE];
      if (status.length < RELAY_REPORT_BYTES || states === undefined) throw new Error(`the relay answered a status report of ${status.length} bytes, not ${RELAY_REPORT_BYTES}`);
      return { wrong: which.filter(([lamp, relay]) => Boolean(states & (1 << (relay - 1))) !== lamps[lamp]).map(([, relay]) => relay), states };
    };
    const bits = (states: number): string => `status byte 0x${states.toString(16).padStart(2, '0')}`;
    return {
      write: async (lamps) => {
        if (gone !== null) throw new Error(gone);
        const changed = channels.filter(([lamp]) => !shown || shown[lamp] !== lamps[lamp]);
        if (!changed.length) return;
        for (const [lamp, relay] of changed) await device.sendFeatureReport(relayReport(relay, lamps[lamp]));
        const { wrong, states } = await check(lamps, changed);
        if (wrong.length) throw new Error(`relay ${wrong.join(', ')} did not switch (${bits(states)})`);
        shown = { ...lamps };
      },
      // Reads the relays back: an unplugged board fails the read; a relay switched by anything
      // else is reported (and the output reconnects and writes the whole light again).
      refresh: async (lamps) => {
        if (gone !== null) throw new Error(gone);
        const { wrong, states } = await check(lamps, channels);
        if (wrong.length) throw new Error(`relay ${wrong.join(', ')} no longer shows the light (${bits(states)})`);
      },
      close: async () => {
        device.removeAllListeners();
        await Promise.resolve(device.close()).catch(() => undefined);
      },
      onLost: (listener) => {
        lost.add(listener);
        if (gone !== null) listener(gone);
      },
    };
  }
}
