// Claim labels: the claim URL (a configured template with the Device ID and the claim code) as a
// QR code on the box label, read back with zxing-wasm; the same through the station's parts
// (particle sink -> sealed claim code -> PNG claim label); the code sealed at rest, masked in a
// decoded image, and never in a log line or an error message.
import { readFileSync, existsSync } from 'node:fs';
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

describe('claim labels through the station parts', () => {
  it('the particle sink gets each blessed unit a code; it is sealed at rest and printed on its box label; a reprint prints the same', async () => {
    const sim = new ParticleSimulator({ products: [{ id: 77, platformId: 12 }], tokens: [{ token: 'tok-product-000000', owner: 'factory@example.com' }] });
    await sim.start();
    cleanups.push(() => sim.stop());
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
    const config = particleSinkSchema.parse({ kind: 'particle', product: 77, platformId: 12, apiUrl: sim.url, claim: { mode: 'code' } });
    const claimCodes = {
      get: (d: string) => secrets.reveal(d, 'claimCode'),
      put: (d: string, runId: string, code: string) => {
        secrets.put(d, runId, { claimCode: code });
        labels.printClaim(d, runId, code);
      },
    };
    const sink = createParticleSink(config, 2000, { env: { PARTICLE_TOKEN: 'tok-product-000000' }, claimCodes });
    const job = new UplinkJob(store, sink, bus, log, { stationId: 'st-1', batchMaxRecords: 10, batchMaxAgeMs: 0, concurrency: 1, backoffInitialMs: 20, backoffMaxMs: 100 });
    cleanups.push(() => job.stop());
    job.start();
    await waitFor('the outbox to drain', () => job.status().queued === 0, { timeoutMs: 10_000, intervalMs: 10 });
    const blessed = store.database.prepare(`SELECT device_id, last_run_id FROM devices WHERE blessed_at IS NOT NULL`).all() as { device_id: string; last_run_id: string }[];
    expect(blessed).toHaveLength(4);
    const issued = sim.state().claimCodes;
    expect(issued).toHaveLength(4);
    for (const d of blessed) {
      const file = path.join(labelDir, `${d.device_id}-${d.last_run_id}-claim.png`);
      await waitFor(`the claim label of ${d.device_id}`, () => existsSync(file), { timeoutMs: 10_000, intervalMs: 10 });
      const [symbol] = await decoder.decode(readFileSync(file), { formats: ['QRCode'] });
      const { d: deviceId, c: code } = claimParams(symbol?.text as string);
      expect(deviceId).toBe(d.device_id);
      expect(code).toBe(secrets.reveal(d.device_id, 'claimCode'));
      expect(issued).toContain(code);
    }
    // Sealed at rest: no code in the database file (or its WAL), in any common encoding; none in the logs.
    store.checkpoint();
    const db = readFileSync(store.dbPath);
    for (const code of issued) {
      for (const form of [code, encodeURIComponent(code), Buffer.from(code).toString('hex')]) expect(db.includes(Buffer.from(form))).toBe(false);
      expect(logs.text()).not.toContain(code);
      expect(logs.text()).not.toContain(encodeURIComponent(code));
    }
    // A reprint of the claim label prints the same code.
    const first = blessed[0] as { device_id: string; last_run_id: string };
    const file = path.join(labelDir, `${first.device_id}-${first.last_run_id}-claim.png`);
    const before = readFileSync(file);
    expect(await labels.reprinter().reprint(first.device_id, 'claim')).toEqual({ output: 'png' });
    const [again] = await decoder.decode(readFileSync(file), { formats: ['QRCode'] });
    expect(claimParams(again?.text as string).c).toBe(secrets.reveal(first.device_id, 'claimCode'));
    expect(readFileSync(file).equals(before)).toBe(true);
    // A device with no claim code has no claim label to reprint.
    const failed = store.database.prepare(`SELECT device_id FROM devices WHERE blessed_at IS NULL`).get() as { device_id: string };
    expect(await labels.reprinter().reprint(failed.device_id, 'claim')).toBeNull();
  });
});
