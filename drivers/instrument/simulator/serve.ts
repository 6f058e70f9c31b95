// Puts a simulated instrument on a real transport, as a real one would be: a TCP listener (the raw
// SCPI socket, port 5025 by the LXI convention) or a serial port / pseudo-terminal. The in-memory
// cable is the third way (bench.ts).
import net from 'node:net';
import { SerialPort } from 'serialport';
import type { AttachOptions, SimulatedScpiDevice } from './scpi-device.js';

export interface ServeOptions {
  terminator?: AttachOptions['terminator'];
  latencyMs?: number;
}

export interface TcpServed {
  host: string;
  port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Drops every open connection (the listener stays). */
  dropConnections(): void;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0: any free port) and speaks SCPI on every connection. */
export function serveTcp(device: SimulatedScpiDevice, opts: ServeOptions & { host?: string; port: number }): Promise<TcpServed> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const attached = device.attach(socket, { terminator: opts.terminator, latencyMs: opts.latencyMs, hangUp: () => socket.destroy() });
    const done = (): void => {
      sockets.delete(socket);
      attached.detach();
    };
    socket.on('close', done);
    socket.on('error', done);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      resolve({
        host: address.address,
        port: address.port,
        get connections() {
          return sockets.size;
        },
        dropConnections: () => {
          for (const socket of sockets) socket.destroy();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

export interface SerialServed {
  path: string;
  close(): Promise<void>;
}

/** Opens `path` (a serial port, or the far end of a socat pty pair) and speaks SCPI on it. */
export function serveSerial(device: SimulatedScpiDevice, opts: ServeOptions & { path: string; baudRate?: number }): Promise<SerialServed> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 9600, autoOpen: false, lock: false });
    port.open((err) => {
      if (err) return reject(new Error(`the instrument simulator cannot open ${opts.path}: ${err.message}`));
      const attached = device.attach(port, { terminator: opts.terminator, latencyMs: opts.latencyMs, hangUp: () => port.close() });
      port.on('error', () => undefined);
      resolve({
        path: opts.path,
        close: () =>
          new Promise<void>((done) => {
            attached.detach();
            if (!port.isOpen) return done();
            port.close(() => done());
          }),
      });
    });
  });
}
