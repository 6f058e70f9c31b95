// An independent MQTT subscriber for tests: the test's own persistent session (a fixed client id,
// clean start off, a session expiry, QoS 1), so messages published while it is away (the broker
// restarting) are kept for it. It records every unit result (with its recordId from the payload
// and from the MQTT 5 user property) and every message of the other topics, in order.
import { connect, type MqttClient } from 'mqtt';
import { waitFor } from './wait.js';

export interface ReceivedResult {
  topic: string;
  recordId: string;
  /** The MQTT 5 user property `recordId`. */
  propertyRecordId: string | undefined;
  record: { recordId: string; deviceId: string; status: string; seq: number; stationId: string };
}

export interface ReceivedMessage {
  topic: string;
  text: string;
  retain: boolean;
}

export class TestSubscriber {
  readonly results: ReceivedResult[] = [];
  readonly messages: ReceivedMessage[] = [];
  /** The last message seen on each topic that is not a unit result. */
  readonly latest = new Map<string, string>();

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString();
      if (topic.endsWith('/result')) {
        const record = JSON.parse(text) as ReceivedResult['record'];
        const props = packet.properties?.userProperties as Record<string, string | string[]> | undefined;
        const prop = props?.recordId;
        this.results.push({ topic, recordId: record.recordId, propertyRecordId: Array.isArray(prop) ? prop[0] : prop, record });
        return;
      }
      this.messages.push({ topic, text, retain: packet.retain });
      if (text.length > 0) this.latest.set(topic, text);
      else this.latest.delete(topic);
    });
  }

  /** Connects (a persistent session) and subscribes `filter` at QoS 1; resolves once subscribed. */
  static async connect(url: string, opts: { clientId: string; filter: string; username?: string; password?: string }): Promise<TestSubscriber> {
    const client = connect(url, {
      clientId: opts.clientId,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 200,
      connectTimeout: 5000,
      username: opts.username,
      password: opts.password,
    });
    client.on('error', () => undefined);
    const sub = new TestSubscriber(client);
    await waitFor('the test subscriber to connect', () => client.connected, { timeoutMs: 10_000, intervalMs: 10 });
    await client.subscribeAsync(opts.filter, { qos: 1 });
    return sub;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** The distinct recordIds received. */
  recordIds(): Set<string> {
    return new Set(this.results.map((r) => r.recordId));
  }

  /** The last message on `topic` parsed as JSON, or null. */
  json<T = Record<string, unknown>>(topic: string): T | null {
    const text = this.latest.get(topic);
    return text === undefined ? null : (JSON.parse(text) as T);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
