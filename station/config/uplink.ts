// The uplink's configuration (docs/cloud-api.md, docs/mqtt.md): where records go. `uplink.sinks`
// lists several sinks at once (the cloud's HTTP ingest, a folder, an MQTT broker, a Particle product:
// drivers/particle/options.ts, docs/particle.md; the MES, OpenHTF files, TofuPilot: record-sinks.ts); the older keys
// `uplink.url` / `apiKey` / `hmacSecret` (or `sink: "file"` with `dir`) still describe one sink.
// Both forms at once are refused: which one would win is not something to guess.
//
// Each sink has an id, stable from the configuration: its `name`, or else its kind for the first
// sink of that kind and `<kind>-<n>` for the n-th (`http`, `mqtt`, `mqtt-2`). The outbox keeps each
// sink's cursor under that id (station/store/outbox.ts), so renaming a sink, or reordering two of
// one kind without names, starts a new cursor for it.
import { z } from 'zod';
import { mqttConnectionShape, sparkplugIdSchema, topicLevelSchema } from '../../drivers/mqtt/options.js';
import { particleSinkSchema, type ParticleSinkConfig } from '../../drivers/particle/options.js';
import { mesSinkSchema, openhtfSinkSchema, sinkName, tofupilotSinkSchema } from './record-sinks.js';

export const httpSinkSchema = z.strictObject({
  kind: z.literal('http'),
  name: sinkName,
  url: z.url({ protocol: /^https?$/ }),
  /** A secret: never logged, shown or exported. */
  apiKey: z.string().min(1),
  /** A secret: signs each body (X-Signature). */
  hmacSecret: z.string().min(1),
});

export const fileSinkSchema = z.strictObject({
  kind: z.literal('file'),
  name: sinkName,
  /** The folder (relative to the config file). */
  dir: z.string().min(1),
});

export const mqttSinkSchema = z
  .strictObject({
    kind: z.literal('mqtt'),
    name: sinkName,
    ...mqttConnectionShape,
    /** The ISA-95 levels of the topics: `<topicPrefix>/<enterprise>/<site>/<area>/<line>/<station id>/...`. */
    topicPrefix: topicLevelSchema,
    enterprise: topicLevelSchema,
    site: topicLevelSchema,
    area: topicLevelSchema,
    line: topicLevelSchema,
    /** The QoS of unit results: 1 (at least once, the default) or 2. QoS 0 has no acknowledgement,
     *  so the station could never know a record arrived: not offered. */
    qos: z.union([z.literal(1), z.literal(2)]).default(1),
    /** Sparkplug B 3.0 beside the namespace, on a connection of its own (jobs/uplink/sparkplug-node.ts). */
    sparkplug: z.boolean().optional(),
    /** The Sparkplug Group ID; default `<enterprise>-<site>-<area>-<line>`. */
    sparkplugGroupId: sparkplugIdSchema.optional(),
  })
  .refine((s) => s.sparkplugGroupId === undefined || s.sparkplug === true, { path: ['sparkplugGroupId'], message: 'is used only with "sparkplug": true' })
  .refine((s) => s.password === undefined || s.username !== undefined, {
    path: ['password'],
    message: 'a password needs a username',
  });

export const sinkConfigSchema = z.discriminatedUnion('kind', [httpSinkSchema, fileSinkSchema, mqttSinkSchema, particleSinkSchema, mesSinkSchema, openhtfSinkSchema, tofupilotSinkSchema]);
export type SinkConfig = z.output<typeof sinkConfigSchema>;
export type HttpSinkConfig = z.output<typeof httpSinkSchema>;
export type MqttSinkConfig = z.output<typeof mqttSinkSchema>;

/** The older single-sink keys: still accepted, as one sink. */
export const LEGACY_UPLINK_KEYS = ['sink', 'url', 'apiKey', 'hmacSecret', 'dir'] as const;

export const uplinkSchema = z
  .strictObject({
    /** Several sinks at once, each with its own cursor over the outbox, backoff, health and dead letters. */
    sinks: z.array(sinkConfigSchema).min(1).max(8).optional(),
    /** The older form, one sink: http POSTs batches to `url`; file writes NDJSON batches in `dir`;
     *  default: http when url is set. Not together with `sinks`. */
    sink: z.enum(['http', 'file']).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** A secret: never logged, shown or exported. */
    apiKey: z.string().min(1).optional(),
    /** A secret: signs each body (X-Signature). */
    hmacSecret: z.string().min(1).optional(),
    /** The folder for sink "file" (relative to this config). */
    dir: z.string().min(1).optional(),
    batchMaxRecords: z.number().int().min(1).max(10_000).default(2000),
    /** A partial batch goes once its oldest record has waited this long (HTTP and file sinks; an
     *  MQTT sink publishes each record at once). */
    batchMaxAgeMs: z.number().int().min(0).max(3_600_000).default(1000),
    /** Batches in flight at once, per sink. */
    concurrency: z.number().int().min(1).max(16).default(2),
    /** The wait for an HTTP answer, or for the broker's acknowledgements of a batch. */
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
    backoffInitialMs: z.number().int().min(10).max(600_000).default(1000),
    backoffMaxMs: z.number().int().min(10).max(3_600_000).default(60_000),
    /** The uplink is a status for operators until records wait too long: the uplink.backlog alarm
     *  once the oldest queued record is this old (ms), or (when set) this many records queue. */
    alarmAfterMs: z
      .number()
      .int()
      .min(1000)
      .max(7 * 86_400_000)
      .default(900_000),
    alarmBacklog: z.number().int().min(1).max(100_000_000).optional(),
  })
  .superRefine((u, ctx) => {
    if (u.backoffInitialMs > u.backoffMaxMs) ctx.addIssue({ code: 'custom', path: ['backoffInitialMs'], message: `must not be above backoffMaxMs (${u.backoffMaxMs})` });
    if (u.sinks === undefined) return;
    const legacy = LEGACY_UPLINK_KEYS.filter((k) => u[k] !== undefined);
    if (legacy.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['sinks'],
        message: `cannot be used together with ${legacy.map((k) => `uplink.${k}`).join(', ')}: describe that sink as an entry of uplink.sinks (for example {"kind": "http", "url": ..., "apiKey": ..., "hmacSecret": ...}) and remove the older keys`,
      });
    }
    const ids = new Map<string, number>();
    const clients = new Map<string, number>();
    // A station's units join one Particle product: identify checks them against it.
    const particles = u.sinks.flatMap((s, i) => (s.kind === 'particle' ? [i] : []));
    if (particles.length > 1)
      ctx.addIssue({ code: 'custom', path: ['sinks', particles[1] as number], message: `a station's units join one Particle product: sinks[${particles[0]}] is already of kind "particle"` });
    withSinkIds(u.sinks).forEach((s, i) => {
      const other = ids.get(s.id);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `the sink id "${s.id}" is also sinks[${other}]'s: give each sink its own name` });
      ids.set(s.id, i);
      if (s.kind === 'mqtt' && s.clientId !== undefined) {
        const same = clients.get(`${s.url} ${s.clientId}`);
        if (same !== undefined) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'clientId'], message: `is also sinks[${same}]'s on the same broker: the two would take each other's session over` });
        clients.set(`${s.url} ${s.clientId}`, i);
      }
    });
  });

export type UplinkConfig = z.output<typeof uplinkSchema>;

/** A sink as the uplink builds it: its configuration and its id. */
export type IdentifiedSink = SinkConfig & { id: string };

/** Gives each sink its id: its name, else its kind (first of that kind) or `<kind>-<n>`. */
export function withSinkIds(sinks: readonly SinkConfig[]): IdentifiedSink[] {
  const seen = new Map<string, number>();
  return sinks.map((s) => {
    const n = (seen.get(s.kind) ?? 0) + 1;
    seen.set(s.kind, n);
    return { ...s, id: s.name ?? (n === 1 ? s.kind : `${s.kind}-${n}`) };
  });
}

/**
 * The sinks the configuration describes, in either form, with their ids; `missing` names what the
 * older form lacks (`uplink.apiKey not set`), null when nothing is missing. An empty list with no
 * `missing`: no uplink is configured at all.
 */
export function configuredSinks(u: UplinkConfig): { sinks: IdentifiedSink[]; missing: string | null } {
  if (u.sinks) return { sinks: withSinkIds(u.sinks), missing: null };
  const kind = u.sink ?? (u.url ? 'http' : u.dir ? 'file' : null);
  if (kind === null) return { sinks: [], missing: null };
  if (kind === 'file') return u.dir ? { sinks: [{ kind: 'file', id: 'file', dir: u.dir }], missing: null } : { sinks: [], missing: 'uplink.dir is not set' };
  const missing = (['url', 'apiKey', 'hmacSecret'] as const).filter((k) => !u[k]);
  if (missing.length > 0) return { sinks: [], missing: `${missing.map((k) => `uplink.${k}`).join(', ')} not set` };
  return { sinks: [{ kind: 'http', id: 'http', url: u.url as string, apiKey: u.apiKey as string, hmacSecret: u.hmacSecret as string }], missing: null };
}

/** True when the configuration names any sink (in either form), complete or not. */
export function uplinkDescribed(u: UplinkConfig): boolean {
  return u.sinks !== undefined || LEGACY_UPLINK_KEYS.some((k) => u[k] !== undefined);
}

/**
 * The cloud's URL and credentials (factory tokens come from the same cloud): the first HTTP sink
 * of `uplink.sinks`, or the older `uplink.url` / `apiKey` / `hmacSecret`. Null, with the keys that
 * are missing in words, when there is none.
 */
export function cloudCredentials(u: UplinkConfig): { url: string; apiKey: string; hmacSecret: string } | { missing: string[] } {
  if (u.sinks) {
    const http = u.sinks.find((s): s is HttpSinkConfig => s.kind === 'http');
    return http ? { url: http.url, apiKey: http.apiKey, hmacSecret: http.hmacSecret } : { missing: ['uplink.sinks: an entry of kind "http"'] };
  }
  const missing = (['url', 'apiKey', 'hmacSecret'] as const).filter((k) => !u[k]).map((k) => `uplink.${k}`);
  if (missing.length > 0) return { missing };
  return { url: u.url as string, apiKey: u.apiKey as string, hmacSecret: u.hmacSecret as string };
}

/** The uplink's Particle sink, when records go to a Particle product (docs/particle.md); null otherwise. */
export function particleSinkOf(u: UplinkConfig): ParticleSinkConfig | null {
  return u.sinks?.find((s): s is ParticleSinkConfig => s.kind === 'particle') ?? null;
}
