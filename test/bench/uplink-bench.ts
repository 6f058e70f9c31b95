// Bench: drain a backlog of 100,000 queued records to the reference ingest on loopback (its own
// process, real HTTP, its own SQLite), with the uplink's default batch size and concurrency.
// Reports the drain time and the station process's peak RSS while draining (flat memory: the
// uplink holds one batch per request in flight, never the backlog).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { HttpSink } from '../../jobs/uplink/sinks.js';
import { configSchema } from '../../station/config/schema.js';
import { StationBus } from '../../station/events.js';
import { loadSequence } from '../../station/line/sequence.js';
import { silentLogger } from '../../station/log.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox } from '../support/records.js';

const KEY = 'bench-key-0123456789';
const SECRET = 'bench-secret-0123456789abcdef';

export async function benchUplinkDrain(root: string, records = 100_000, overrides: { batchMaxRecords?: number; concurrency?: number } = {}): Promise<{ seconds: number; peakRssMb: number; baselineRssMb: number; records: number }> {
  const log = silentLogger();
  const store = new Store(path.join(root, 'uplink-station'), log);
  store.open();
  const seq = loadSequence({ name: 'bench-uplink', steps: [{ type: 'identify', name: 'Identify' }, { type: 'bless', name: 'Bless' }] }, 'bench');
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
  const baselineRss = process.memoryUsage.rss();
  let peakRss = baselineRss;
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
  return { seconds, peakRssMb: peakRss / 1048576, baselineRssMb: baselineRss / 1048576, records: stats.records };
}
