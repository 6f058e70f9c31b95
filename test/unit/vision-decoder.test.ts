// The label decoder (zxing-wasm in a worker thread) on symbols drawn by a third-party generator
// (bwip-js): Data Matrix, QR and Code 128 at several module sizes, rotations and noise levels, on
// canvases larger than the symbol. Limits are checked before decoding, unreadable images are named
// as such, and a broken install fails load() with the file's name.
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImageTooLargeError, ImageUnreadableError, LabelDecoder, LabelDecoderError, type DecodedSymbol } from '../../drivers/vision/decoder.js';
import { silentLogger } from '../../station/log.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { addGaussianNoise, addSaltAndPepper, blank, grayToPng, paste, pngHeaderOnly, pngToGray, rotate, seededRandom, symbolPng, type Gray, type SymbolKind } from '../fixtures/labels/synth.js';
import { rejectionOf, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

let decoder: LabelDecoder;
beforeAll(async () => {
  decoder = await LabelDecoder.load(silentLogger());
});
afterAll(async () => {
  await decoder?.close();
});

const deviceId = (): string => randomBytes(12).toString('hex');
const serial = (): string => `P0${String(randomInt(0, 1e10)).padStart(10, '0')}`;
// The Particle Gen 3 form: serial number, a space, the mobile secret.
const serialAndSecret = (): string => `${serial()} ${randomBytes(12).toString('base64url').slice(0, 15).toUpperCase()}`;

const TEXT: Record<SymbolKind, () => string> = { DataMatrix: deviceId, QRCode: serialAndSecret, Code128: serial };

/** The symbol on a light grey canvas with room around it, as a PNG. */
function onCanvas(symbol: Gray, margin = { x: 140, y: 90 }): { png: Buffer; at: { x: number; y: number } } {
  const canvas = blank(symbol.width + 2 * margin.x, symbol.height + 2 * margin.y, 235);
  paste(canvas, symbol, margin.x, margin.y);
  return { png: grayToPng(canvas), at: margin };
}

function found(symbols: DecodedSymbol[]): Array<[string, string]> {
  return symbols.map((s) => [s.format, s.text]);
}

describe('reads third-party symbols', () => {
  for (const kind of ['DataMatrix', 'QRCode', 'Code128'] as const) {
    for (const scale of [2, 4, 8]) {
      it(`${kind} at scale ${scale}, upright, turned 90/180/270 degrees and tilted 15 degrees`, async () => {
        const text = TEXT[kind]();
        // A linear symbol tilted 15 degrees is read along a slanted line: its bars must be tall
        // enough for one scan line to cross them all, as on a real box label.
        const symbol = pngToGray(await symbolPng(kind, text, scale, { barHeightMm: 30 }));
        for (const degrees of [0, 90, 180, 270, 15]) {
          const { png } = onCanvas(rotate(symbol, degrees));
          const symbols = await decoder.decode(png);
          expect(found(symbols), `${kind} "${text}" at scale ${scale}, rotated ${degrees} degrees`).toContainEqual([kind, text]);
        }
      });
    }
  }

  it('reports where the symbol is and how it is turned', async () => {
    const text = deviceId();
    const symbol = pngToGray(await symbolPng('DataMatrix', text, 4, { quiet: 0 }));
    const { png, at } = onCanvas(symbol);
    const [upright] = await decoder.decode(png);
    expect(upright?.text).toBe(text);
    const corners = Object.values(upright!.position);
    for (const c of corners) {
      expect(c.x).toBeGreaterThanOrEqual(at.x - 2);
      expect(c.x).toBeLessThanOrEqual(at.x + symbol.width + 2);
      expect(c.y).toBeGreaterThanOrEqual(at.y - 2);
      expect(c.y).toBeLessThanOrEqual(at.y + symbol.height + 2);
    }
    expect(upright?.orientation).toBe(0);
    const [turned] = await decoder.decode(onCanvas(rotate(symbol, 180)).png);
    expect(turned?.text).toBe(text);
    expect(Math.abs(turned!.orientation)).toBe(180);
  });

  for (const kind of ['DataMatrix', 'QRCode', 'Code128'] as const) {
    it(`${kind} through Gaussian noise and salt-and-pepper noise`, async () => {
      const random = seededRandom(0x5eed + kind.length);
      const text = TEXT[kind]();
      const symbol = pngToGray(await symbolPng(kind, text, 4, { barHeightMm: 30 }));
      for (const degrees of [0, 15]) {
        const noisy = rotate(symbol, degrees);
        // Heavy for thin bars: at sigma 30 and 2 %, about one Code 128 in ten tilted 15 degrees
        // was not read (none misread); at this level none of 150 missed.
        addGaussianNoise(noisy, 25, random);
        addSaltAndPepper(noisy, 0.015, random);
        const symbols = await decoder.decode(onCanvas(noisy).png);
        expect(found(symbols), `${kind} "${text}" rotated ${degrees} degrees with noise`).toContainEqual([kind, text]);
      }
    });
  }

  it('finds every symbol in one image', async () => {
    const [id, sn] = [deviceId(), serial()];
    const dm = pngToGray(await symbolPng('DataMatrix', id, 4));
    const code = pngToGray(await symbolPng('Code128', sn, 2));
    const canvas = blank(dm.width + code.width + 120, Math.max(dm.height, code.height) + 80, 240);
    paste(canvas, dm, 40, 40);
    paste(canvas, code, dm.width + 80, 40);
    const symbols = await decoder.decode(grayToPng(canvas));
    expect(found(symbols)).toEqual(
      expect.arrayContaining([
        ['DataMatrix', id],
        ['Code128', sn],
      ]),
    );
  });

  it('reads a JPEG photo of a label', async () => {
    const jpeg = readFileSync(path.join(PROJECT_ROOT, 'test/fixtures/labels/datamatrix-photo.jpg'));
    expect(found(await decoder.decode(jpeg))).toEqual([['DataMatrix', '30000c2a690b58e1f7a3d9e2']]);
  });

  it('looks only for the formats asked for', async () => {
    const text = serialAndSecret();
    const { png } = onCanvas(pngToGray(await symbolPng('QRCode', text, 4)));
    expect(await decoder.decode(png, { formats: ['DataMatrix', 'Code128'] })).toEqual([]);
    expect(found(await decoder.decode(png, { formats: ['QRCode'] }))).toEqual([['QRCode', text]]);
  });

  it('answers requests made at the same time, each with its own image', async () => {
    const texts = Array.from({ length: 6 }, deviceId);
    const images = await Promise.all(texts.map(async (t) => onCanvas(pngToGray(await symbolPng('DataMatrix', t, 3))).png));
    const results = await Promise.all(images.map((png) => decoder.decode(png)));
    expect(results.map((r) => r.map((s) => s.text))).toEqual(texts.map((t) => [t]));
  });
});

describe('images without a symbol, unreadable and too large', () => {
  it('finds nothing on a blank image or on noise alone', async () => {
    expect(await decoder.decode(grayToPng(blank(640, 480, 220)))).toEqual([]);
    const noise = blank(640, 480, 128);
    addGaussianNoise(noise, 60, seededRandom(99));
    addSaltAndPepper(noise, 0.1, seededRandom(100));
    expect(await decoder.decode(grayToPng(noise))).toEqual([]);
  });

  it('names a truncated PNG unreadable', async () => {
    const png = await symbolPng('DataMatrix', deviceId(), 4);
    const err = await rejectionOf(decoder.decode(png.subarray(0, Math.floor(png.length / 2))));
    expect(err).toBeInstanceOf(ImageUnreadableError);
    expect((err as Error).message).toMatch(/could not be read/);
  });

  it('names something that is not an image unreadable, before decoding', async () => {
    const err = await rejectionOf(decoder.decode(Buffer.from('GIF89a this is not a PNG or a JPEG')));
    expect(err).toBeInstanceOf(ImageUnreadableError);
    expect((err as Error).message).toMatch(/not a PNG or JPEG image/);
  });

  it('refuses an image of too many pixels from its header, without decoding it', async () => {
    // A 33-byte PNG claiming 20000 x 20000 pixels: decoding it would end as "unreadable" (there
    // are no pixels), so "too large" shows that the header was checked and nothing was decoded.
    const control = await rejectionOf(decoder.decode(pngHeaderOnly(100, 100)));
    expect(control).toBeInstanceOf(ImageUnreadableError);
    const err = await rejectionOf(decoder.decode(pngHeaderOnly(20_000, 20_000)));
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect((err as ImageTooLargeError).limit).toEqual({ pixels: 40_000_000 });
    expect((err as Error).message).toMatch(/20000 x 20000 pixels/);
  });

  it('refuses a JPEG of too many pixels from its frame header', async () => {
    // SOI, an APP0 segment, then SOF0 saying 9000 x 6000 (54 MP), and nothing else.
    const jpeg = Buffer.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x17, 0x70, 0x23, 0x28, 0x01, 0x01, 0x11,
      0x00,
    ]);
    const err = await rejectionOf(decoder.decode(jpeg));
    expect(err).toBeInstanceOf(ImageTooLargeError);
    expect((err as Error).message).toMatch(/9000 x 6000 pixels/);
  });

  it('refuses a file over the byte limit before reading it', async () => {
    const small = await LabelDecoder.load(silentLogger(), { maxImageBytes: 2000 });
    try {
      const text = deviceId();
      const png = await symbolPng('DataMatrix', text, 8);
      expect(png.length).toBeGreaterThan(2000);
      // The same image decodes under the default limit: a refusal is the limit, not the image.
      expect(found(await decoder.decode(png))).toEqual([['DataMatrix', text]]);
      const err = await rejectionOf(small.decode(png));
      expect(err).toBeInstanceOf(ImageTooLargeError);
      expect((err as ImageTooLargeError).limit).toEqual({ bytes: 2000 });
    } finally {
      await small.close();
    }
  });

  it('fails decodes after close()', async () => {
    const d = await LabelDecoder.load(silentLogger());
    await d.close();
    expect(await rejectionOf(d.decode(grayToPng(blank(10, 10))))).toBeInstanceOf(LabelDecoderError);
  });
});

describe('a broken install fails at load, naming the file', () => {
  it('a missing .wasm', async () => {
    const missing = path.join(dirs.make(), 'zxing_reader.wasm');
    const err = await rejectionOf(LabelDecoder.load(silentLogger(), { wasmPath: missing }));
    expect(err).toBeInstanceOf(LabelDecoderError);
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toMatch(/ENOENT/);
  });

  it('a truncated .wasm', async () => {
    const broken = path.join(dirs.make(), 'zxing_reader.wasm');
    const good = readFileSync(LabelDecoder.defaultWasmPath());
    writeFileSync(broken, good.subarray(0, Math.floor(good.length / 3)));
    const err = await rejectionOf(LabelDecoder.load(silentLogger(), { wasmPath: broken }));
    expect(err).toBeInstanceOf(LabelDecoderError);
    expect((err as Error).message).toContain(broken);
    expect((err as Error).message).toMatch(/sha256/);
  });

  it('a good copy elsewhere loads and reads', async () => {
    const copy = path.join(dirs.make(), 'zxing_reader.wasm');
    copyFileSync(LabelDecoder.defaultWasmPath(), copy);
    const d = await LabelDecoder.load(silentLogger(), { wasmPath: copy });
    try {
      const text = deviceId();
      expect(found(await d.decode(await symbolPng('DataMatrix', text, 3)))).toEqual([['DataMatrix', text]]);
    } finally {
      await d.close();
    }
  });
});
