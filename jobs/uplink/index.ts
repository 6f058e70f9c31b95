// Builds the uplink's sink from the config: the HTTP ingest, a folder, or none. The composition
// root may hand in an endpoint of its own for a station with no uplink.url (the simulated world's
// demo ingest).
import path from 'node:path';
import type { StationConfig } from '../../station/config/load.js';
import { FileSink, HttpSink, type UplinkSink } from './sinks.js';

export interface BuiltSink {
  sink: UplinkSink | null;
  /** Why there is no sink, in words naming the missing keys; null when there is one. */
  missing: string | null;
}

export function createUplinkSink(cfg: StationConfig, fallback: { url: () => string; apiKey: string; hmacSecret: string } | null = null): BuiltSink {
  const u = cfg.uplink;
  const sinkKind = u.sink ?? (u.url ? 'http' : u.dir ? 'file' : null);
  if (sinkKind === 'file') {
    if (!u.dir) return { sink: null, missing: 'uplink.dir is not set' };
    return { sink: new FileSink(path.resolve(cfg.configPath ? path.dirname(cfg.configPath) : process.cwd(), u.dir), cfg.station.id), missing: null };
  }
  if (sinkKind === null && fallback) {
    return { sink: new HttpSink({ url: fallback.url, stationId: cfg.station.id, apiKey: fallback.apiKey, hmacSecret: fallback.hmacSecret, timeoutMs: u.requestTimeoutMs }), missing: null };
  }
  const missing = (['url', 'apiKey', 'hmacSecret'] as const).filter((k) => !u[k]);
  if (missing.length > 0) return { sink: null, missing: `${missing.map((k) => `uplink.${k}`).join(', ')} not set` };
  return {
    sink: new HttpSink({ url: u.url as string, stationId: cfg.station.id, apiKey: u.apiKey as string, hmacSecret: u.hmacSecret as string, timeoutMs: u.requestTimeoutMs }),
    missing: null,
  };
}
