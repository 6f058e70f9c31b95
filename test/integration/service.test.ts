// The station as a service: SIGTERM to the process `npm start` started reaches the daemon (it stops
// cleanly: runs in flight interrupted, the lock released, no orphan left); the `blinkup-station`
// command's flags; the systemd notify protocol against a real AF_UNIX datagram socket (READY=1,
// WATCHDOG=1, STOPPING=1 in that order); `systemd-analyze verify` on deploy/blinkup-station.service.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import { PROJECT_ROOT, VERSION } from '../../station/paths.js';
import { Station } from '../../station/station.js';
import { coreConfig } from '../support/configs.js';
import { Daemon, TEST_ENGINEER_PASSWORD, TEST_OPERATOR_PIN } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const BIN = path.join(PROJECT_ROOT, 'dist/station/bin.js');

interface Health {
  slots: { slot: number; state: string; runId: string | null }[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let dir: string;
/** Daemon pids a test learned of (from the lock file): killed at the end if a test failed before they exited. */
const daemonPids = new Set<number>();
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'station-service-'));
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const pid of daemonPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `npm start` from the project root with the shipped configuration, as a newcomer runs it (port
 *  and data folder from the environment), up to its ready line; the daemon's pid from its lock. */
async function startNpm(dataDir: string, opts: { ownProcessGroup?: boolean } = {}) {
  const npm = spawn('npm', ['start'], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, STATION_PORT: '0', STATION_DATA_DIR: dataDir, STATION_ENGINEER_PASSWORD: TEST_ENGINEER_PASSWORD, STATION_OPERATOR_PIN: TEST_OPERATOR_PIN },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownProcessGroup === true, // a process group of its own, as a terminal gives a command
  });
  children.push(npm);
  const run = { npm, out: '', err: '', exit: null as number | string | null, url: '', daemonPid: 0, lock: path.join(dataDir, 'station.lock') };
  npm.stdout.on('data', (d: Buffer) => (run.out += d.toString()));
  npm.stderr.on('data', (d: Buffer) => (run.err += d.toString()));
  npm.once('exit', (code, signal) => (run.exit = code ?? signal));
  const m = await waitFor(
    'npm start to print the ready line',
    () => {
      if (run.exit !== null) throw new Error(`npm start exited ${run.exit}: ${run.err}${run.out.slice(-2000)}`);
      return /ready: (http:\/\/\S+)\//.exec(run.err);
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  run.url = m[1] as string;
  run.daemonPid = Number.parseInt(readFileSync(run.lock, 'utf8'), 10);
  daemonPids.add(run.daemonPid);
  expect(run.daemonPid).not.toBe(npm.pid);
  return run;
}

/** The daemon under npm has stopped as a clean stop does: gone, its lock released, no run left open, one stop logged. */
async function expectCleanStop(run: Awaited<ReturnType<typeof startNpm>>, dataDir: string, signal: string): Promise<void> {
  await waitFor('the daemon under npm to exit', () => !alive(run.daemonPid), { timeoutMs: 40_000 });
  await waitFor('npm to exit', () => run.exit !== null, { timeoutMs: 10_000 });
  expect(existsSync(run.lock), 'the data folder lock is released').toBe(false);
  // The daemon heard the signal itself (it was not killed by its parent going away) and stopped once.
  expect(run.out).toMatch(new RegExp(`"signal":"${signal}".*"msg":"stopping: no new DUTs, runs in flight interrupted"`));
  expect(run.out).not.toMatch(/second signal: exiting now/);
  expect(run.out).toMatch(/"msg":"station stopped"/);
  const db = new Database(path.join(dataDir, 'station.db'), { readonly: true });
  try {
    expect(db.prepare(`SELECT count(*) AS n FROM runs WHERE status = 'running'`).get()).toEqual({ n: 0 });
  } finally {
    db.close();
  }
}

describe('npm start', () => {
  it('passes SIGTERM to the daemon: runs in flight interrupted, the lock released, no orphan', async () => {
    const dataDir = path.join(dir, 'npm-start');
    const run = await startNpm(dataDir);
    // Wait for units under test, so that SIGTERM finds runs in flight.
    const testing = await waitFor(
      'two simulated nests testing',
      async () => {
        const h = (await (await fetch(`${run.url}/api/health`)).json()) as Health;
        const open = h.slots.filter((s) => s.state === 'testing' && s.runId !== null);
        return open.length >= 2 ? open : null;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );

    run.npm.kill('SIGTERM'); // the process `npm start` started, as a supervisor would
    await expectCleanStop(run, dataDir, 'SIGTERM');
    const db = new Database(path.join(dataDir, 'station.db'), { readonly: true });
    try {
      const statuses = testing.map((s) => (db.prepare('SELECT status FROM runs WHERE run_id = ?').get(s.runId) as { status: string }).status);
      // A run may have reached its verdict in the moment before the signal; the others were interrupted by the stop.
      expect(
        statuses.every((s) => ['interrupted', 'blessed', 'failed'].includes(s)),
        statuses.join(', '),
      ).toBe(true);
      expect(statuses).toContain('interrupted');
    } finally {
      db.close();
    }
  });

  it('stops cleanly when the whole process group gets the signal: Ctrl-C (SIGINT), or SIGTERM to the group', async () => {
    const ctrlC = path.join(dir, 'npm-start-sigint');
    const first = await startNpm(ctrlC, { ownProcessGroup: true });
    process.kill(-(first.npm.pid as number), 'SIGINT'); // as a terminal's Ctrl-C: every process of the group
    await expectCleanStop(first, ctrlC, 'SIGINT');

    const groupTerm = path.join(dir, 'npm-start-group-sigterm');
    const second = await startNpm(groupTerm, { ownProcessGroup: true });
    process.kill(-(second.npm.pid as number), 'SIGTERM'); // as `kill -- -PGID`, timeout(1), a unit starting npm
    // The daemon hears it from the sender and from npm, unless the kernel merged the two while the
    // first was pending: either way one clean stop, never "second signal: exiting now".
    await expectCleanStop(second, groupTerm, 'SIGTERM');
  });
});

describe('the blinkup-station command', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });

  it('is the package bin: `npm exec blinkup-station -- --version` prints the version', () => {
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['blinkup-station']).toBe('dist/station/bin.js');
    expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const r = spawnSync('npm', ['exec', '--', 'blinkup-station', '--version'], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`blinkup-station ${VERSION}\n`);
  });

  it('--help prints the usage and exits 0; an unknown flag prints it and exits 2', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: blinkup-station \[--config FILE\] \[--check-config\]/);
    expect(help.stdout).toMatch(/--check-config/);
    const bad = run(['--confg', 'x.json']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--confg'/);
    expect(bad.stderr).toMatch(/usage: blinkup-station/);
    const missing = run(['--config']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--config/);
  });

  it('--check-config: ok and exit 0 for a good configuration, starting nothing', () => {
    const dataDir = path.join(dir, 'check-good-data');
    const file = Daemon.writeConfig(dir, { ...coreConfig(), server: { host: '127.0.0.1', port: 0 }, storage: { dataDir } }, 'good.json');
    const r = run(['--check-config', '--config', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: station line1-station1, 4 slot\\(s\\), sequence \\S+ \\(\\d+ steps, hash [0-9a-f]{12}\\)`));
    expect(existsSync(dataDir), 'no station started: no data folder made').toBe(false);
    // The environment overrides are checked as a start would take them.
    const badPort = run(['--check-config', `--config=${file}`], { STATION_PORT: '99999' });
    expect(badPort.status).toBe(2);
    expect(badPort.stderr).toMatch(/STATION_PORT: "99999" is not a port number/);
  });

  it('--check-config: every problem with its key path and exit 2 for a bad one', () => {
    const cfg = coreConfig();
    const file = Daemon.writeConfig(dir, { ...cfg, station: { id: 'has spaces' }, server: { port: 70000 }, storage: { dataDir: path.join(dir, 'check-bad-data') } }, 'bad.json');
    const r = run(['--check-config', '--config', file]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.json is invalid:/);
    expect(r.stderr).toMatch(/station\.id: must be 1-64 letters/);
    expect(r.stderr).toMatch(/server\.port: .*65535/);
    const absent = run(['--check-config', '--config', path.join(dir, 'nope.json')]);
    expect(absent.status).toBe(2);
    expect(absent.stderr).toMatch(/nope\.json is invalid:\n\s+- cannot read the file: ENOENT/);
  });
});

describe('systemd notify protocol', () => {
  interface UnixDgramSocket {
    on(event: 'message', listener: (msg: Buffer) => void): void;
    on(event: 'error', listener: (err: Error) => void): void;
    bind(path: string): void;
    close(): void;
  }
  const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };

  it('sends READY=1 when ready, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM, in that order', async () => {
    // The service manager's side: an AF_UNIX datagram socket the test binds, as systemd's /run/systemd/notify.
    const socketPath = path.join(dir, 'notify.sock');
    const received: string[] = [];
    const listener = unixDgram.createSocket('unix_dgram');
    listener.on('message', (msg) => received.push(msg.toString()));
    const errors: Error[] = [];
    listener.on('error', (e) => errors.push(e));
    listener.bind(socketPath);
    expect(errors).toEqual([]);
    try {
      const config = Daemon.writeConfig(dir, { ...coreConfig(), server: { host: '127.0.0.1', port: 0 }, storage: { dataDir: path.join(dir, 'notify-data') } }, 'notify.json');
      const daemon = new Daemon(config, { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '400000' });
      await daemon.start();
      try {
        // waitFor takes 0 as an answer: probe for the 1-based position, undefined until the message is there.
        const ready = await waitFor('READY=1', () => received.findIndex((m) => m.split('\n').includes('READY=1')) + 1 || undefined);
        expect(received[ready - 1]).toMatch(/^READY=1\nSTATUS=ready: http:\/\/127\.0\.0\.1:\d+\/ \(4 slots\)$/);
        // Pings every 200 ms from the event loop: several after READY.
        await waitFor('two watchdog pings after READY=1', () => received.slice(ready).filter((m) => m === 'WATCHDOG=1').length >= 2, { timeoutMs: 10_000 });
      } finally {
        expect(await daemon.terminate()).toBe(0);
      }
      await waitFor('STOPPING=1', () => received.some((m) => m.startsWith('STOPPING=1')));
      const kinds = received.map((m) => (m.split('\n')[0] as string).split('=')[0]);
      const firstReady = kinds.indexOf('READY');
      const stopping = kinds.indexOf('STOPPING');
      expect(firstReady).toBeGreaterThanOrEqual(0);
      expect(kinds.slice(firstReady + 1, stopping)).toContain('WATCHDOG');
      expect(stopping).toBeGreaterThan(firstReady);
      expect(kinds.slice(stopping + 1), 'no watchdog ping after STOPPING=1').not.toContain('WATCHDOG');
      expect(received[stopping]).toMatch(/^STOPPING=1\nSTATUS=stopping on SIGTERM/);
      expect(kinds.filter((k) => k === 'READY')).toHaveLength(1);
    } finally {
      listener.close();
    }
  });

  it('a notify socket that is gone costs one warning, not the station', async () => {
    const gone = path.join(dir, 'no-such.sock');
    const config = Daemon.writeConfig(dir, { ...coreConfig(), server: { host: '127.0.0.1', port: 0 }, storage: { dataDir: path.join(dir, 'notify-gone') } }, 'gone.json');
    const daemon = new Daemon(config, { NOTIFY_SOCKET: gone, WATCHDOG_USEC: '200000' });
    await daemon.start();
    try {
      await waitFor('the warning', () => /notifying the service manager at .*no-such\.sock failed: send: ENOENT/.test(daemon.stdout));
      const health = await fetch(`${daemon.url}/api/health`);
      expect(health.status).toBe(200);
    } finally {
      expect(await daemon.terminate()).toBe(0);
    }
    expect(daemon.stdout.match(/notifying the service manager/g)).toHaveLength(1);
  });
});

describe('deploy/blinkup-station.service', () => {
  const unitText = readFileSync(path.join(PROJECT_ROOT, 'deploy/blinkup-station.service'), 'utf8');

  /** `systemd-analyze verify` on a copy whose paths are this checkout's (its ExecStart must exist). */
  function verify(text: string): { status: number | null; output: string } {
    const unitDir = mkdtempSync(path.join(dir, 'unit-'));
    const file = path.join(unitDir, 'blinkup-station.service');
    writeFileSync(file, text.replaceAll('/usr/bin/node', process.execPath).replaceAll('/opt/blinkup-station', PROJECT_ROOT));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    if (r.error) throw new Error(`systemd-analyze: ${r.error.message} (test/ensure-system-packages.sh installs it)`);
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  }

  it('passes systemd-analyze verify with no warning', () => {
    expect(existsSync(BIN), 'the unit starts dist/station/bin.js').toBe(true);
    expect(verify(unitText)).toEqual({ status: 0, output: '' });
    // The check can fail: a key systemd does not know, and a command that does not exist.
    expect(verify(unitText.replace('[Service]', '[Service]\nWatchdogSecs=30s')).output).toMatch(/Unknown key 'WatchdogSecs'/);
    expect(verify(unitText.replace('/usr/bin/node ', '/usr/bin/no-such-node ')).status).not.toBe(0);
  });

  it('is a notify service with a watchdog, its own user and state directory, and a sandbox with serial and HID devices only', () => {
    const keys = new Map<string, string[]>();
    for (const line of unitText.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) keys.set(m[1] as string, [...(keys.get(m[1] as string) ?? []), m[2] as string]);
    }
    const one = (k: string): string | undefined => keys.get(k)?.at(-1);
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('main');
    expect(one('WatchdogSec')).toMatch(/^\d+s$/);
    expect(one('Restart')).toBe('on-failure');
    expect(one('User')).toBe('blinkup-station');
    // The nightly backup runs as the same user on the same state directory (else systemd would hand the folder to another owner).
    const backup = readFileSync(path.join(PROJECT_ROOT, 'deploy/blinkup-station-backup.service'), 'utf8');
    expect(backup).toMatch(/^User=blinkup-station$/m);
    expect(backup).toMatch(/^StateDirectory=blinkup-station /m);
    expect(keys.get('SupplementaryGroups')).toEqual(['dialout']);
    expect(one('StateDirectory')).toBe('blinkup-station');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('DevicePolicy')).toBe('closed');
    expect(keys.get('DeviceAllow')).toEqual(['char-ttyS rw', 'char-ttyUSB rw', 'char-ttyACM rw', 'char-hidraw rw']);
    expect(one('ExecStart')).toMatch(/^\/usr\/bin\/node \/opt\/blinkup-station\/dist\/station\/bin\.js /);
    // The stop timeout leaves the station its own stop deadline on the shipped configuration, and main.ts's 2 s margin.
    const station = new Station(loadConfigFile({ argv: [`--config=${path.join(PROJECT_ROOT, 'station.config.json')}`], env: {} }), silentLogger());
    expect(Number.parseInt(one('TimeoutStopSec') as string, 10) * 1000).toBeGreaterThan(station.stopDeadlineMs + 2000);
  });
});

describe('deploy/Dockerfile', () => {
  // No container runtime here: the file's own commands are run against this checkout instead.
  const text = readFileSync(path.join(PROJECT_ROOT, 'deploy/Dockerfile'), 'utf8').replace(/\s*\\\n\s*/g, ' ');
  const instructions = text
    .split('\n')
    .filter((l) => /^[A-Z]+ /.test(l))
    .map((l) => ({ op: l.slice(0, l.indexOf(' ')), arg: l.slice(l.indexOf(' ') + 1).trim() }));
  const last = (op: string): string => instructions.filter((i) => i.op === op).at(-1)?.arg ?? '';

  it('runs as a user of its own under tini, with the data folder on a volume', () => {
    expect(instructions.filter((i) => i.op === 'FROM').map((i) => i.arg.split(' ')[0])).toEqual(['node:20-bookworm-slim', 'node:20-bookworm-slim']);
    expect(last('USER')).toBe('blinkup-station');
    const entrypoint = JSON.parse(last('ENTRYPOINT')) as string[];
    expect(entrypoint.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
    const dataDir = /STATION_DATA_DIR=(\S+)/.exec(last('ENV'))?.[1];
    expect(JSON.parse(last('VOLUME'))).toEqual([dataDir]);
    // The entrypoint's command is this checkout's bin.
    const bin = (entrypoint[3] as string).replace('/opt/blinkup-station', PROJECT_ROOT);
    const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    expect(r.stdout).toBe(`blinkup-station ${VERSION}\n`);
  });

  it("HEALTHCHECK's command passes against a running station and fails once it is gone", async () => {
    const m = /^--interval=\S+ --timeout=\S+ --start-period=\S+ --retries=\d+ CMD (\[.*\])$/.exec(last('HEALTHCHECK'));
    expect(m, last('HEALTHCHECK')).not.toBeNull();
    const [cmd, ...args] = JSON.parse(m?.[1] as string) as string[];
    expect(cmd).toBe('node');
    const check = (port: string) => spawnSync(process.execPath, args, { env: { ...process.env, STATION_PORT: port }, encoding: 'utf8', timeout: 30_000 }).status;
    // Listening on every interface, as the image's configuration does; the check asks 127.0.0.1.
    const config = Daemon.writeConfig(dir, { ...coreConfig(), server: { host: '0.0.0.0', port: 0 }, storage: { dataDir: path.join(dir, 'docker-health') } }, 'docker.json');
    const daemon = await new Daemon(config).start();
    const port = new URL(daemon.url).port;
    try {
      expect(check(port)).toBe(0);
    } finally {
      expect(await daemon.terminate()).toBe(0);
    }
    expect(check(port)).toBe(1);
  });
});
