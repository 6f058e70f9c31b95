// The serial scanner simulator on a real serial port, driven from the keyboard:
// `node dist/drivers/scanner/simulator/cli.js --port /tmp/scan0-sim [--baud 9600] [--delimiter CR]
// [--prefix P] [--suffix S]`. Each line typed on stdin is sent as one scan; `!garbage`,
// `!truncated [TEXT]`, `!doubled [TEXT]` send a fault, `!bounce TEXT` a scan with a second Enter.
// Point a station's serial scanner at the other end of the pair (a socat pseudo-terminal pair).
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { ScanDelimiter } from '../serial-scanner.js';
import { SCANNER_FAULTS, type ScannerFault } from './scanner-sim.js';
import { runSerialScannerOnPort } from './serial-scanner-sim.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      baud: { type: 'string', default: '9600' },
      delimiter: { type: 'string', default: 'CR' },
      prefix: { type: 'string' },
      suffix: { type: 'string' },
    },
  });
  const delimiter = values.delimiter as ScanDelimiter;
  if (!values.port || !['CR', 'LF', 'CRLF'].includes(delimiter)) {
    process.stderr.write('usage: node dist/drivers/scanner/simulator/cli.js --port /dev/pts/N [--baud 9600] [--delimiter CR|LF|CRLF] [--prefix P] [--suffix S]\n');
    process.exit(2);
  }
  const onPort = await runSerialScannerOnPort({ path: values.port, baudRate: Number(values.baud), delimiter, prefix: values.prefix, suffix: values.suffix });
  process.stderr.write(`simulated serial scanner on ${values.port}: type a scan and Enter; !garbage, !truncated [TEXT], !doubled [TEXT], !bounce TEXT\n`);
  const lines = createInterface({ input: process.stdin });
  let queue = Promise.resolve(); // one command at a time, in the order typed
  lines.on('line', (line) => {
    const m = /^!(\w+)(?: (.*))?$/.exec(line);
    const run = async (): Promise<void> => {
      if (!m) return onPort.sim.scan(line);
      const [, command, text] = m as unknown as [string, string, string | undefined];
      if (command === 'bounce') return onPort.sim.scan(text ?? '', { bounce: 'enter' });
      if ((SCANNER_FAULTS as readonly string[]).includes(command)) return onPort.sim.fault(command as ScannerFault, text);
      process.stderr.write(`unknown command !${command}\n`);
    };
    queue = queue.then(run).catch((err: Error) => void process.stderr.write(`${err.message}\n`));
  });
  const stop = (): void => void queue.then(() => onPort.close()).then(() => process.exit(0));
  lines.on('close', stop);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1]?.endsWith('cli.js') && process.argv[1].includes('scanner')) void main();
