// `npm run ingest`: the reference ingest as its own process (docs/cloud-api.md).
//   INGEST_API_KEY=... INGEST_HMAC_SECRET=... npm run ingest -- [--port 8091] [--host 127.0.0.1]
//     [--db ./ingest-data/ingest.db] [--control] [--claim-codes]
// With --control, /_control/fault, /_control/clear, /_control/flap and /_control/stats take faults
// on demand (same bearer key): see IngestFault in ingest.ts. With --claim-codes, each accepted blessed
// record gets a claim code in the answer (docs/cloud-api.md#claim-codes).
import { parseArgs } from 'node:util';
import { IngestServer } from './ingest.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8091' },
    host: { type: 'string', default: '127.0.0.1' },
    db: { type: 'string', default: './ingest-data/ingest.db' },
    control: { type: 'boolean', default: false },
    'claim-codes': { type: 'boolean', default: false },
  },
});
const apiKey = process.env.INGEST_API_KEY;
const hmacSecret = process.env.INGEST_HMAC_SECRET;
if (!apiKey || !hmacSecret) {
  process.stderr.write("Set INGEST_API_KEY and INGEST_HMAC_SECRET (the station's uplink.apiKey and uplink.hmacSecret).\n");
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`--port: "${values.port}" is not a port number\n`);
  process.exit(2);
}
const ingest = new IngestServer({
  dbPath: values.db as string,
  apiKey,
  hmacSecret,
  host: values.host as string,
  port,
  control: values.control as boolean,
  claimCodes: values['claim-codes'] as boolean,
});
await ingest.start();
process.stdout.write(`ingest listening on ${ingest.url} (records in ${values.db})\n`);
const stop = (): void => {
  ingest.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
