// What a connection to an MQTT broker needs (drivers/mqtt/connection.ts): the broker's URL, the
// login, TLS files, the session. The station's configuration composes this shape into its MQTT
// sink (station/config/uplink.ts); the driver owns it.
import { z } from 'zod';

/** A secret: never logged, shown or exported. */
const secret = z.string().min(1).max(1024);

export const mqttConnectionShape = {
  /** mqtt://host:1883 or mqtts://host:8883 (TLS). The login goes in username/password, never in the URL. */
  url: z
    .url({ protocol: /^mqtts?$/, message: 'must be an mqtt:// or mqtts:// URL' })
    .refine((u) => new URL(u).username === '' && new URL(u).password === '', 'must not carry a login: give username and password as their own keys (the URL is shown in health and logs)'),
  username: z.string().min(1).max(256).optional(),
  /** A secret: never logged, shown or exported. */
  password: secret.optional(),
  /** PEM files, relative to the config file: the CA that signed the broker's certificate, and the
   *  station's client certificate and key for brokers that ask for one. */
  tls: z
    .strictObject({
      ca: z.string().min(1).optional(),
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
    })
    .refine((t) => (t.cert === undefined) === (t.key === undefined), 'give both cert and key (a client certificate), or neither')
    .optional(),
  /** The MQTT client identifier; default `station-<station id>`. Fixed, so the broker resumes the session. */
  clientId: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits or _ . : -')
    .optional(),
  /** How long the broker keeps the station's session after it disconnects (MQTT 5 Session Expiry Interval). */
  sessionExpirySec: z.number().int().min(0).max(4_294_967_295).default(86_400),
  keepaliveSec: z.number().int().min(5).max(3600).default(30),
  /** The wait for the broker's CONNACK after the TCP (and TLS) connection is up. */
  connectTimeoutMs: z.number().int().min(200).max(120_000).default(10_000),
};

export const mqttConnectionSchema = z.strictObject(mqttConnectionShape);
export type MqttConnectionConfig = z.output<typeof mqttConnectionSchema>;

/** A level of an MQTT topic the station builds: no separator, no wildcard, no NUL. */
export const topicLevelSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^/#+\u0000]+$/, 'must not contain "/", "#", "+" or NUL (it is one level of an MQTT topic)');

/** A Sparkplug B Group ID (`sparkplugGroupId`): UTF-8 without "+", "/" or "#" (drivers/mqtt/sparkplug.ts). */
export const sparkplugIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^/#+\u0000]+$/, 'must not contain "+", "/", "#" or NUL (a Sparkplug Group ID is one topic level)');
