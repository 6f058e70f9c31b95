// A simulated LCUS-type USB-serial relay board on a real serial port (the far end of a socat
// pseudo-terminal pair): reads the 4-byte `A0 <channel> <state> <sum>` frames, switches its relays,
// and keeps every frame it took, byte for byte. A byte that cannot start a frame, or a frame whose
// sum is wrong, is dropped (counted as garbage), as the board's firmware ignores it.
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { LAMPS, type Lamp, type Lamps } from '../lamps.js';
import { LCUS_START, parseLcusFrame } from '../serial-relay.js';

export class SerialRelaySim extends EventEmitter<{ light: [Lamps]; frame: [Buffer] }> {
  /** Relay states, channel 1 at index 1. */
  readonly relays = new Array<boolean>(9).fill(false);
  /** Every well-formed frame taken, as received. */
  readonly frames: Buffer[] = [];
  garbage = 0;
  private pending = Buffer.alloc(0);

  constructor(readonly channels: Partial<Record<Lamp, number>> = { green: 1, amber: 2, red: 3, buzzer: 4 }) {
    super();
  }

  lamps(): Lamps {
    const l = { green: false, amber: false, red: false, buzzer: false };
    for (const lamp of LAMPS) {
      const ch = this.channels[lamp];
      if (ch !== undefined) l[lamp] = this.relays[ch] ?? false;
    }
    return l;
  }

  /** Bytes from the wire. */
  take(data: Buffer): void {
    this.pending = Buffer.concat([this.pending, data]);
    while (this.pending.length > 0) {
      if (this.pending[0] !== LCUS_START) {
        this.garbage++;
        this.pending = this.pending.subarray(1);
        continue;
      }
      if (this.pending.length < 4) return;
      const frame = Buffer.from(this.pending.subarray(0, 4));
      const parsed = parseLcusFrame(frame);
      if (!parsed || parsed.channel < 1 || parsed.channel > 8) {
        this.garbage++;
        this.pending = this.pending.subarray(1);
        continue;
      }
      this.pending = this.pending.subarray(4);
      this.frames.push(frame);
      this.relays[parsed.channel] = parsed.on;
      this.emit('frame', frame);
      this.emit('light', this.lamps());
    }
  }
}

/** Runs the simulated board on a serial port (a pty's far end); close() lets go of the port. */
export function runSerialRelayOnPort(opts: { path: string; baudRate?: number; channels?: Partial<Record<Lamp, number>> }): Promise<{ sim: SerialRelaySim; close(): Promise<void> }> {
  const sim = new SerialRelaySim(opts.channels);
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 9600, autoOpen: false, lock: false });
  port.on('error', () => undefined);
  port.on('data', (d: Buffer) => sim.take(d));
  return new Promise((resolve, reject) =>
    port.open((err) => {
      if (err) return reject(new Error(`relay board simulator cannot open ${opts.path}: ${err.message}`));
      resolve({
        sim,
        close: () =>
          new Promise<void>((done) => {
            if (!port.isOpen) return done();
            port.close(() => done());
          }),
      });
    }),
  );
}
