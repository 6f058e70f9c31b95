// The notify protocol's messages and timing, with the datagram sender injected (the real socket
// is exercised in test/integration/service.test.ts).
import { describe, expect, it, vi } from 'vitest';
import { notifySettingsFrom, SystemdNotify } from '../../lib/sd-notify.js';

function recorder(): { sent: { to: string; text: string }[]; send: (to: string, msg: Buffer) => void } {
  const sent: { to: string; text: string }[] = [];
  return { sent, send: (to, msg) => sent.push({ to, text: msg.toString() }) };
}

describe('notifySettingsFrom', () => {
  it('is null without NOTIFY_SOCKET (not run by a service manager that waits)', () => {
    expect(notifySettingsFrom({}, 10)).toBeNull();
    expect(notifySettingsFrom({ NOTIFY_SOCKET: '', WATCHDOG_USEC: '1000000' }, 10)).toBeNull();
  });

  it('pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    expect(notifySettingsFrom({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000' }, 10)).toEqual({ socketPath: '/run/systemd/notify', watchdogIntervalMs: 15_000 });
    expect(notifySettingsFrom({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '10' }, 10)?.watchdogIntervalMs).toBe(15_000);
    expect(notifySettingsFrom({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '11' }, 10)?.watchdogIntervalMs).toBeNull();
    for (const bad of ['0', '-5', 'abc', '1.5']) expect(notifySettingsFrom({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: bad }, 10)?.watchdogIntervalMs, bad).toBeNull();
  });
});

describe('SystemdNotify', () => {
  it('takes the variables out of the environment, so no child process answers for the service', () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '10', PATH: '/bin' };
    const n = SystemdNotify.fromEnv(env, { warn: () => undefined, pid: 10, send: recorder().send });
    expect(n?.settings.watchdogIntervalMs).toBe(500);
    expect(env).toEqual({ PATH: '/bin' });
    expect(SystemdNotify.fromEnv({}, { warn: () => undefined })).toBeNull();
  });

  it('READY=1 with its status, STATUS lines, STOPPING=1; a newline in a status cannot start another assignment', () => {
    const r = recorder();
    const n = SystemdNotify.fromEnv({ NOTIFY_SOCKET: '/run/systemd/notify' }, { warn: () => undefined, send: r.send }) as SystemdNotify;
    n.ready('ready: http://127.0.0.1:8080/ (4 slots)');
    n.status('two\nlines\r\nREADY=1');
    n.stopping('stopping on SIGTERM');
    n.stopping('again'); // once only
    expect(r.sent).toEqual([
      { to: '/run/systemd/notify', text: 'READY=1\nSTATUS=ready: http://127.0.0.1:8080/ (4 slots)' },
      { to: '/run/systemd/notify', text: 'STATUS=two lines READY=1' },
      { to: '/run/systemd/notify', text: 'STOPPING=1\nSTATUS=stopping on SIGTERM' },
    ]);
  });

  it('pings WATCHDOG=1 from the event loop until STOPPING=1, and not at all without a watchdog', () => {
    vi.useFakeTimers();
    try {
      const r = recorder();
      const n = SystemdNotify.fromEnv({ NOTIFY_SOCKET: '/n', WATCHDOG_USEC: '40000' }, { warn: () => undefined, send: r.send }) as SystemdNotify;
      n.startWatchdog();
      n.startWatchdog(); // a second call starts no second timer
      vi.advanceTimersByTime(100);
      expect(r.sent.map((m) => m.text)).toEqual(Array(6).fill('WATCHDOG=1')); // at once, then every 20 ms
      n.stopping();
      vi.advanceTimersByTime(1000);
      expect(r.sent).toHaveLength(7);
      expect(r.sent.at(-1)?.text).toBe('STOPPING=1');
    } finally {
      vi.useRealTimers();
    }

    const quiet = recorder();
    const noWatchdog = SystemdNotify.fromEnv({ NOTIFY_SOCKET: '/n' }, { warn: () => undefined, send: quiet.send }) as SystemdNotify;
    noWatchdog.startWatchdog();
    noWatchdog.ready();
    expect(quiet.sent.map((m) => m.text)).toEqual(['READY=1']);
  });

  it('warns once per kind of failure and never throws: a send error, an abstract socket name', () => {
    const warnings: string[] = [];
    let calls = 0;
    const failing = SystemdNotify.fromEnv(
      { NOTIFY_SOCKET: '/run/systemd/notify' },
      {
        warn: (m) => warnings.push(m),
        send: () => {
          calls++;
          throw Object.assign(new Error('send: ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
      },
    ) as SystemdNotify;
    failing.ready();
    failing.status('x');
    expect(calls).toBe(2);
    expect(warnings).toEqual(['notifying the service manager at /run/systemd/notify failed: send: ECONNREFUSED']);

    const abstract = SystemdNotify.fromEnv({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }, { warn: (m) => warnings.push(m), send: recorder().send }) as SystemdNotify;
    abstract.ready();
    abstract.ready();
    expect(warnings.slice(1)).toEqual([
      'NOTIFY_SOCKET=@/org/freedesktop/systemd1/notify is not a socket path (abstract and vsock notify sockets are not supported); the service manager will not hear from this process',
    ]);
  });
});
