// The optical BlinkUp frame (docs/blinkup-frame.md): a factory enrollment payload as a string of
// light symbols (1 = LED on, 0 = LED off), and back. Owns the field encoding (one packed header of
// version, token type, lengths and presence bits, then the text fields as 7-bit ASCII in a fixed
// order), the framing (calibration preamble, sync word, CRC-32), the line coding (PN9 whitening,
// then a stuff symbol after every run of 8) and the digital decoder that the light-sensor decoder
// (drivers/emitter/light.ts) feeds. The frame is NRZ, one bit per symbol, and carries no byte it
// does not need, so on-air time stays close to the physical limit of an on/off LED (SPEC §5).
//
// Factory enrollment never carries a plan ID (Electric Imp: plan IDs are sent only by the
// Electric Imp app or a customer's BlinkUp SDK app), so the header has a plan ID presence bit that
// the encoder never sets and the decoder rejects.
//
// Errors and decode reasons never quote the password or the token: they are secrets (SPEC §5).
import { escapeForDisplay } from '../../lib/text.js';

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

/** The frame format this code writes and reads, the first header field. Version 1 was the TLV
 *  frame (a length byte and type-length-value fields, 8 bits per character), which had no
 *  version field; a decoder of this version refuses any other. */
export const FRAME_VERSION = 2;

/** Header field widths in bits, in transmission order (docs/blinkup-frame.md §4). A length field
 *  with "minus one" carries length − 1, so that a required field can never be absent. */
export const HEADER_BITS = {
  version: 2,
  tokenType: 2,
  /** SSID length − 1 (1-32). */
  ssidLength: 5,
  /** Password length (0 = open network, 8-64). */
  passwordLength: 7,
  /** Token length − 1 (1-128). */
  tokenLength: 7,
  /** Presence bits for the optional fields, each followed by its length − 1 (1-64) when set. */
  present: 1,
  optionalLength: 6,
} as const;
/** Every text field is ASCII, sent as its low 7 bits (the DUT unpacks them to bytes). */
export const CHAR_BITS = 7;
const CRC_BITS = 32;

export const TOKEN_TYPE_CODES: Record<TokenType, number> = { factory: 0x01, developer: 0x02, production: 0x03 };
const TOKEN_TYPES_BY_CODE = new Map<number, TokenType>(Object.entries(TOKEN_TYPE_CODES).map(([k, v]) => [v, k as TokenType]));

/** Value lengths in bytes (all text is ASCII, one byte per character). */
export const FIELD_LIMITS = {
  ssidBytes: { min: 1, max: 32 }, // IEEE 802.11: an SSID is at most 32 octets
  passwordBytes: { min: 8, max: 64 }, // WPA2: 8-63 printable characters or 64 hex digits; empty = open network
  tokenBytes: { min: 1, max: 128 },
  apnBytes: { min: 1, max: 64 },
} as const;

/** Worst-case stuff symbols for `bits` coded bits: one every 7 (a stuff symbol starts a run, so 7
 *  more equal bits complete the next one). */
const worstStuff = (bits: number): number => Math.ceil(bits / (MAX_RUN_SYMBOLS - 1));
const OPTIONAL_MAX = 2 ** HEADER_BITS.optionalLength;
const HEADER_MAX_BITS =
  HEADER_BITS.version + HEADER_BITS.tokenType + HEADER_BITS.ssidLength + HEADER_BITS.passwordLength + HEADER_BITS.tokenLength + 2 * (HEADER_BITS.present + HEADER_BITS.optionalLength);
/** Longest frame the station sends: every field at its limit, no plan ID, worst-case stuffing.
 *  2,408 symbols (40.1 s at 60 Hz), within the emitter's 4,096 per FRAME command. */
export const MAX_FRAME_SYMBOLS = (() => {
  const { ssidBytes, passwordBytes, tokenBytes, apnBytes } = FIELD_LIMITS;
  const coded = HEADER_MAX_BITS - HEADER_BITS.optionalLength + CHAR_BITS * (ssidBytes.max + passwordBytes.max + tokenBytes.max + apnBytes.max) + CRC_BITS;
  return PREAMBLE_SYMBOLS + SYNC_SYMBOLS + coded + worstStuff(coded);
})();
/** Longest frame any header describes (a password length up to 127, a plan ID): what a decoder
 *  reads before it can judge the frame. 3,431 symbols. */
export const MAX_DECODABLE_FRAME_SYMBOLS = (() => {
  const chars = 2 ** HEADER_BITS.ssidLength + (2 ** HEADER_BITS.passwordLength - 1) + 2 ** HEADER_BITS.tokenLength + 2 * OPTIONAL_MAX;
  const coded = HEADER_MAX_BITS + CHAR_BITS * chars + CRC_BITS;
  return PREAMBLE_SYMBOLS + SYNC_SYMBOLS + coded + worstStuff(coded);
})();

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

/** Bits packed 8 to a byte, first bit in the most significant bit, the last byte completed with
 *  0 bits: the bytes the frame's CRC-32 is computed over. */
export function packBits(bits: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(bits.length / 8));
  for (let i = 0; i < bits.length; i++) if (bits[i]) bytes[i >> 3] = (bytes[i >> 3] as number) | (0x80 >> (i & 7));
  return bytes;
}

/** PN9 whitening (x^9 + x^5 + 1, seed 0x1FF), the sequence TI's CC1101 uses: packed LSB-first it
 *  reads FF E1 1D 9A ED 85 33 24. One instance per frame, restarted at the first header bit. */
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
  if (pw.length === max && !/^[0-9a-fA-F]+$/.test(pw))
    throw new FrameError(`password is ${max} characters but not all hex digits; a ${max}-character WPA2 key is a hex PSK (a passphrase is ${min}-${max - 1} characters)`);
  return pw;
}

/** Text as the frame carries it: character codes (7-bit), or a string of them. */
type FrameText = string | ArrayLike<number>;

/** What a frame carries, before any check of its values: the codes and lengths that go into the
 *  header and the text. encodeRawFrame takes it, for tests and tools that need frames the station
 *  would refuse (a plan ID, a bad token type, a control character...). */
export interface RawFrame {
  /** Default FRAME_VERSION. */
  version?: number;
  /** 0-3: 1 factory, 2 developer, 3 production. */
  tokenTypeCode: number;
  ssid: FrameText;
  password: FrameText;
  token: FrameText;
  apn?: FrameText | null;
  /** Never in a frame the station sends: a DUT rejects a frame that carries one. */
  planId?: FrameText | null;
}

/** The payload's fields as the frame carries them, validated: every rule of the frame (lengths,
 *  character sets, WPA2 password forms, token type, no plan ID). Throws FrameError. */
export function frameFields(p: BlinkUpPayload): RawFrame {
  if (typeof p !== 'object' || p === null) throw new FrameError('a BlinkUp payload must be an object with ssid, password, token and tokenType');
  if (p.planId !== undefined && p.planId !== null) {
    throw new FrameError('refusing a factory BlinkUp frame with a plan ID: factory enrollment never carries one (plan IDs come only from the Electric Imp app or a BlinkUp SDK app); remove planId');
  }
  const ssid = checkText('SSID', p.ssid, FIELD_LIMITS.ssidBytes, { secret: false, lowest: PRINTABLE_MIN });
  const password = checkPassword(p.password);
  const token = checkText('enrollment token', p.token, FIELD_LIMITS.tokenBytes, { secret: true, lowest: PRINTABLE_MIN + 1 });
  const tokenTypeCode = TOKEN_TYPE_CODES[p.tokenType];
  if (!Object.hasOwn(TOKEN_TYPE_CODES, p.tokenType) || tokenTypeCode === undefined) {
    throw new FrameError(`token type ${escapeForDisplay(String(p.tokenType))} is not one of factory, developer, production`);
  }
  const fields: RawFrame = { tokenTypeCode, ssid, password, token };
  if (p.apn !== undefined && p.apn !== null) fields.apn = checkText('APN', p.apn, FIELD_LIMITS.apnBytes, { secret: false, lowest: PRINTABLE_MIN + 1 });
  return fields;
}

const codesOf = (text: FrameText): number[] => (typeof text === 'string' ? Array.from(text, (ch) => ch.charCodeAt(0)) : Array.from(text));

/** Appends `value` as `width` bits, most significant first. */
function pushBits(out: number[], value: number, width: number): void {
  for (let bit = width - 1; bit >= 0; bit--) out.push(Math.floor(value / 2 ** bit) % 2);
}

/** The header and text bits of a frame, before the CRC and the line code. Checks only that each
 *  value fits its field (FrameError otherwise); the values' rules are frameFields' job. */
function dataBits(f: RawFrame): { bits: number[]; headerBits: number } {
  const fit = (what: string, value: number, min: number, max: number): number => {
    if (!Number.isInteger(value) || value < min || value > max) throw new FrameError(`${what} is ${value}; the frame's field holds ${min}-${max}`);
    return value;
  };
  const text = (what: string, t: FrameText | null | undefined, min: number, max: number): number[] => {
    const codes = t === null || t === undefined ? [] : codesOf(t);
    fit(`${what} length`, codes.length, min, max);
    codes.forEach((c, i) => fit(`${what} character ${i}`, c, 0, 2 ** CHAR_BITS - 1));
    return codes;
  };
  const H = HEADER_BITS;
  const ssid = text('SSID', f.ssid, 1, 2 ** H.ssidLength);
  const password = text('password', f.password, 0, 2 ** H.passwordLength - 1);
  const token = text('token', f.token, 1, 2 ** H.tokenLength);
  const apn = f.apn === null || f.apn === undefined ? null : text('APN', f.apn, 1, OPTIONAL_MAX);
  const planId = f.planId === null || f.planId === undefined ? null : text('plan ID', f.planId, 1, OPTIONAL_MAX);

  const bits: number[] = [];
  pushBits(bits, fit('version', f.version ?? FRAME_VERSION, 0, 2 ** H.version - 1), H.version);
  pushBits(bits, fit('token type code', f.tokenTypeCode, 0, 2 ** H.tokenType - 1), H.tokenType);
  pushBits(bits, ssid.length - 1, H.ssidLength);
  pushBits(bits, password.length, H.passwordLength);
  pushBits(bits, token.length - 1, H.tokenLength);
  for (const optional of [apn, planId]) {
    pushBits(bits, optional ? 1 : 0, H.present);
    if (optional) pushBits(bits, optional.length - 1, H.optionalLength);
  }
  const headerBits = bits.length;
  for (const field of [ssid, password, token, apn ?? [], planId ?? []]) for (const c of field) pushBits(bits, c, CHAR_BITS);
  return { bits, headerBits };
}

// ---------------------------------------------------------------------------------------------
// Framing and line coding

/** The data bits with their CRC-32 appended: what is whitened and stuffed. */
function codedBits(f: RawFrame): number[] {
  const { bits } = dataBits(f);
  const out = [...bits];
  pushBits(out, crc32(packBits(bits)), CRC_BITS);
  return out;
}

/** Frames `f` without checking its values: for tests and tools that need frames the encoder would
 *  refuse. The station uses encodeFrame. */
export function encodeRawFrame(f: RawFrame): Uint8Array {
  const out: number[] = [...PREAMBLE, ...SYNC];
  const pn = new Pn9();
  let runValue = SYNC_TAIL.value;
  let runLength = SYNC_TAIL.length;
  for (const bit of codedBits(f)) {
    const symbol = bit ^ pn.nextBit();
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
  return Uint8Array.from(out);
}

/** The payload as light symbols (1 = LED on): preamble, sync, then header, text and CRC-32,
 *  whitened and stuffed. Throws FrameError for a payload the frame must not or cannot carry. */
export function encodeFrame(p: BlinkUpPayload): Uint8Array {
  return encodeRawFrame(frameFields(p));
}

/**
 * The content of the payload's fields alone, 8 bits per byte of each field's value: SSID,
 * password, token, the 1-byte token type, and the APN when there is one. No version, header,
 * length or framing bits: those are overhead (and the frame sends text in 7 bits a character,
 * the token type in 2). This over the symbol rate is the physical limit that SPEC §5 measures the
 * frame's on-air time against. Throws FrameError for a payload the frame refuses.
 */
export function payloadBits(p: BlinkUpPayload): number {
  const f = frameFields(p);
  const bytes = (t: FrameText | null | undefined): number => (t === null || t === undefined ? 0 : t.length);
  return 8 * (bytes(f.ssid) + bytes(f.password) + bytes(f.token) + 1 + bytes(f.apn));
}

/** Frame symbols beyond payloadBits, as a fraction of payloadBits (SPEC §5 bar: at most 0.15). */
export function frameOverhead(p: BlinkUpPayload): number {
  return encodeFrame(p).length / payloadBits(p) - 1;
}

export interface FrameLayout {
  preambleSymbols: number;
  syncSymbols: number;
  /** Version, token type, lengths and presence bits. */
  headerSymbols: number;
  /** The text fields, 7 bits a character. */
  textSymbols: number;
  crcSymbols: number;
  /** The line code's cost: stuff symbols (whitening costs none). */
  stuffSymbols: number;
  totalSymbols: number;
}

/** Where a payload's frame symbols go. */
export function frameLayout(p: BlinkUpPayload): FrameLayout {
  const { bits, headerBits } = dataBits(frameFields(p));
  const totalSymbols = encodeFrame(p).length;
  const unstuffed = PREAMBLE_SYMBOLS + SYNC_SYMBOLS + bits.length + CRC_BITS;
  return {
    preambleSymbols: PREAMBLE_SYMBOLS,
    syncSymbols: SYNC_SYMBOLS,
    headerSymbols: headerBits,
    textSymbols: bits.length - headerBits,
    crcSymbols: CRC_BITS,
    stuffSymbols: totalSymbols - unstuffed,
    totalSymbols,
  };
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

  /** The next data bit, or null when the symbols end or break the stuffing rule. */
  readBit(): number | null {
    if (!this.consumeStuff()) return null;
    const s = this.nextSymbol();
    if (s === null) return null;
    if (s === this.runValue) this.runLength++;
    else {
      this.runValue = s;
      this.runLength = 1;
    }
    return s ^ this.pn.nextBit();
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

class Truncated extends Error {}

/** The frame's fields as read, CRC checked, before their values are judged. */
interface ReadFrame {
  tokenTypeCode: number;
  ssid: number[];
  password: number[];
  token: number[];
  apn: number[] | null;
  planId: number[] | null;
}

const hex2 = (v: number): string => `0x${v.toString(16).padStart(2, '0')}`;

/** Judges the values of a frame whose CRC was good: a failure here is a bad encoder, not the
 *  channel. Reasons name fields and lengths, never a password or token character that is valid. */
function checkFields(f: ReadFrame): DecodeResult {
  if (f.planId) return { ok: false, reason: 'frame carries a plan ID: factory enrollment never carries one; frame refused' };
  const tokenType = TOKEN_TYPES_BY_CODE.get(f.tokenTypeCode);
  if (!tokenType) return { ok: false, reason: `token type code ${f.tokenTypeCode} is not defined (1 factory, 2 developer, 3 production)` };
  const text = (name: string, codes: number[], lowest: number): string | { reason: string } => {
    const bad = codes.findIndex((c) => c < lowest || c > PRINTABLE_MAX);
    if (bad >= 0)
      return {
        reason: `field ${name} has character ${hex2(codes[bad] as number)} at offset ${bad}; it carries ${lowest === PRINTABLE_MIN ? 'printable ASCII (0x20-0x7E)' : 'printable ASCII without spaces (0x21-0x7E)'}`,
      };
    return String.fromCharCode(...codes);
  };
  const ssid = text('SSID', f.ssid, PRINTABLE_MIN);
  if (typeof ssid !== 'string') return { ok: false, reason: ssid.reason };
  const { min, max } = FIELD_LIMITS.passwordBytes;
  if (f.password.length > 0 && (f.password.length < min || f.password.length > max)) {
    return { ok: false, reason: `field PASSWORD is ${f.password.length} characters; it carries 0 (open network), ${min}-${max - 1} printable characters or ${max} hex digits` };
  }
  const password = text('PASSWORD', f.password, PRINTABLE_MIN);
  if (typeof password !== 'string') return { ok: false, reason: password.reason };
  if (password.length === max && !/^[0-9a-fA-F]+$/.test(password)) return { ok: false, reason: `field PASSWORD is ${max} characters but not all hex digits` };
  const token = text('TOKEN', f.token, PRINTABLE_MIN + 1);
  if (typeof token !== 'string') return { ok: false, reason: token.reason };
  const payload: BlinkUpPayload = { ssid, password, token, tokenType };
  if (f.apn) {
    const apn = text('APN', f.apn, PRINTABLE_MIN + 1);
    if (typeof apn !== 'string') return { ok: false, reason: apn.reason };
    payload.apn = apn;
  }
  return { ok: true, payload };
}

/** Decodes the frame whose sync word starts at `syncStart`. */
function decodeAt(symbols: Uint8Array, syncStart: number, inverted: boolean): DecodeResult {
  const reader = new CodedBitReader(symbols, syncStart + SYNC_SYMBOLS, inverted);
  const bits: number[] = []; // header and text, for the CRC
  let part = 'header';
  /** `width` data bits as a number, most significant first; kept for the CRC unless told not to. */
  const read = (width: number, keep = true): number => {
    let value = 0;
    for (let i = 0; i < width; i++) {
      const bit = reader.readBit();
      if (bit === null) throw new Truncated();
      if (keep) bits.push(bit);
      value = value * 2 + bit;
    }
    return value;
  };
  const H = HEADER_BITS;
  try {
    const version = read(H.version);
    if (version !== FRAME_VERSION) {
      return { ok: false, reason: `frame format version ${version}; this decoder reads version ${FRAME_VERSION} (a symbol error, or a frame from another encoder)` };
    }
    const tokenTypeCode = read(H.tokenType);
    const ssidLength = read(H.ssidLength) + 1;
    const passwordLength = read(H.passwordLength);
    const tokenLength = read(H.tokenLength) + 1;
    const apnLength = read(H.present) ? read(H.optionalLength) + 1 : 0;
    const planIdLength = read(H.present) ? read(H.optionalLength) + 1 : 0;
    const chars = (name: string, count: number): number[] => {
      part = `${name} (${count} characters)`;
      return Array.from({ length: count }, () => read(CHAR_BITS));
    };
    const fields: ReadFrame = {
      tokenTypeCode,
      ssid: chars('SSID', ssidLength),
      password: chars('password', passwordLength),
      token: chars('token', tokenLength),
      apn: apnLength ? chars('APN', apnLength) : null,
      planId: planIdLength ? chars('plan ID', planIdLength) : null,
    };
    part = 'CRC';
    const sent = read(CRC_BITS, false);
    part = 'final stuff symbol';
    if (!reader.finish()) throw new Truncated();
    if (sent !== crc32(packBits(bits))) {
      // The CRC values themselves stay out of the reason: they are a function of the token.
      return { ok: false, reason: `CRC mismatch over the header and ${bits.length} data bits (a symbol error or a clock slip)` };
    }
    return checkFields(fields);
  } catch (err) {
    if (!(err instanceof Truncated)) throw err;
    return { ok: false, reason: reader.failure ?? `frame truncated in the ${part} at symbol ${reader.position}` };
  }
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
