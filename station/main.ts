// Entry point: `blinkup-station [--config FILE] [--check-config]` (the package's bin, station/bin.ts),
// `npm start [-- --config FILE]`, or `node dist/station/main.js` under a service manager. Loads and
// validates the configuration (nothing starts on an invalid one: exit 2), starts the station, and
// shuts it down cleanly on SIGINT / SIGTERM (another signal a second or more later exits at once).
// Under systemd (Type=notify) it tells the service manager READY=1 once the station serves,
// WATCHDOG=1 from the event loop, and STOPPING=1.
import { parseArgs } from 'node:util';
import { SystemdNotify } from '../lib/sd-notify.js';
import { StopSignals } from '../lib/stop-signals.js';
import type { StationConfig } from './config/load.js';
import { VERSION } from './paths.js';

const USAGE = `usage: blinkup-station [--config FILE] [--check-config]
       blinkup-station --version | --help

Runs a BlinkUp manufacturing station until SIGTERM or SIGINT (Ctrl-C).

  --config FILE    the station's configuration (JSON); without it $STATION_CONFIG,
                   else ./station.config.json
  --check-config   load and check the configuration as a start would, print every
                   problem (exit 2) or "ok" (exit 0), and start nothing
  --version        print the version
  --help           print this

Environment: STATION_CONFIG, STATION_PORT, STATION_DATA_DIR, STATION_TOKEN_KEY,
STATION_ENGINEER_PASSWORD, STATION_OPERATOR_PIN (docs/configuration.md); under
systemd NOTIFY_SOCKET and WATCHDOG_USEC (docs/service.md).
`;

interface Command {
  checkOnly: boolean;
  /** For loadConfigFile: the --config given, if any. */
  argv: string[];
}

/** The command line, or an exit: --help and --version print and exit 0, a bad one prints the usage and exits 2. */
function parseCommandLine(args: string[]): Command {
  let values: { config?: string; 'check-config'?: boolean; version?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { config: { type: 'string' }, 'check-config': { type: 'boolean' }, version: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`blinkup-station: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`blinkup-station ${VERSION}\n`);
    process.exit(0);
  }
  return { checkOnly: values['check-config'] === true, argv: values.config === undefined ? [] : [`--config=${values.config}`] };
}

/** The configuration, or an exit 2 with every problem. The loader (and the schemas, the sequence
 *  compiler) is imported here, so that --version and --help answer without it. */
async function loadConfigOrExit(argv: string[]): Promise<StationConfig> {
  const { ConfigError, loadConfigFile } = await import('./config/load.js');
  try {
    return loadConfigFile({ argv, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`blinkup-station: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const command = parseCommandLine(process.argv.slice(2));
  const cfg = await loadConfigOrExit(command.argv);
  if (command.checkOnly) {
    const sequence = cfg.compiledSequence;
    process.stdout.write(
      `ok: ${cfg.configPath ?? 'configuration'}: station ${cfg.station.id}, ${cfg.slots.length} slot(s), sequence ${sequence.def.name} (${sequence.steps.length} steps, hash ${sequence.hash.slice(0, 12)}), data folder ${cfg.storage.dataDir}\n`,
    );
    for (const warning of cfg.warnings) process.stdout.write(`warning: ${warning}\n`);
    process.exit(0);
  }

  // The station's modules (the server, the drivers, the store) only when a station is to run:
  // --check-config answers without loading them.
  const [{ Station }, { DataDirLockedError }, { createLogger }] = await Promise.all([import('./station.js'), import('./store/lock.js'), import('./log.js')]);
  const logger = createLogger({ level: cfg.log.level });
  const log = logger.log.child({ part: 'station' });
  // Before anything slow: the watchdog pings from the event loop while the station starts too.
  const notify = SystemdNotify.fromEnv(process.env, { warn: (message) => log.warn(message) });
  notify?.startWatchdog();
  const station = new Station(cfg, logger.log);

  const stopSignals = new StopSignals(); // a repeat within 1 s is the same stop
  const shutdown = (signal: string): void => {
    const meaning = stopSignals.take();
    if (meaning === 'same-stop') {
      log.info({ signal }, 'the same stop again (from the process group and from npm): already stopping');
      return;
    }
    if (meaning === 'exit-now') {
      log.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(130);
    }
    notify?.stopping(`stopping on ${signal}: runs in flight interrupted`);
    log.info({ signal }, 'stopping: no new DUTs, runs in flight interrupted');
    const hardStop = setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      logger.flush();
      process.exit(1);
    }, station.stopDeadlineMs + 2000); // every part's own stop cap, one after the other, and a margin
    hardStop.unref();
    station.stop().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // The daemon never dies of an error nothing caught: the station fails closed instead (no new
  // DUTs, a critical alarm, health answering 503 with the reason) and keeps answering, so people
  // and supervisors see why (station/fault-latch.ts).
  process.on('uncaughtException', (err) => station.faults.uncaught(err, 'exception'));
  process.on('unhandledRejection', (reason) => station.faults.uncaught(reason, 'rejection'));

  try {
    const { url } = await station.start();
    // A loopback address is reachable from this machine only: say so, a line-side screen cannot use it.
    const loopbackOnly = /^(127\.|::1$|localhost$)/.test(cfg.server.host);
    process.stderr.write(`BlinkUp station ${cfg.station.id} ready: ${url} (${cfg.slots.length} slots)${loopbackOnly ? '; on this machine only: set server.host for a screen on another one' : ''}\n`);
    notify?.ready(`ready: ${url} (${cfg.slots.length} slots)`);
    station.fullyStarted.then(
      () => {
        process.stderr.write(`BlinkUp station ${cfg.station.id} fully started (label decoder checked)\n`);
        notify?.status(`serving ${url} (${cfg.slots.length} slots, label decoder checked)`);
      },
      (err: unknown) => {
        log.fatal({ err }, `station failed to start: ${(err as Error).message}`);
        notify?.stopping(`failed to start: ${(err as Error).message}`);
        void station.stop().finally(() => {
          logger.flush();
          process.exit(1);
        });
      },
    );
  } catch (err) {
    if (err instanceof DataDirLockedError) log.fatal(err.message);
    else log.fatal({ err }, `station failed to start: ${(err as Error).message}`);
    notify?.stopping(`failed to start: ${(err as Error).message}`);
    await station.stop().catch(() => undefined);
    logger.flush();
    process.exit(1);
  }
}

void main();
