// The optical BlinkUp frame (docs/blinkup-frame.md): a factory enrollment payload as a string of
// light symbols (1 = LED on, 0 = LED off), and back. Owns the field encoding (TLVs), the framing
// (calibration preamble, sync word, length, CRC-32), the line coding (PN9 whitening, then a stuff
// symbol after every run of 8) and the digital decoder that the light-sensor decoder
// (drivers/emitter/light.ts) feeds. The frame is NRZ, one bit per symbol, so on-air time stays
// close to the physical limit of an on/off LED (SPEC §5).
//
// Factory enrollment never carries a plan ID (Electric Imp: plan IDs are sent only by the
// Electric Imp app or a customer's BlinkUp SDK app), so PLAN_ID is a defined field type that the
// encoder refuses and the decoder rejects.
//
// Errors and decode reasons never quote the password or the token: they are secrets (SPEC §5).
import { escapeForDisplay } from '../dut/protocol.js';

export type TokenType = 'factory' | 'developer' | 'production';

export interface BlinkUpPayload {
  ssid: string;
  password: string;
  token: string;
  tokenType: TokenType;
  apn?: string | null;
  planId?: string | null;
}

/** A payload the frame cannot carry: what is wrong, and the limit it broke. */
export class FrameError extends Error {
  override name = 'FrameError';
}

export type DecodeResult = { ok: true; payload: BlinkUpPayload } | { ok: false; reason: string };

export const SYMBOL_RATE_STANDARD_HZ = 60;
export const SYMBOL_RATE_FAST_HZ = 142;

/** Calibration phase: alternating symbols, starting with LED on. Gives the DUT both light levels
 *  and 15 edges one symbol apart to measure the emitter's clock from. */
export const PREAMBLE_SYMBOLS = 16;
/** Chosen by search: it and its complement differ from every other 24-symbol window of
 *  idle + preamble + sync (either polarity, either idle level) in at least 8 symbols. */
export const SYNC_WORD = 0xc76c;
export const SYNC_SYMBOLS = 16;
/** The frame start a decoder looks for: this many preamble symbols, then the sync word. */
export const START_PATTERN_PREAMBLE_SYMBOLS = 8;
/** Mismatches tolerated in the 24-symbol start pattern (its distance to any neighbour is 8). */
export const START_PATTERN_MAX_MISMATCHES = 2;
/** Longest run of identical symbols on air after the sync word: the DUT's clock recovery sees an
 *  edge at least every 9 symbols, whatever the payload. */
export const MAX_RUN_SYMBOLS = 8;

export const FieldType = {
  SSID: 0x01,
  PASSWORD: 0x02,
  TOKEN: 0x03,
  TOKEN_TYPE: 0x04,
  APN: 0x05,
  /** Defined so that it can be refused: a factory frame never carries it. */
  PLAN_ID: 0x06,
} as const;

const FIELD_NAMES: Record<number, string> = {
  [FieldType.SSID]: 'SSID',
  [FieldType.PASSWORD]: 'PASSWORD',
  [FieldType.TOKEN]: 'TOKEN',
  [FieldType.TOKEN_TYPE]: 'TOKEN_TYPE',
  [FieldType.APN]: 'APN',
  [FieldType.PLAN_ID]: 'PLAN_ID',
};

export const TOKEN_TYPE_CODES: Record<TokenType, number> = { factory: 0x01, developer: 0x02, production: 0x03 };
const TOKEN_TYPES_BY_CODE = new Map<number, TokenType>(Object.entries(TOKEN_TYPE_CODES).map(([k, v]) => [v, k as TokenType]));

/** Value lengths in bytes (all text is ASCII, one byte per character). */
export const FIELD_LIMITS = {
  ssidBytes: { min: 1, max: 32 }, // IEEE 802.11: an SSID is at most 32 octets
  passwordBytes: { min: 8, max: 64 }, // WPA2: 8-63 printable characters or 64 hex digits; empty = open network
  tokenBytes: { min: 1, max: 128 },
  apnBytes: { min: 1, max: 64 },
} as const;

/** The length field is one byte. */
export const MAX_BODY_BYTES = 255;
/** Smallest valid body: SSID (1 char), empty password, token (1 char), token type. */
export const MIN_BODY_BYTES = 3 + 2 + 3 + 3;
const CRC_BYTES = 4;
const MAX_CODED_BITS = (1 + MAX_BODY_BYTES + CRC_BYTES) * 8;
/** Longest possible frame: a 255-byte body whose coded bits need a stuff symbol every 7 (a stuff
 *  symbol starts a run, so 7 more equal bits complete the next one). 2,410 symbols. */
export const MAX_FRAME_SYMBOLS = PREAMBLE_SYMBOLS + SYNC_SYMBOLS + MAX_CODED_BITS + Math.ceil(MAX_CODED_BITS / (MAX_RUN_SYMBOLS - 1));

const PREAMBLE = Uint8Array.from({ length: PREAMBLE_SYMBOLS }, (_, i) => (i % 2 === 0 ? 1 : 0));
const SYNC = Uint8Array.from({ length: SYNC_SYMBOLS }, (_, i) => (SYNC_WORD >> (SYNC_SYMBOLS - 1 - i)) & 1);
const START_PATTERN = Uint8Array.from([...PREAMBLE.subarray(PREAMBLE_SYMBOLS - START_PATTERN_PREAMBLE_SYMBOLS), ...SYNC]);
/** The on-air run the stuffer starts from: the run the sync word ends with (0xC76C ends in 00). */
const SYNC_TAIL = (() => {
  const value = SYNC[SYNC_SYMBOLS - 1] as number;
  let length = 0;
  for (let i = SYNC_SYMBOLS - 1; i >= 0 && SYNC[i] === value; i--) length++;
  return { value, length };
})();

// ---------------------------------------------------------------------------------------------
// Integrity and whitening

const CRC32_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, as in Ethernet and zlib): poly 0x04C11DB7 reflected, init and xorout
 *  0xFFFFFFFF. Check value: crc32("123456789") = 0xCBF43926. */
export function crc32(bytes: ArrayLike<number>): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (CRC32_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** PN9 whitening (x^9 + x^5 + 1, seed 0x1FF), the sequence TI's CC1101 uses: packed LSB-first it
 *  reads FF E1 1D 9A ED 85 33 24. One instance per frame, restarted at the length field. */
class Pn9 {
  private state = 0x1ff;
  nextBit(): number {
    const out = this.state & 1;
    const feedback = (this.state ^ (this.state >> 5)) & 1;
    this.state = (this.state >> 1) | (feedback << 8);
    return out;
  }
}

/** The first `count` whitening bits, in the order they are applied (for docs and tests). */
export function whiteningBits(count: number): Uint8Array {
  const pn = new Pn9();
  return Uint8Array.from({ length: count }, () => pn.nextBit());
}

// ---------------------------------------------------------------------------------------------
// Fields

const PRINTABLE_MIN = 0x20;
const PRINTABLE_MAX = 0x7e;

/** Checks that `value` is ASCII in [lowest, 0x7E]; `secret` keeps the value out of the message. */
function checkText(field: string, value: unknown, limits: { min: number; max: number }, opts: { secret: boolean; lowest: number }): string {
  if (typeof value !== 'string') throw new FrameError(`${field} must be a string, not ${value === null ? 'null' : typeof value}`);
  const shown = opts.secret ? '(not shown)' : escapeForDisplay(value);
  if (value.length < limits.min || value.length > limits.max) {
    throw new FrameError(`${field} ${shown} is ${value.length} characters; the frame carries ${limits.min}-${limits.max}`);
  }
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < opts.lowest || code > PRINTABLE_MAX) {
      const allowed = opts.lowest === PRINTABLE_MIN ? 'printable ASCII (0x20-0x7E)' : 'printable ASCII without spaces (0x21-0x7E)';
      throw new FrameError(`${field} ${shown} has character 0x${code.toString(16).padStart(2, '0')} at index ${i}; the frame carries ${allowed} only`);
    }
  }
  return value;
}

function checkPassword(value: unknown): string {
  if (value === '') return value; // an open network
  const { min, max } = FIELD_LIMITS.passwordBytes;
  if (typeof value === 'string' && (value.length < min || value.length > max)) {
    throw new FrameError(`password is ${value.length} characters; WPA2 needs ${min}-${max - 1} printable characters or ${max} hex digits (empty for an open network)`);
  }
  const pw = checkText('password', value, FIELD_LIMITS.passwordBytes, { secret: true, lowest: PRINTABLE_MIN });
  if (pw.length === max && !/^[0-9a-fA-F]+$/.test(pw)) throw new FrameError(`password is ${max} characters but not all hex digits; a ${max}-character WPA2 key is a hex PSK (a passphrase is ${min}-${max - 1} characters)`);
  return pw;
}

function tlv(type: number, value: ArrayLike<number>): number[] {
  return [type, value.length, ...Array.from(value)];
}

const ascii = (s: string): number[] => Array.from(s, (ch) => ch.charCodeAt(0));

/** The frame body: the payload's fields as TLVs (type byte, length byte, value), validated. */
export function encodeFields(p: BlinkUpPayload): Uint8Array {
  if (typeof p !== 'object' || p === null) throw new FrameError('a BlinkUp payload must be an object with ssid, password, token and tokenType');
  if (p.planId !== undefined && p.planId !== null) {
    throw new FrameError('refusing a factory BlinkUp frame with a plan ID: factory enrollment never carries one (plan IDs come only from the Electric Imp app or a BlinkUp SDK app); remove planId');
  }
  const ssid = checkText('SSID', p.ssid, FIELD_LIMITS.ssidBytes, { secret: false, lowest: PRINTABLE_MIN });
  const password = checkPassword(p.password);
  const token = checkText('enrollment token', p.token, FIELD_LIMITS.tokenBytes, { secret: true, lowest: PRINTABLE_MIN + 1 });
  const tokenCode = TOKEN_TYPE_CODES[p.tokenType];
  if (!Object.hasOwn(TOKEN_TYPE_CODES, p.tokenType) || tokenCode === undefined) {
    throw new FrameError(`token type ${escapeForDisplay(String(p.tokenType))} is not one of factory, developer, production`);
  }
  const body = [...tlv(FieldType.SSID, ascii(ssid)), ...tlv(FieldType.PASSWORD, ascii(password)), ...tlv(FieldType.TOKEN, ascii(token)), ...tlv(FieldType.TOKEN_TYPE, [tokenCode])];
  if (p.apn !== undefined && p.apn !== null) {
    const apn = checkText('APN', p.apn, FIELD_LIMITS.apnBytes, { secret: false, lowest: PRINTABLE_MIN + 1 });
    body.push(...tlv(FieldType.APN, ascii(apn)));
  }
  if (body.length > MAX_BODY_BYTES) {
    throw new FrameError(`the fields take ${body.length} bytes; a frame carries at most ${MAX_BODY_BYTES} (SSID ${ssid.length}, password ${password.length}, token ${token.length}, APN ${p.apn?.length ?? 0} characters, plus 2 bytes per field): shorten the token or APN`);
  }
  return Uint8Array.from(body);
}

// ---------------------------------------------------------------------------------------------
// Framing and line coding

/** Frames a body of TLV bytes without checking its fields: for tests and tools that need frames
 *  the encoder would refuse. The station uses encodeFrame. */
export function encodeRawFrame(body: ArrayLike<number>): Uint8Array {
  if (body.length > MAX_BODY_BYTES) throw new FrameError(`a frame body is at most ${MAX_BODY_BYTES} bytes, not ${body.length}`);
  const bytes = [body.length, ...Array.from(body, (b) => b & 0xff)];
  const crc = crc32(bytes);
  bytes.push((crc >>> 24) & 0xff, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff);

  const out: number[] = [...PREAMBLE, ...SYNC];
  const pn = new Pn9();
  let runValue = SYNC_TAIL.value;
  let runLength = SYNC_TAIL.length;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const symbol = ((byte >> bit) & 1) ^ pn.nextBit();
      out.push(symbol);
      if (symbol === runValue) runLength++;
      else {
        runValue = symbol;
        runLength = 1;
      }
      if (runLength === MAX_RUN_SYMBOLS) {
        // Stuffed even after the last CRC bit, so every run on air ends within 9 symbols.
        runValue ^= 1;
        runLength = 1;
        out.push(runValue);
      }
    }
  }
  return Uint8Array.from(out);
}

/** The payload as light symbols (1 = LED on): preamble, sync, then length, fields and CRC-32,
 *  whitened and stuffed. Throws FrameError for a payload the frame must not or cannot carry. */
export function encodeFrame(p: BlinkUpPayload): Uint8Array {
  return encodeRawFrame(encodeFields(p));
}

/**
 * The content of the payload's fields alone, 8 bits per byte of each field's value: SSID,
 * password, token, the 1-byte token type, and the APN when there is one. No type, length or
 * framing bytes: those are overhead. This over the symbol rate is the physical limit that
 * SPEC §5 measures the frame's on-air time against. Throws FrameError for a payload the frame
 * refuses.
 */
export function payloadBits(p: BlinkUpPayload): number {
  encodeFields(p); // validates
  const apnBytes = p.apn === undefined || p.apn === null ? 0 : p.apn.length;
  return 8 * (p.ssid.length + p.password.length + p.token.length + 1 + apnBytes);
}

/** Frame symbols beyond payloadBits, as a fraction of payloadBits (SPEC §5 bar: at most 0.15). */
export function frameOverhead(p: BlinkUpPayload): number {
  return encodeFrame(p).length / payloadBits(p) - 1;
}

export interface FrameLayout {
  preambleSymbols: number;
  syncSymbols: number;
  lengthSymbols: number;
  fieldSymbols: number;
  crcSymbols: number;
  stuffSymbols: number;
  totalSymbols: number;
}

/** Where a payload's frame symbols go. */
export function frameLayout(p: BlinkUpPayload): FrameLayout {
  const fieldSymbols = encodeFields(p).length * 8;
  const totalSymbols = encodeFrame(p).length;
  const coded = PREAMBLE_SYMBOLS + SYNC_SYMBOLS + 8 + fieldSymbols + CRC_BYTES * 8;
  return { preambleSymbols: PREAMBLE_SYMBOLS, syncSymbols: SYNC_SYMBOLS, lengthSymbols: 8, fieldSymbols, crcSymbols: CRC_BYTES * 8, stuffSymbols: totalSymbols - coded, totalSymbols };
}

export function onAirSeconds(symbolCount: number, symbolRateHz: number): number {
  if (!(symbolRateHz > 0) || !Number.isFinite(symbolRateHz)) throw new RangeError(`symbol rate must be a positive number of Hz, not ${symbolRateHz}`);
  if (!(symbolCount >= 0)) throw new RangeError(`symbol count must be zero or more, not ${symbolCount}`);
  return symbolCount / symbolRateHz;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Reads data bits after the sync word: drops stuff symbols (checking them), undoes whitening. */
class CodedBitReader {
  private readonly pn = new Pn9();
  private runValue = SYNC_TAIL.value;
  private runLength = SYNC_TAIL.length;
  failure: string | null = null;

  constructor(
    private readonly symbols: Uint8Array,
    public position: number,
    private readonly inverted: boolean,
  ) {}

  private nextSymbol(): number | null {
    if (this.position >= this.symbols.length) return null;
    return (this.symbols[this.position++] as number) ^ (this.inverted ? 1 : 0);
  }

  /** The run limit reached: the next symbol must be a stuff symbol, the complement. */
  private consumeStuff(): boolean {
    if (this.runLength < MAX_RUN_SYMBOLS) return true;
    const at = this.position;
    const s = this.nextSymbol();
    if (s === null) return false;
    if (s === this.runValue) {
      this.failure = `stuffing violation at symbol ${at}: more than ${MAX_RUN_SYMBOLS} identical symbols in a row`;
      return false;
    }
    this.runValue = s;
    this.runLength = 1;
    return true;
  }

  readByte(): number | null {
    let byte = 0;
    for (let i = 0; i < 8; i++) {
      if (!this.consumeStuff()) return null;
      const s = this.nextSymbol();
      if (s === null) return null;
      if (s === this.runValue) this.runLength++;
      else {
        this.runValue = s;
        this.runLength = 1;
      }
      byte = (byte << 1) | (s ^ this.pn.nextBit());
    }
    return byte;
  }

  /** The stuff symbol owed after the last CRC bit, if any. */
  finish(): boolean {
    return this.consumeStuff();
  }
}

/** Where the start pattern (preamble tail + sync, or its complement) matches, earliest first. */
function findSyncStarts(symbols: Uint8Array, inverted: boolean, searchEnd: number, maxCount: number): number[] {
  const found: number[] = [];
  const flip = inverted ? 1 : 0;
  const last = Math.min(searchEnd, symbols.length - START_PATTERN.length);
  for (let i = 0; i <= last && found.length < maxCount; i++) {
    let mismatches = 0;
    for (let j = 0; j < START_PATTERN.length && mismatches <= START_PATTERN_MAX_MISMATCHES; j++) {
      if (((symbols[i + j] as number) ^ flip) !== START_PATTERN[j]) mismatches++;
    }
    if (mismatches <= START_PATTERN_MAX_MISMATCHES) found.push(i + START_PATTERN_PREAMBLE_SYMBOLS);
  }
  return found;
}

const fieldName = (type: number): string => `${FIELD_NAMES[type] ?? 'unknown'} (0x${type.toString(16).padStart(2, '0')})`;

/** Parses the TLV body; CRC already checked, so a failure here is a bad encoder, not the channel. */
function parseFields(body: Uint8Array): DecodeResult {
  const values = new Map<number, Uint8Array>();
  for (let at = 0; at < body.length; ) {
    const type = body[at] as number;
    if (type === FieldType.PLAN_ID) {
      return { ok: false, reason: `frame carries a plan ID (field ${fieldName(type)}): factory enrollment never carries one; frame refused` };
    }
    if (at + 2 > body.length) return { ok: false, reason: `field ${fieldName(type)} at body offset ${at} has no length byte` };
    const length = body[at + 1] as number;
    if (at + 2 + length > body.length) return { ok: false, reason: `field ${fieldName(type)} at body offset ${at} claims ${length} bytes; only ${body.length - at - 2} remain` };
    if (!FIELD_NAMES[type]) return { ok: false, reason: `field type 0x${type.toString(16).padStart(2, '0')} at body offset ${at} is not defined` };
    if (values.has(type)) return { ok: false, reason: `field ${fieldName(type)} appears twice` };
    values.set(type, body.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  const text = (type: number, limits: { min: number; max: number }, lowest: number): string | { reason: string } => {
    const v = values.get(type);
    if (!v) return { reason: `field ${fieldName(type)} is missing` };
    if (v.length < limits.min || v.length > limits.max) return { reason: `field ${fieldName(type)} is ${v.length} bytes; allowed ${limits.min}-${limits.max}` };
    const bad = v.findIndex((b) => b < lowest || b > PRINTABLE_MAX);
    if (bad >= 0) return { reason: `field ${fieldName(type)} has byte 0x${(v[bad] as number).toString(16).padStart(2, '0')} at offset ${bad}; text fields are printable ASCII` };
    return String.fromCharCode(...v);
  };
  const ssid = text(FieldType.SSID, FIELD_LIMITS.ssidBytes, PRINTABLE_MIN);
  if (typeof ssid !== 'string') return { ok: false, reason: ssid.reason };
  const pwBytes = values.get(FieldType.PASSWORD);
  const password = pwBytes && pwBytes.length === 0 ? '' : text(FieldType.PASSWORD, FIELD_LIMITS.passwordBytes, PRINTABLE_MIN);
  if (typeof password !== 'string') return { ok: false, reason: password.reason };
  const token = text(FieldType.TOKEN, FIELD_LIMITS.tokenBytes, PRINTABLE_MIN + 1);
  if (typeof token !== 'string') return { ok: false, reason: token.reason };
  const typeBytes = values.get(FieldType.TOKEN_TYPE);
  if (!typeBytes) return { ok: false, reason: `field ${fieldName(FieldType.TOKEN_TYPE)} is missing` };
  const tokenType = typeBytes.length === 1 ? TOKEN_TYPES_BY_CODE.get(typeBytes[0] as number) : undefined;
  if (!tokenType) return { ok: false, reason: `field ${fieldName(FieldType.TOKEN_TYPE)} must be one byte, 0x01 factory, 0x02 developer or 0x03 production` };
  const payload: BlinkUpPayload = { ssid, password, token, tokenType };
  if (values.has(FieldType.APN)) {
    const apn = text(FieldType.APN, FIELD_LIMITS.apnBytes, PRINTABLE_MIN + 1);
    if (typeof apn !== 'string') return { ok: false, reason: apn.reason };
    payload.apn = apn;
  }
  return { ok: true, payload };
}

/** Decodes the frame whose sync word starts at `syncStart`. */
function decodeAt(symbols: Uint8Array, syncStart: number, inverted: boolean): DecodeResult {
  const reader = new CodedBitReader(symbols, syncStart + SYNC_SYMBOLS, inverted);
  const truncated = (what: string): DecodeResult => ({ ok: false, reason: reader.failure ?? `frame truncated in the ${what} at symbol ${reader.position}` });
  const length = reader.readByte();
  if (length === null) return truncated('length field');
  if (length < MIN_BODY_BYTES) return { ok: false, reason: `length field says ${length} bytes; a frame body is at least ${MIN_BODY_BYTES}` };
  const bytes = new Uint8Array(1 + length + CRC_BYTES);
  bytes[0] = length;
  for (let i = 1; i < bytes.length; i++) {
    const b = reader.readByte();
    if (b === null) return truncated(i <= length ? `fields (byte ${i - 1} of ${length})` : 'CRC');
    bytes[i] = b;
  }
  if (!reader.finish()) return truncated('final stuff symbol');
  const sent = ((bytes[length + 1] as number) << 24) | ((bytes[length + 2] as number) << 16) | ((bytes[length + 3] as number) << 8) | (bytes[length + 4] as number);
  const computed = crc32(bytes.subarray(0, 1 + length));
  if (sent >>> 0 !== computed) {
    // The CRC values themselves stay out of the reason: they are a function of the token.
    return { ok: false, reason: `CRC mismatch over the length and ${length} field bytes (a symbol error or a clock slip)` };
  }
  return parseFields(bytes.subarray(1, 1 + length));
}

/** Most frame starts tried in one input: bounds the work on garbage. */
const MAX_CANDIDATES = 32;

/**
 * The shared core of both decoders: finds the start pattern in `symbols` (0/1 values) at or
 * before `searchEnd` and decodes the frame after it. `inverted` reads every symbol complemented
 * (an active-low emitter seen through a light sensor). Trailing symbols after the frame are ignored.
 */
export function decodeFrameSymbols(symbols: Uint8Array, opts: { inverted: boolean; searchEnd: number }): DecodeResult & { syncFound: boolean } {
  const starts = findSyncStarts(symbols, opts.inverted, opts.searchEnd, MAX_CANDIDATES);
  let first: DecodeResult | null = null;
  for (const start of starts) {
    const result = decodeAt(symbols, start, opts.inverted);
    if (result.ok) return { ...result, syncFound: true };
    first ??= { ok: false, reason: `frame at symbol ${start - START_PATTERN_PREAMBLE_SYMBOLS}: ${result.reason}` };
  }
  if (first) return { ...first, syncFound: true };
  return { ok: false, reason: `no preamble and sync word 0x${SYNC_WORD.toString(16).toUpperCase()} in ${symbols.length} symbols`, syncFound: false };
}

/** Decodes the first good frame in a symbol string (1 = LED on). Never throws. */
export function decodeSymbols(symbols: ArrayLike<number>): DecodeResult {
  const length = typeof symbols?.length === 'number' && Number.isSafeInteger(symbols.length) && symbols.length >= 0 ? symbols.length : -1;
  if (length < 0) return { ok: false, reason: 'symbols must be an array of 0 and 1' };
  const bits = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const s = symbols[i];
    if (s !== 0 && s !== 1) return { ok: false, reason: `symbol ${i} is ${escapeForDisplay(String(s))}; symbols are 0 (LED off) or 1 (LED on)` };
    bits[i] = s;
  }
  const result = decodeFrameSymbols(bits, { inverted: false, searchEnd: length });
  return result.ok ? { ok: true, payload: result.payload } : { ok: false, reason: result.reason };
}
