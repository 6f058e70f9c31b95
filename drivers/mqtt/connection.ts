// One connection to an MQTT broker, shared by whatever publishes through it (the uplink's MQTT sink,
// the live topics, a Sparkplug publisher): MQTT 5, falling back to 3.1.1 for a broker that refuses
// 5; a persistent session (clean start off, a session expiry, a fixed client id) so the broker keeps
// the station's session across reconnects (or, for Sparkplug, `cleanStart`: no session kept); TLS
// with a CA and a client certificate; a login.
//
// It owns the reconnecting (capped exponential backoff) and says why it is down in words a person
// can act on: the login refused, no CONNACK in time, a TLS failure, no route to the broker. A
// publish resolves with the broker's answer: its PUBACK (a reason code of 0x80 or more is a refusal,
// an ACL's "Not authorized" say), "too large" for a packet over the broker's Maximum Packet Size
// (never sent: a broker drops the connection for one), or "not connected". At most the broker's
// Receive Maximum publishes are in flight at once; the rest wait their turn.
//
// Each attempt is a fresh mqtt.js client. What was in flight when a connection dropped is answered
// "connection lost" at once, not resent by mqtt.js: the publisher (the outbox) decides what to send
// again, with the same recordId, so nothing is held twice in memory across an outage.
import { readFileSync } from 'node:fs';
import { connect, ReasonCodes, type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from '../../lib/backoff.js';
import { EventBus } from '../../lib/event-bus.js';

export interface MqttMessage {
  topic: string;
  payload: string | Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** MQTT 5 user properties (dropped on a 3.1.1 connection). */
  userProperties?: Record<string, string>;
}

export interface MqttConnectionOptions {
  /** mqtt://host:port or mqtts://host:port, without a login. */
  url: string;
  clientId: string;
  username?: string;
  /** A secret: never logged. */
  password?: string;
  /** PEM files (absolute paths), read at each connection: a renewed certificate is picked up. */
  tls?: { ca?: string; cert?: string; key?: string };
  sessionExpirySec: number;
  /** Clean Start (3.1.1: Clean Session) with no session kept: what Sparkplug asks of every client.
   *  Default false, a persistent session. */
  cleanStart?: boolean;
  keepaliveSec: number;
  connectTimeoutMs: number;
  /** The Last Will of the next connection, asked before each CONNECT (a Sparkplug NDEATH carries a
   *  bdSeq that changes with each connection). */
  will?: () => MqttMessage | null;
  reconnect?: { initialMs: number; maxMs: number };
  /** Publishes in flight at most; the broker's Receive Maximum lowers it. */
  maxInFlight?: number;
  log: Logger;
}

export type ConnectionCause =
  /** The broker refused the login (bad username or password, or not authorized to connect). */
  | 'login'
  /** The TCP connection opened but no CONNACK came within connectTimeoutMs. */
  | 'no-answer'
  | 'tls'
  /** No TCP connection (refused, no route, unknown host). */
  | 'unreachable'
  /** Another CONNACK refusal (banned, server busy, client id not valid...). */
  | 'refused'
  /** Another client connected with the same client id. */
  | 'taken-over'
  /** An established connection dropped. */
  | 'lost';

export interface ConnectionProblem {
  cause: ConnectionCause;
  /** In words: what happened, at which broker, what to check. Never a password. */
  message: string;
  reasonCode?: number;
}

export interface BrokerLimits {
  protocolVersion: 4 | 5;
  /** CONNACK's Maximum Packet Size; null: the broker named none. */
  maximumPacketSize: number | null;
  receiveMaximum: number;
}

export type PublishResult =
  | { ok: true }
  /** The broker answered with a reason code of 0x80 or more (PUBACK, or PUBREC for QoS 2). */
  | { ok: false; kind: 'refused'; reasonCode: number; reason: string }
  /** Over the broker's Maximum Packet Size: not sent. */
  | { ok: false; kind: 'too-large'; size: number; max: number; reason: string }
  | { ok: false; kind: 'not-connected' | 'connection-lost'; reason: string };

export interface ConnectionEvents {
  up: { limits: BrokerLimits; sessionPresent: boolean };
  down: { problem: ConnectionProblem };
  message: { topic: string; payload: Buffer };
}

const LOGIN_REFUSED = new Set([4, 5, 0x86, 0x87]);
const VERSION_REFUSED = new Set([1, 0x84]);
const TLS_CODE = /^(ERR_TLS|ERR_SSL|ERR_OSSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;
const DEFAULT_IN_FLIGHT = 256;

interface Pending {
  settle: (r: PublishResult) => void;
}

interface Queued {
  message: MqttMessage;
  settle: (r: PublishResult) => void;
}

export class MqttConnection {
  readonly events: EventBus<ConnectionEvents>;
  /** The broker, for logs and health: scheme, host and port only. */
  readonly target: string;
  private client: MqttClient | null = null;
  private up = false;
  private stopped = true;
  private version: 4 | 5 = 5;
  private limitsNow: BrokerLimits = { protocolVersion: 5, maximumPacketSize: null, receiveMaximum: 65_535 };
  private problemNow: ConnectionProblem | null = null;
  /** Why the current attempt failed, as the client's 'error' said it (the 'close' follows). */
  private attemptProblem: ConnectionProblem | null = null;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Pending>();
  /** Publishes waiting for room in the window (at most the broker's Receive Maximum in flight). */
  private queued: Queued[] = [];
  private queuedHead = 0;
  private inFlight = 0;
  private sendScheduled = false;
  private readonly subscriptions = new Map<string, 0 | 1 | 2>();
  private lastSaidCause: ConnectionCause | null = null;

  constructor(private readonly opts: MqttConnectionOptions) {
    this.events = new EventBus<ConnectionEvents>(opts.log);
    const u = new URL(opts.url);
    this.target = `${u.protocol}//${u.host}`;
    this.backoff = new Backoff(opts.reconnect ?? { initialMs: 500, maxMs: 30_000 });
  }

  get isUp(): boolean {
    return this.up;
  }

  get limits(): BrokerLimits {
    return { ...this.limitsNow };
  }

  /** Why the connection is down (null while up, or before the first attempt ends). */
  get problem(): ConnectionProblem | null {
    return this.up ? null : this.problemNow;
  }

  /** Starts connecting; the connection comes and goes on its own from now until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt();
  }

  /** Disconnects cleanly (a DISCONNECT: the broker discards the Will) within `capMs`. With
   *  `disconnectReasonCode` 0x04 (MQTT 5 "Disconnect with Will Message") the broker publishes the Will. */
  async stop(capMs = 2000, disconnectReasonCode?: number): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    const wasUp = this.up;
    this.client = null;
    this.up = false;
    this.failPending('not-connected', 'the station is stopping');
    if (!client) return;
    if (!wasUp) {
      client.end(true);
      return;
    }
    await new Promise<void>((resolve) => {
      const cap = setTimeout(() => {
        // No answer to the DISCONNECT's write (a frozen broker): drop the socket.
        client.stream?.destroy();
        resolve();
      }, capMs);
      client.end(false, this.version === 5 && disconnectReasonCode !== undefined ? { reasonCode: disconnectReasonCode } : {}, () => {
        clearTimeout(cap);
        resolve();
      });
    });
  }

  /**
   * Stops without a DISCONNECT: the socket is dropped, so the broker publishes the Last Will, as
   * for a station that died (the fleet's load generator, fleet/load.ts, kills a station so).
   */
  abandon(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    this.up = false;
    this.failPending('connection-lost', 'the connection was abandoned');
    client?.stream?.destroy();
    client?.end(true);
  }

  /** Subscribes now (when up) and after every reconnect that did not resume the session. */
  subscribe(filter: string, qos: 0 | 1 | 2): void {
    this.subscriptions.set(filter, qos);
    if (this.up) this.client?.subscribe(filter, { qos }, (err) => err && this.opts.log.warn({ filter, err: err.message }, 'subscribing failed'));
  }

  /** The size of a PUBLISH packet as this connection would send it (MQTT 5 §3.3, 3.1.1 §3.3). */
  packetSize(m: MqttMessage): number {
    const topic = Buffer.byteLength(m.topic);
    const payload = typeof m.payload === 'string' ? Buffer.byteLength(m.payload) : m.payload.length;
    let props = 0;
    if (this.version === 5) {
      for (const [k, v] of Object.entries(m.userProperties ?? {})) props += 1 + 2 + Buffer.byteLength(k) + 2 + Buffer.byteLength(v);
      props += varintBytes(props);
    }
    const remaining = 2 + topic + (m.qos > 0 ? 2 : 0) + props + payload;
    return 1 + varintBytes(remaining) + remaining;
  }

  /** Publishes; resolves with the broker's acknowledgement (at once for QoS 0) or why not. */
  publish(m: MqttMessage): Promise<PublishResult> {
    if (!this.up || !this.client) return Promise.resolve({ ok: false, kind: 'not-connected', reason: this.downWords() });
    const max = this.limitsNow.maximumPacketSize;
    if (max !== null) {
      const size = this.packetSize(m);
      if (size > max)
        return Promise.resolve({ ok: false, kind: 'too-large', size, max, reason: `${size} bytes as an MQTT packet, over the broker's maximum packet size of ${max} bytes (its CONNACK)` });
    }
    return new Promise<PublishResult>((resolve) => {
      this.queued.push({ message: m, settle: resolve });
      this.sendSoon();
    });
  }

  /**
   * Sends queued publishes once this turn is done: the publishes asked for in one turn, and those
   * freed by the PUBACKs of one read (mqtt.js answers each in a tick of its own), go out in one
   * write rather than a write (a syscall) each.
   */
  private sendSoon(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    setImmediate(() => {
      this.sendScheduled = false;
      this.sendQueued();
    });
  }

  /** Sends queued publishes while fewer than the window are in flight. */
  private sendQueued(): void {
    const client = this.client;
    if (!client || !this.up) return;
    const window = this.window();
    const stream = client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    stream?.cork?.();
    try {
      this.sendWhileRoom(client, window);
    } finally {
      stream?.uncork?.();
    }
  }

  private sendWhileRoom(client: MqttClient, window: number): void {
    while (this.inFlight < window && this.queuedHead < this.queued.length) {
      const entry = this.queued[this.queuedHead++] as Queued;
      if (this.queuedHead === this.queued.length) {
        this.queued = [];
        this.queuedHead = 0;
      }
      this.inFlight++;
      let done = false;
      const pending: Pending = {
        settle: (r) => {
          if (done) return;
          done = true;
          this.pending.delete(pending);
          this.inFlight--;
          entry.settle(r);
          this.sendSoon();
        },
      };
      this.pending.add(pending);
      const m = entry.message;
      const properties = this.version === 5 && m.userProperties ? { userProperties: m.userProperties } : undefined;
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain, properties }, (err) => {
        if (!err) pending.settle({ ok: true });
        else {
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'number' && code >= 0x80) pending.settle({ ok: false, kind: 'refused', reasonCode: code, reason: reasonWords(code) });
          else pending.settle({ ok: false, kind: 'connection-lost', reason: err.message });
        }
      });
    }
  }

  /** Publishes in flight at most on this connection now: the broker's Receive Maximum, or less. */
  window(): number {
    return Math.max(1, Math.min(this.opts.maxInFlight ?? DEFAULT_IN_FLIGHT, this.limitsNow.receiveMaximum));
  }

  private failPending(kind: 'not-connected' | 'connection-lost', reason: string): void {
    const queued = this.queued.slice(this.queuedHead);
    this.queued = [];
    this.queuedHead = 0;
    for (const p of [...this.pending]) p.settle({ ok: false, kind, reason });
    for (const q of queued) q.settle({ ok: false, kind: 'not-connected', reason });
    this.inFlight = 0;
  }

  private attempt(): void {
    if (this.stopped) return;
    this.attemptProblem = null;
    let options: IClientOptions;
    try {
      options = this.clientOptions();
    } catch (err) {
      this.onDown({ cause: 'tls', message: (err as Error).message });
      return;
    }
    const client = connect(this.opts.url, options);
    this.client = client;
    client.on('connect', (packet) => {
      if (this.client === client) this.onUp(packet);
    });
    client.on('error', (err) => {
      if (this.client === client) this.attemptProblem = this.classify(err);
    });
    client.on('disconnect', (packet: IDisconnectPacket) => {
      if (this.client !== client) return;
      const code = packet.reasonCode ?? 0;
      this.attemptProblem =
        code === 0x8e
          ? {
              cause: 'taken-over',
              reasonCode: code,
              message: `the broker ${this.target} closed the session: another client connected with the client id "${this.opts.clientId}" (two stations with one id?)`,
            }
          : { cause: 'lost', reasonCode: code, message: `the broker ${this.target} disconnected the station: ${reasonWords(code)}` };
    });
    client.on('message', (topic, payload) => this.events.emit('message', { topic, payload }));
    client.on('close', () => {
      if (this.client !== client) return;
      const wasUp = this.up;
      this.up = false;
      this.client = null;
      // This client is done (its handlers above now ignore it); the next attempt is a new one.
      client.end(true);
      this.failPending('connection-lost', `the connection to ${this.target} dropped before the broker acknowledged`);
      const problem =
        this.attemptProblem ??
        (wasUp ? { cause: 'lost' as const, message: `the connection to ${this.target} dropped` } : { cause: 'unreachable' as const, message: `cannot connect to ${this.target}` });
      if (problem.reasonCode !== undefined && VERSION_REFUSED.has(problem.reasonCode) && this.version === 5) {
        // A 3.1.1 broker answers an MQTT 5 CONNECT with "unacceptable protocol version": speak 3.1.1.
        this.version = 4;
        this.opts.log.warn({ broker: this.target }, 'the broker refused MQTT 5; connecting with MQTT 3.1.1 (no user properties, no session expiry)');
        this.reconnectIn(0);
        return;
      }
      this.onDown(problem);
    });
  }

  private clientOptions(): IClientOptions {
    const read = (what: string, file: string | undefined): Buffer | undefined => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new Error(`cannot read the TLS ${what} file ${file} for ${this.target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    };
    const will = this.opts.will?.() ?? null;
    const v5 = this.version === 5;
    return {
      clientId: this.opts.clientId,
      protocolVersion: this.version,
      clean: this.opts.cleanStart === true,
      keepalive: this.opts.keepaliveSec,
      connectTimeout: this.opts.connectTimeoutMs,
      reconnectPeriod: 0,
      resubscribe: false,
      username: this.opts.username,
      password: this.opts.password,
      ca: read('CA', this.opts.tls?.ca),
      cert: read('certificate', this.opts.tls?.cert),
      key: read('key', this.opts.tls?.key),
      rejectUnauthorized: true,
      properties: v5 ? { sessionExpiryInterval: this.opts.cleanStart ? 0 : this.opts.sessionExpirySec } : undefined,
      will: will
        ? {
            topic: will.topic,
            payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
            qos: will.qos,
            retain: will.retain,
            ...(v5 && will.userProperties ? { properties: { userProperties: will.userProperties } } : {}),
          }
        : undefined,
    };
  }

  private onUp(packet: IConnackPacket): void {
    const p = packet.properties ?? {};
    this.limitsNow = {
      protocolVersion: this.version,
      maximumPacketSize: typeof p.maximumPacketSize === 'number' ? p.maximumPacketSize : null,
      receiveMaximum: typeof p.receiveMaximum === 'number' && p.receiveMaximum > 0 ? p.receiveMaximum : 65_535,
    };
    this.up = true;
    this.problemNow = null;
    this.backoff.reset();
    const resumed = packet.sessionPresent === true;
    if (this.lastSaidCause !== null) this.opts.log.info({ broker: this.target, sessionPresent: resumed }, 'connected to the MQTT broker again');
    else this.opts.log.info({ broker: this.target, protocolVersion: this.version, sessionPresent: resumed, limits: this.limitsNow }, 'connected to the MQTT broker');
    this.lastSaidCause = null;
    if (!resumed) for (const [filter, qos] of this.subscriptions) this.client?.subscribe(filter, { qos });
    this.events.emit('up', { limits: this.limits, sessionPresent: resumed });
  }

  private onDown(problem: ConnectionProblem): void {
    this.problemNow = problem;
    // One line per cause, not one per attempt.
    if (this.lastSaidCause !== problem.cause) this.opts.log.warn({ broker: this.target, cause: problem.cause, reasonCode: problem.reasonCode }, problem.message);
    this.lastSaidCause = problem.cause;
    this.events.emit('down', { problem });
    this.reconnectIn(this.backoff.next());
  }

  private reconnectIn(ms: number): void {
    if (this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.attempt();
    }, ms);
  }

  private downWords(): string {
    return this.problemNow ? this.problemNow.message : `not connected to ${this.target} yet`;
  }

  /** What an mqtt.js error means, in words naming the broker and what to check. */
  private classify(err: Error): ConnectionProblem {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') {
      if (LOGIN_REFUSED.has(code))
        return {
          cause: 'login',
          reasonCode: code,
          message: `the broker ${this.target} refused the station's login (CONNACK ${hex(code)} ${ReasonCodes[code as keyof typeof ReasonCodes] ?? ''}): check username and password${this.opts.username ? ` (user "${this.opts.username}")` : ''} and the broker's access rules`,
        };
      if (VERSION_REFUSED.has(code)) return { cause: 'refused', reasonCode: code, message: `the broker ${this.target} refused the MQTT protocol version (CONNACK ${hex(code)})` };
      return { cause: 'refused', reasonCode: code, message: `the broker ${this.target} refused the connection: ${reasonWords(code)}` };
    }
    if (err.message === 'connack timeout') {
      return {
        cause: 'no-answer',
        message: `the broker ${this.target} accepted the connection but did not answer CONNECT within ${this.opts.connectTimeoutMs} ms (is it an MQTT broker? overloaded?)`,
      };
    }
    if (typeof code === 'string' && TLS_CODE.test(code)) return { cause: 'tls', message: `TLS with ${this.target} failed: ${code} (${err.message}); check tls.ca, tls.cert and tls.key` };
    if (typeof code === 'string') return { cause: this.up ? 'lost' : 'unreachable', message: `cannot reach the broker ${this.target}: ${code}` };
    return { cause: this.up ? 'lost' : 'unreachable', message: `the connection to ${this.target} failed: ${err.message}` };
  }
}

function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function hex(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}

/** "Not authorized (0x87)". */
export function reasonWords(code: number): string {
  const words = ReasonCodes[code as keyof typeof ReasonCodes];
  return `${words || 'reason code'} (${hex(code)})`;
}
