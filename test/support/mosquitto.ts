// A real MQTT broker for tests: Debian's mosquitto (test/ensure-system-packages.sh installs it),
// started with a config of its own in a temp folder on a free loopback port, persistence on (saved
// every second, so a broker SIGKILLed and started again keeps its sessions and retained messages
// up to its last save), logins, an ACL and TLS when asked. start() returns once it listens.
// testCertificates() makes a CA, a server certificate for 127.0.0.1 and a client certificate with
// Debian's openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.js';

const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';
const MOSQUITTO_PASSWD = ['/usr/bin/mosquitto_passwd', '/usr/local/bin/mosquitto_passwd'].find((p) => existsSync(p)) ?? 'mosquitto_passwd';

export interface BrokerOptions {
  /** username → password; with any, anonymous clients are refused (a password_file made by mosquitto_passwd). */
  users?: Record<string, string>;
  /** The acl_file's text ("user station\ntopic readwrite uns/#"). */
  acl?: string;
  /** max_packet_size: the broker's Maximum Packet Size (CONNACK), and the largest packet it takes. */
  maxPacketSize?: number;
  /** More lines for mosquitto.conf. */
  extra?: string[];
  /** A TLS listener (mqtts://) with this CA and server certificate; `requireCertificate`: clients
   *  must present a certificate the CA signed, whose CN becomes their username. */
  tls?: { ca: string; cert: string; key: string; requireCertificate?: boolean };
}

/** Every broker a test started: any still running when the worker exits is killed. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class Mosquitto {
  readonly dir: string;
  port = 0;
  private proc: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** What the broker printed (its log), across restarts. */
  log = '';

  private constructor(private readonly opts: BrokerOptions) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'mosquitto-'));
  }

  /** A broker of its own, listening on a free loopback port. */
  static async start(opts: BrokerOptions = {}): Promise<Mosquitto> {
    const broker = new Mosquitto(opts);
    broker.port = await freePort();
    broker.writeConfig();
    await broker.start();
    return broker;
  }

  get url(): string {
    return `${this.opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private writeConfig(): void {
    const users = Object.entries(this.opts.users ?? {});
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      `allow_anonymous ${users.length === 0}`,
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      // A test's subscriber must lose nothing while it is offline or slow. (Not 0, "no limit":
      // mosquitto 2.0.11 then drops a client's connection when its ACL denies a QoS 1 PUBLISH.)
      'max_queued_messages 1000000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
    ];
    // As root, mosquitto changes to user "mosquitto", who cannot read the temp folder: stay.
    if (process.getuid?.() === 0) lines.push('user root');
    if (users.length > 0) {
      const file = path.join(this.dir, 'passwd');
      writeFileSync(file, '', { mode: 0o600 });
      for (const [user, password] of users) execFileSync(MOSQUITTO_PASSWD, ['-b', file, user, password]);
      lines.push(`password_file ${file}`);
    }
    if (this.opts.acl !== undefined) {
      const file = path.join(this.dir, 'acl');
      writeFileSync(file, `${this.opts.acl}\n`, { mode: 0o600 });
      lines.push(`acl_file ${file}`);
    }
    if (this.opts.maxPacketSize !== undefined) lines.push(`max_packet_size ${this.opts.maxPacketSize}`);
    if (this.opts.tls) {
      const t = this.opts.tls;
      lines.push(`cafile ${t.ca}`, `certfile ${t.cert}`, `keyfile ${t.key}`);
      if (t.requireCertificate) lines.push('require_certificate true', 'use_identity_as_username true');
    }
    lines.push(...(this.opts.extra ?? []));
    writeFileSync(path.join(this.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  }

  /** Starts the broker (again, on the same port and with the same persistence) and waits until it listens. */
  async start(): Promise<void> {
    if (this.running) throw new Error('mosquitto is already running');
    const proc = spawn(MOSQUITTO, ['-c', path.join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(proc);
    this.proc = proc;
    proc.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    await waitFor(
      `mosquitto to listen on port ${this.port}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`mosquitto exited ${proc.exitCode}: ${this.log.slice(-1000)}`);
        return connects(this.port);
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
  }

  /** Resolves after the broker's next save of its state (sessions, subscriptions, retained, queued
   *  messages): what a SIGKILL after this keeps. */
  async saved(): Promise<void> {
    // The file's time, not the log line: a line from a save before this call can reach us after it.
    // mosquitto is single-threaded, so a save that ends after this call holds everything it had
    // acknowledged before it.
    const since = Date.now();
    const file = path.join(this.dir, 'mosquitto.db');
    await waitFor('mosquitto to save its state', () => existsSync(file) && statSync(file).mtimeMs > since, { timeoutMs: 5000, intervalMs: 20 });
  }

  /** SIGKILL: no goodbye, no final save (what was saved at the last autosave survives). */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.proc?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: mosquitto saves its state and exits. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc?.kill('SIGTERM');
    await this.exited;
  }

  async dispose(): Promise<void> {
    await this.kill9();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TestCertificates {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Another CA, which signed nothing here. */
  otherCa: string;
}

/** A CA, a server certificate for 127.0.0.1 and localhost, a client certificate (CN `clientCn`),
 *  and an unrelated CA, as PEM files in `dir` (EC P-256 keys, valid for 2 days). */
export function testCertificates(dir: string, clientCn = 'station1'): TestCertificates {
  const f = (name: string): string => path.join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...key, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=test-ca');
  ssl('req', '-x509', ...key, '-keyout', f('other-ca.key'), '-out', f('other-ca.pem'), '-days', '2', '-subj', '/CN=other-ca');
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('req', ...key, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext'));
  ssl('req', ...key, '-keyout', f('client.key'), '-out', f('client.csr'), '-subj', `/CN=${clientCn}`);
  ssl('x509', '-req', '-in', f('client.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('client.pem'), '-days', '2');
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'), otherCa: f('other-ca.pem') };
}

/** A loopback port free now (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
