// The dashboard bar (SPEC §5): with 32 simulated slots at full speed in one in-process station,
// how long a DUT event takes to reach a connected browser, and how big each update is.
//
//  uiEventLatencyP99Ms  from the bus emitting a slot's change (stamped by the live feed's
//                       bench-only probe; the listeners run synchronously inside emit) to the
//                       `delta` arriving at a socket.io-client in another process (as a browser
//                       is), over a real websocket on loopback; p99 over every slot delta in the
//                       window. Both ends read the system's monotonic clock (process.hrtime).
//  uiBytesPerUpdate     mean JSON size of every delta payload in the window, all types
//
// Full speed: the DUT simulators answer in 20 ms (the scaling bench's hardware-bound ideal), boot
// and swap units at once, and nobody waits on a person (no prompt, delay or BlinkUp light).
// Run on its own: `npm run build && node dist/test/bench/ui-bench.js`.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { io } from 'socket.io-client';
import { shippedConfig } from '../support/configs.js';
import { parseConfig } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import type { Delta } from '../../station/server/live.js';
import { Station } from '../../station/station.js';

export interface UiBenchResult {
  uiEventLatencyP99Ms: number;
  uiBytesPerUpdate: number;
}

export async function benchUi(
  opts: { slots?: number; seconds?: number; warmupMs?: number; commandLatencyMs?: number } = {},
): Promise<UiBenchResult & { deltas: number; slotDeltas: number; latencyP50Ms: number; deltasPerSec: number }> {
  const slots = opts.slots ?? 32;
  const seconds = opts.seconds ?? 5;
  const dir = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'ui-bench-'));
  const shipped = shippedConfig({ identity: true }); // no fixture: these slots have no bench behind them
  // The shipped sequence without BlinkUp (its light takes seconds: not "full speed") and with no
  // waiting on a person: full speed means the DUTs and the station, nothing else.
  const sequence = {
    ...shipped.sequence,
    steps: shipped.sequence.steps
      .filter((s) => s.type !== 'blinkup' && s.type !== 'prompt' && s.type !== 'delay' && s.type !== 'scan')
      .map((s) => (s.type === 'identify' ? { ...s, label: undefined } : s)),
  };
  const cfg = parseConfig(
    {
      station: { id: 'ui-bench', mode: 'test' },
      server: { host: '127.0.0.1', port: 0 },
      storage: { dataDir: path.join(dir, 'data') },
      log: { level: 'silent' },
      slots: Array.from({ length: slots }, () => ({ dut: { kind: 'simulated' } })),
      sequence,
      simulation: { commandLatencyMs: opts.commandLatencyMs ?? 20, bootMs: 0, handlingMs: 0, retestRate: 0, failureRates: {}, faultRates: { garbage: 0, hang: 0, unplug: 0 }, seed: 7 },
    },
    { source: 'ui-bench', baseDir: dir },
  );
  const station = new Station(cfg, silentLogger());
  // seq -> when the bus emitted its slot change, on the monotonic clock (ms)
  const emittedAt = new Map<number, number>();
  let measuring = false;
  station.feed.setProbe((delta: Delta, sourceAt: number) => {
    if (measuring && delta.t === 'slot') emittedAt.set(delta.seq, hrMs() - (performance.now() - sourceAt));
  });
  const { url } = await station.start();
  const origin = url.replace(/\/$/, '');
  const session = station.sessions.create('operator');
  const client = fork(fileURLToPath(import.meta.url), ['--client'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const ask = <T>(msg: object, answer: string): Promise<T> =>
      new Promise((resolve, reject) => {
        const onMessage = (m: { kind: string; error?: string }): void => {
          if (m.kind === 'error') reject(new Error(`ui bench client: ${m.error}`));
          else if (m.kind === answer) resolve(m as T);
          else return;
          client.off('message', onMessage);
        };
        client.on('message', onMessage);
        client.send(msg);
      });
    await ask({ kind: 'connect', origin, cookie: `station.sid=${session.id}`, csrfToken: session.csrfToken }, 'connected');
    await new Promise((r) => setTimeout(r, opts.warmupMs ?? 1500)); // every slot in its rhythm
    await ask({ kind: 'start' }, 'started');
    measuring = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const got = await ask<{ arrivals: [number, number][]; deltas: number; bytes: number }>({ kind: 'stop' }, 'result');
    const latencies: number[] = [];
    for (const [seq, arrivedMs] of got.arrivals) {
      const sent = emittedAt.get(seq);
      if (sent !== undefined) latencies.push(arrivedMs - sent);
    }
    const { deltas, bytes } = got;
    if (latencies.length === 0) throw new Error('ui bench: no slot delta reached the client');
    latencies.sort((a, b) => a - b);
    const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number;
    return {
      uiEventLatencyP99Ms: pick(0.99),
      uiBytesPerUpdate: bytes / deltas,
      deltas,
      slotDeltas: latencies.length,
      latencyP50Ms: pick(0.5),
      deltasPerSec: deltas / elapsed,
    };
  } finally {
    client.kill();
    await station.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The client process: a socket.io-client, like a browser's, recording when each delta arrives. */
function runClient(): void {
  let socket: ReturnType<typeof io> | null = null;
  let recording = false;
  const arrivals: [number, number][] = [];
  let deltas = 0;
  let bytes = 0;
  process.on('message', (m: { kind: string; origin?: string; cookie?: string; csrfToken?: string }) => {
    if (m.kind === 'connect') {
      socket = io(m.origin as string, { transports: ['websocket'], extraHeaders: { origin: m.origin as string, cookie: m.cookie as string }, auth: { csrfToken: m.csrfToken }, reconnection: false });
      socket.on('delta', (delta: Delta) => {
        const arrived = hrMs();
        if (!recording) return;
        arrivals.push([delta.seq, arrived]);
        deltas++;
        bytes += Buffer.byteLength(JSON.stringify(delta));
      });
      socket.once('snapshot', () => process.send?.({ kind: 'connected' }));
      socket.once('connect_error', (err: Error) => process.send?.({ kind: 'error', error: err.message }));
    } else if (m.kind === 'start') {
      recording = true;
      process.send?.({ kind: 'started' });
    } else if (m.kind === 'stop') {
      recording = false;
      socket?.close();
      process.send?.({ kind: 'result', arrivals, deltas, bytes }, () => process.exit(0));
    }
  });
}

if (process.argv.includes('--client') && process.send) {
  runClient();
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchUi().then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`ui bench failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
