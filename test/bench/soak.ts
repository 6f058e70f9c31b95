// `npm run soak -- --units 1000000`: the line at full speed for a long run with retention on, to
// show the database and the process's memory level off instead of growing with every unit.
//
// What runs: the real runner, store (WAL, fsynced verdicts; on a tmpfs unless --dir says otherwise:
// the soak measures sizes and memory, not the disk), event bus, uplink job
// and retention job, as in service; 32 slots of zero-latency simulated DUTs (the firmware model
// called directly, as `npm run bench`'s runner overhead does), 12 steps a unit (identify, 10
// measurements, bless), 2 % of units failing their battery measurement, each slot's next unit put
// in on the next turn of the event loop. The uplink delivers to an in-memory sink that accepts
// every record on the next turn (a cloud that always answers), so records become acknowledged and
// retention may delete them.
//
// Compressed days: a soak day is `--units-per-day` units (default 1000), and retention keeps
// `--retention-days` of them (default 10): the same RetentionJob the station runs, with a retention
// of that many days, reads an offset clock, which stands `days` after the end of the unit that
// finished `days x units-per-day` units ago. So it keeps the last 10,000 units' history however
// fast this machine runs, and the figures do not depend on its speed. A pass runs every
// `--prune-every-seconds` (default 2, real time) instead of hourly.
// Device rows are never deleted (a blessed unit's identity is kept), so they grow by one per unit:
// the figures say how much of the file they are.
//
// Prints a sample line every `--samples`-th of the run (units, seconds, database file + WAL, RSS),
// then a summary, and one JSON object on its last line.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { DirectDutConsole } from '../../drivers/dut/simulator/direct-console.js';
import { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { folderBytes } from '../../jobs/disk-budget.js';
import { DAY_MS, RetentionJob } from '../../jobs/retention.js';
import type { UplinkSink } from '../../jobs/uplink/sinks.js';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { StationBus } from '../../station/events.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner } from '../../station/line/runner.js';
import { silentLogger } from '../../station/log.js';
import { loadSequence, type CompiledSequence } from '../../station/sequence/sequence.js';
import { uuidv7 } from '../../station/store/ids.js';
import { Store } from '../../station/store/store.js';

export interface SoakOptions {
  units: number;
  slots: number;
  retentionDays: number;
  unitsPerDay: number;
  pruneEverySeconds: number;
  /** Samples over the run. */
  samples: number;
  /** Where the data folder is made (and removed): a tmpfs by default (/dev/shm), since what the soak
   *  measures is sizes and memory, not the disk's speed (`npm run bench` times fsyncs apart). */
  root: string;
  /** Print each sample as it is taken. */
  progress: boolean;
  /** Print retention's log lines (one per pass) too. */
  verbose?: boolean;
}

export interface SoakSample {
  units: number;
  seconds: number;
  /** station.db + its WAL. */
  dbMb: number;
  rssMb: number;
  /** V8's heap in use (part of RSS). */
  heapMb: number;
  runsKept: number;
}

export interface SoakResult {
  units: number;
  seconds: number;
  unitsPerSec: number;
  /** Units whose history retention keeps (retention days x units per day). */
  unitsKept: number;
  samples: SoakSample[];
  /** The most the database (file + WAL) and RSS reached over the second half of the run. */
  dbMbPlateau: number;
  rssMbPlateau: number;
  /** Growth over the second half, MB per 100,000 units (0 is flat). */
  dbGrowthMbPer100k: number;
  rssGrowthMbPer100k: number;
  /** At the end: the device rows (table and index), which are never deleted, and everything else. */
  devicesMb: number;
  historyMb: number;
  devices: number;
  runsPruned: number;
  blessed: number;
  failed: number;
}

const MB = 1048576;
const round1 = (n: number): number => Math.round(n * 10) / 10;

function soakSequence(): CompiledSequence {
  const channels = [
    { c: 'MEAS VBAT', limit: { kind: 'range', low: 3.4, high: 4.2, marginalLow: 3.5 } },
    { c: 'MEAS V3V3', limit: { kind: 'range', low: 3.2, high: 3.4 } },
    { c: 'MEAS RSSI', limit: { kind: 'range', low: -75, high: -20 } },
    { c: 'MEAS TEMP', limit: { kind: 'range', low: 10, high: 45 } },
  ];
  const steps: object[] = [{ type: 'identify', name: 'Identify' }];
  for (let i = 0; i < 10; i++) {
    const ch = channels[i % channels.length] as (typeof channels)[number];
    steps.push({ type: 'measure', name: `M${i}`, command: ch.c, capture: 'v=(-?[0-9.]+)', unit: 'V', limit: ch.limit });
  }
  steps.push({ type: 'bless', name: 'Bless' });
  return loadSequence({ name: 'soak', stopOnFailure: true, steps }, 'soak');
}

/** A cloud that accepts every record, answering on the next turn of the event loop (as a reply
 *  from a socket would, never inside the turn that sent it). */
const acceptingSink: UplinkSink = {
  kind: 'http',
  id: 'http',
  label: 'in-memory sink (accepts everything)',
  send: (batch) => new Promise((resolve) => setImmediate(() => resolve({ kind: 'answered', accepted: [...batch.recordIds], rejected: [] }))),
};

/** Runs the soak in this process. */
export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = silentLogger();
  const dir = mkdtempSync(path.join(o.root, '.soak-'));
  const dataDir = path.join(dir, 'data');
  const store = new Store(dataDir, log);
  const bus = new StationBus(log);
  const uplink = new UplinkJob(store, acceptingSink, bus, log, { stationId: 'soak', batchMaxRecords: 2000, batchMaxAgeMs: 250, concurrency: 2, backoffInitialMs: 100, backoffMaxMs: 1000 });
  // The offset clock: `days` after the end of the unit that finished unitsKept units ago (until
  // then, `days` after the epoch: nothing is old enough).
  const unitsKept = Math.max(1, Math.round(o.retentionDays * o.unitsPerDay));
  const retentionMs = o.retentionDays * DAY_MS;
  const ends = new Float64Array(unitsKept);
  let finished = 0;
  const retention = new RetentionJob(store, bus, o.verbose ? pino({ level: 'info', base: null }, process.stderr) : log, {
    retentionMs,
    days: o.retentionDays,
    now: () => (finished < unitsKept ? 0 : (ends[finished % unitsKept] as number)) + retentionMs,
    archiveDir: null,
    intervalMs: o.pruneEverySeconds * 1000,
    startDelayMs: o.pruneEverySeconds * 1000,
    stationId: 'soak',
  });
  try {
    store.open();
    const seq = soakSequence();
    store.registerSequence(seq);
    uplink.start();
    retention.start();
    const runner = new SequenceRunner({ store, bus, prompts: new PromptBroker(bus), log, stationId: 'soak', mode: 'production' });
    const countRuns = store.database.prepare(`SELECT count(*) AS n FROM runs`);
    const samples: SoakSample[] = [];
    const t0 = performance.now();
    const sample = (units: number): void => {
      const s: SoakSample = {
        units,
        seconds: (performance.now() - t0) / 1000,
        dbMb: folderBytes(dataDir) / MB,
        rssMb: process.memoryUsage.rss() / MB,
        heapMb: process.memoryUsage().heapUsed / MB,
        runsKept: (countRuns.get() as { n: number }).n,
      };
      samples.push(s);
      if (o.progress) {
        process.stderr.write(
          `  ${String(units).padStart(9)} units  ${s.seconds.toFixed(0).padStart(5)} s  db ${s.dbMb.toFixed(1).padStart(6)} MB  rss ${s.rssMb.toFixed(1).padStart(6)} MB (heap ${s.heapMb.toFixed(1).padStart(5)} MB)  runs kept ${s.runsKept}\n`,
        );
      }
    };
    const every = Math.max(1, Math.floor(o.units / o.samples));
    let started = 0;
    let blessed = 0;
    let failed = 0;
    const loops = Array.from({ length: o.slots }, async (_, slot) => {
      const nest = new SimulatedNest(`soak:${slot}`, { bootMs: 0, handlingMs: 1e9, cellularRate: 0.3, failureRates: { VBAT: 0.02 } }, 1000 + slot, {
        event: () => undefined,
        raw: () => undefined,
        unplug: () => undefined,
      });
      const console = new DirectDutConsole(`soak:${slot}`, nest);
      while (started < o.units) {
        started++;
        // The nest's own operator would swap the unit after handlingMs (a timer per verdict, which
        // would pile up over a million units): stopped, it keeps none, and the next unit goes in.
        nest.stop();
        nest.insertReadyUnit();
        const outcome = await runner.run({
          runId: uuidv7(),
          slot,
          console,
          sequence: seq,
          signal: new AbortController().signal,
          onStep: () => undefined,
          onIdentified: () => undefined,
          onVerdictSent: () => undefined,
        });
        if (outcome.verdict === 'blessed') blessed++;
        else if (outcome.verdict === 'failed') failed++;
        else throw new Error(`soak run was ${outcome.verdict}: ${outcome.reason}`);
        ends[finished % unitsKept] = Date.now();
        finished++;
        if (finished % every === 0) sample(finished);
        // The next unit goes in on the next turn of the event loop (a real nest takes seconds): the
        // line runs as fast as the CPU allows, and the station's timers (the uplink, retention) get
        // their turns as they would in service.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await Promise.all(loops);
    const seconds = (performance.now() - t0) / 1000;
    if (samples.at(-1)?.units !== finished) sample(finished);
    await retention.stop();
    await uplink.stop();

    const tables = store.database.prepare(`SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name`).all() as { name: string; bytes: number }[];
    const devicesBytes = tables.filter((t) => t.name === 'devices' || t.name === 'devices_updated').reduce((a, t) => a + t.bytes, 0);
    const allBytes = tables.reduce((a, t) => a + t.bytes, 0);
    const devices = (store.database.prepare(`SELECT count(*) AS n FROM devices`).get() as { n: number }).n;
    const runsPruned = retention.status().prunedSinceStart.runs;

    const half = samples.filter((s) => s.units >= finished / 2);
    const first = half[0] as SoakSample;
    const last = half.at(-1) as SoakSample;
    const per100k = (a: number, b: number): number => (last.units > first.units ? ((b - a) / (last.units - first.units)) * 100_000 : 0);
    return {
      units: finished,
      seconds,
      unitsPerSec: finished / seconds,
      unitsKept,
      samples,
      dbMbPlateau: Math.max(...half.map((s) => s.dbMb)),
      rssMbPlateau: Math.max(...half.map((s) => s.rssMb)),
      dbGrowthMbPer100k: per100k(first.dbMb, last.dbMb),
      rssGrowthMbPer100k: per100k(first.rssMb, last.rssMb),
      devicesMb: devicesBytes / MB,
      historyMb: (allBytes - devicesBytes) / MB,
      devices,
      runsPruned,
      blessed,
      failed,
    };
  } finally {
    await retention.stop();
    await uplink.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the soak in a process of its own (so RSS is the soak's alone) and returns its figures. */
export function benchSoak(opts: Omit<SoakOptions, 'progress'>): Promise<SoakResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: SoakResult | null = null;
    child.on('message', (m) => {
      result = m as SoakResult;
    });
    // After 'close', the child's handle is let go in the loop's close phase: settle after it.
    child.once('close', (code) => {
      setTimeout(() => (result && code === 0 ? resolve(result) : reject(new Error(`the soak exited ${code}`))), 0);
    });
  });
}

export const SOAK_DEFAULTS: Omit<SoakOptions, 'units' | 'root' | 'progress'> = { slots: 32, retentionDays: 10, unitsPerDay: 1000, pruneEverySeconds: 2, samples: 40 };

/** A tmpfs when there is one (the soak measures sizes and memory, not the disk), else the OS's
 *  temporary folder. */
export function soakRoot(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
}

function parseArgs(argv: string[]): SoakOptions {
  const o: SoakOptions = { units: 1_000_000, ...SOAK_DEFAULTS, root: soakRoot(), progress: true };
  const numeric: Record<string, keyof SoakOptions> = {
    '--units': 'units',
    '--slots': 'slots',
    '--retention-days': 'retentionDays',
    '--units-per-day': 'unitsPerDay',
    '--prune-every-seconds': 'pruneEverySeconds',
    '--samples': 'samples',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--verbose') {
      o.verbose = true;
      continue;
    }
    if (arg === '--dir' && argv[i + 1]) {
      o.root = path.resolve(argv[++i] as string);
      continue;
    }
    const key = numeric[arg];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isFinite(value) || value <= 0) {
      throw new Error(`soak: unknown option or bad value: ${arg} ${argv[i + 1] ?? ''} (options: ${Object.keys(numeric).join(', ')}, each with a positive number; --dir FOLDER; --verbose)`);
    }
    (o as unknown as Record<string, number>)[key] = value;
    i++;
  }
  return o;
}

function summary(r: SoakResult): string {
  return [
    `soak: ${r.units} units in ${r.seconds.toFixed(0)} s (${r.unitsPerSec.toFixed(0)} units/s), history of the last ${r.unitsKept} units kept (compressed days), ${r.blessed} blessed, ${r.failed} failed`,
    `  database (file + WAL), most over the second half: ${r.dbMbPlateau.toFixed(1)} MB; growth there ${r.dbGrowthMbPer100k.toFixed(2)} MB per 100,000 units`,
    `    at the end: device rows ${r.devicesMb.toFixed(1)} MB (${r.devices} devices, never deleted), everything else ${r.historyMb.toFixed(1)} MB; ${r.runsPruned} runs pruned`,
    `  RSS, most over the second half: ${r.rssMbPlateau.toFixed(1)} MB; growth there ${r.rssGrowthMbPer100k.toFixed(2)} MB per 100,000 units`,
  ].join('\n');
}

if (process.argv[2] === '--child' && process.send) {
  const opts = JSON.parse(process.argv[3] as string) as Omit<SoakOptions, 'progress'>;
  runSoak({ ...opts, progress: false }).then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let opts: SoakOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  process.stderr.write(`soak: ${opts.units} units on ${opts.slots} slots, retention ${opts.retentionDays} days of ${opts.unitsPerDay} units, a pass every ${opts.pruneEverySeconds} s\n`);
  runSoak(opts).then(
    (r) => {
      console.log(summary(r));
      const { samples, ...figures } = r;
      console.log(JSON.stringify({ ...figures, samples: samples.map((s) => ({ ...s, seconds: round1(s.seconds), dbMb: round1(s.dbMb), rssMb: round1(s.rssMb), heapMb: round1(s.heapMb) })) }));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
