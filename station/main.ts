// Entry point: `npm start [-- --config FILE]`. Loads and validates the configuration (nothing
// starts on an invalid one), starts the station, and shuts it down cleanly on SIGINT / SIGTERM.
import { ConfigError, loadConfigFile } from './config/load.js';
import { createLogger } from './log.js';
import { Station } from './station.js';
import { DataDirLockedError } from './store/lock.js';

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = loadConfigFile({ argv: process.argv.slice(2), env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`blinkup-station: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: cfg.log.level });
  const log = logger.log.child({ part: 'station' });
  const station = new Station(cfg, logger.log);

  let signals = 0;
  const shutdown = (signal: string): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      logger.flush();
      process.exit(130);
    }
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

  try {
    const { url } = await station.start();
    // A loopback address is reachable from this machine only: say so, a line-side screen cannot use it.
    const loopbackOnly = /^(127\.|::1$|localhost$)/.test(cfg.server.host);
    process.stderr.write(`BlinkUp station ${cfg.station.id} ready: ${url} (${cfg.slots.length} slots)${loopbackOnly ? '; on this machine only: set server.host for a screen on another one' : ''}\n`);
    station.fullyStarted.then(
      () => process.stderr.write(`BlinkUp station ${cfg.station.id} fully started (label decoder checked)\n`),
      (err: unknown) => {
        log.fatal({ err }, `station failed to start: ${(err as Error).message}`);
        void station.stop().finally(() => {
          logger.flush();
          process.exit(1);
        });
      },
    );
  } catch (err) {
    if (err instanceof DataDirLockedError) log.fatal(err.message);
    else log.fatal({ err }, `station failed to start: ${(err as Error).message}`);
    await station.stop().catch(() => undefined);
    logger.flush();
    process.exit(1);
  }
}

void main();
