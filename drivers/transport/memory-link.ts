// An in-memory cable between a station driver (a DUT console, an emitter) and a simulator: a pair
// of byte streams carrying the real protocol. Pulling the cable destroys the pair (the station sees the
// port close) and opening fails until it is plugged back in, as with a USB serial adapter.
import { Duplex } from 'node:stream';
import type { OpenedPort, PortOpener } from './port.js';
import { monotonicMs } from '../../lib/clock.js';

/** The simulator's end of the cable: attach to a fresh stream, detach when the cable goes. */
export interface CableEnd {
  attach(stream: Duplex, unplug: (ms: number) => void): { detach(): void };
  /** The cable is back after being pulled (a DUT powered through it boots). */
  replugged?(): void;
}

class PairEnd extends Duplex {
  peer: PairEnd | null = null;

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.peer && !this.peer.destroyed) this.peer.push(chunk);
    done();
  }

  override _read(): void {
    // data is pushed by the peer
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    if (peer && !peer.destroyed) peer.destroy();
    done(err);
  }
}

export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class MemoryLink {
  private stationEnd: Duplex | null = null;
  private adapter: { detach(): void } | null = null;
  /** Monotonic (lib/clock.ts). */
  private unpluggedUntil = -Infinity;
  private wasUnplugged = false;

  constructor(
    readonly label: string,
    private readonly far: CableEnd,
  ) {}

  readonly open: PortOpener = async (): Promise<OpenedPort> => {
    if (monotonicMs() < this.unpluggedUntil) throw new Error(`${this.label}: no such device (cable pulled)`);
    const [stationEnd, dutEnd] = duplexPair();
    this.stationEnd = stationEnd;
    this.adapter = this.far.attach(dutEnd, (ms) => this.unplug(ms));
    if (this.wasUnplugged) {
      this.wasUnplugged = false;
      setImmediate(() => this.far.replugged?.());
    }
    return {
      stream: stationEnd,
      close: async () => {
        this.adapter?.detach();
        stationEnd.destroy();
      },
    };
  };

  /** Pulls the cable for `ms`. */
  unplug(ms: number): void {
    this.unpluggedUntil = monotonicMs() + ms;
    this.wasUnplugged = true;
    this.adapter?.detach();
    this.adapter = null;
    this.stationEnd?.destroy();
    this.stationEnd = null;
  }
}
