// A simulated instrument on a real transport, for trying a station against it:
//
//   node dist/drivers/instrument/simulator/cli.js --model keysight-34461a --port 5025
//   node dist/drivers/instrument/simulator/cli.js --model rigol-dp832 --serial /dev/pts/7 --baud 9600
//
// Prints one line saying where it listens, then answers until SIGINT or SIGTERM. Nothing is wired
// to it: a DMM reads 0 A, 0 V and an open circuit (an overload); a supply has no load.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isModelName, MODEL_NAMES } from '../models.js';
import { createSimulatedInstrument } from './devices.js';
import { serveSerial, serveTcp } from './serve.js';

const USAGE = `usage: node dist/drivers/instrument/simulator/cli.js --model <${MODEL_NAMES.join('|')}>
         (--port <tcp port, 0 for any> [--host 127.0.0.1] | --serial <path> [--baud 9600])
         [--terminator LF|CR|CRLF] [--latency-ms 0] [--reading-ms 20] [--seed N] [--serial-number TEXT]
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      serial: { type: 'string' },
      baud: { type: 'string', default: '9600' },
      terminator: { type: 'string', default: 'LF' },
      'latency-ms': { type: 'string', default: '0' },
      'reading-ms': { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      'serial-number': { type: 'string' },
    },
  });
  const terminator = values.terminator?.toUpperCase();
  if (!values.model || !isModelName(values.model) || (values.port === undefined) === (values.serial === undefined) || !['LF', 'CR', 'CRLF'].includes(terminator ?? '')) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const device = createSimulatedInstrument(values.model, { seed: Number(values.seed), serial: values['serial-number'], readingMs: Number(values['reading-ms']) });
  const opts = { terminator: terminator as 'LF' | 'CR' | 'CRLF', latencyMs: Number(values['latency-ms']) };
  let close: () => Promise<void>;
  if (values.port !== undefined) {
    const served = await serveTcp(device, { ...opts, host: values.host, port: Number(values.port) });
    process.stdout.write(`simulated ${values.model} (${device.identity.serial}) listening on ${served.host}:${served.port}\n`);
    close = served.close;
  } else {
    const served = await serveSerial(device, { ...opts, path: values.serial as string, baudRate: Number(values.baud) });
    process.stdout.write(`simulated ${values.model} (${device.identity.serial}) on ${served.path}\n`);
    close = served.close;
  }
  const stop = (): void => void close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
