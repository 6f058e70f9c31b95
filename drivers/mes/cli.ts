// `npm run mes`: the reference MES as its own process (docs/mes.md).
//   npm run mes -- [--port 8092] [--host 127.0.0.1] [--routes routes.json] [--db ./mes-data/mes.db]
//     [--garbage] [--status 503] [--delay-ms 5000] [--control]
// MES_API_KEY, when set, is the key stations must send (mes.apiKey). --garbage, --status and
// --delay-ms make it misbehave from the start; with --control, POST /_control/behaviour changes
// that while it runs, POST /_control/routes replaces the route table, GET /_control/queries lists
// the route queries received.
import { parseArgs } from 'node:util';
import { ReferenceMes, RouteTableError } from './reference-mes.js';

const USAGE = 'usage: npm run mes -- [--port N] [--host H] [--routes FILE] [--db FILE] [--garbage] [--status N] [--delay-ms N] [--control]\n';

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string', default: '8092' },
      host: { type: 'string', default: '127.0.0.1' },
      routes: { type: 'string' },
      db: { type: 'string', default: './mes-data/mes.db' },
      garbage: { type: 'boolean', default: false },
      status: { type: 'string' },
      'delay-ms': { type: 'string' },
      control: { type: 'boolean', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

function wholeNumber(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    process.stderr.write(`--${flag}: "${text}" is not a whole number from ${min} to ${max}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const port = wholeNumber('port', values.port, 0, 65535) as number;
const status = wholeNumber('status', values.status, 100, 599);
const delayMs = wholeNumber('delay-ms', values['delay-ms'], 0, 600_000);
const mes = new ReferenceMes({
  dbPath: values.db as string,
  ...(values.routes ? { routesFile: values.routes } : {}),
  host: values.host as string,
  port,
  ...(process.env.MES_API_KEY ? { apiKey: process.env.MES_API_KEY } : {}),
  control: values.control as boolean,
  behaviour: { garbage: values.garbage as boolean, ...(status !== undefined ? { status } : {}), ...(delayMs !== undefined ? { delayMs } : {}) },
});
try {
  await mes.start();
} catch (err) {
  process.stderr.write(`${err instanceof RouteTableError ? err.message : `cannot start: ${(err as Error).message}`}\n`);
  process.exit(1);
}
process.stdout.write(`mes listening on ${mes.url} (results in ${values.db}${values.routes ? `, routes from ${values.routes}` : ', every unit allowed'})\n`);
const stop = (): void => {
  mes.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
