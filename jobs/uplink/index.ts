// Builds the uplink's sink from the config: the HTTP ingest, a folder, or none. The composition
// root may hand in an endpoint of its own for a station with no uplink.url (the simulated world's
// demo ingest).
import path from 'node:path';
import { DEFAULT_TOKEN_ENV, type ParticleSinkConfig } from '../../drivers/particle/options.js';
import { particleSinkOf, type StationConfig } from '../../station/config/load.js';
import { ParticleSink, type ClaimCodeStore } from './particle-sink.js';
import { FileSink, HttpSink, type UplinkSink } from './sinks.js';

export interface BuiltSink {
  sink: UplinkSink | null;
  /** Why there is no sink, in words naming the missing keys; null when there is one. */
  missing: string | null;
}

export interface SinkExtras {
  /** Where the particle sink keeps claim codes (sealed) for the box label. */
  claimCodes?: ClaimCodeStore | null;
  /** Where token environment variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export function createUplinkSink(cfg: StationConfig, fallback: { url: () => string; apiKey: string; hmacSecret: string } | null = null, extras: SinkExtras = {}): BuiltSink {
  const u = cfg.uplink;
  const particle = particleSinkOf(cfg);
  if (particle) return createParticleSink(particle, u.requestTimeoutMs, extras);
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

/** The particle sink, with its tokens read from the config or the environment (never logged). */
export function createParticleSink(config: ParticleSinkConfig, timeoutMs: number, extras: SinkExtras = {}): BuiltSink {
  const env = extras.env ?? process.env;
  const tokenEnv = config.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const token = config.token ?? env[tokenEnv];
  if (!token) return { sink: null, missing: `the Particle token is not set (environment variable ${tokenEnv}, or the particle sink's token)` };
  let claimToken: string | null = null;
  let claimTokenSource: string | null = null;
  if (config.claim?.token) [claimToken, claimTokenSource] = [config.claim.token, "the particle sink's claim.token"];
  else if (config.claim?.tokenEnv) {
    claimToken = env[config.claim.tokenEnv] ?? null;
    claimTokenSource = config.claim.tokenEnv;
    if (!claimToken) return { sink: null, missing: `the Particle claim token is not set (environment variable ${config.claim.tokenEnv})` };
  }
  if (config.claim?.mode === 'code' && !extras.claimCodes) return { sink: null, missing: "claim codes need the station's sealed secret store" };
  return {
    sink: new ParticleSink({
      config,
      token,
      tokenSource: config.token ? "the particle sink's token" : tokenEnv,
      claimToken,
      claimTokenSource,
      timeoutMs,
      claimCodes: extras.claimCodes ?? null,
    }),
    missing: null,
  };
}
