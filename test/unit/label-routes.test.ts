// The identity routes over real HTTP: an express app with the router on an ephemeral port, the
// real decoder behind a spy, the real PNG label folder behind the reprint callback.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_LABEL_STOCK } from '../../drivers/label/layout.js';
import { PngLabelSink } from '../../drivers/label/png-sink.js';
import { PrinterError } from '../../drivers/label/printer.js';
import { LabelDecoder, type SymbolDecoder } from '../../drivers/vision/decoder.js';
import { labelReprinter } from '../../station/identity/reprint.js';
import { createIdentityRouter, type IdentityRouterDeps, type LabelReprinter } from '../../station/identity/router.js';
import { silentLogger } from '../../station/log.js';
import { blank, grayToPng, pngHeaderOnly, symbolPng } from '../fixtures/labels/synth.js';
import { TempDirs } from '../support/unit-fakes.js';

const MOBILE_SECRET = 'QW8ZK2M4XP7LR9T';
const dirs = new TempDirs();
let decoder: LabelDecoder;
const servers: Server[] = [];

beforeAll(async () => {
  decoder = await LabelDecoder.load(silentLogger());
});
afterAll(async () => {
  await decoder?.close();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  dirs.cleanup();
});

interface Harness {
  url: string;
  decode: ReturnType<typeof vi.fn>;
  printed: string[];
}

/** The router on 127.0.0.1:<any>; blessed devices are the keys of `blessed` (deviceId -> runId). */
async function serve(opts: { blessed?: Record<string, string>; maxImageBytes?: number; reprint?: LabelReprinter['reprint'] } = {}): Promise<Harness> {
  const decode = vi.fn((image: Uint8Array) => decoder.decode(image));
  const spy: SymbolDecoder = { decode };
  const sink = new PngLabelSink({ dir: dirs.make(), stock: DEFAULT_LABEL_STOCK, log: silentLogger() });
  const printed: string[] = [];
  // The station's reprint: the blessed device's identity (a mobile secret included, as a device
  // record has it) to its label, saved by the real PNG folder output.
  const reprinter = labelReprinter(sink, {
    findBlessed: (deviceId) => {
      const runId = opts.blessed?.[deviceId];
      if (!runId) return null;
      printed.push(sink.pathFor({ deviceId, runId }));
      return { deviceId, runId, serialNumber: 'P0000000042', mobileSecret: MOBILE_SECRET };
    },
  });
  const labels: LabelReprinter = opts.reprint ? { reprint: opts.reprint } : reprinter;
  const deps: IdentityRouterDeps = { decoder: spy, labels, log: silentLogger(), ...(opts.maxImageBytes ? { maxImageBytes: opts.maxImageBytes } : {}) };
  const app = express();
  app.use(createIdentityRouter(deps));
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, decode, printed };
}

async function post(url: string, body?: Uint8Array | string, contentType?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', body, headers: contentType ? { 'content-type': contentType } : {} });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('POST /api/scan/image', () => {
  it('200 with the decoded symbols: format, text and position', async () => {
    const h = await serve();
    const deviceId = randomBytes(12).toString('hex');
    const png = await symbolPng('DataMatrix', deviceId, 4);
    const res = await post(`${h.url}/api/scan/image`, png, 'image/png');
    expect(res.status).toBe(200);
    const symbols = res.json.symbols as Array<Record<string, unknown>>;
    expect(symbols).toHaveLength(1);
    expect(symbols[0]).toMatchObject({ format: 'DataMatrix', text: deviceId });
    expect(Object.keys(symbols[0]!).sort()).toEqual(['format', 'position', 'text']);
    expect(Object.keys(symbols[0]!.position as object).sort()).toEqual(['bottomLeft', 'bottomRight', 'topLeft', 'topRight']);
    // application/octet-stream is accepted too (a camera that does not say what it sends).
    expect((await post(`${h.url}/api/scan/image`, png, 'application/octet-stream')).status).toBe(200);
  });

  it('422 "no symbol found" for an image without one, and for an unreadable image (with the reason)', async () => {
    const h = await serve();
    const blankImage = await post(`${h.url}/api/scan/image`, grayToPng(blank(320, 240)), 'image/png');
    expect(blankImage).toEqual({ status: 422, json: { error: 'no symbol found' } });
    const png = await symbolPng('QRCode', 'hello', 4);
    const truncated = await post(`${h.url}/api/scan/image`, png.subarray(0, 120), 'image/png');
    expect(truncated.status).toBe(422);
    expect(truncated.json.error).toBe('no symbol found');
    expect(truncated.json.reason).toMatch(/could not be read/);
  });

  it('413 before decoding when the body is over the limit (8 MB by default)', async () => {
    const h = await serve();
    const huge = new Uint8Array(8 * 1024 * 1024 + 1);
    huge.set(await symbolPng('DataMatrix', 'abcdef0123456789', 2));
    const res = await post(`${h.url}/api/scan/image`, huge, 'image/png');
    expect(res).toEqual({ status: 413, json: { error: 'the image is too large (max 8 MB)' } });
    expect(h.decode).not.toHaveBeenCalled();
  });

  it('413 at a configured limit, and for too many pixels (from the header, nothing decoded)', async () => {
    const h = await serve({ maxImageBytes: 64 * 1024 });
    const res = await post(`${h.url}/api/scan/image`, new Uint8Array(64 * 1024 + 10), 'image/png');
    expect(res).toEqual({ status: 413, json: { error: 'the image is too large (max 64 KB)' } });
    expect(h.decode).not.toHaveBeenCalled();
    const pixels = await post(`${h.url}/api/scan/image`, pngHeaderOnly(30_000, 30_000), 'image/png');
    expect(pixels).toEqual({ status: 413, json: { error: 'the image is too large (max 40 megapixels)' } });
  });

  it('415 for another content type, 400 for no body', async () => {
    const h = await serve();
    const text = await post(`${h.url}/api/scan/image`, 'a picture of a label', 'text/plain');
    expect(text.status).toBe(415);
    expect(text.json.error).toMatch(/image\/png, image\/jpeg, application\/octet-stream.*text\/plain/);
    const gif = await post(`${h.url}/api/scan/image`, new Uint8Array([0x47, 0x49, 0x46]), 'image/gif');
    expect(gif.status).toBe(415);
    expect(h.decode).not.toHaveBeenCalled();
    const empty = await post(`${h.url}/api/scan/image`, new Uint8Array(0), 'image/png');
    expect(empty).toEqual({ status: 400, json: { error: 'the request has no image in its body' } });
  });
});

describe('POST /api/labels/:deviceId/reprint', () => {
  it('200 with the output used; the label is really saved', async () => {
    const deviceId = randomBytes(12).toString('hex');
    const h = await serve({ blessed: { [deviceId]: 'run-42' } });
    const res = await post(`${h.url}/api/labels/${deviceId.toUpperCase()}/reprint`);
    expect(res).toEqual({ status: 200, json: { printed: true, output: 'png' } });
    expect(h.printed).toHaveLength(1);
    expect(path.basename(h.printed[0]!)).toBe(`${deviceId}-run-42.png`);
    const label = readFileSync(h.printed[0]!);
    expect((await decoder.decode(label)).map((s) => s.text)).toEqual([deviceId]);
    expect(label.includes(Buffer.from(MOBILE_SECRET))).toBe(false);
    expect(JSON.stringify(res.json)).not.toContain(MOBILE_SECRET);
  });

  it('404 for a Device ID the station does not know, 400 for one that is not a Device ID', async () => {
    const h = await serve({ blessed: {} });
    const unknown = await post(`${h.url}/api/labels/0123456789abcdef01234567/reprint`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatch(/no blessed device 0123456789abcdef01234567/);
    for (const bad of ['xyz', 'abc123', `${'a'.repeat(65)}`, '..%2F..%2Fetc']) {
      const res = await post(`${h.url}/api/labels/${bad}/reprint`);
      expect(res, bad).toEqual({ status: 400, json: { error: 'the Device ID must be 8 to 64 hex characters' } });
    }
    expect(h.printed).toEqual([]);
  });

  it('?label=claim asks for the claim label: 404 naming what it needs when there is none, 400 for another label', async () => {
    const asked: string[] = [];
    const h = await serve({
      reprint: async (deviceId, which) => {
        asked.push(`${deviceId}:${which}`);
        return null;
      },
    });
    const none = await post(`${h.url}/api/labels/0123456789abcdef01234567/reprint?label=claim`);
    expect(none.status).toBe(404);
    expect(none.json.error).toBe(`no claim code is stored for a blessed device 0123456789abcdef01234567 (claim labels need the particle sink's claim.mode "code" and labels.claim)`);
    const bad = await post(`${h.url}/api/labels/0123456789abcdef01234567/reprint?label=box`);
    expect(bad).toEqual({ status: 400, json: { error: 'label must be "unit" (the default) or "claim" (the box label with the claim QR code)' } });
    expect(asked).toEqual(['0123456789abcdef01234567:claim']);
  });

  it("502 with the printer's message when the printer fails", async () => {
    const h = await serve({
      reprint: async () => {
        throw new PrinterError('paper-out', 'printer at 10.0.0.9:9100 is out of paper (labels): load labels, then reprint');
      },
    });
    const res = await post(`${h.url}/api/labels/0123456789abcdef/reprint`);
    expect(res).toEqual({ status: 502, json: { printed: false, error: 'printer at 10.0.0.9:9100 is out of paper (labels): load labels, then reprint' } });
  });
});
