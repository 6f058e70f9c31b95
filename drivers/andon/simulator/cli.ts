// The andon simulators, for a person to watch (`npm run andon-sim`): a Modbus TCP I/O module with
// the stack light on coils 0-3 (green, amber, red, buzzer) on a real TCP port, and with --serial, an
// LCUS relay board on a serial port (a socat pty's far end). Each prints the light on every change.
//   npm run andon-sim -- [--port 1502] [--host 127.0.0.1] [--serial /tmp/relay-sim]
// Point the station's andon output at it: {"kind": "modbus-tcp", "host": "127.0.0.1", "port": 1502,
// "coils": {"green": 0, "amber": 1, "red": 2, "buzzer": 3}}.
import { parseArgs } from 'node:util';
import { lightLine, ModbusLightSim } from './modbus-sim.js';
import { runSerialRelayOnPort } from './serial-relay-sim.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '1502' }, host: { type: 'string', default: '127.0.0.1' }, serial: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('usage: npm run andon-sim -- [--port 1502] [--host 127.0.0.1] [--serial /dev/pts/N]\n');
    process.exit(2);
  }
  const stamp = (): string => new Date().toISOString().slice(11, 23);
  const modbus = new ModbusLightSim();
  modbus.on('light', (l) => process.stdout.write(`${stamp()} modbus  ${lightLine(l)}\n`));
  const bound = await modbus.listen(port, values.host);
  process.stdout.write(`andon simulator: Modbus TCP on ${values.host}:${bound}, coils green 0, amber 1, red 2, buzzer 3\n`);
  let relay: Awaited<ReturnType<typeof runSerialRelayOnPort>> | null = null;
  if (values.serial) {
    relay = await runSerialRelayOnPort({ path: values.serial });
    relay.sim.on('light', (l) => process.stdout.write(`${stamp()} relay   ${lightLine(l)}\n`));
    relay.sim.on('frame', (f) =>
      process.stdout.write(
        `${stamp()} relay   frame ${f
          .toString('hex')
          .toUpperCase()
          .replace(/(..)(?!$)/g, '$1 ')}\n`,
      ),
    );
    process.stdout.write(`andon simulator: LCUS relay board on ${values.serial} (channels green 1, amber 2, red 3, buzzer 4)\n`);
  }
  const stop = (): void => {
    void Promise.all([modbus.kill(), relay?.close()]).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1]?.endsWith('cli.js') && process.argv[1].includes('andon')) void main();
