// Builds the uplink's sinks from the configuration (station/config/uplink.ts), one kind per file:
// the HTTP ingest and the folder (sinks.ts), an MQTT broker (mqtt-sink.ts), a Particle product
// (particle-sink.ts), the plant's MES (mes-sink.ts), OpenHTF files (openhtf-sink.ts) and TofuPilot
// (tofupilot-sink.ts). The composition root may
// hand in an endpoint of its own for a station with no uplink configured at all (the simulated
// world's demo ingest). An MQTT sink's broker connection is returned too, for the live topics
// (mqtt-live.ts) and any other publisher to share, with the Sparkplug edge node's own connection
// when the sink asks for Sparkplug B (sparkplug-node.ts).
import path from 'node:path';
import type { Logger } from 'pino';
import { MqttConnection } from '../../drivers/mqtt/connection.js';
import { DEFAULT_TOKEN_ENV, type ParticleSinkConfig } from '../../drivers/particle/options.js';
import type { StationConfig } from '../../station/config/load.js';
import { TOFUPILOT_KEY_ENV } from '../../station/config/record-sinks.js';
import { configuredSinks, type IdentifiedSink } from '../../station/config/uplink.js';
import type { RunView } from '../../station/records/openhtf.js';
import { MesSink } from './mes-sink.js';
import { stationWill } from './mqtt-live.js';
import { MqttSink } from './mqtt-sink.js';
import { StationTopics } from './mqtt-topics.js';
import { createSparkplugLink, defaultGroupId, type SparkplugLink } from './sparkplug-node.js';
import { ParticleSink, type ClaimCodeStore } from './particle-sink.js';
import { OpenhtfSink } from './openhtf-sink.js';
import { FileSink, HttpSink, type UplinkSink } from './sinks.js';
import { TofupilotSink } from './tofupilot-sink.js';

/** An MQTT sink's broker connection and the station's topics on it. */
export interface BrokerLink {
  sinkId: string;
  connection: MqttConnection;
  topics: StationTopics;
  /** With `"sparkplug": true`: the Sparkplug edge node's own connection (sparkplug-node.ts). */
  sparkplug: SparkplugLink | null;
}

export interface BuiltSinks {
  sinks: UplinkSink[];
  /** Why the older single-sink form builds no sink, in words naming the missing keys; null otherwise. */
  missing: string | null;
  brokers: BrokerLink[];
}

export interface SinkDeps {
  /** The uplink's logger (the connections log under it). */
  log: Logger;
  /** The station's software version (in the MQTT Last Will). */
  version: string;
  /** For a station with no uplink configured: an ingest of its own (the demo), or null. */
  fallback?: { url: () => string; apiKey: string; hmacSecret: string } | null;
  /** Where the particle and http sinks keep claim codes (sealed) for the box label. */
  claimCodes?: ClaimCodeStore | null;
  /** Where token environment variables are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** A finished run as GET /api/runs/:id shows it, with its MES answer (the mes, openhtf and
   *  tofupilot sinks build what they send from it); null when it is not in the store. */
  runs?: (runId: string) => RunView | null;
}

export function createUplinkSinks(cfg: StationConfig, deps: SinkDeps): BuiltSinks {
  const u = cfg.uplink;
  const { sinks: configured, missing } = configuredSinks(u);
  const base = cfg.configPath ? path.dirname(cfg.configPath) : process.cwd();
  if (configured.length === 0 && missing === null && deps.fallback) {
    const f = deps.fallback;
    return { sinks: [new HttpSink({ url: f.url, stationId: cfg.station.id, apiKey: f.apiKey, hmacSecret: f.hmacSecret, timeoutMs: u.requestTimeoutMs })], missing: null, brokers: [] };
  }
  const sinks: UplinkSink[] = [];
  const brokers: BrokerLink[] = [];
  for (const s of configured) sinks.push(build(s));
  return { sinks, missing, brokers };

  function build(s: IdentifiedSink): UplinkSink {
    switch (s.kind) {
      case 'http':
        return new HttpSink({ id: s.id, url: s.url, stationId: cfg.station.id, apiKey: s.apiKey, hmacSecret: s.hmacSecret, timeoutMs: u.requestTimeoutMs, claimCodes: deps.claimCodes ?? null });
      case 'file':
        return new FileSink(path.resolve(base, s.dir), cfg.station.id, s.id);
      case 'mqtt': {
        const topics = new StationTopics({ topicPrefix: s.topicPrefix, enterprise: s.enterprise, site: s.site, area: s.area, line: s.line, stationId: cfg.station.id });
        const file = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.resolve(base, f));
        const common = {
          url: s.url,
          clientId: s.clientId ?? `station-${cfg.station.id}`,
          username: s.username,
          password: s.password,
          tls: s.tls ? { ca: file(s.tls.ca), cert: file(s.tls.cert), key: file(s.tls.key) } : undefined,
          keepaliveSec: s.keepaliveSec,
          connectTimeoutMs: s.connectTimeoutMs,
          reconnect: { initialMs: 250, maxMs: Math.min(u.backoffMaxMs, 30_000) },
          log: deps.log.child({ sink: s.id }),
        };
        const connection = new MqttConnection({ ...common, sessionExpirySec: s.sessionExpirySec, will: () => stationWill(topics, cfg.station.id, deps.version) });
        const sparkplug = s.sparkplug
          ? createSparkplugLink({
              sinkId: s.id,
              groupId: s.sparkplugGroupId ?? defaultGroupId(s),
              edgeNodeId: cfg.station.id,
              dataDir: cfg.storage.dataDir,
              connection: { ...common, log: deps.log.child({ sink: s.id, part: 'jobs.uplink.sparkplug' }) },
            })
          : null;
        brokers.push({ sinkId: s.id, connection, topics, sparkplug });
        return new MqttSink(connection, topics, { id: s.id, qos: s.qos, ackTimeoutMs: u.requestTimeoutMs, sparkplug });
      }
      case 'particle':
        return createParticleSink(s, u.requestTimeoutMs, { claimCodes: deps.claimCodes ?? null, env: deps.env });
      case 'mes':
        // The configuration refuses a mes sink without the mes section (station/config/schema.ts).
        if (!cfg.mes) throw new Error('a sink of kind "mes" needs the "mes" section');
        return new MesSink({ id: s.id, mes: cfg.mes, stationId: cfg.station.id, timeoutMs: u.requestTimeoutMs, runs: deps.runs ?? null, log: deps.log.child({ sink: s.id }) });
      case 'openhtf':
        return new OpenhtfSink({ id: s.id, dir: path.resolve(base, s.dir), station: { id: cfg.station.id, name: cfg.station.name ?? null, version: deps.version }, runs: deps.runs ?? (() => null) });
      case 'tofupilot': {
        const apiKey = s.apiKey ?? (deps.env ?? process.env)[TOFUPILOT_KEY_ENV] ?? '';
        const problem = apiKey
          ? null
          : `the TofuPilot API key is not set (environment variable ${TOFUPILOT_KEY_ENV}, or the tofupilot sink's apiKey): records are kept until it is set and the station restarted`;
        return new TofupilotSink({ id: s.id, url: s.url, apiKey, procedureId: s.procedureId, stationId: cfg.station.id, timeoutMs: u.requestTimeoutMs, runs: deps.runs ?? null, problem });
      }
    }
  }
}

/**
 * The particle sink, with its tokens read from the config or the environment (never logged). A
 * token that is not set does not drop the sink: it stays, not ready, under the critical alarm
 * `uplink.<id>.credentials` naming the variable, and its records wait for it.
 */
export function createParticleSink(config: ParticleSinkConfig & { id?: string }, timeoutMs: number, extras: { claimCodes?: ClaimCodeStore | null; env?: NodeJS.ProcessEnv } = {}): ParticleSink {
  const env = extras.env ?? process.env;
  const tokenEnv = config.tokenEnv ?? DEFAULT_TOKEN_ENV;
  const token = config.token ?? env[tokenEnv] ?? null;
  const problems: string[] = [];
  if (!token) problems.push(`the Particle token is not set (environment variable ${tokenEnv}, or the particle sink's token)`);
  let claimToken: string | null = null;
  let claimTokenSource: string | null = null;
  if (config.claim?.token) [claimToken, claimTokenSource] = [config.claim.token, "the particle sink's claim.token"];
  else if (config.claim?.tokenEnv) {
    claimToken = env[config.claim.tokenEnv] ?? null;
    claimTokenSource = config.claim.tokenEnv;
    if (!claimToken) problems.push(`the Particle claim token is not set (environment variable ${config.claim.tokenEnv})`);
  }
  if (config.claim?.mode === 'code' && !extras.claimCodes) problems.push("claim codes need the station's sealed secret store");
  return new ParticleSink({
    id: config.id ?? config.name ?? 'particle',
    config,
    token: token ?? '',
    tokenSource: config.token ? "the particle sink's token" : tokenEnv,
    claimToken,
    claimTokenSource,
    timeoutMs,
    claimCodes: extras.claimCodes ?? null,
    problem: problems.length > 0 ? `${problems.join('; ')}: records are kept until it is set and the station restarted` : null,
  });
}
