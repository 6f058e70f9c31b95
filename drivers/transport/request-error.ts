// A request on a line console (a DUT, an emitter, a fixture, an instrument) that got no good
// answer. `message` is written for the operator: it names the port and quotes what came back.

export type RequestErrorKind = 'timeout' | 'disconnected' | 'rejected' | 'garbage' | 'aborted' | 'stopped';

export class RequestError extends Error {
  constructor(
    readonly kind: RequestErrorKind,
    message: string,
    /** For `rejected`: the device's error code (ERR <CODE>, +CME ERROR: <n>, ...). */
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'RequestError';
  }

  /** The port, not the device, failed: the run is interrupted, never failed for it. */
  get lostPort(): boolean {
    return this.kind === 'disconnected' || this.kind === 'aborted' || this.kind === 'stopped';
  }
}
