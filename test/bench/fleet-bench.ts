// fleetStations (issue 13): how many stations the fleet view (docs/fleet.md) follows with its page
// under 100 ms behind. Against a local mosquitto the bench starts (test/support/mosquitto.ts), the
// fleet view as its own process (`node dist/fleet/cli.js`, as `npm run fleet` runs it), and the page
// in Debian's Chromium, simulated stations are added in steps (FLEET_STEPS: 100, 250, 500, 750,
// 1000), each step's new stations a load generator process of their own (`node dist/fleet/load.js`:
// the station's own MQTT connection, live publisher and sink; 4 slots, one unit a slot every 20 s,
// 16 steps a unit, so about 4 slot messages a second a station, as docs/mqtt.md sizes it).
//
// At each step, once the page shows every station, the page's lag is measured for FLEET_SECONDS
// (30): for each slot state word and each unit verdict the page shows, the time from its publish
// time carried in the payload (the slot's `since`, set when the slot changed and published at once;
// the record's `endedAt`) to the animation frame that put it on the page (window.fleetView.lag).
// Everything runs on this machine, so the clocks are one. The lag holds the broker's delivery, the
// view's parsing and its per-station rate limit (4 pushes a second), socket.io, and the page's
// rendering; it also holds the load generators' own delays (they share the two cores).
//
// fleetStations is the largest step whose p99 lag, and every smaller step's, is under 100 ms (0
// when even the first misses); the ramp goes on past a miss (the rest of the curve is reported)
// unless a step is over 500 ms. null, with a note, when Chromium is not installed. The machine's
// load average is reported with each step: on two cores shared with other work, the tail follows it.
// Run on its own: `npm run build && node dist/test/bench/fleet-bench.js`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { PROJECT_ROOT } from '../../station/paths.js';
import { CHROMIUM } from '../support/browser.js';
import { FleetProcess } from '../support/fleet.js';
import { freePort, Mosquitto } from '../support/mosquitto.js';
import { waitFor } from '../support/wait.js';

export const FLEET_LAG_BAR_MS = 100;

export interface FleetStep {
  stations: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 from the fleet view receiving a change to the frame that showed it: what the view itself adds. */
  viewLagP99Ms: number;
  /** p99 of how long the fleet view held a station's change before sending it (rate limit, batching). */
  heldP99Ms: number;
  /** p99 from the fleet view sending a diff to its arrival in the page. */
  transportP99Ms: number;
  /** p99 from a diff's arrival to the animation frame that applied it. */
  frameP99Ms: number;
  /** The machine's 1-minute load average at the end of the window (2 cores here: other work shares them). */
  loadAverage: number;
  /** The fleet view process's CPU over the window, in percent of one core. */
  serverCpuPercent: number;
}

export interface FleetBench {
  fleetStations: number | null;
  steps: FleetStep[];
  note: string | null;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function startLoad(broker: string, first: number, stations: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/fleet/load.js'), '--broker', broker, '--stations', String(stations), '--first', String(first), '--unit-every', '20s'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return waitFor(
    `${stations} simulated stations to connect`,
    () => {
      if (proc.exitCode !== null) throw new Error(`the load generator exited ${proc.exitCode}: ${out.slice(-1000)}`);
      return out.includes('fleet-load:') ? proc : null;
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  );
}

export async function benchFleet(opts: { steps?: number[]; seconds?: number } = {}): Promise<FleetBench> {
  if (!existsSync(CHROMIUM)) return { fleetStations: null, steps: [], note: `Chromium is not installed (${CHROMIUM}): the page's lag cannot be measured` };
  const steps = opts.steps ?? [100, 250, 500, 750, 1000];
  const seconds = opts.seconds ?? 30;
  const broker = await Mosquitto.start();
  const loads: ChildProcess[] = [];
  let fleet: FleetProcess | null = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const results: FleetStep[] = [];
  let fleetStations = 0;
  let missed = false;
  let note: string | null = null;
  try {
    fleet = await FleetProcess.start(broker.url, await freePort());
    const page = await (await browser.newContext({ viewport: { width: 1920, height: 1080 } })).newPage();
    await page.goto(fleet.url);
    let running = 0;
    for (const n of steps) {
      loads.push(await startLoad(broker.url, running, n - running));
      running = n;
      await waitFor(`the page to show ${n} stations`, async () => (await page.evaluate(`document.querySelectorAll('.fleet-card[data-state="online"]').length`)) === n, {
        timeoutMs: 120_000,
        intervalMs: 200,
      });
      // The connect burst (every new station's retained topics at once) is over: measure from here.
      await new Promise((r) => setTimeout(r, 5000));
      await page.evaluate(
        'window.fleetView.lag.length = 0; window.fleetView.transport.length = 0; window.fleetView.frame.length = 0; window.fleetView.viewLag.length = 0; window.fleetView.held.length = 0',
      );
      const cpu0 = cpuSeconds(fleet.pid);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const lag = ((await page.evaluate('window.fleetView.lag.slice()')) as number[]).sort((a, b) => a - b);
      const transport = ((await page.evaluate('window.fleetView.transport.slice()')) as number[]).sort((a, b) => a - b);
      const frames = ((await page.evaluate('window.fleetView.frame.slice()')) as number[]).sort((a, b) => a - b);
      const viewLag = ((await page.evaluate('window.fleetView.viewLag.slice()')) as number[]).sort((a, b) => a - b);
      const held = ((await page.evaluate('window.fleetView.held.slice()')) as number[]).sort((a, b) => a - b);
      const cpu = ((cpuSeconds(fleet.pid) - cpu0) / ((performance.now() - t0) / 1000)) * 100;
      const step = {
        stations: n,
        samples: lag.length,
        p50Ms: percentile(lag, 50),
        p99Ms: percentile(lag, 99),
        maxMs: lag[lag.length - 1] ?? NaN,
        viewLagP99Ms: percentile(viewLag, 99),
        heldP99Ms: percentile(held, 99),
        transportP99Ms: percentile(transport, 99),
        frameP99Ms: percentile(frames, 99),
        loadAverage: Number((os.loadavg()[0] as number).toFixed(1)),
        serverCpuPercent: Math.round(cpu),
      };
      results.push(step);
      process.stderr.write(
        `  fleet: ${n} stations: page lag p50 ${step.p50Ms} ms, p99 ${step.p99Ms} ms, max ${step.maxMs} ms (${lag.length} samples; from the view's receipt p99 ${step.viewLagP99Ms} ms, of which held by the view ${step.heldP99Ms} ms, server to page ${step.transportP99Ms} ms and the page's frame ${step.frameP99Ms} ms); fleet view CPU ${step.serverCpuPercent} %, load average ${step.loadAverage}\n`,
      );
      if (step.p99Ms < FLEET_LAG_BAR_MS && !missed) fleetStations = n;
      else missed = true;
      // Far over the bar, a larger fleet says nothing more; near it, the rest of the curve is shown.
      if (!(step.p99Ms < 5 * FLEET_LAG_BAR_MS)) break;
    }
    if (fleetStations === 0) note = `even the first step, ${steps[0]} stations, was ${FLEET_LAG_BAR_MS} ms or more behind at p99`;
  } finally {
    await browser.close();
    await fleet?.stop();
    await Promise.all(
      loads.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
          }),
      ),
    );
    await broker.dispose();
  }
  return { fleetStations, steps: results, note };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const steps = process.env.FLEET_STEPS ? process.env.FLEET_STEPS.split(',').map(Number) : undefined;
  const seconds = process.env.FLEET_SECONDS ? Number(process.env.FLEET_SECONDS) : undefined;
  const r = await benchFleet({ steps, seconds });
  console.log(JSON.stringify(r));
  process.exit(0);
}
