// Opens a real serial port (or a pseudo-terminal) with serialport. The binding is injectable so a
// test can hand in @serialport/binding-mock, as node-serialport's own tests do.
import { SerialPort } from 'serialport';
import type { OpenedPort, PortOpener } from '../dut/stream-console.js';

export interface SerialOpenOptions {
  path: string;
  baudRate: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  binding?: any;
}

export function serialOpener(opts: SerialOpenOptions): PortOpener {
  return () =>
    new Promise<OpenedPort>((resolve, reject) => {
      const port = new SerialPort({
        path: opts.path,
        baudRate: opts.baudRate,
        autoOpen: false,
        // A station owns its ports: a second process opening the same UART would steal answers.
        lock: true,
        ...(opts.binding ? { binding: opts.binding } : {}),
      });
      port.open((err) => {
        if (err) {
          reject(new Error(`cannot open ${opts.path}: ${err.message}`));
          return;
        }
        resolve({
          stream: port,
          close: () =>
            new Promise<void>((done) => {
              if (!port.isOpen) return done();
              port.close(() => done());
            }),
        });
      });
    });
}
