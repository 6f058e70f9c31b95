// A stack light on a Modbus TCP I/O module: each lamp is a coil, and the whole light is written
// with function 15 (Write Multiple Coils) through jsmodbus's ModbusTCPClient over a net.Socket.
// Coils next to each other (the usual 0-3) go in one request; a map with gaps sends one request per
// run of neighbouring coils, so a coil the andon does not own is never written.
import net from 'node:net';
import jsmodbus from 'jsmodbus';
import { LAMPS, type Lamp, type LampDevice, type LampDriver, type Lamps } from './lamps.js';

export interface ModbusLampOptions {
  host: string;
  port: number;
  unitId: number;
  coils: Partial<Record<Lamp, number>>;
  timeoutMs: number;
}

/** The coil writes for a light: [first coil, values] per run of neighbouring coils, in coil order. */
export function coilWrites(coils: Partial<Record<Lamp, number>>, lamps: Lamps): [number, boolean[]][] {
  const byCoil = LAMPS.filter((l) => coils[l] !== undefined)
    .map((l) => [coils[l] as number, lamps[l]] as const)
    .sort((a, b) => a[0] - b[0]);
  const runs: [number, boolean[]][] = [];
  for (const [coil, on] of byCoil) {
    const last = runs.at(-1);
    if (last && last[0] + last[1].length === coil) last[1].push(on);
    else runs.push([coil, [on]]);
  }
  return runs;
}

/** What a jsmodbus rejection says (a UserRequestError is not an Error). */
function reason(err: unknown): string {
  const e = err as { message?: string; err?: string; response?: { body?: { message?: string } } } | null;
  return e?.response?.body?.message ?? e?.message ?? e?.err ?? String(err);
}

export class ModbusLampDriver implements LampDriver {
  readonly kind = 'modbus-tcp' as const;

  constructor(private readonly opts: ModbusLampOptions) {}

  get target(): string {
    return `${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this.opts.port} unit ${this.opts.unitId}`;
  }

  open(): Promise<LampDevice> {
    const { host, port, unitId, timeoutMs } = this.opts;
    return new Promise((resolve, reject) => {
      // The client before the connect: it learns the socket is up from its 'connect' event.
      const socket = new net.Socket();
      const client = new jsmodbus.ModbusTCPClient(socket, unitId, timeoutMs);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to ${host}:${port}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${host}:${port}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        // A module whose power or cable went (no FIN) is noticed by keepalive probes and by the next write's timeout.
        socket.setKeepAlive(true, 5000);
        resolve(this.device(socket, client));
      });
      socket.connect({ host, port });
    });
  }

  private device(socket: net.Socket, client: InstanceType<typeof jsmodbus.ModbusTCPClient>): LampDevice {
    const lost = new Set<(reason: string) => void>();
    let gone: string | null = null;
    const goneWith = (why: string): void => {
      if (gone !== null) return;
      gone = why;
      for (const l of lost) l(why);
    };
    socket.on('error', (err) => goneWith(err.message));
    socket.on('close', () => goneWith('the module closed the connection'));
    const write = async (lamps: Lamps): Promise<void> => {
      if (gone !== null) throw new Error(gone);
      for (const [start, values] of coilWrites(this.opts.coils, lamps)) {
        try {
          await client.writeMultipleCoils(start, values);
        } catch (err) {
          throw new Error(`coils ${start}-${start + values.length - 1}: ${reason(err)}`);
        }
      }
    };
    return {
      write,
      // The same light again: a module that lost it (or whose watchdog cleared it) shows it again,
      // and a module that stopped answering is found within timeoutMs.
      refresh: write,
      close: () =>
        new Promise<void>((done) => {
          if (socket.destroyed) return done();
          socket.once('close', () => done());
          socket.end();
          setTimeout(() => socket.destroy(), 300).unref();
        }),
      onLost: (listener) => {
        lost.add(listener);
        if (gone !== null) listener(gone);
      },
    };
  }
}
