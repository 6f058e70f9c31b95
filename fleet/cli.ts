// `npm run fleet`: the fleet view (docs/fleet.md), a read-only page of every station publishing
// under the broker's unified namespace.
//   npm run fleet -- --broker mqtt://host:1883 [--prefix uns] [--port 8095] [--host 127.0.0.1]
//     [--ca ca.pem] [--cert c.pem --key k.pem]
// The login comes from the environment: FLEET_MQTT_USERNAME and FLEET_MQTT_PASSWORD (a password
// is never taken on the command line, where `ps` shows it, and never logged).
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { FleetServer } from './server.js';

const USAGE = 'usage: npm run fleet -- --broker mqtt://host:port [--prefix uns] [--port 8095] [--host 127.0.0.1] [--ca FILE] [--cert FILE --key FILE]\n';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      broker: { type: 'string' },
      prefix: { type: 'string', default: 'uns' },
      port: { type: 'string', default: '8095' },
      host: { type: 'string', default: '127.0.0.1' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}

const broker = values.broker;
if (!broker) fail('--broker is required');
let url: URL;
try {
  url = new URL(broker);
} catch {
  fail(`--broker: "${broker}" is not a URL`);
}
if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') fail(`--broker: "${broker}" must be mqtt:// or mqtts://`);
if (url.username || url.password) fail('--broker must not carry a login: set FLEET_MQTT_USERNAME and FLEET_MQTT_PASSWORD');
const prefix = values.prefix as string;
if (!/^[^#+\u0000]+$/.test(prefix) || prefix.startsWith('/') || prefix.endsWith('/') || prefix.includes('//')) fail(`--prefix: "${prefix}" must be one or more topic levels, without wildcards`);
const port = Number(values.port);
if (!/^\d+$/.test(values.port as string) || port > 65535) fail(`--port: "${values.port}" is not a port number`);
if ((values.cert === undefined) !== (values.key === undefined)) fail('give --cert and --key together (a client certificate), or neither');
const file = (f: string | undefined): string | undefined => (f === undefined ? undefined : path.resolve(f));

const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
const server = new FleetServer({
  broker,
  prefix,
  port,
  host: values.host as string,
  username: process.env.FLEET_MQTT_USERNAME || undefined,
  password: process.env.FLEET_MQTT_PASSWORD || undefined,
  tls: values.ca || values.cert ? { ca: file(values.ca), cert: file(values.cert), key: file(values.key) } : undefined,
  log,
});
try {
  await server.start();
} catch (err) {
  process.stderr.write(`cannot start the fleet view: ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`fleet view on ${server.url} (broker ${url.protocol}//${url.host}, topics ${prefix}/#)\n`);
const stop = (): void => {
  server.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
