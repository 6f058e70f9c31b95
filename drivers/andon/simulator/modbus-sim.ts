// A simulated Modbus TCP I/O module with a stack light on its coils: jsmodbus's ModbusTCPServer
// on a real TCP port, its coils a plain buffer (coil n is bit n % 8 of byte n / 8, as Modbus packs
// them). It says what the light shows after every write, and can be killed (every connection
// dropped, the port closed) and started again on the same port, as a module that loses power.
import net from 'node:net';
import jsmodbus from 'jsmodbus';
import { EventEmitter } from 'node:events';
import { LAMPS, lampsText, type Lamp, type Lamps } from '../lamps.js';

export interface ModbusLightSimOptions {
  /** Which coil is which lamp (the station's `coils`; default green 0, amber 1, red 2, buzzer 3). */
  coils?: Partial<Record<Lamp, number>>;
}

export const DEFAULT_COILS: Record<Lamp, number> = { green: 0, amber: 1, red: 2, buzzer: 3 };

export class ModbusLightSim extends EventEmitter<{ light: [Lamps] }> {
  readonly coilMap: Partial<Record<Lamp, number>>;
  readonly coils: Buffer;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Write requests answered (each Write Multiple Coils or Write Single Coil). */
  writes = 0;
  /** The unit ID of the last request. */
  lastUnitId: number | null = null;
  port = 0;

  constructor(opts: ModbusLightSimOptions = {}) {
    super();
    this.coilMap = opts.coils ?? DEFAULT_COILS;
    const highest = Math.max(0, ...Object.values(this.coilMap).map((n) => n ?? 0));
    this.coils = Buffer.alloc(Math.max(8, Math.ceil((highest + 1) / 8)));
  }

  coil(n: number): boolean {
    return ((this.coils[n >> 3] ?? 0) & (1 << (n & 7))) !== 0;
  }

  /** The light as the coils show it now. */
  lamps(): Lamps {
    const l = { green: false, amber: false, red: false, buzzer: false };
    for (const lamp of LAMPS) {
      const n = this.coilMap[lamp];
      if (n !== undefined) l[lamp] = this.coil(n);
    }
    return l;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** Listens on `port` (0: any free one); resolves with the port. The coils keep their state unless `powerCycle`. */
  async listen(port = this.port, host = '127.0.0.1', opts: { powerCycle?: boolean } = {}): Promise<number> {
    if (opts.powerCycle) this.coils.fill(0);
    const server = net.createServer();
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const modbus = new jsmodbus.ModbusTCPServer(server, { coils: this.coils });
    const after = (): void => {
      this.writes++;
      this.emit('light', this.lamps());
    };
    modbus.on('preWriteMultipleCoils', (req) => void (this.lastUnitId = (req as unknown as { unitId: number }).unitId));
    modbus.on('preWriteSingleCoil', (req) => void (this.lastUnitId = (req as unknown as { unitId: number }).unitId));
    // jsmodbus emits postWriteMultipleCoils twice (the coils, then the request): count one.
    modbus.on('postWriteMultipleCoils', (first: unknown) => {
      if (Buffer.isBuffer(first)) after();
    });
    modbus.on('postWriteSingleCoil', () => after());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** The module goes away: every connection dropped at once, the port closed. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** One line for a person watching the simulator: ● lit, ○ dark. */
export function lightLine(l: Lamps): string {
  const mark = (lamp: Lamp): string => `${l[lamp] ? '●' : '○'} ${lamp}`;
  return `${LAMPS.map(mark).join('  ')}   (${lampsText(l)})`;
}
