// What every transport gives the drivers above it: an opened byte stream (a serial port, a
// pseudo-terminal, a TCP socket to an instrument, an in-memory cable to a simulator) and a way to
// open one. The drivers never know which it is; simulation hands them an opener like any other.
import type { Duplex } from 'node:stream';

export interface OpenedPort {
  stream: Duplex;
  close(): Promise<void>;
  /**
   * False once the device behind the stream is known to be gone, whatever the stream's own events
   * said: a serial device node removed or replaced (a pulled USB adapter, a pty whose other end
   * died). Absent where the stream's events are the whole truth (TCP, the in-memory cable).
   */
  alive?(): boolean;
}

/** Opens the transport; rejects when the port is not there (yet). */
export type PortOpener = () => Promise<OpenedPort>;
