// The contract's mock-binding transport: serialport's stream with @serialport/binding-mock injected
// through serialOpener's `binding` seam, as node-serialport's own tests run it. The device drives
// the mock port the opener got: `emitData` towards the station, and each write the station makes
// is heard as it completes (the mock records writes but announces none, so the opened port's
// write is wrapped to pass them on).
//
// Pulling the cable is what serialport sees when a USB adapter goes: the pending read fails with a
// disconnect error (bindings-cpp's ENXIO), the stream closes, and the path no longer opens. A
// failing write is an EIO from the binding, as a dying adapter gives.
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { serialOpener } from '../../drivers/transport/serial.js';
import type { FarEnd, TransportKind } from './port-contract.js';

const disconnectError = (): Error => Object.assign(new Error('ENXIO: no such device or address, read'), { code: 'ENXIO', disconnect: true });
const writeError = (): Error => Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });

class MockPortDevice implements FarEnd {
  private current: { port: MockPortBinding; cut(err: Error): void } | null = null;
  private readonly listeners: ((bytes: Buffer) => void)[] = [];
  private failWrite = false;

  constructor(readonly path: string) {}

  /** Takes the device's side of a port the station has just opened. */
  attach(port: MockPortBinding): void {
    let cut: (err: Error) => void = () => undefined;
    const cable = new Promise<never>((_resolve, reject) => (cut = reject));
    cable.catch(() => undefined);
    // Every read also waits on the cable: pulling it fails the read pending at that moment.
    const read = port.read.bind(port);
    port.read = (buffer, offset, length) => Promise.race([read(buffer, offset, length), cable]);
    const write = port.write.bind(port);
    port.write = async (buffer) => {
      if (this.failWrite) {
        this.failWrite = false;
        throw writeError();
      }
      await write(buffer);
      for (const listener of this.listeners) listener(Buffer.from(buffer));
    };
    this.current = { port, cut };
  }

  async write(bytes: Buffer): Promise<void> {
    const port = this.current?.port;
    if (!port?.isOpen) throw new Error(`${this.path}: the station has no open port`);
    port.emitData(bytes);
  }

  onData(listener: (bytes: Buffer) => void): void {
    this.listeners.push(listener);
  }

  async pull(): Promise<void> {
    this.current?.cut(disconnectError());
    this.current = null;
    MockBinding.reset(); // the mock can only forget every port; this path is the one it holds
  }

  async plug(): Promise<void> {
    MockBinding.createPort(this.path, { echo: false, record: false });
  }

  failNextWrite(): void {
    this.failWrite = true;
  }
}

let made = 0;

export const mockBindingTransport: TransportKind = {
  name: 'serialport with @serialport/binding-mock',
  cannot: {},
  async create() {
    const device = new MockPortDevice(`/dev/ttyMOCK${made++}`);
    await device.plug();
    const open = serialOpener({ path: device.path, baudRate: 115200, binding: MockBinding });
    return {
      label: device.path,
      open: async () => {
        const opened = await open();
        device.attach((opened.stream as unknown as { port: MockPortBinding }).port);
        return opened;
      },
      device: () => device,
      cleanup: async () => MockBinding.reset(),
    };
  },
};
