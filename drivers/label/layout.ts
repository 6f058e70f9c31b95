// What goes on a device label and where: the Device ID as a Data Matrix on the left, and the same
// Device ID plus a few human-readable lines to its right. One layout in printer dots feeds both
// outputs (ZPL for a Zebra-compatible printer, PNG for a folder), so a reprint on either looks the
// same. A label carries only what a person or a scanner at the line may see: never a mobile
// secret, a token or a key (labelFromIdentity picks the fields; the schema checks the text).
// A claim label (the box label a customer scans to claim the device, docs/labels.md) has a QR
// code of its claim URL in place of the Data Matrix; that URL holds the claim code, so it is never
// put in an error message or a log line.
import { createRequire } from 'node:module';
import type BwipJs from 'bwip-js';
import { z } from 'zod';

/** The label stock loaded in the printer (or the size of the PNG). */
export interface LabelStock {
  /** Printer resolution: 203, 300 or 600 dots per inch on Zebra printers. */
  dpi: number;
  widthMm: number;
  heightMm: number;
}

/** What one label says. */
export interface LabelContent {
  /** Hex, 8-64 characters; the Data Matrix encodes exactly this. */
  deviceId: string;
  /**
   * Human-readable lines below the Device ID (serial number, MAC, product). At most 3. The Device
   * ID itself is always printed first (split over up to three lines when long).
   */
  lines: string[];
  /** A QR code of this text (a claim URL) in place of the Data Matrix; the Device ID is still printed. */
  qr?: string | undefined;
}

export type LabelSpec = LabelContent & LabelStock;

/** A 2 x 1 inch label at 203 dpi: the commonest Zebra stock. */
export const DEFAULT_LABEL_STOCK: LabelStock = { dpi: 203, widthMm: 50.8, heightMm: 25.4 };

export const MAX_LABEL_LINES = 3;
export const MAX_LINE_CHARS = 40;
/** A claim URL (a template, a Device ID and a 63-character code, URL-encoded) fits easily. */
export const MAX_QR_CHARS = 400;

export const deviceIdSchema = z.string().regex(/^[0-9a-fA-F]{8,64}$/, 'a Device ID is 8 to 64 hex characters');

export const labelStockSchema = z.strictObject({
  dpi: z.number().int().min(100).max(1200),
  widthMm: z.number().min(15).max(200),
  heightMm: z.number().min(10).max(200),
});

export const labelContentSchema = z.strictObject({
  deviceId: deviceIdSchema,
  lines: z
    .array(
      z
        .string()
        .max(MAX_LINE_CHARS, `a label line has at most ${MAX_LINE_CHARS} characters`)
        // Printable ASCII only: what every Zebra font and the PNG font draw, and no control codes.
        .regex(/^[\x20-\x7e]*$/, 'a label line is printable ASCII (no control characters or non-ASCII letters)'),
    )
    .max(MAX_LABEL_LINES, `a label has at most ${MAX_LABEL_LINES} text lines below the Device ID`),
  // The message names no part of the text: a claim URL holds a secret.
  qr: z
    .string()
    .min(1)
    .max(MAX_QR_CHARS)
    .regex(/^[\x21-\x7e]+$/, 'a QR text is printable ASCII without spaces')
    .optional(),
});

export const labelSpecSchema = labelContentSchema.extend(labelStockSchema.shape);

/** The label does not fit its stock, or its content is not allowed; the message says which. */
export class LabelLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelLayoutError';
  }
}

/** The identity a label is made from. Anything else a record holds is left off the label. */
export interface LabelIdentity {
  deviceId: string;
  serialNumber?: string | null;
  mac?: string | null;
  product?: string | null;
  /** Accepted so a whole device record can be passed in; never printed. */
  mobileSecret?: string | null;
}

/**
 * The label for a device: its Device ID, and serial number, MAC and product where known. The
 * mobile secret is a secret (stored encrypted like tokens) and is never put on the label.
 */
export function labelFromIdentity(identity: LabelIdentity): LabelContent {
  const lines: string[] = [];
  if (identity.serialNumber) lines.push(`SN ${identity.serialNumber}`);
  if (identity.mac) lines.push(`MAC ${formatMac(identity.mac)}`);
  if (identity.product) lines.push(identity.product);
  return { deviceId: identity.deviceId.toLowerCase(), lines: lines.slice(0, MAX_LABEL_LINES) };
}

function formatMac(mac: string): string {
  const hex = mac.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  return hex.length === 12 ? (hex.match(/../g) ?? []).join(':') : mac;
}

export interface TextPlacement {
  text: string;
  /** Left edge and top of the text line, in dots. */
  x: number;
  y: number;
  /** Cap-to-descender height of the font, in dots. */
  heightDots: number;
  /** Space one character takes along the line, in dots. */
  charWidthDots: number;
}

export interface LabelLayout {
  widthDots: number;
  heightDots: number;
  symbol: {
    /** A Data Matrix of the Device ID, or a QR code (error correction M) of `qr`. */
    kind: 'datamatrix' | 'qrcode';
    data: string;
    x: number;
    y: number;
    /** Dots per module (the ZPL ^BX "h" or ^BQ magnification parameter). */
    moduleDots: number;
    /** The symbol's size in modules (square). */
    modules: number;
  };
  text: TextPlacement[];
}

// Layout rules (mm), chosen for scanners and readers at the line:
const MARGIN_MM = 1.5; // unprinted edge and the symbol's quiet zone
const GAP_MM = 1.5; // between the symbol and the text
const SYMBOL_MAX_WIDTH_FRACTION = 0.35; // the rest of the width is for text
const QR_MAX_WIDTH_FRACTION = 0.5; // a claim QR is for phones: larger, the text beside it shorter
const QR_QUIET_MODULES = 4; // the QR code's quiet zone (ISO/IEC 18004)
const QR_MAX_MODULE_DOTS = 10; // ZPL's ^BQ magnification goes up to 10
const MIN_MODULE_DOTS = 2; // under 2 dots a module is too blurry for most printers
const TEXT_MAX_MM = 3.5;
const TEXT_MIN_MM = 1.2;
const TEXT_COMFORTABLE_MM = 1.8;
const LINE_SPACING = 1.25;
/** Character advance as a fraction of the text height, for the fonts used (OCR-B, ZPL font 0). */
export const CHAR_ADVANCE = 0.6;

/** Validates `spec` and places the symbol and the text; throws LabelLayoutError. */
export function layoutLabel(spec: LabelSpec): LabelLayout {
  const parsed = labelSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LabelLayoutError(`label for ${String(spec.deviceId).slice(0, 64)}: ${issue?.path.join('.') || 'spec'}: ${issue?.message ?? 'invalid'}`);
  }
  const { deviceId, lines, qr, dpi, widthMm, heightMm } = parsed.data;
  const dots = (mm: number): number => Math.round((mm / 25.4) * dpi);
  const widthDots = dots(widthMm);
  const heightDots = dots(heightMm);
  const margin = dots(MARGIN_MM);

  const symbol =
    qr === undefined
      ? placeDataMatrix(deviceId, widthDots, heightDots, margin, `${widthMm} x ${heightMm} mm label at ${dpi} dpi`)
      : placeQr(qr, widthDots, heightDots, margin, `${widthMm} x ${heightMm} mm label at ${dpi} dpi`);
  const symbolDots = symbol.modules * symbol.moduleDots;

  const textX = symbol.x + symbolDots + (symbol.kind === 'qrcode' ? QR_QUIET_MODULES * symbol.moduleDots : dots(GAP_MM));
  const textWidth = widthDots - margin - textX;
  const textHeightFor = (all: string[]): number => {
    const longest = Math.max(1, ...all.map((l) => l.length));
    const byHeight = (heightDots - 2 * margin) / (all.length * LINE_SPACING);
    const byWidth = textWidth / (longest * CHAR_ADVANCE);
    return Math.floor(Math.min(dots(TEXT_MAX_MM), byHeight, byWidth));
  };
  // The Device ID reads best on one line; a long one is split over two or three when that is
  // what it takes to reach a comfortable size (else whichever split gives the largest text).
  let all = [deviceId, ...lines];
  let textHeight = textHeightFor(all);
  for (let parts = 2; parts <= 3 && textHeight < dots(TEXT_COMFORTABLE_MM); parts++) {
    const split = [...chunk(deviceId, Math.ceil(deviceId.length / parts)), ...lines];
    const height = textHeightFor(split);
    if (height > textHeight) [all, textHeight] = [split, height];
  }
  if (textHeight < dots(TEXT_MIN_MM)) {
    const longest = Math.max(...all.map((l) => l.length));
    const culprit = all.find((l) => l.length === longest) ?? deviceId;
    throw new LabelLayoutError(
      `the text of the label for ${deviceId} does not fit a ${widthMm} x ${heightMm} mm label at a readable size ` +
        `(${all.length} lines, the longest "${culprit}" of ${longest} characters): shorten the lines or use larger stock`,
    );
  }
  const lineStep = Math.round(textHeight * LINE_SPACING);
  const blockHeight = lineStep * (all.length - 1) + textHeight;
  const top = Math.round((heightDots - blockHeight) / 2);
  const text = all.map((t, i) => ({ text: t, x: textX, y: top + i * lineStep, heightDots: textHeight, charWidthDots: Math.round(textHeight * CHAR_ADVANCE) }));
  return { widthDots, heightDots, symbol, text };
}

/** The Device ID's Data Matrix: as large as fits the height and 35 % of the width, even dots a module. */
function placeDataMatrix(deviceId: string, widthDots: number, heightDots: number, margin: number, stock: string): LabelLayout['symbol'] {
  const modules = dataMatrixModules(deviceId);
  const symbolRoom = Math.min(heightDots - 2 * margin, Math.floor(widthDots * SYMBOL_MAX_WIDTH_FRACTION));
  // Even: bwip-js draws a module as two units of its integer scale, and ZPL takes whole dots.
  const moduleDots = Math.floor(symbolRoom / modules / 2) * 2;
  if (moduleDots < MIN_MODULE_DOTS) {
    throw new LabelLayoutError(
      `a ${stock} is too small for the Data Matrix of Device ID ${deviceId} ` + `(${modules} x ${modules} modules need at least ${MIN_MODULE_DOTS} dots each): use larger stock or a higher resolution`,
    );
  }
  const symbolDots = modules * moduleDots;
  // Symbol offsets are whole modules, so the PNG renderer (which pads in modules) puts it exactly here.
  return {
    kind: 'datamatrix',
    data: deviceId,
    x: Math.ceil(margin / moduleDots) * moduleDots,
    y: Math.floor((heightDots - symbolDots) / 2 / moduleDots) * moduleDots,
    moduleDots,
    modules,
  };
}

/** A QR code with its quiet zone of 4 modules (at least the margin), as large as fits the height and half the width. */
function placeQr(text: string, widthDots: number, heightDots: number, margin: number, stock: string): LabelLayout['symbol'] {
  const modules = qrModules(text);
  const room = Math.min(heightDots, Math.floor(widthDots * QR_MAX_WIDTH_FRACTION));
  for (let moduleDots = Math.min(QR_MAX_MODULE_DOTS, Math.floor(room / (modules + 2 * QR_QUIET_MODULES) / 2) * 2); moduleDots >= MIN_MODULE_DOTS; moduleDots -= 2) {
    const quiet = Math.ceil(Math.max(margin, QR_QUIET_MODULES * moduleDots) / moduleDots) * moduleDots;
    if (modules * moduleDots + 2 * quiet > room) continue;
    return { kind: 'qrcode', data: text, x: quiet, y: Math.floor((heightDots - modules * moduleDots) / 2 / moduleDots) * moduleDots, moduleDots, modules };
  }
  // Never the text itself: a claim URL holds the claim code.
  throw new LabelLayoutError(
    `a ${stock} is too small for the claim QR code (${modules} x ${modules} modules and a quiet zone need at least ${MIN_MODULE_DOTS} dots a module): use larger stock (labels.claim.stock)`,
  );
}

function chunk(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** bwip-js, loaded on first use (its CommonJS build, synchronously): it is not needed to start. */
let bwip: typeof BwipJs | null = null;
export function bwipjs(): typeof BwipJs {
  bwip ??= createRequire(import.meta.url)('bwip-js') as typeof BwipJs;
  return bwip;
}

/** The side of the QR code (error correction M) bwip-js makes for `text`, in modules. */
function qrModules(text: string): number {
  const [symbol] = bwipjs().raw('qrcode', text, 'eclevel=M') as Array<{ pixx?: number }>;
  if (!symbol?.pixx) throw new LabelLayoutError(`cannot encode the ${text.length}-character claim URL as a QR code`);
  return symbol.pixx;
}

/** The side of the square ECC 200 Data Matrix that bwip-js (and a Zebra) makes for `data`. */
function dataMatrixModules(data: string): number {
  const [symbol] = bwipjs().raw('datamatrix', data, {}) as Array<{ pixx?: number }>;
  if (!symbol?.pixx) throw new LabelLayoutError(`cannot encode "${data}" as a Data Matrix`);
  return symbol.pixx;
}
