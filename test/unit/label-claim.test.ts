// Claim labels: the claim URL (a configured template with the Device ID and the claim code) as a
// QR code on the box label, read back with zxing-wasm; the same through the station's parts
// (particle sink -> sealed claim code -> PNG claim label); the code sealed at rest, masked in a
// decoded image, and never in a log line or an error message.
import { readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { claimLabel, claimLabelConfigSchema, claimUrl, maskClaimUrl } from '../../drivers/label/claim.js';
import { LabelLayoutError } from '../../drivers/label/layout.js';
import { renderLabelPng } from '../../drivers/label/png.js';
import { labelZpl } from '../../drivers/label/zpl.js';
import { parseZplFormat } from '../../drivers/label/simulator/zpl-parse.js';
import { ParticleSimulator } from '../../drivers/particle/simulator.js';
import { particleSinkSchema } from '../../drivers/particle/options.js';
import { LabelDecoder } from '../../drivers/vision/decoder.js';
import { LabelPrinting } from '../../jobs/labels.js';
import { createParticleSink } from '../../jobs/uplink/index.js';
import { HttpSink, type ClaimCodeStore, type OutgoingBatch } from '../../jobs/uplink/sinks.js';
import { IngestServer } from '../../drivers/cloud/ingest.js';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { parseConfig } from '../../station/config/load.js';
import { DeviceSecrets } from '../../station/identity/device-secrets.js';
import { maskingDecoder } from '../../station/identity/masking.js';
import { StationBus } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { coreConfig } from '../support/configs.js';
import { fillOutbox } from '../support/records.js';
import { captureStream, compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const TEMPLATE = 'https://example.com/claim?d={deviceId}&c={claimCode}';
const DEVICE = 'e00fce68a1b2c3d4e5f60718';
// A Particle-like claim code: 63 characters of base64, with the "+" and "/" a URL must encode.
const CODE = 'i31YZ5bRq9Z9xxX+YgGO6rY+DDJn6CzFpNA02wiBF9SvIgYbW3QtIhgnYVAt0Ow';
const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
let decoder: LabelDecoder;

beforeAll(async () => {
  decoder = await LabelDecoder.load(silentLogger());
});
afterAll(async () => decoder?.close());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

/** The Device ID and claim code a decoded claim URL carries. */
function claimParams(text: string): { d: string | null; c: string | null; origin: string; path: string } {
  const url = new URL(text);
  return { d: url.searchParams.get('d'), c: url.searchParams.get('c'), origin: url.origin, path: url.pathname };
}

describe('the claim label', () => {
  const cfg = claimLabelConfigSchema.parse({ urlTemplate: TEMPLATE });

  it('prints a QR code that decodes to the configured URL with the right Device ID and code', async () => {
    const content = claimLabel(cfg, { deviceId: DEVICE, claimCode: CODE, product: 'Argon Sensor' });
    expect(content.lines).toEqual(['Scan to claim your device', 'Argon Sensor']);
    const symbols = await decoder.decode(await renderLabelPng({ ...content, ...cfg.stock }), { formats: ['QRCode'] });
    expect(symbols).toHaveLength(1);
    expect(symbols[0]?.text).toBe(claimUrl(TEMPLATE, DEVICE, CODE));
    expect(claimParams(symbols[0]?.text as string)).toEqual({ d: DEVICE, c: CODE, origin: 'https://example.com', path: '/claim' });
  });

  it('reads on the smallest stock it fits, and refuses smaller stock without naming the URL', async () => {
    const content = claimLabel(cfg, { deviceId: DEVICE, claimCode: CODE });
    const small = { dpi: 203, widthMm: 60, heightMm: 30 };
    const symbols = await decoder.decode(await renderLabelPng({ ...content, ...small }), { formats: ['QRCode'] });
    expect(claimParams(symbols[0]?.text as string).c).toBe(CODE);
    let err: unknown;
    try {
      await renderLabelPng({ ...content, dpi: 203, widthMm: 15, heightMm: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LabelLayoutError);
    expect((err as Error).message).toMatch(/too small for the claim QR code/);
    expect((err as Error).message).not.toContain(CODE.slice(0, 10));
    expect((err as Error).message).not.toContain('example.com');
  });

  it('as ZPL: a QR field (^BQN, error correction M) with the URL as its data', () => {
    const content = claimLabel(cfg, { deviceId: DEVICE, claimCode: CODE });
    const format = parseZplFormat(labelZpl({ ...content, ...cfg.stock }));
    const qr = format.fields.find((f) => f.kind === 'qrcode');
    expect(qr?.params).toMatch(/^N,2,\d+$/);
    expect(qr?.data).toBe(`MA,${claimUrl(TEMPLATE, DEVICE, CODE)}`);
    expect(format.fields.some((f) => f.kind === 'text' && f.data === DEVICE)).toBe(true);
  });

  it('refuses a template without both placeholders, or that is not a web URL', () => {
    expect(claimLabelConfigSchema.safeParse({ urlTemplate: 'https://example.com/claim?d={deviceId}' }).error?.issues[0]?.message).toBe('must contain {claimCode}');
    expect(claimLabelConfigSchema.safeParse({ urlTemplate: 'ftp://example.com/{deviceId}/{claimCode}' }).error?.issues[0]?.message).toBe('must be an https:// (or http://) URL');
    expect(claimLabelConfigSchema.safeParse({ urlTemplate: '{deviceId}{claimCode}' }).success).toBe(false);
  });

  it('a decoded claim QR shows the Device ID and hides the code', async () => {
    expect(maskClaimUrl(TEMPLATE, claimUrl(TEMPLATE, DEVICE, CODE))).toBe(`https://example.com/claim?d=${DEVICE}&c=•••`);
    expect(maskClaimUrl(TEMPLATE, 'https://example.com/other')).toBeNull();
    const png = await renderLabelPng({ ...claimLabel(cfg, { deviceId: DEVICE, claimCode: CODE }), ...cfg.stock });
    const masked = await maskingDecoder(new ScanFields({ separator: ' ', fields: ['deviceId'], secretFields: [] }), async () => decoder, TEMPLATE).decode(png);
    expect(masked.map((s) => s.text)).toEqual([`https://example.com/claim?d=${DEVICE}&c=•••`]);
    expect(JSON.stringify(masked)).not.toContain(encodeURIComponent(CODE));
  });
});

interface Parts {
  store: Store;
  secrets: DeviceSecrets;
  labels: LabelPrinting;
  labelDir: string;
  logs: ReturnType<typeof captureStream>;
  log: ReturnType<typeof createLogger>['log'];
  bus: StationBus;
  claimCodes: ClaimCodeStore;
}

/** A store with six records in its outbox (one in four failed), the sealed secrets, PNG claim labels. */
async function stationParts(): Promise<Parts> {
  const dataDir = dirs.make();
  const labelDir = dirs.make();
  const logs = captureStream();
  const log = createLogger({ level: 'debug', destination: logs.stream as never }).log;
  const raw = coreConfig() as Record<string, unknown>;
  raw.storage = { dataDir };
  raw.labels = { product: 'Argon Sensor', claim: { urlTemplate: TEMPLATE } };
  const cfg = parseConfig(raw, { source: 'test', baseDir: dataDir });
  const store = new Store(dataDir, silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  await fillOutbox(store, seq, 6, { failEvery: 4, deviceIdHex: 24 });
  const vault = new TokenVault({ dataDir, env: {}, log: silentLogger() });
  vault.start();
  const secrets = new DeviceSecrets(store, vault);
  const bus = new StationBus();
  const labels = new LabelPrinting(
    cfg,
    store,
    bus,
    log,
    () => ({ kind: 'png', dir: labelDir, stock: { dpi: 203, widthMm: 50.8, heightMm: 25.4 } }),
    (d) => secrets.reveal(d, 'claimCode'),
  );
  await labels.start();
  cleanups.push(() => labels.stop());
  const claimCodes = {
    get: (d: string) => secrets.reveal(d, 'claimCode'),
    put: (d: string, runId: string, code: string) => {
      secrets.put(d, runId, { claimCode: code });
      labels.printClaim(d, runId, code);
    },
  };
  return { store, secrets, labels, labelDir, logs, log, bus, claimCodes };
}

/** Every blessed device has a claim label whose QR code carries its Device ID and its sealed code; the codes are nowhere in the file or the logs. */
async function expectClaimLabels(p: Parts, issued: readonly string[]): Promise<{ device_id: string; last_run_id: string }[]> {
  const blessed = p.store.database.prepare(`SELECT device_id, last_run_id FROM devices WHERE blessed_at IS NOT NULL`).all() as { device_id: string; last_run_id: string }[];
  expect(blessed).toHaveLength(4);
  expect(issued).toHaveLength(4);
  for (const d of blessed) {
    const file = path.join(p.labelDir, `${d.device_id}-${d.last_run_id}-claim.png`);
    await waitFor(`the claim label of ${d.device_id}`, () => existsSync(file), { timeoutMs: 10_000, intervalMs: 10 });
    const [symbol] = await decoder.decode(readFileSync(file), { formats: ['QRCode'] });
    const { d: deviceId, c: code } = claimParams(symbol?.text as string);
    expect(deviceId).toBe(d.device_id);
    expect(code).toBe(p.secrets.reveal(d.device_id, 'claimCode'));
    expect(issued).toContain(code);
  }
  // Sealed at rest: no code in the database file (or its WAL), in any common encoding; none in the logs.
  p.store.checkpoint();
  const db = readFileSync(p.store.dbPath);
  for (const code of issued) {
    for (const form of [code, encodeURIComponent(code), Buffer.from(code).toString('hex')]) expect(db.includes(Buffer.from(form))).toBe(false);
    expect(p.logs.text()).not.toContain(code);
    expect(p.logs.text()).not.toContain(encodeURIComponent(code));
  }
  return blessed;
}

describe('claim labels through the station parts', () => {
  it('the particle sink gets each blessed unit a code; it is sealed at rest and printed on its box label; a reprint prints the same', async () => {
    const sim = new ParticleSimulator({ products: [{ id: 77, platformId: 12 }], tokens: [{ token: 'tok-product-000000', owner: 'factory@example.com' }] });
    await sim.start();
    cleanups.push(() => sim.stop());
    const p = await stationParts();
    const config = particleSinkSchema.parse({ kind: 'particle', product: 77, platformId: 12, apiUrl: sim.url, claim: { mode: 'code' } });
    const sink = createParticleSink(config, 2000, { env: { PARTICLE_TOKEN: 'tok-product-000000' }, claimCodes: p.claimCodes });
    const job = new UplinkJob(p.store, sink, p.bus, p.log, { stationId: 'st-1', batchMaxRecords: 10, batchMaxAgeMs: 0, concurrency: 1, backoffInitialMs: 20, backoffMaxMs: 100 });
    cleanups.push(() => job.stop());
    job.start();
    await waitFor('the outbox to drain', () => job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 10 });
    const blessed = await expectClaimLabels(p, sim.state().claimCodes);
    // A reprint of the claim label prints the same code.
    const first = blessed[0] as { device_id: string; last_run_id: string };
    const file = path.join(p.labelDir, `${first.device_id}-${first.last_run_id}-claim.png`);
    const before = readFileSync(file);
    expect(await p.labels.reprinter().reprint(first.device_id, 'claim')).toEqual({ output: 'png' });
    const [again] = await decoder.decode(readFileSync(file), { formats: ['QRCode'] });
    expect(claimParams(again?.text as string).c).toBe(p.secrets.reveal(first.device_id, 'claimCode'));
    expect(readFileSync(file).equals(before)).toBe(true);
    // A device with no claim code has no claim label to reprint.
    const failed = p.store.database.prepare(`SELECT device_id FROM devices WHERE blessed_at IS NULL`).get() as { device_id: string };
    expect(await p.labels.reprinter().reprint(failed.device_id, 'claim')).toBeNull();
  });

  it("the http sink seals the claim codes of the batch contract's answer (blessed records only) and prints their labels", async () => {
    const ingest = new IngestServer({ dbPath: path.join(dirs.make(), 'ingest.db'), apiKey: 'k'.repeat(16), hmacSecret: 's'.repeat(32), claimCodes: true });
    await ingest.start();
    cleanups.push(() => ingest.stop());
    const p = await stationParts();
    const sink = new HttpSink({ url: ingest.url, stationId: 'st-1', apiKey: 'k'.repeat(16), hmacSecret: 's'.repeat(32), timeoutMs: 2000, claimCodes: p.claimCodes });
    const job = new UplinkJob(p.store, sink, p.bus, p.log, { stationId: 'st-1', batchMaxRecords: 10, batchMaxAgeMs: 0, concurrency: 1, backoffInitialMs: 20, backoffMaxMs: 100 });
    cleanups.push(() => job.stop());
    job.start();
    await waitFor('the outbox to drain', () => job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 10 });
    const records = p.store.database.prepare(`SELECT record_id, kind FROM outbox`).all() as { record_id: string; kind: string }[];
    const issued = records.filter((r) => r.kind === 'blessed').map((r) => ingest.claimCodeFor(r.record_id));
    await expectClaimLabels(p, issued);
    // The failed units have none.
    for (const d of p.store.database.prepare(`SELECT device_id FROM devices WHERE blessed_at IS NULL`).all() as { device_id: string }[]) {
      expect(p.secrets.reveal(d.device_id, 'claimCode')).toBeNull();
    }
  });
});

describe('claim codes in a batch answer that cannot be taken', () => {
  /** An ingest that answers every batch with `answer(recordIds)`: a real HTTP server. */
  async function answering(answer: (ids: string[]) => unknown): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const ids = (JSON.parse(Buffer.concat(chunks).toString()) as { records: { recordId: string }[] }).records.map((r) => r.recordId);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer(ids)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const batch = (): OutgoingBatch => {
    const recordId = '0193a4b1-f0e2-7b3c-8d11-4a5e6f708192';
    const payload = JSON.stringify({ recordId, deviceId: DEVICE, status: 'blessed', runId: '0193a4b1-e9a0-7c2d-b3f4-1a2b3c4d5e6f' });
    return {
      batchId: 'b-1',
      records: [{ seq: 1, recordId, deviceId: DEVICE, payload }],
      body: `{"batchId":"b-1","stationId":"st-1","records":[{"seq":1,${payload.slice(1)}]}`,
      recordIds: [recordId],
      firstSeq: 1,
      lastSeq: 1,
    };
  };
  const sink = (url: string, store: ClaimCodeStore): HttpSink => new HttpSink({ url, stationId: 'st-1', apiKey: 'k'.repeat(16), hmacSecret: 's'.repeat(32), timeoutMs: 2000, claimCodes: store });

  it('a code with a space in it is not the contract: the batch is sent again, nothing stored, the answer shown escaped', async () => {
    const put: string[] = [];
    const url = await answering((ids) => ({ accepted: ids, rejected: [], claimCodes: { [ids[0] as string]: 'has space' } }));
    const outcome = await sink(url, { get: () => null, put: (d) => put.push(d) }).send(batch(), new AbortController().signal);
    expect(outcome.kind).toBe('retry');
    expect(outcome.kind === 'retry' && outcome.reason).toMatch(/not the contract's shape \(claimCodes\.0193a4b1-f0e2-7b3c-8d11-4a5e6f708192: must be 1-128 printable ASCII characters, no spaces\)/);
    expect(outcome.kind === 'retry' && outcome.malformed).toMatch(/^"\{\\"accepted\\"/);
    expect(put).toEqual([]);
  });

  it('a code that cannot be stored sends the batch again (the same code comes back); a device that has one keeps it', async () => {
    const url = await answering((ids) => ({ accepted: ids, rejected: [], claimCodes: { [ids[0] as string]: 'K7Q2-9XWM-4RTA' } }));
    const failing = await sink(url, {
      get: () => null,
      put: () => {
        throw new Error('database or disk is full');
      },
    }).send(batch(), new AbortController().signal);
    expect(failing).toEqual({ kind: 'retry', reason: `the claim code for ${DEVICE} could not be stored: database or disk is full`, retryAfterMs: null });
    const put: string[] = [];
    const kept = await sink(url, { get: () => 'OLD-CODE', put: (d) => put.push(d) }).send(batch(), new AbortController().signal);
    expect(kept).toEqual({ kind: 'answered', accepted: [batch().recordIds[0]], rejected: [] });
    expect(put).toEqual([]);
  });
});
