// The contract's in-memory transport: the station's MemoryLink (the cable the simulated world hands
// a driver), with the device as its far end. Pulling destroys the pair and refuses opens until the
// cable is plugged back, as the simulator's own unplug does.
import type { Duplex } from 'node:stream';
import { MemoryLink } from '../../drivers/transport/memory-link.js';
import type { FarEnd, TransportKind } from './port-contract.js';

class MemoryCable implements FarEnd {
  readonly link: MemoryLink;
  private stream: Duplex | null = null;
  private readonly listeners: ((bytes: Buffer) => void)[] = [];

  constructor(label: string) {
    this.link = new MemoryLink(label, { attach: (stream) => this.attach(stream) });
  }

  write(bytes: Buffer): Promise<void> {
    const stream = this.stream;
    if (!stream) return Promise.reject(new Error(`${this.link.label}: no station on the cable`));
    return new Promise<void>((resolve, reject) => stream.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  onData(listener: (bytes: Buffer) => void): void {
    this.listeners.push(listener);
  }

  async pull(): Promise<void> {
    this.link.unplug(Number.POSITIVE_INFINITY);
  }

  async plug(): Promise<void> {
    // A MemoryLink's cable stays out for a given time; out for no time from now is back in.
    this.link.unplug(0);
  }

  private attach(stream: Duplex): { detach(): void } {
    this.stream = stream;
    stream.on('data', (bytes: Buffer) => {
      if (this.stream === stream) for (const listener of this.listeners) listener(bytes);
    });
    return {
      detach: () => {
        if (this.stream === stream) this.stream = null;
      },
    };
  }
}

let made = 0;

export const memoryTransport: TransportKind = {
  name: 'the in-memory link (MemoryLink)',
  cannot: {
    failWrite:
      'the in-memory cable has no failing write: a write always reaches the peer while the cable is in, and the only way it breaks is being destroyed, which the station hears as a close before any write',
  },
  async create() {
    const cable = new MemoryCable(`sim:contract-${made++}`);
    return {
      label: cable.link.label,
      open: cable.link.open,
      device: () => cable,
      cleanup: async () => undefined,
    };
  },
};
