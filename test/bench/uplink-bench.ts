// Bench: drain a backlog of 100,000 queued records to the reference ingest on loopback (its own
// process, real HTTP, its own SQLite), with the uplink's default batch size and concurrency.
// Runs in a process of its own (forked), so the memory figures are the uplink's alone:
//  - RSS when the process has loaded its modules, before anything is written;
//  - RSS once the 100,000 records are in the outbox (SQLite's page cache has grown with them);
//  - peak RSS while draining, sampled every 10 ms; "flat" is the growth over the second figure
//    (the uplink holds one batch per request in flight, never the backlog).
// Timed: from starting the uplink job to the outbox having no record left to upload.
import { fork, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { HttpSink } from '../../jobs/uplink/sinks.js';
import { configSchema } from '../../station/config/schema.js';
import { StationBus } from '../../station/events.js';
import { loadSequence } from '../../station/sequence/sequence.js';
import { silentLogger } from '../../station/log.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox } from '../support/records.js';

const KEY = 'bench-key-0123456789';
const SECRET = 'bench-secret-0123456789abcdef';

export interface DrainResult {
  seconds: number;
  records: number;
  beforeFillRssMb: number;
  beforeDrainRssMb: number;
  peakRssMb: number;
  /** Peak while draining, over the RSS with the backlog written. */
  drainGrowthMb: number;
}

/** Runs the drain in a child process and returns its figures. */
export function benchUplinkDrain(root: string, records = 100_000, overrides: { batchMaxRecords?: number; concurrency?: number } = {}): Promise<DrainResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', root, String(records), JSON.stringify(overrides)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: DrainResult | null = null;
    child.on('message', (m) => {
      result = m as DrainResult;
    });
    child.once('exit', (code) => (result && code === 0 ? resolve(result) : reject(new Error(`the uplink drain bench exited ${code}`))));
  });
}

async function drainHere(root: string, records: number, overrides: { batchMaxRecords?: number; concurrency?: number }): Promise<DrainResult> {
  const beforeFillRss = process.memoryUsage.rss();
  const log = silentLogger();
  const store = new Store(path.join(root, 'uplink-station'), log);
  store.open();
  const seq = loadSequence(
    {
      name: 'bench-uplink',
      steps: [
        { type: 'identify', name: 'Identify' },
        { type: 'bless', name: 'Bless' },
      ],
    },
    'bench',
  );
  store.registerSequence(seq);
  await fillOutbox(store, seq, records, { failEvery: 20, stationId: 'bench-station', chunk: 5000 });

  const ingest = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/drivers/cloud/cli.js'), '--port', '0', '--db', path.join(root, 'uplink-ingest', 'ingest.db')], {
    env: { ...process.env, INGEST_API_KEY: KEY, INGEST_HMAC_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    ingest.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    ingest.once('exit', (code) => reject(new Error(`the ingest exited ${code}`)));
  });

  const defaults = { ...configSchema.shape.uplink.parse({}), ...overrides };
  const job = new UplinkJob(store, new HttpSink({ url, stationId: 'bench-station', apiKey: KEY, hmacSecret: SECRET, timeoutMs: defaults.requestTimeoutMs }), new StationBus(), log, {
    stationId: 'bench-station',
    batchMaxRecords: defaults.batchMaxRecords,
    batchMaxAgeMs: defaults.batchMaxAgeMs,
    concurrency: defaults.concurrency,
    backoffInitialMs: defaults.backoffInitialMs,
    backoffMaxMs: defaults.backoffMaxMs,
  });
  const pending = store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NULL`);
  const beforeDrainRss = process.memoryUsage.rss();
  let peakRss = beforeDrainRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 10);
  const t0 = performance.now();
  job.start();
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if ((pending.get() as { n: number }).n === 0) {
        clearInterval(check);
        resolve();
      }
    }, 50);
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  await job.stop();
  const stats = (await (await fetch(`${url}/health`)).json()) as { records: number };
  ingest.kill('SIGTERM');
  store.close();
  if (stats.records !== records) throw new Error(`the ingest holds ${stats.records} records, expected ${records}`);
  const mb = (n: number): number => n / 1048576;
  return { seconds, records: stats.records, beforeFillRssMb: mb(beforeFillRss), beforeDrainRssMb: mb(beforeDrainRss), peakRssMb: mb(peakRss), drainGrowthMb: mb(peakRss - beforeDrainRss) };
}

if (process.argv[2] === '--child' && process.send) {
  const [root, records, overrides] = process.argv.slice(3) as [string, string, string];
  drainHere(root, Number(records), JSON.parse(overrides) as { batchMaxRecords?: number; concurrency?: number }).then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
