// The service manager's notify protocol (systemd's sd_notify(3)), for a unit with Type=notify:
// READY=1 once the service serves, WATCHDOG=1 at half the unit's WatchdogSec while the event loop
// runs, STOPPING=1 when it begins to stop, STATUS=... lines for `systemctl status`.
//
// The protocol is one datagram of newline-separated KEY=VALUE assignments sent to the AF_UNIX
// SOCK_DGRAM socket named by $NOTIFY_SOCKET. Node has no unix datagram sockets (node:dgram is UDP
// only), so the datagram goes through the `unix-dgram` package (a small native addon; an optional
// dependency: where it did not build, a warning says systemd will not hear from us). A helper
// process (`systemd-notify`) is not an option: under NotifyAccess=main systemd takes messages only
// from the service's main process, which it tells by the sender's credentials.
//
// Not supported: abstract-namespace (`@name`) and vsock notify sockets, which unix-dgram cannot
// address (systemd gives a service a path, /run/systemd/notify). Those get a warning too.
import { createRequire } from 'node:module';
import os from 'node:os';

interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

/** Sends one datagram to `socketPath`; throws the socket's error. */
export type DatagramSender = (socketPath: string, message: Buffer) => void;

/** unix-dgram, loaded when first needed; why not, where it is not installed or did not build. */
function loadUnixDgram(): { send: DatagramSender } | { error: string } {
  let mod: UnixDgramModule;
  try {
    mod = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
  } catch (err) {
    return { error: `the unix-dgram package could not be loaded (${(err as Error).message.split('\n')[0]})` };
  }
  return {
    send: (socketPath, message) => {
      // One socket per message: a notification every few seconds at most, and no handle left open.
      const socket = mod.createSocket('unix_dgram');
      let failure: Error | null = null;
      socket.on('error', (err) => (failure = err));
      try {
        socket.send(message, 0, message.length, socketPath, (err) => {
          if (err) failure = err;
        });
      } finally {
        socket.close();
      }
      if (failure) throw withErrnoName(failure);
    },
  };
}

/** unix-dgram reports a failed syscall as `send -111`: name the errno (ECONNREFUSED) for a person. */
function withErrnoName(err: Error): Error {
  const errno = (err as NodeJS.ErrnoException).code as unknown;
  if (typeof errno !== 'number') return err;
  const name = Object.entries(os.constants.errno).find(([, n]) => n === -errno)?.[0];
  return Object.assign(new Error(`${(err as NodeJS.ErrnoException).syscall ?? 'send'}: ${name ?? `errno ${-errno}`}`), { code: name ?? String(errno) });
}

export interface SystemdNotifyOptions {
  /** Told once per kind of problem (no socket package, a send that failed). */
  warn: (message: string) => void;
  /** This process's pid (WATCHDOG_PID names the process the watchdog is for). */
  pid?: number;
  /** For tests: the datagram sender instead of unix-dgram. */
  send?: DatagramSender;
}

/** What the environment asks of the service, read from NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. */
export interface NotifySettings {
  socketPath: string;
  /** The interval of WATCHDOG=1 pings: half of WATCHDOG_USEC; null when no watchdog is set for this process. */
  watchdogIntervalMs: number | null;
}

/** The settings from the environment, or null when no service manager waits for notifications. */
export function notifySettingsFrom(env: NodeJS.ProcessEnv, pid: number): NotifySettings | null {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return null;
  let watchdogIntervalMs: number | null = null;
  const usec = Number(env.WATCHDOG_USEC);
  const forPid = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
  if (env.WATCHDOG_USEC && Number.isInteger(usec) && usec > 0 && forPid) watchdogIntervalMs = Math.max(1, Math.floor(usec / 2000));
  return { socketPath, watchdogIntervalMs };
}

export class SystemdNotify {
  private watchdogTimer: NodeJS.Timeout | null = null;
  private readonly warned = new Set<string>();
  private sender: DatagramSender | null;
  private stopped = false;

  private constructor(
    readonly settings: NotifySettings,
    private readonly opts: SystemdNotifyOptions,
  ) {
    this.sender = opts.send ?? null;
  }

  /**
   * The notifier the environment asks for, or null when the process was not started by a service
   * manager that waits for it. Like sd_notify's unset_environment, the variables are removed from
   * `env` so that no child process takes them for its own.
   */
  static fromEnv(env: NodeJS.ProcessEnv, opts: SystemdNotifyOptions): SystemdNotify | null {
    const settings = notifySettingsFrom(env, opts.pid ?? process.pid);
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (!settings) return null;
    return new SystemdNotify(settings, opts);
  }

  /** READY=1: the service serves. */
  ready(status?: string): void {
    this.send(['READY=1', ...(status ? [`STATUS=${status}`] : [])]);
  }

  /** STATUS=...: one line for `systemctl status`. */
  status(text: string): void {
    this.send([`STATUS=${text}`]);
  }

  /** Starts WATCHDOG=1 pings from the event loop at half of WATCHDOG_USEC (none when no watchdog is set). */
  startWatchdog(): void {
    const every = this.settings.watchdogIntervalMs;
    if (every === null || this.watchdogTimer || this.stopped) return;
    this.send(['WATCHDOG=1']);
    this.watchdogTimer = setInterval(() => this.send(['WATCHDOG=1']), every);
    this.watchdogTimer.unref(); // a ping never keeps the process alive
  }

  /** STOPPING=1: the service began to stop; the watchdog pings end (systemd stops watching then too). */
  stopping(status?: string): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = null;
    this.send(['STOPPING=1', ...(status ? [`STATUS=${status}`] : [])]);
  }

  private send(lines: string[]): void {
    const socketPath = this.settings.socketPath;
    if (!socketPath.startsWith('/')) {
      this.warnOnce('address', `NOTIFY_SOCKET=${socketPath} is not a socket path (abstract and vsock notify sockets are not supported); the service manager will not hear from this process`);
      return;
    }
    if (!this.sender) {
      const loaded = loadUnixDgram();
      if ('error' in loaded) {
        this.warnOnce('module', `NOTIFY_SOCKET is set, but ${loaded.error}; the service manager will not hear READY=1 or the watchdog`);
        return;
      }
      this.sender = loaded.send;
    }
    // A value never spans lines: a newline would start another assignment.
    const message = Buffer.from(lines.map((l) => l.replace(/[\r\n]+/g, ' ')).join('\n'));
    try {
      this.sender(socketPath, message);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.warnOnce(`send:${code}`, `notifying the service manager at ${socketPath} failed: ${(err as Error).message}`);
    }
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.opts.warn(message);
  }
}
