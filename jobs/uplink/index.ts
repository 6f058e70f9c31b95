// Builds the uplink from the config: the sink (HTTP ingest, a folder, or none), and for the demo the
// reference ingest started in-process (simulation.ingest) when no uplink.url is given.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { StationConfig } from '../../station/config/load.js';
import { IngestServer } from '../../drivers/cloud/ingest.js';
import { FileSink, HttpSink, type UplinkSink } from './sinks.js';

export interface BuiltSink {
  sink: UplinkSink | null;
  /** Why there is no sink, in words naming the missing keys; null when there is one. */
  missing: string | null;
  /** The in-process demo ingest, to start before and stop after the uplink. */
  demoIngest: IngestServer | null;
}

export function createUplinkSink(cfg: StationConfig, log: Logger): BuiltSink {
  const u = cfg.uplink;
  const sinkKind = u.sink ?? (u.url ? 'http' : u.dir ? 'file' : null);
  if (sinkKind === 'file') {
    if (!u.dir) return { sink: null, missing: 'uplink.dir is not set', demoIngest: null };
    return { sink: new FileSink(path.resolve(cfg.configPath ? path.dirname(cfg.configPath) : process.cwd(), u.dir), cfg.station.id), missing: null, demoIngest: null };
  }
  if (sinkKind === null && cfg.simulation.ingest) {
    const apiKey = randomBytes(18).toString('base64url');
    const hmacSecret = randomBytes(32).toString('base64url');
    const demoIngest = new IngestServer({ dbPath: path.join(cfg.storage.dataDir, 'demo-ingest', 'ingest.db'), apiKey, hmacSecret, host: '127.0.0.1', port: 0 });
    log.info('no uplink.url: uploading to the demo ingest started with the station (simulation.ingest)');
    return { sink: new DeferredHttpSink(demoIngest, { stationId: cfg.station.id, apiKey, hmacSecret, timeoutMs: u.requestTimeoutMs }), missing: null, demoIngest };
  }
  const missing = (['url', 'apiKey', 'hmacSecret'] as const).filter((k) => !u[k]);
  if (missing.length > 0) return { sink: null, missing: `${missing.map((k) => `uplink.${k}`).join(', ')} not set`, demoIngest: null };
  return {
    sink: new HttpSink({ url: u.url as string, stationId: cfg.station.id, apiKey: u.apiKey as string, hmacSecret: u.hmacSecret as string, timeoutMs: u.requestTimeoutMs }),
    missing: null,
    demoIngest: null,
  };
}

/** An HTTP sink to the demo ingest, whose port is known only once it listens. */
class DeferredHttpSink implements UplinkSink {
  readonly kind = 'http' as const;
  private inner: HttpSink | null = null;

  constructor(
    private readonly ingest: IngestServer,
    private readonly opts: { stationId: string; apiKey: string; hmacSecret: string; timeoutMs: number },
  ) {}

  get label(): string {
    return `demo ingest ${this.ingest.url}`;
  }

  send(...args: Parameters<HttpSink['send']>): ReturnType<HttpSink['send']> {
    this.inner ??= new HttpSink({ url: this.ingest.url, ...this.opts });
    return this.inner.send(...args);
  }
}
