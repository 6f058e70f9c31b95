// Sparkplug B on the wire (drivers/mqtt/sparkplug.ts) and the edge node's connection and bdSeq
// (jobs/uplink/sparkplug-node.ts), without a broker: the payload decodes with Eclipse Tahu's own
// decoder, the NDEATH Will carries only bdSeq and no seq, bdSeq counts up per CONNECT, wraps at 255
// and survives a restart (its file), and the connection is a clean one with its own client id.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sparkplugPayload from 'sparkplug-payload';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeSparkplug, encodeSparkplug, ndeathMessage, nextSeq, SparkplugTopics } from '../../drivers/mqtt/sparkplug.js';
import { createUplinkSinks } from '../../jobs/uplink/index.js';
import { BdSeqCounter, defaultGroupId } from '../../jobs/uplink/sparkplug-node.js';
import { parseConfig, type StationConfig } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import { shippedConfigRaw } from '../support/configs.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

describe('the Sparkplug B payload', () => {
  it("encodes what Tahu's decoder reads: seq, timestamps, names, aliases, datatypes, nulls", () => {
    const bytes = encodeSparkplug({
      timestamp: 1_700_000_000_123,
      seq: 7,
      metrics: [
        { name: 'State', alias: 101, type: 'String', value: 'testing', timestamp: 1_700_000_000_100 },
        { name: 'Device ID', alias: 102, type: 'String', value: null, timestamp: 1_700_000_000_100 },
        { alias: 106, type: 'UInt64', value: 42, timestamp: 1_700_000_000_100 },
        { name: 'Node Control/Rebirth', type: 'Boolean', value: false, timestamp: 1_700_000_000_100 },
        { alias: 109, type: 'Double', value: 0.875, timestamp: 1_700_000_000_100 },
      ],
    });
    const tahu = sparkplugPayload.get('spBv1.0')?.decodePayload(bytes);
    expect(Number(tahu?.seq?.toString())).toBe(7);
    const p = decodeSparkplug(bytes);
    expect(p).toEqual({
      timestamp: 1_700_000_000_123,
      seq: 7,
      metrics: [
        { name: 'State', alias: 101, type: 'String', value: 'testing', timestamp: 1_700_000_000_100 },
        { name: 'Device ID', alias: 102, type: 'String', value: null, timestamp: 1_700_000_000_100 },
        { name: null, alias: 106, type: 'UInt64', value: 42, timestamp: 1_700_000_000_100 },
        { name: 'Node Control/Rebirth', alias: null, type: 'Boolean', value: false, timestamp: 1_700_000_000_100 },
        { name: null, alias: 109, type: 'Double', value: 0.875, timestamp: 1_700_000_000_100 },
      ],
    });
  });

  it('throws on bytes that are not a Sparkplug payload', () => {
    expect(() => decodeSparkplug(Buffer.from('not protobuf'))).toThrow();
  });

  it('builds the topic namespace and refuses ids with "+", "/" or "#"', () => {
    const t = new SparkplugTopics('acme-shenzhen-smt-line1', 'station-7');
    expect(t.node('NBIRTH')).toBe('spBv1.0/acme-shenzhen-smt-line1/NBIRTH/station-7');
    expect(t.device('DDATA', 'slot-3')).toBe('spBv1.0/acme-shenzhen-smt-line1/DDATA/station-7/slot-3');
    expect(() => new SparkplugTopics('a/b', 'n')).toThrow(/group id/);
    expect(() => new SparkplugTopics('g', 'n#')).toThrow(/edge node id/);
    expect(defaultGroupId({ enterprise: 'acme', site: 'sz', area: 'smt', line: 'line1' })).toBe('acme-sz-smt-line1');
  });

  it('the NDEATH carries only bdSeq, no seq; QoS 1, not retained', () => {
    const m = ndeathMessage(new SparkplugTopics('g', 'n'), 17, 1_700_000_000_000);
    expect(m).toMatchObject({ topic: 'spBv1.0/g/NDEATH/n', qos: 1, retain: false });
    const p = decodeSparkplug(m.payload as Buffer);
    expect(p.seq).toBeNull();
    expect(p.metrics).toEqual([{ name: 'bdSeq', alias: null, type: 'UInt64', value: 17, timestamp: 1_700_000_000_000 }]);
  });

  it('seq runs 0-255 and wraps', () => {
    expect(nextSeq(0)).toBe(1);
    expect(nextSeq(254)).toBe(255);
    expect(nextSeq(255)).toBe(0);
  });
});

describe('bdSeq', () => {
  it('starts at 0, counts up per CONNECT, wraps after 255, and a restart continues from the file', () => {
    const file = path.join(dirs.make(), 'data', 'sparkplug-mqtt.json');
    const first = new BdSeqCounter(file, silentLogger());
    expect(first.current).toBeNull();
    expect([first.next(), first.next(), first.next()]).toEqual([0, 1, 2]);
    expect(first.current).toBe(2);
    const restarted = new BdSeqCounter(file, silentLogger());
    expect(restarted.next()).toBe(3);
    writeFileSync(file, JSON.stringify({ bdSeq: 255 }));
    expect(new BdSeqCounter(file, silentLogger()).next()).toBe(0);
    writeFileSync(file, 'garbage');
    expect(new BdSeqCounter(file, silentLogger()).next()).toBe(0);
  });
});

describe('the Sparkplug link of an MQTT sink', () => {
  it('is a connection of its own: client id <clientId>-spb, Clean Start, no session kept, the NDEATH as its Will with the next bdSeq', () => {
    const dataDir = dirs.make();
    const raw = {
      ...shippedConfigRaw<Record<string, unknown>>(),
      storage: { dataDir },
      uplink: { sinks: [{ kind: 'mqtt', url: 'mqtt://broker:1883', topicPrefix: 'uns', enterprise: 'acme', site: 'sz', area: 'smt', line: 'line1', sparkplug: true }] },
    };
    const cfg = parseConfig(raw, { source: '/etc/station/station.json', baseDir: '/etc/station' }) as StationConfig;
    const built = createUplinkSinks(cfg, { log: silentLogger(), version: '9.9.9' });
    const link = built.brokers[0]?.sparkplug;
    expect(link).toBeTruthy();
    const opts = link?.connection['opts'] as { clientId: string; cleanStart: boolean; sessionExpirySec: number; will: () => { topic: string; payload: Buffer; qos: number; retain: boolean } };
    expect(opts).toMatchObject({ clientId: `station-${cfg.station.id}-spb`, cleanStart: true, sessionExpirySec: 0 });
    expect(link?.topics.groupId).toBe('acme-sz-smt-line1');
    const w1 = opts.will();
    const w2 = opts.will();
    expect(w1).toMatchObject({ topic: `spBv1.0/acme-sz-smt-line1/NDEATH/${cfg.station.id}`, qos: 1, retain: false });
    expect(decodeSparkplug(w1.payload).metrics[0]?.value).toBe(0);
    expect(decodeSparkplug(w2.payload).metrics[0]?.value).toBe(1);
    expect(link?.bdSeq.current).toBe(1);
    const file = path.join(dataDir, 'sparkplug-mqtt.json');
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ bdSeq: 1 });
    // The UNS connection keeps its persistent session.
    const uns = built.brokers[0]?.connection['opts'] as { cleanStart?: boolean; clientId: string };
    expect(uns.cleanStart).toBeUndefined();
    expect(uns.clientId).toBe(`station-${cfg.station.id}`);
  });

  it('takes sparkplugGroupId when given; no link without sparkplug', () => {
    const sink = { kind: 'mqtt', url: 'mqtt://broker:1883', topicPrefix: 'uns', enterprise: 'acme', site: 'sz', area: 'smt', line: 'line1' };
    const cfg = parseConfig(
      {
        ...shippedConfigRaw<Record<string, unknown>>(),
        storage: { dataDir: dirs.make() },
        uplink: {
          sinks: [
            { ...sink, sparkplug: true, sparkplugGroupId: 'Plant 1' },
            { ...sink, name: 'plain', clientId: 'other' },
          ],
        },
      },
      { source: '/x/s.json', baseDir: '/x' },
    ) as StationConfig;
    const built = createUplinkSinks(cfg, { log: silentLogger(), version: '1' });
    expect(built.brokers[0]?.sparkplug?.topics.groupId).toBe('Plant 1');
    expect(built.brokers[1]?.sparkplug).toBeNull();
  });
});
