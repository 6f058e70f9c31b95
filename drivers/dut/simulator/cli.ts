// The DUT simulator on a real serial port: `npm run sim -- --port /dev/pts/7 [--baud 115200]
// [--protocol tagged|at|shell] [--latency-ms 25] [--seed 1] [--handling-ms 1500]`. Point a station
// slot at the other end of the pair (a socat pseudo-terminal pair, or a null-modem cable) and it
// sees factory firmware, unit after unit, speaking the station's tagged lines, AT commands (a
// cellular module) or a Zephyr shell.
import { parseArgs } from 'node:util';
import { SerialPort } from 'serialport';
import type { CableEnd } from '../../transport/memory-link.js';
import { NestAtAdapter } from './at-adapter.js';
import { DEFAULT_BEHAVIOUR, SimulatedNest } from './firmware.js';
import { NestShellAdapter } from './shell-adapter.js';
import { NestStreamAdapter } from './stream-adapter.js';

export type SimProtocol = 'tagged' | 'at' | 'shell';
export const SIM_PROTOCOLS: readonly SimProtocol[] = ['tagged', 'at', 'shell'];

export interface SerialNest {
  nest: SimulatedNest;
  /** The AT personality (faults: identity-error), when the protocol is `at`. */
  at: NestAtAdapter | null;
  /** The shell personality (faults: no-prompt), when the protocol is `shell`. */
  shell: NestShellAdapter | null;
  close(): Promise<void>;
}

/** Runs a simulated nest on a serial port path. A pulled cable closes the port for its duration. */
export async function runNestOnSerial(opts: {
  path: string;
  baudRate?: number;
  latencyMs: number;
  seed: number;
  behaviour?: Partial<typeof DEFAULT_BEHAVIOUR>;
  autoStart?: boolean;
  /** What the unit speaks (default tagged). AT units are all cellular. */
  protocol?: SimProtocol;
  /** AT and shell: unsolicited URCs or log lines about this often (default 5000 ms; 0: none). */
  chatterEveryMs?: number;
}): Promise<SerialNest> {
  const protocol = opts.protocol ?? 'tagged';
  const behaviour = protocol === 'at' ? { ...opts.behaviour, cellularRate: 1 } : (opts.behaviour ?? {});
  const nest = new SimulatedNest(`sim:${opts.path}`, behaviour, opts.seed, { event: () => undefined, raw: () => undefined, unplug: () => undefined });
  const personality = { latencyMs: opts.latencyMs, chatterEveryMs: opts.chatterEveryMs ?? 5000, seed: opts.seed };
  const at = protocol === 'at' ? new NestAtAdapter(nest, personality) : null;
  const shell = protocol === 'shell' ? new NestShellAdapter(nest, personality) : null;
  const far: CableEnd = at ?? shell ?? { attach: (stream, unplug) => new NestStreamAdapter(nest, stream, { latencyMs: opts.latencyMs, onUnplug: unplug }) };
  let port: SerialPort | null = null;
  let adapter: { detach(): void } | null = null;
  let closed = false;
  let replugTimer: NodeJS.Timeout | null = null;
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const p = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 115200, autoOpen: false, lock: false });
      p.open((err) => {
        if (err) return reject(new Error(`simulator cannot open ${opts.path}: ${err.message}`));
        port = p;
        adapter = far.attach(p, (ms) => void unplug(ms));
        resolve();
      });
    });
  const closePort = (): Promise<void> =>
    new Promise((resolve) => {
      adapter?.detach();
      adapter = null;
      const p = port;
      port = null;
      if (!p?.isOpen) return resolve();
      p.close(() => resolve());
    });
  const unplug = async (ms: number): Promise<void> => {
    await closePort();
    replugTimer = setTimeout(() => {
      replugTimer = null;
      if (closed) return;
      open().then(
        () => nest.replugged(),
        () => undefined,
      );
    }, ms);
  };
  await open();
  if (opts.autoStart !== false) nest.start();
  return {
    nest,
    at,
    shell,
    close: async () => {
      closed = true;
      if (replugTimer) clearTimeout(replugTimer);
      nest.stop();
      await closePort();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      baud: { type: 'string', default: '115200' },
      protocol: { type: 'string', default: 'tagged' },
      'latency-ms': { type: 'string', default: '25' },
      seed: { type: 'string' },
      'handling-ms': { type: 'string', default: String(DEFAULT_BEHAVIOUR.handlingMs) },
      'device-id-hex': { type: 'string', default: String(DEFAULT_BEHAVIOUR.deviceIdHexLength) },
      platform: { type: 'string' },
    },
  });
  const protocol = values.protocol as SimProtocol;
  if (!values.port || !SIM_PROTOCOLS.includes(protocol)) {
    process.stderr.write(
      'usage: npm run sim -- --port /dev/pts/N [--baud 115200] [--protocol tagged|at|shell] [--latency-ms 25] [--seed N] [--handling-ms 1500] [--device-id-hex 16] [--platform 12]\n',
    );
    process.exit(2);
  }
  const sim = await runNestOnSerial({
    path: values.port,
    baudRate: Number(values.baud),
    latencyMs: Number(values['latency-ms']),
    seed: values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31),
    // --platform: units report it (platform=), as Particle devices report their PLATFORM_ID.
    behaviour: { handlingMs: Number(values['handling-ms']), deviceIdHexLength: Number(values['device-id-hex']), platformId: values.platform ? Number(values.platform) : null },
    protocol,
  });
  process.stderr.write(`simulated DUT nest on ${values.port}, speaking ${protocol}\n`);
  const stop = (): void => void sim.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1]?.endsWith('cli.js') && process.argv[1].includes('simulator')) void main();
