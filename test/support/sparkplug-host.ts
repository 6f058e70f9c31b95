// An independent Sparkplug B host for tests: its own MQTT 5 client (Clean Start, as Sparkplug hosts
// connect) subscribed to `spBv1.0/<group>/#` at QoS 1 with Retain As Published (so a delivered
// message's retain flag is the publisher's), decoding every payload with Eclipse Tahu's decoder
// (sparkplug-payload). It records each message in order, and can send NCMDs.
import { connect, type MqttClient } from 'mqtt';
import sparkplugPayload from 'sparkplug-payload';
import { waitFor } from './wait.js';

export interface HostMetric {
  name: string | null;
  alias: number | null;
  type: string | null;
  value: unknown;
  timestamp: number | null;
}

export interface HostMessage {
  topic: string;
  type: string;
  edgeNodeId: string;
  deviceId: string | null;
  /** Null when the payload has none (NDEATH). */
  seq: number | null;
  timestamp: number | null;
  metrics: HostMetric[];
  /** The QoS it was delivered with: min(published, 1). */
  qos: number;
  retain: boolean;
}

const codec = sparkplugPayload.get('spBv1.0');

function isLong(v: unknown): v is { toNumber(): number } {
  return typeof v === 'object' && v !== null && typeof (v as { toNumber?: unknown }).toNumber === 'function';
}

function num(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return isLong(v) ? v.toNumber() : Number(v);
}

export class SparkplugHost {
  readonly messages: HostMessage[] = [];

  private constructor(
    private readonly client: MqttClient,
    readonly groupId: string,
  ) {
    client.on('message', (topic, payload, packet) => {
      const [, , type, edgeNodeId, deviceId] = topic.split('/');
      let p: ReturnType<NonNullable<typeof codec>['decodePayload']>;
      try {
        p = codec?.decodePayload(payload) ?? {};
      } catch {
        // Not a Sparkplug payload (a test's own bad NCMD): recorded with no metrics.
        p = {};
      }
      this.messages.push({
        topic,
        type: type ?? '',
        edgeNodeId: edgeNodeId ?? '',
        deviceId: deviceId ?? null,
        seq: num(p.seq),
        timestamp: num(p.timestamp),
        metrics: (p.metrics ?? []).map((m) => ({
          name: m.name ?? null,
          alias: num(m.alias),
          type: m.type ?? null,
          value: isLong(m.value) ? m.value.toNumber() : m.value,
          timestamp: num(m.timestamp),
        })),
        qos: packet.qos,
        retain: packet.retain,
      });
    });
  }

  static async connect(url: string, opts: { clientId: string; groupId: string }): Promise<SparkplugHost> {
    const client = connect(url, { clientId: opts.clientId, protocolVersion: 5, clean: true, reconnectPeriod: 200, connectTimeout: 5000 });
    client.on('error', () => undefined);
    const host = new SparkplugHost(client, opts.groupId);
    await waitFor('the Sparkplug host to connect', () => client.connected, { timeoutMs: 10_000, intervalMs: 10 });
    await client.subscribeAsync(`spBv1.0/${opts.groupId}/#`, { qos: 1, rap: true, nl: true });
    return host;
  }

  /** The messages of one edge node of a type (and device), in order of arrival. */
  of(type: string, edgeNodeId?: string, deviceId?: string): HostMessage[] {
    return this.messages.filter((m) => m.type === type && (edgeNodeId === undefined || m.edgeNodeId === edgeNodeId) && (deviceId === undefined || m.deviceId === deviceId));
  }

  /** The value of the bdSeq metric of an NBIRTH or NDEATH. */
  static bdSeq(m: HostMessage): number {
    const v = m.metrics.find((x) => x.name === 'bdSeq')?.value;
    if (typeof v !== 'number') throw new Error(`no bdSeq in ${m.topic}`);
    return v;
  }

  /**
   * Where `seq` breaks the rule, in words (empty when none): every message of one node but NDEATH
   * carries seq 0-255, NBIRTH 0, each other one more than the previous one's, 255 followed by 0.
   */
  static seqBreaks(messages: HostMessage[]): string[] {
    const breaks: string[] = [];
    let prev: number | null = null;
    for (const [i, m] of messages.entries()) {
      if (m.type === 'NDEATH') {
        if (m.seq !== null) breaks.push(`#${i} ${m.topic}: an NDEATH with seq ${m.seq}`);
        continue;
      }
      const want: number | null = m.type === 'NBIRTH' ? 0 : prev === null ? null : (prev + 1) % 256;
      if (m.seq === null || m.seq < 0 || m.seq > 255 || (want !== null && m.seq !== want)) breaks.push(`#${i} ${m.topic}: seq ${m.seq}, expected ${want ?? '0-255'}`);
      prev = m.seq;
    }
    return breaks;
  }

  /** Publishes an NCMD to an edge node: the payload as given (raw bytes), or encoded metrics. */
  async ncmd(edgeNodeId: string, payload: Buffer | { name: string; type: 'Boolean' | 'Int64'; value: boolean | number }[]): Promise<void> {
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(codec?.encodePayload({ timestamp: Date.now(), metrics: payload.map((m) => ({ ...m, timestamp: Date.now() })) }) ?? []);
    await this.client.publishAsync(`spBv1.0/${this.groupId}/NCMD/${edgeNodeId}`, bytes, { qos: 0, retain: false });
  }

  async rebirth(edgeNodeId: string): Promise<void> {
    await this.ncmd(edgeNodeId, [{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
