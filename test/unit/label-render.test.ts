// Device labels: the layout, the PNG (decoded back by zxing-wasm to the Device ID), the ZPL (read
// back as a printer would), the PNG folder output, and what a label must never carry.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_STOCK, labelFromIdentity, layoutLabel, LabelLayoutError, type LabelSpec } from '../../drivers/label/layout.js';
import { createLabelOutput, labelOutputConfigSchema } from '../../drivers/label/index.js';
import { PngLabelSink, PngLabelSinkError } from '../../drivers/label/png-sink.js';
import { renderLabelPng } from '../../drivers/label/png.js';
import { ZplPrinter } from '../../drivers/label/printer.js';
import { parseZplFormat } from '../../drivers/label/simulator/zpl-parse.js';
import { escapeFieldData, labelZpl } from '../../drivers/label/zpl.js';
import { LabelDecoder } from '../../drivers/vision/decoder.js';
import { silentLogger } from '../../station/log.js';
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

const hex = (chars: number): string =>
  randomBytes(Math.ceil(chars / 2))
    .toString('hex')
    .slice(0, chars);

function spec(overrides: Partial<LabelSpec> = {}): LabelSpec {
  return { deviceId: hex(24), lines: ['SN P0012345678', 'MAC 00:1A:2B:3C:4D:5E'], ...DEFAULT_LABEL_STOCK, ...overrides };
}

describe('the label PNG', () => {
  const stocks = [
    { dpi: 203, widthMm: 50.8, heightMm: 25.4 },
    { dpi: 300, widthMm: 50.8, heightMm: 25.4 },
    { dpi: 600, widthMm: 38, heightMm: 19 },
    { dpi: 203, widthMm: 101.6, heightMm: 50.8 },
  ];
  for (const stock of stocks) {
    for (const idLength of [8, 24, 64]) {
      it(`decodes back to its Device ID (${idLength} hex, ${stock.widthMm} x ${stock.heightMm} mm at ${stock.dpi} dpi)`, async () => {
        const s = spec({ ...stock, deviceId: hex(idLength) });
        const symbols = await decoder.decode(await renderLabelPng(s));
        expect(symbols.map((x) => [x.format, x.text])).toEqual([['DataMatrix', s.deviceId]]);
      });
    }
  }

  it('is the stock size in printer dots, says its resolution, and keeps its ink inside the margins', async () => {
    const s = spec({ dpi: 300 });
    const png = await renderLabelPng(s);
    const image = PNG.sync.read(png);
    const layout = layoutLabel(s);
    expect([image.width, image.height]).toEqual([layout.widthDots, layout.heightDots]);
    expect([layout.widthDots, layout.heightDots]).toEqual([600, 300]);
    // pHYs: pixels per metre, both axes.
    const phys = png.indexOf('pHYs');
    expect(phys).toBeGreaterThan(0);
    expect(Math.round((png.readUInt32BE(phys + 4) * 0.0254) / 1)).toBe(300);

    const dark = (x: number, y: number): boolean => image.data[(y * image.width + x) * 4]! < 128 && image.data[(y * image.width + x) * 4 + 3]! > 0;
    const symbolEnd = layout.symbol.x + layout.symbol.modules * layout.symbol.moduleDots;
    let inkInSymbol = 0;
    let inkInText = 0;
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        if (!dark(x, y)) continue;
        const inSymbol = x >= layout.symbol.x && x < symbolEnd && y >= layout.symbol.y && y < layout.symbol.y + layout.symbol.modules * layout.symbol.moduleDots;
        const lastLine = layout.text.at(-1)!;
        const inText = x >= layout.text[0]!.x && x < image.width - 10 && y >= layout.text[0]!.y - 2 && y < lastLine.y + lastLine.heightDots + 4;
        expect(inSymbol || inText, `ink at ${x},${y} outside the symbol and the text block`).toBe(true);
        if (inSymbol) inkInSymbol++;
        else inkInText++;
      }
    }
    expect(inkInSymbol).toBeGreaterThan(1000);
    expect(inkInText).toBeGreaterThan(500); // three lines of text were drawn
  });
});

describe('the label layout', () => {
  it('places one text line per content line, the Device ID first, all within the label', () => {
    const s = spec();
    const layout = layoutLabel(s);
    expect(layout.text.map((t) => t.text)).toEqual([s.deviceId, ...s.lines]);
    for (const t of layout.text) {
      expect(t.x + t.text.length * t.charWidthDots).toBeLessThanOrEqual(layout.widthDots);
      expect(t.y + t.heightDots).toBeLessThanOrEqual(layout.heightDots);
      expect(t.x).toBeGreaterThan(layout.symbol.x + layout.symbol.modules * layout.symbol.moduleDots);
    }
    expect(layout.symbol.moduleDots % 2).toBe(0);
  });

  it('splits a long Device ID over two or three lines rather than print it unreadably small', () => {
    const s = spec({ deviceId: hex(64) });
    const layout = layoutLabel(s);
    const idLines = layout.text.slice(0, layout.text.length - s.lines.length).map((t) => t.text);
    expect(idLines.length).toBeGreaterThan(1);
    expect(idLines.join('')).toBe(s.deviceId);
    expect(layout.text.slice(idLines.length).map((t) => t.text)).toEqual(s.lines);
    // A 24-character Device ID stays on one line on the same stock.
    expect(layoutLabel(spec()).text).toHaveLength(1 + s.lines.length);
  });

  const refusals: Array<[string, Partial<LabelSpec>, RegExp]> = [
    ['a Device ID that is not hex', { deviceId: 'not-a-device-id' }, /deviceId: a Device ID is 8 to 64 hex characters/],
    ['a Device ID too short', { deviceId: 'abc123' }, /8 to 64 hex/],
    ['too many lines', { lines: ['a', 'b', 'c', 'd'] }, /at most 3 text lines/],
    ['a control character in a line', { lines: ['SN 1\r\n^XZ'] }, /printable ASCII/],
    ['a non-ASCII line', { lines: ['Gerät 5'] }, /printable ASCII/],
    ['a line too long', { lines: ['x'.repeat(41)] }, /at most 40 characters/],
    ['stock too small for the symbol', { widthMm: 15, heightMm: 10, deviceId: hex(64) }, /too small for the Data Matrix/],
    ['a line that cannot fit at a readable size', { widthMm: 20, heightMm: 10, dpi: 203, deviceId: hex(8), lines: ['x'.repeat(40)] }, /does not fit/],
  ];
  for (const [what, overrides, message] of refusals) {
    it(`refuses ${what}`, () => {
      const s = spec(overrides);
      for (const render of [() => layoutLabel(s), () => labelZpl(s)]) {
        let caught: unknown;
        try {
          render();
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(LabelLayoutError);
        expect((caught as Error).message).toMatch(message);
      }
    });
  }
});

describe('the label ZPL', () => {
  it('is one format with the label size, the Data Matrix of the Device ID and the text lines', () => {
    const s = spec();
    const zpl = labelZpl(s);
    const layout = layoutLabel(s);
    expect(zpl.startsWith('^XA')).toBe(true);
    expect(zpl.trimEnd().endsWith('^XZ')).toBe(true);
    expect(zpl.match(/\^XA/g)).toHaveLength(1);
    const format = parseZplFormat(zpl);
    expect([format.widthDots, format.lengthDots, format.copies]).toEqual([layout.widthDots, layout.heightDots, 1]);
    const symbol = format.fields.filter((f) => f.kind === 'datamatrix');
    expect(symbol).toHaveLength(1);
    expect(symbol[0]).toMatchObject({ data: s.deviceId, x: layout.symbol.x, y: layout.symbol.y });
    // ^BXN,h,200,c,r: module height in dots, ECC 200, the symbol's size.
    expect(symbol[0]!.params).toBe(`N,${layout.symbol.moduleDots},200,${layout.symbol.modules},${layout.symbol.modules}`);
    expect(format.fields.filter((f) => f.kind === 'text').map((f) => f.data)).toEqual([s.deviceId, ...s.lines]);
  });

  it('sends ^, ~ and _ in field data as ^FH hex escapes, so data cannot become commands', () => {
    const lines = ['A^XZ~JR_1', '^FS~HS', 'plain'];
    const zpl = labelZpl(spec({ lines }));
    for (const [, data] of zpl.matchAll(/\^FD(.*?)\^FS/g)) expect(data).not.toMatch(/[\^~]/);
    expect(zpl).toContain('^FH_^FDA_5EXZ_7EJR_5F1^FS');
    expect(zpl.match(/\^XZ/g)).toHaveLength(1);
    const texts = parseZplFormat(zpl)
      .fields.filter((f) => f.kind === 'text')
      .map((f) => f.data);
    expect(texts.slice(1)).toEqual(lines);
    expect(escapeFieldData('Grüße')).toBe('Gr_C3_BC_C3_9Fe');
  });
});

describe('what a label carries', () => {
  it('never the mobile secret: not in the ZPL, not in the PNG, not in the decoded symbol', async () => {
    const mobileSecret = 'MS9QZ7K2XW4PLR8';
    const identity = { deviceId: hex(24).toUpperCase(), serialNumber: 'P0012345678', mac: '001a2b3c4d5e', product: 'imp006', mobileSecret };
    const content = labelFromIdentity(identity);
    expect(content.deviceId).toBe(identity.deviceId.toLowerCase());
    expect(content.lines).toEqual(['SN P0012345678', 'MAC 00:1A:2B:3C:4D:5E', 'imp006']);
    const s = { ...content, ...DEFAULT_LABEL_STOCK };
    expect(JSON.stringify(content)).not.toContain(mobileSecret);
    expect(labelZpl(s)).not.toContain(mobileSecret);
    const png = await renderLabelPng(s);
    expect(png.includes(Buffer.from(mobileSecret))).toBe(false);
    const symbols = await decoder.decode(png);
    expect(symbols.map((x) => x.text)).toEqual([content.deviceId]);
  });
});

describe('the PNG folder output', () => {
  it('saves <deviceId>-<runId>.png whole, replaces it on a reprint, and leaves no temporary files', async () => {
    const dir = path.join(dirs.make(), 'labels', 'nested');
    const sink = new PngLabelSink({ dir, stock: DEFAULT_LABEL_STOCK, log: silentLogger() });
    const job = { deviceId: hex(24), lines: ['SN P0000000001'], runId: '6f1d2c3a-0b4e-4a5f-9c7d-1e2f3a4b5c6d' };
    await sink.print(job);
    const file = path.join(dir, `${job.deviceId}-${job.runId}.png`);
    expect(sink.pathFor(job)).toBe(file);
    const first = readFileSync(file);
    expect((await decoder.decode(first)).map((s) => s.text)).toEqual([job.deviceId]);
    await sink.print({ ...job, lines: ['SN P0000000001', 'reprint'] });
    const second = readFileSync(file);
    expect(second.equals(first)).toBe(false);
    expect((await decoder.decode(second)).map((s) => s.text)).toEqual([job.deviceId]);
    expect(readdirSync(dir)).toEqual([path.basename(file)]);
  });

  it('refuses a run id or Device ID that would make a path, and writes nothing', async () => {
    const dir = dirs.make();
    const sink = new PngLabelSink({ dir, stock: DEFAULT_LABEL_STOCK, log: silentLogger() });
    const bad = [
      { deviceId: hex(24), lines: [], runId: '../../etc/cron.d/x' },
      { deviceId: '../aa', lines: [], runId: 'run1' },
    ];
    for (const job of bad) {
      const err = await rejectionOf(sink.print(job));
      expect(err).toBeInstanceOf(PngLabelSinkError);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('names the file when the folder cannot be written', async () => {
    const base = dirs.make();
    const notAFolder = path.join(base, 'labels');
    writeFileSync(notAFolder, 'a file where the folder should be');
    const sink = new PngLabelSink({ dir: notAFolder, stock: DEFAULT_LABEL_STOCK, log: silentLogger() });
    const job = { deviceId: hex(24), lines: [], runId: 'run-7' };
    const err = await rejectionOf(sink.print(job));
    expect(err).toBeInstanceOf(PngLabelSinkError);
    expect((err as Error).message).toContain(path.join(notAFolder, `${job.deviceId}-run-7.png`));
    mkdirSync(path.join(base, 'ok'));
    expect(existsSync(path.join(base, 'ok', `${job.deviceId}-run-7.png`))).toBe(false);
  });
});

describe('label output config', () => {
  it('builds a ZPL printer on port 9100 by default, or a PNG folder relative to the config', () => {
    const zpl = createLabelOutput(labelOutputConfigSchema.parse({ kind: 'zpl', host: '10.0.0.50' }), silentLogger());
    expect(zpl).toBeInstanceOf(ZplPrinter);
    expect((zpl as ZplPrinter).name).toBe('10.0.0.50:9100');
    const png = createLabelOutput(labelOutputConfigSchema.parse({ kind: 'png', dir: 'labels' }), silentLogger(), '/srv/station');
    expect(png).toBeInstanceOf(PngLabelSink);
    expect((png as PngLabelSink).pathFor({ deviceId: 'abcdef01', runId: 'r1' })).toBe('/srv/station/labels/abcdef01-r1.png');
    expect(labelOutputConfigSchema.safeParse({ kind: 'zpl', host: 'p', port: 70000 }).success).toBe(false);
    expect(labelOutputConfigSchema.safeParse({ kind: 'cups', host: 'p' }).success).toBe(false);
  });
});
