// Opens a real serial port (or a pseudo-terminal) with serialport, and notices when the device
// behind it is gone, whatever moment it goes.
//
// Two ways a lost port used to go unnoticed (docs/protocols.md, "A lost port"):
//  - @serialport/bindings-cpp 13 retries a read that returns 0 bytes, at once and forever. A tty
//    that has been hung up (a pty whose other side closed, a USB adapter pulled out) reads as end of
//    file, 0 bytes, so the port spun a core in that loop and never reported the loss (a reproduction
//    for the maintainers: docs/upstream/serialport-pty-hangup.md). The binding below reads through the library's own
//    `unixRead` with a read that turns end of file into a disconnect, which the stream then
//    reports as `close` like any other loss.
//  - Belt and braces: `alive()` checks that the device node the path names is still the one opened,
//    and (on Linux) that the descriptor's node was not deleted; the port keeper calls it on a timer.
// The binding is injectable so a test can hand in @serialport/binding-mock, as node-serialport's
// own tests do.
import { fstatSync, read as fsRead, readlinkSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { SerialPort } from 'serialport';
import { autoDetect } from '@serialport/bindings-cpp';
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';
import type { OpenedPort, PortOpener } from './port.js';

export interface SerialOpenOptions {
  path: string;
  baudRate: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  binding?: any;
}

const readAsync = promisify(fsRead);

/** A read that reports end of file (a hung-up tty) as a disconnect instead of returning 0 bytes. */
async function readOrHangUp(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number; buffer: Buffer }> {
  const result = await readAsync(fd, buffer, offset, length, position);
  if (result.bytesRead === 0) throw Object.assign(new Error('the port hung up (end of file: the device is gone)'), { code: 'EOF', disconnect: true });
  return result;
}

type Binding = ReturnType<typeof autoDetect>;
interface BindingPort {
  isOpen: boolean;
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number; buffer: Buffer }>;
}

let defaultBinding: Binding | null = null;

/** The platform's binding, with reads that notice a hang-up (Linux and macOS; Windows as it is). */
export function hangupAwareBinding(): Binding {
  if (defaultBinding) return defaultBinding;
  const base = autoDetect();
  if (process.platform === 'win32') return (defaultBinding = base);
  defaultBinding = {
    list: () => base.list(),
    async open(options: never) {
      const port = (await base.open(options)) as unknown as BindingPort;
      port.read = async (buffer: Buffer, offset: number, length: number) => {
        if (!Buffer.isBuffer(buffer)) throw new TypeError('"buffer" is not a Buffer');
        if (buffer.length < offset + length) throw new Error('buffer is too small');
        if (!port.isOpen) throw new Error('Port is not open');
        return unixRead({ binding: port as never, buffer, offset, length, fsReadAsync: readOrHangUp as never });
      };
      return port;
    },
  } as unknown as Binding;
  return defaultBinding;
}

/** Whether the device node at `path` is still the one behind `fd` (same device, not deleted). */
function sameDevice(path: string, fd: number, rdev: number): boolean {
  if (process.platform === 'linux') {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).endsWith(' (deleted)')) return false;
    } catch {
      return false;
    }
  }
  try {
    return statSync(path).rdev === rdev;
  } catch {
    return false;
  }
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
        binding: opts.binding ?? hangupAwareBinding(),
      } as ConstructorParameters<typeof SerialPort>[0]);
      port.open((err) => {
        if (err) {
          reject(new Error(`cannot open ${opts.path}: ${err.message}`));
          return;
        }
        const fd = (port.port as { fd?: number | null } | undefined)?.fd;
        let rdev: number | null = null;
        if (!opts.binding && typeof fd === 'number') {
          try {
            rdev = fstatSync(fd).rdev;
          } catch {
            rdev = null;
          }
        }
        resolve({
          stream: port,
          close: () =>
            new Promise<void>((done) => {
              if (!port.isOpen) return done();
              port.close(() => done());
            }),
          ...(rdev !== null && typeof fd === 'number' ? { alive: () => !port.isOpen || sameDevice(opts.path, fd, rdev) } : {}),
        });
      });
    });
}
