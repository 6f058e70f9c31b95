// Opens a TCP connection (an instrument's raw SCPI socket, port 5025 by the LXI convention; a
// serial-to-Ethernet server): the same OpenedPort as a serial port, so the drivers above do not
// care which carries their lines.
import net from 'node:net';
import type { OpenedPort, PortOpener } from './port.js';

export interface TcpOpenOptions {
  host: string;
  port: number;
  /** Giving up on a connect that neither succeeds nor fails (a host that drops packets). */
  connectTimeoutMs?: number;
}

export function tcpOpener(opts: TcpOpenOptions): PortOpener {
  return () =>
    new Promise<OpenedPort>((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: opts.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to ${opts.host}:${opts.port}: no answer within ${opts.connectTimeoutMs ?? 3000} ms`));
      }, opts.connectTimeoutMs ?? 3000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${opts.host}:${opts.port}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        // A peer that vanishes without a FIN (power cut, cable) is noticed by keepalive probes.
        socket.setKeepAlive(true, 5000);
        resolve({
          stream: socket,
          close: () =>
            new Promise<void>((done) => {
              if (socket.destroyed) return done();
              socket.once('close', () => done());
              socket.end();
              setTimeout(() => socket.destroy(), 500).unref();
            }),
        });
      });
    });
}
