// `npm run backup -- DEST [--keep N] [--config FILE | --data DIR]`: a backup of the station's
// database while the station runs (the line does not stop). DEST is a file, or a folder for a
// file named station-<UTC time>.db; with a folder, --keep N keeps only its newest N backups.
//
// `npm run restore -- SRC [--config FILE | --data DIR]`: puts a backup back, with the station
// stopped; the database it replaces is kept as station.db.before-restore-<UTC time>.
//
// The data folder is found as the station finds it: --data DIR, else the configuration's
// storage.dataDir (--config FILE, STATION_CONFIG or ./station.config.json; STATION_DATA_DIR
// overrides it). Exit codes: 0 done, 1 refused or failed (nothing changed, the message says why),
// 2 a wrong command line or configuration. Code in station/store/backup.ts.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile } from './config/load.js';
import { backupDatabase, BackupError, restoreDatabase, type DatabaseSummary } from './store/backup.js';

const USAGE =
  'usage: npm run backup -- DEST [--keep N] [--config FILE | --data DIR]\n' +
  '       npm run restore -- SRC [--config FILE | --data DIR]\n' +
  '  DEST: a file, or a folder (ending in /, or existing) for station-<UTC time>.db in it\n';

function usage(problem: string): never {
  process.stderr.write(`${problem}\n${USAGE}`);
  process.exit(2);
}

function dataDirFrom(values: { data?: string; config?: string }): string {
  if (values.data !== undefined) return path.resolve(values.data);
  try {
    return loadConfigFile({ argv: values.config !== undefined ? ['--config', values.config] : [], env: process.env }).storage.dataDir;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n(give the data folder with --data DIR instead)\n`);
      process.exit(2);
    }
    throw err;
  }
}

function contents(s: DatabaseSummary): string {
  return `schema ${s.schemaVersion}: ${s.devices} devices (${s.blessed} blessed), ${s.runs} runs, ${s.records} cloud records`;
}

function keyNote(s: DatabaseSummary): string {
  if (s.keyIds.length === 0) return '';
  return `  sealed rows (factory tokens, label secrets) need the token key with id ${s.keyIds.join(', ')}: it is not in the backup (docs/backup.md)\n`;
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { config: { type: 'string' }, data: { type: 'string' }, keep: { type: 'string' } },
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (command !== 'backup' && command !== 'restore') usage(`unknown command ${command ?? '(none)'}: backup or restore`);
  if (positionals.length !== 1) usage(command === 'backup' ? 'give one destination (DEST)' : 'give one backup file to restore (SRC)');
  if (values.config !== undefined && values.data !== undefined) usage('give --config or --data, not both');
  const target = positionals[0] as string;
  const dataDir = dataDirFrom(values);

  try {
    if (command === 'backup') {
      let keep: number | null = null;
      if (values.keep !== undefined) {
        keep = Number(values.keep);
        if (!Number.isInteger(keep) || keep < 1) usage(`--keep must be a whole number of backups, 1 or more (not ${values.keep})`);
      }
      const r = await backupDatabase({ dataDir, dest: target, keep });
      process.stdout.write(
        `backed up ${path.join(dataDir, 'station.db')} to ${r.file}${r.replaced ? ' (replacing the older file)' : ''}\n` +
          `  ${(r.bytes / 1048576).toFixed(1)} MB in ${r.ms} ms, online (the station was not stopped), integrity check ok, fsynced\n` +
          `  ${contents(r)}\n` +
          keyNote(r) +
          r.removedOld.map((f) => `  removed the older backup ${f} (--keep ${keep})\n`).join(''),
      );
    } else {
      const r = restoreDatabase({ dataDir, src: target });
      process.stdout.write(
        `restored ${path.resolve(target)} to ${r.dbPath}\n` +
          `  ${contents(r)}${r.schemaVersion < r.newestKnown ? `; the station upgrades it to schema ${r.newestKnown} at its next start` : ''}\n` +
          (r.previous ? `  the database it replaced is kept as ${r.previous} (delete it once you are sure)\n` : '  there was no database before\n') +
          keyNote(r),
      );
    }
  } catch (err) {
    if (err instanceof BackupError) {
      process.stderr.write(`${command}: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

void main();
