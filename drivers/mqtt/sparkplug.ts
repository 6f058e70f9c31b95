// Sparkplug B 3.0 on the wire (docs/mqtt.md#sparkplug-b): the topic namespace
// `spBv1.0/<group_id>/<message type>/<edge_node_id>[/<device_id>]`, the payload (Eclipse Tahu's
// protobuf encoding, the `sparkplug-payload` package), the NDEATH that is the Last Will, and the
// `seq` counter (0-255, wrapping) every message but NDEATH carries. What is published and when is
// the edge node's business (jobs/uplink/sparkplug-node.ts); this file only speaks the format.
import sparkplugPayload from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { MqttMessage } from './connection.js';

export const SPARKPLUG_NAMESPACE = 'spBv1.0';

/** The message types an edge node publishes or receives (DCMD is not taken: slots have no outputs). */
export type SparkplugMessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD' | 'DBIRTH' | 'DDEATH' | 'DDATA';

/** The datatypes the station's metrics use (Sparkplug B's names). */
export type SparkplugDataType = 'Boolean' | 'String' | 'UInt32' | 'UInt64' | 'Double';

export type SparkplugValue = string | number | boolean | null;

/** One metric as the station writes it: a birth carries name and alias (the Rebirth metric has no
 *  alias); a DATA message carries the alias only. */
export interface SparkplugMetric {
  name?: string;
  alias?: number;
  type: SparkplugDataType;
  value: SparkplugValue;
  /** ms since the epoch. */
  timestamp: number;
}

/** A decoded payload, its 64-bit numbers as plain numbers. */
export interface DecodedPayload {
  timestamp: number | null;
  seq: number | null;
  metrics: { name: string | null; alias: number | null; type: string | null; value: unknown; timestamp: number | null }[];
}

const codec = (() => {
  const c = sparkplugPayload.get(SPARKPLUG_NAMESPACE);
  if (!c) throw new Error(`sparkplug-payload has no codec for ${SPARKPLUG_NAMESPACE}`);
  return c;
})();

/** A Group, Edge Node or Device ID: a valid UTF-8 string without "+", "/" or "#" (tck-id-topic-structure-namespace-valid-*). */
export function validSparkplugId(id: string): boolean {
  return id.length > 0 && !/[+/#\u0000]/.test(id);
}

export class SparkplugTopics {
  constructor(
    readonly groupId: string,
    readonly edgeNodeId: string,
  ) {
    for (const [what, id] of [
      ['group id', groupId],
      ['edge node id', edgeNodeId],
    ] as const) {
      if (!validSparkplugId(id)) throw new Error(`the Sparkplug ${what} "${id}" must not be empty nor contain "+", "/" or "#"`);
    }
  }

  /** `spBv1.0/<group>/<type>/<edge node>`. */
  node(type: 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD'): string {
    return `${SPARKPLUG_NAMESPACE}/${this.groupId}/${type}/${this.edgeNodeId}`;
  }

  /** `spBv1.0/<group>/<type>/<edge node>/<device>`. */
  device(type: 'DBIRTH' | 'DDEATH' | 'DDATA', deviceId: string): string {
    return `${SPARKPLUG_NAMESPACE}/${this.groupId}/${type}/${this.edgeNodeId}/${deviceId}`;
  }
}

/** The encoded payload: a timestamp, `seq` (omitted for NDEATH), the metrics. */
export function encodeSparkplug(p: { timestamp: number; seq: number | null; metrics: SparkplugMetric[] }): Buffer {
  const payload: UPayload = {
    timestamp: p.timestamp,
    metrics: p.metrics.map((m): UMetric => ({
      ...(m.name !== undefined ? { name: m.name } : {}),
      ...(m.alias !== undefined ? { alias: m.alias } : {}),
      type: m.type,
      value: m.value,
      timestamp: m.timestamp,
    })),
  };
  if (p.seq !== null) payload.seq = p.seq;
  return Buffer.from(codec.encodePayload(payload));
}

/** Decodes a Sparkplug B payload; throws on bytes that are not one. */
export function decodeSparkplug(bytes: Uint8Array): DecodedPayload {
  const p = codec.decodePayload(bytes);
  return {
    timestamp: toNumber(p.timestamp),
    seq: toNumber(p.seq),
    metrics: (p.metrics ?? []).map((m) => ({
      name: m.name ?? null,
      alias: toNumber(m.alias),
      type: m.type ?? null,
      value: isLong(m.value) ? m.value.toNumber() : m.value,
      timestamp: toNumber(m.timestamp),
    })),
  };
}

/** The NDEATH: the bdSeq metric only, no `seq`; QoS 1, not retained (tck-id-payloads-ndeath-*). Both
 *  the Last Will of a connection and what a clean stop publishes. */
export function ndeathMessage(topics: SparkplugTopics, bdSeq: number, now = Date.now()): MqttMessage {
  return { topic: topics.node('NDEATH'), payload: encodeSparkplug({ timestamp: now, seq: null, metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq, timestamp: now }] }), qos: 1, retain: false };
}

/** The next `seq`: 0-255, 255 followed by 0. */
export function nextSeq(seq: number): number {
  return (seq + 1) % 256;
}

interface LongLike {
  toNumber(): number;
}

function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).toNumber === 'function';
}

function toNumber(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (isLong(v)) return v.toNumber();
  return typeof v === 'number' ? v : Number(v);
}
