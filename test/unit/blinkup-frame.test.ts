import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_VERSION,
  FrameError,
  MAX_DECODABLE_FRAME_SYMBOLS,
  MAX_FRAME_SYMBOLS,
  MAX_RUN_SYMBOLS,
  PREAMBLE_SYMBOLS,
  START_PATTERN_MAX_MISMATCHES,
  START_PATTERN_PREAMBLE_SYMBOLS,
  SYNC_SYMBOLS,
  SYNC_WORD,
  TOKEN_TYPE_CODES,
  crc32,
  decodeSymbols,
  encodeFrame,
  encodeRawFrame,
  frameFields,
  frameLayout,
  frameOverhead,
  onAirSeconds,
  packBits,
  payloadBits,
  whiteningBits,
  type BlinkUpPayload,
  type DecodeResult,
  type RawFrame,
  type TokenType,
} from '../../drivers/emitter/frame.js';
import { decodeLight, renderLight, type LightChannel } from '../../drivers/emitter/light.js';
import { Random } from '../../drivers/dut/simulator/random.js';
import { PROJECT_ROOT } from '../../station/paths.js';

// ---------------------------------------------------------------------------------------------
// Payloads

const charsFrom = (lowest: number): fc.Arbitrary<string> => fc.integer({ min: lowest, max: 0x7e }).map((c) => String.fromCharCode(c));
const text = (minLength: number, maxLength: number, lowest = 0x20): fc.Arbitrary<string> => fc.string({ unit: charsFrom(lowest), minLength, maxLength });
const passwordArb = fc.oneof(fc.constant(''), text(8, 63), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 }));
const tokenTypeArb = fc.constantFrom<TokenType>('factory', 'developer', 'production');
/** Any payload the frame carries: every field anywhere in its own range. */
const payloadArb: fc.Arbitrary<BlinkUpPayload> = fc.record({
  ssid: text(1, 32),
  password: passwordArb,
  token: text(1, 128, 0x21),
  tokenType: tokenTypeArb,
  apn: fc.option(text(1, 64, 0x21), { nil: null }),
});
/** Payloads like the station sends on a Wi-Fi line: SSID ~12, password ~16, a 40-character token. */
const typicalArb: fc.Arbitrary<BlinkUpPayload> = fc.record({
  ssid: text(10, 14),
  password: text(14, 18),
  token: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 }),
  tokenType: fc.constant<TokenType>('factory'),
});

const TYPICAL: BlinkUpPayload = {
  ssid: 'FactoryLine3',
  password: 'Pr0d-Line3-WPA2!',
  token: '1b9e4c2a7d8f3e6b5a0c9d8e7f6a5b4c3d2e1f09',
  tokenType: 'factory',
  apn: null,
};

/** What a decoder gives back for `p`: an absent APN is left out rather than null. */
function expected(p: BlinkUpPayload): BlinkUpPayload {
  const out: BlinkUpPayload = { ssid: p.ssid, password: p.password, token: p.token, tokenType: p.tokenType };
  if (p.apn !== null && p.apn !== undefined) out.apn = p.apn;
  return out;
}

function expectDecoded(result: DecodeResult, p: BlinkUpPayload): void {
  if (!result.ok) throw new Error(`decode failed: ${result.reason}`);
  expect(result.payload).toEqual(expected(p));
}

/** The invariant for anything corrupted: refused, or (when the damage missed the frame) exact. */
function expectNeverWrong(result: DecodeResult, p: BlinkUpPayload): void {
  expect(typeof result.ok).toBe('boolean');
  if (result.ok) expect(result.payload).toEqual(expected(p));
  else expect(result.reason.length).toBeGreaterThan(0);
}

const FRAME_DATA_START = PREAMBLE_SYMBOLS + SYNC_SYMBOLS;

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
/** `value` as `width` bits, most significant first. */
const bitsOf = (value: number, width: number): number[] => Array.from({ length: width }, (_, i) => Math.floor(value / 2 ** (width - 1 - i)) % 2);
/** A doc block marked <!-- name -->, without its whitespace. */
function docBlock(name: string): string {
  const doc = readFileSync(`${PROJECT_ROOT}/docs/blinkup-frame.md`, 'utf8');
  const block = new RegExp(`<!-- ${name} -->\\s*\`\`\`text\\n([^\`]+)\`\`\``).exec(doc);
  expect(block, `the doc marks a block with <!-- ${name} -->`).not.toBeNull();
  return (block?.[1] ?? '').replace(/\s+/g, '');
}

// ---------------------------------------------------------------------------------------------

describe('integrity check and whitening', () => {
  it('CRC-32 gives the standard check value for "123456789"', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32([])).toBe(0);
  });

  it('whitening is the CC1101 PN9 sequence (FF E1 1D 9A ED 85 33 24 packed LSB first)', () => {
    const bits = whiteningBits(64);
    const bytes = Array.from({ length: 8 }, (_, b) => bits.subarray(b * 8, b * 8 + 8).reduce((v, bit, i) => v | (bit << i), 0));
    expect(bytes).toEqual([0xff, 0xe1, 0x1d, 0x9a, 0xed, 0x85, 0x33, 0x24]);
  });
});

describe('encodeFrame', () => {
  it('starts with the alternating calibration preamble and the sync word', () => {
    const symbols = encodeFrame(TYPICAL);
    expect(Array.from(symbols.subarray(0, PREAMBLE_SYMBOLS))).toEqual(Array.from({ length: PREAMBLE_SYMBOLS }, (_, i) => 1 - (i % 2)));
    const sync = symbols.subarray(PREAMBLE_SYMBOLS, FRAME_DATA_START).reduce((v, s) => (v << 1) | s, 0);
    expect(sync).toBe(SYNC_WORD);
  });

  it('produces the worked example in docs/blinkup-frame.md, bit for bit, byte for byte and symbol for symbol', () => {
    const p: BlinkUpPayload = { ssid: 'LINE3', password: '', token: 'f7c2e91d', tokenType: 'factory' };
    // The header and text as the doc's §4 lays them out, built here independently of the encoder.
    const header = [...bitsOf(FRAME_VERSION, 2), ...bitsOf(TOKEN_TYPE_CODES.factory, 2), ...bitsOf(5 - 1, 5), ...bitsOf(0, 7), ...bitsOf(8 - 1, 7), 0, 0];
    const data = [...header, ...ascii('LINE3f7c2e91d').flatMap((c) => bitsOf(c, 7))];
    expect(data.join('')).toBe(docBlock('worked-example-data-bits'));
    const crcInput = Array.from(packBits(data), (b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
    expect(crcInput).toBe(docBlock('worked-example-crc-input'));
    expect(crc32(packBits(data)).toString(16).toUpperCase().padStart(8, '0')).toBe(docBlock('worked-example-crc'));
    const documented = docBlock('worked-example-symbols');
    expect(Array.from(encodeFrame(p)).join('')).toBe(documented);
    expectDecoded(decodeSymbols(Array.from(documented, Number)), p);
  });

  it('round-trips random payloads through decodeSymbols', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        const symbols = encodeFrame(p);
        expect(symbols.length).toBeLessThanOrEqual(MAX_FRAME_SYMBOLS);
        expectDecoded(decodeSymbols(symbols), p);
      }),
      { seed: 0xb1, numRuns: 400 },
    );
  });

  it('never puts more than MAX_RUN_SYMBOLS identical symbols in a row on air', () => {
    // Includes payloads of one repeated character, the likeliest to survive whitening as long runs.
    const repetitive = fc
      .record({ c: charsFrom(0x21), ssidLength: fc.integer({ min: 1, max: 32 }), tokenLength: fc.integer({ min: 1, max: 128 }), apnLength: fc.integer({ min: 0, max: 64 }) })
      .map(({ c, ssidLength, tokenLength, apnLength }): BlinkUpPayload => ({
        ssid: c.repeat(ssidLength),
        password: c.repeat(8),
        token: c.repeat(tokenLength),
        tokenType: 'factory',
        apn: apnLength ? c.repeat(apnLength) : null,
      }));
    fc.assert(
      fc.property(fc.oneof(payloadArb, repetitive), (p) => {
        let run = 0;
        let longest = 0;
        const symbols = encodeFrame(p);
        symbols.forEach((s, i) => {
          run = i > 0 && s === symbols[i - 1] ? run + 1 : 1;
          longest = Math.max(longest, run);
        });
        expect(longest).toBeLessThanOrEqual(MAX_RUN_SYMBOLS);
      }),
      { seed: 0xb2, numRuns: 300 },
    );
  });

  it('counts the content of the fields alone as payload bits: no type, length or framing bits', () => {
    // 8 bits per byte of each value: SSID 12, password 16, token 40, token type 1.
    expect(payloadBits(TYPICAL)).toBe(8 * (12 + 16 + 40 + 1));
    expect(payloadBits({ ...TYPICAL, apn: 'iot.example' })).toBe(8 * (12 + 16 + 40 + 1 + 11));
    expect(payloadBits({ ...TYPICAL, password: '' })).toBe(8 * (12 + 40 + 1));
    fc.assert(
      fc.property(payloadArb, (p) => {
        expect(payloadBits(p)).toBe(8 * (p.ssid.length + p.password.length + p.token.length + 1 + (p.apn?.length ?? 0)));
      }),
      { seed: 0xbb, numRuns: 100 },
    );
  });

  it('keeps a typical factory payload within 15% of the physical limit (SPEC §5)', () => {
    // The symbol count is a property of the encoding: fixed parts plus stuffing, which varies a
    // little with the payload's bits (docs/blinkup-frame.md, "On-air budget").
    const layout = frameLayout(TYPICAL);
    expect(layout).toMatchObject({ preambleSymbols: 16, syncSymbols: 16, headerSymbols: 25, textSymbols: 7 * 68, crcSymbols: 32 });
    expect(layout.preambleSymbols + layout.syncSymbols + layout.headerSymbols + layout.textSymbols + layout.crcSymbols + layout.stuffSymbols).toBe(layout.totalSymbols);
    expect(encodeFrame(TYPICAL).length).toBe(layout.totalSymbols);
    expect(layout.totalSymbols).toBeLessThanOrEqual(Math.floor(1.15 * payloadBits(TYPICAL))); // 634
    expect(frameOverhead(TYPICAL)).toBeLessThanOrEqual(0.15);
    for (const symbolRateHz of [60, 142]) {
      const limitSeconds = payloadBits(TYPICAL) / symbolRateHz;
      expect(onAirSeconds(encodeFrame(TYPICAL).length, symbolRateHz)).toBeLessThanOrEqual(1.15 * limitSeconds);
    }
    fc.assert(
      fc.property(typicalArb, (p) => {
        expect(frameOverhead(p)).toBeLessThanOrEqual(0.15);
      }),
      { seed: 0xb3, numRuns: 200 },
    );
  });

  it('says on-air time from symbol count and rate, and refuses a nonsense rate', () => {
    expect(onAirSeconds(600, 60)).toBeCloseTo(10, 12);
    expect(onAirSeconds(142, 142)).toBeCloseTo(1, 12);
    expect(() => onAirSeconds(10, 0)).toThrow(/symbol rate/);
  });

  it('refuses a payload with a plan ID: factory enrollment never carries one', () => {
    expect(() => encodeFrame({ ...TYPICAL, planId: 'c0ffee-plan' })).toThrow(FrameError);
    expect(() => encodeFrame({ ...TYPICAL, planId: 'c0ffee-plan' })).toThrow(/plan ID/);
    expect(() => payloadBits({ ...TYPICAL, planId: '' })).toThrow(/plan ID/);
    expectDecoded(decodeSymbols(encodeFrame({ ...TYPICAL, planId: null })), TYPICAL);
  });

  it.each<[string, Partial<BlinkUpPayload>, RegExp]>([
    ['an empty SSID', { ssid: '' }, /SSID .* is 0 characters; the frame carries 1-32/],
    ['an SSID over 32 characters', { ssid: 'S'.repeat(33) }, /SSID .* is 33 characters; the frame carries 1-32/],
    ['a non-printable SSID', { ssid: 'Line\x073' }, /SSID .* has character 0x07 at index 4/],
    ['a non-ASCII SSID', { ssid: 'Ligne-é' }, /SSID .* has character 0xe9 at index 6/],
    ['a password under 8 characters', { password: 'short7!' }, /password is 7 characters; WPA2 needs 8-63/],
    ['a 64-character password that is not hex', { password: 'p'.repeat(64) }, /not all hex digits/],
    ['a password over 64 characters', { password: 'p'.repeat(65) }, /password is 65 characters; WPA2 needs 8-63 printable characters or 64 hex digits/],
    ['an empty token', { token: '' }, /enrollment token .* is 0 characters; the frame carries 1-128/],
    ['a token over 128 characters', { token: 't'.repeat(129) }, /enrollment token .* is 129 characters/],
    ['a token with a space', { token: 'tok en' }, /enrollment token .* has character 0x20 at index 3/],
    ['an unknown token type', { tokenType: 'bogus' as TokenType }, /token type "bogus" is not one of factory, developer, production/],
    ['an empty APN', { apn: '' }, /APN "" is 0 characters; the frame carries 1-64/],
    ['an APN over 64 characters', { apn: 'a'.repeat(65) }, /APN .* is 65 characters/],
    ['a plan ID, even an empty one', { planId: '' }, /refusing a factory BlinkUp frame with a plan ID/],
    ['a payload that is not an object', null as unknown as Partial<BlinkUpPayload>, /must be an object/],
  ])('refuses %s with a clear error', (_what, change, message) => {
    const p = change === null ? (null as unknown as BlinkUpPayload) : { ...TYPICAL, ...change };
    let error: unknown = null;
    try {
      encodeFrame(p);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FrameError);
    expect((error as Error).message).toMatch(message);
    // Secrets stay out of error messages (they end up in logs).
    if (p && p.password.length >= 4) expect((error as Error).message).not.toContain(p.password);
    if (p && p.token.length >= 4) expect((error as Error).message).not.toContain(p.token);
  });

  it('accepts the limits themselves, every field at its own limit at once', () => {
    const p: BlinkUpPayload = { ssid: 'S'.repeat(32), password: 'aB3'.repeat(21) + 'f', token: 't'.repeat(128), tokenType: 'production', apn: 'a'.repeat(64) };
    expect(frameLayout(p)).toMatchObject({ headerSymbols: 31, textSymbols: 7 * (32 + 64 + 128 + 64) });
    expect(encodeFrame(p).length).toBeLessThanOrEqual(MAX_FRAME_SYMBOLS);
    expect(MAX_FRAME_SYMBOLS).toBeLessThanOrEqual(4096); // one emitter FRAME command
    expectDecoded(decodeSymbols(encodeFrame(p)), p);
    expectDecoded(decodeSymbols(encodeFrame({ ...p, password: '', apn: null })), { ...p, password: '', apn: null });
    expectDecoded(decodeSymbols(encodeFrame({ ssid: ' ', password: '', token: '!', tokenType: 'developer' })), { ssid: ' ', password: '', token: '!', tokenType: 'developer' });
  });

  it('gives the raw encoder only what the header can hold', () => {
    const raw: RawFrame = { tokenTypeCode: 1, ssid: 'net', password: '', token: 'tok' };
    expect(() => encodeRawFrame(raw)).not.toThrow();
    expect(() => encodeRawFrame({ ...raw, ssid: 'S'.repeat(33) })).toThrow(/SSID length is 33; the frame's field holds 1-32/);
    expect(() => encodeRawFrame({ ...raw, token: '' })).toThrow(/token length is 0; the frame's field holds 1-128/);
    expect(() => encodeRawFrame({ ...raw, password: 'p'.repeat(128) })).toThrow(/password length is 128; the frame's field holds 0-127/);
    expect(() => encodeRawFrame({ ...raw, apn: 'a'.repeat(65) })).toThrow(/APN length is 65/);
    expect(() => encodeRawFrame({ ...raw, ssid: [0x41, 0x80] })).toThrow(/SSID character 1 is 128; the frame's field holds 0-127/);
    expect(() => encodeRawFrame({ ...raw, version: 4 })).toThrow(/version is 4/);
    expect(() => encodeRawFrame({ ...raw, tokenTypeCode: 4 })).toThrow(/token type code is 4/);
  });

  it('packs the header as documented: version, token type, lengths, presence bits', () => {
    expect(frameFields(TYPICAL)).toEqual({ tokenTypeCode: 1, ssid: TYPICAL.ssid, password: TYPICAL.password, token: TYPICAL.token });
    // Optional fields cost a presence bit when absent and 7 bits (presence + length) when there.
    expect(frameLayout(TYPICAL).headerSymbols).toBe(2 + 2 + 5 + 7 + 7 + 1 + 1);
    expect(frameLayout({ ...TYPICAL, apn: 'iot' }).headerSymbols).toBe(2 + 2 + 5 + 7 + 7 + 7 + 1);
    expect(frameLayout({ ...TYPICAL, apn: 'iot' }).textSymbols).toBe(7 * (12 + 16 + 40 + 3));
  });
});

describe('decodeSymbols on damaged input', () => {
  const damage = fc.record({ p: payloadArb, picks: fc.uniqueArray(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 8 }) });

  it('refuses a frame with 1-8 symbols flipped in its length, fields or CRC', () => {
    fc.assert(
      fc.property(damage, ({ p, picks }) => {
        const symbols = encodeFrame(p);
        const span = symbols.length - FRAME_DATA_START;
        const positions = new Set(picks.map((x) => FRAME_DATA_START + Math.floor(x * span)));
        for (const at of positions) symbols[at] = 1 - (symbols[at] as number);
        const result = decodeSymbols(symbols);
        expect(result.ok, result.ok ? 'a damaged frame decoded' : '').toBe(false);
      }),
      { seed: 0xb4, numRuns: 400 },
    );
  });

  it('never decodes a wrong payload with symbols flipped anywhere, preamble and sync included', () => {
    fc.assert(
      fc.property(damage, ({ p, picks }) => {
        const symbols = encodeFrame(p);
        for (const x of picks) {
          const at = Math.floor(x * symbols.length);
          symbols[at] = 1 - (symbols[at] as number);
        }
        expectNeverWrong(decodeSymbols(symbols), p);
      }),
      { seed: 0xb5, numRuns: 300 },
    );
  });

  it('names a stuffing violation when a stuff symbol is damaged', () => {
    /** Stuff symbols by the rule in the doc: the run counter starts with the sync word's final 00. */
    const stuffPositions = (symbols: Uint8Array): number[] => {
      const found: number[] = [];
      let runValue = 0;
      let runLength = 2;
      for (let i = FRAME_DATA_START; i < symbols.length; i++) {
        if (runLength === MAX_RUN_SYMBOLS) found.push(i);
        if (runLength < MAX_RUN_SYMBOLS && symbols[i] === runValue) runLength++;
        else {
          runValue = symbols[i] as number;
          runLength = 1;
        }
      }
      return found;
    };
    let checked = 0;
    fc.assert(
      fc.property(payloadArb, (p) => {
        const symbols = encodeFrame(p);
        const positions = stuffPositions(symbols);
        for (const at of positions) expect(symbols[at]).not.toBe(symbols[at - 1]);
        fc.pre(positions.length > 0);
        checked++;
        const at = positions[0] as number;
        symbols[at] = 1 - (symbols[at] as number);
        expect(decodeSymbols(symbols)).toEqual({ ok: false, reason: expect.stringContaining(`stuffing violation at symbol ${at}`) });
      }),
      { seed: 0xba, numRuns: 100 },
    );
    expect(checked).toBeGreaterThan(50);
  });

  it('refuses a truncated frame', () => {
    fc.assert(
      fc.property(payloadArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (p, x) => {
        const symbols = encodeFrame(p);
        const result = decodeSymbols(symbols.subarray(0, Math.floor(x * symbols.length)));
        expect(result.ok).toBe(false);
      }),
      { seed: 0xb6, numRuns: 300 },
    );
  });

  it('refuses symbols inserted or deleted after the sync word, never decoding a wrong payload', () => {
    const edit = fc.record({
      p: payloadArb,
      edits: fc.array(fc.record({ x: fc.double({ min: 0, max: 1, noNaN: true }), insert: fc.boolean(), symbol: fc.constantFrom(0, 1) }), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(edit, ({ p, edits }) => {
        const original = Array.from(encodeFrame(p));
        const symbols = [...original];
        let firstEdit = Infinity;
        for (const e of edits) {
          const at = Math.floor(e.x * (symbols.length - 1));
          firstEdit = Math.min(firstEdit, at);
          if (e.insert) symbols.splice(at, 0, e.symbol);
          else symbols.splice(at, 1);
        }
        const result = decodeSymbols(symbols);
        expectNeverWrong(result, p);
        // Past the sync word every symbol counts: if the frame's own span changed, it is refused.
        const spanChanged = symbols.slice(0, original.length).join('') !== original.join('');
        if (firstEdit >= FRAME_DATA_START && spanChanged) expect(result.ok).toBe(false);
      }),
      { seed: 0xb7, numRuns: 400 },
    );
  });

  it('finds the frame after leading junk and ignores trailing idle', () => {
    fc.assert(
      fc.property(payloadArb, fc.array(fc.constantFrom(0, 1), { maxLength: 300 }), fc.nat({ max: 200 }), (p, junk, idle) => {
        expectDecoded(decodeSymbols([...junk, ...encodeFrame(p), ...new Array<number>(idle).fill(0)]), p);
      }),
      { seed: 0xb8, numRuns: 200 },
    );
  });

  it('returns a reason, never throws, for random symbol strings of any length', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.constantFrom(0, 1), { maxLength: 5000 }), fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 500 })), (symbols) => {
        const result = decodeSymbols(symbols);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.reason).toMatch(/\w/);
      }),
      { seed: 0xb9, numRuns: 300 },
    );
    const rng = new Random(9);
    const huge = Array.from({ length: 200_000 }, () => rng.int(2));
    expect(decodeSymbols(huge).ok).toBe(false);
    expect(decodeSymbols([1, 0, Number.NaN])).toEqual({ ok: false, reason: expect.stringMatching(/symbol 2 is "NaN"; symbols are 0 \(LED off\) or 1/) });
    expect(decodeSymbols([]).ok).toBe(false);
    expect(decodeSymbols(null as unknown as number[]).ok).toBe(false);
  });

  const good: RawFrame = frameFields(TYPICAL);
  const secret = 'Pr0d-Line3-WPA2!';
  it.each<[string, Partial<RawFrame>, RegExp]>([
    ['carries a plan ID', { planId: 'c0ffee-plan' }, /: frame carries a plan ID: factory enrollment never carries one; frame refused$/],
    ['carries a plan ID of 64 characters beside an APN of 64', { apn: 'a'.repeat(64), planId: 'p'.repeat(64) }, /plan ID/],
    ['carries a plan ID and a bad token type', { planId: 'p', tokenTypeCode: 0 }, /plan ID/],
    ['has token type code 0', { tokenTypeCode: 0 }, /token type code 0 is not defined/],
    ['is of format version 1', { version: 1 }, /frame format version 1; this decoder reads version 2/],
    ['is of format version 3', { version: 3 }, /frame format version 3; this decoder reads version 2/],
    ['has a password of 5 characters', { password: 'abcde' }, /field PASSWORD is 5 characters; it carries 0 \(open network\), 8-63 printable characters or 64 hex digits/],
    ['has a password of 100 characters', { password: 'p'.repeat(100) }, /field PASSWORD is 100 characters/],
    ['has a 64-character password that is not hex', { password: 'x'.repeat(64) }, /field PASSWORD is 64 characters but not all hex digits/],
    ['has a control character in the SSID', { ssid: [0x41, 0x0a] }, /field SSID has character 0x0a at offset 1; it carries printable ASCII \(0x20-0x7E\)/],
    ['has DEL in the password', { password: [...ascii('abcdefg'), 0x7f] }, /field PASSWORD has character 0x7f at offset 7/],
    ['has a space in the token', { token: 'tok en' }, /field TOKEN has character 0x20 at offset 3; it carries printable ASCII without spaces/],
    ['has a space in the APN', { apn: 'iot apn' }, /field APN has character 0x20 at offset 3/],
  ])('refuses a frame with a good CRC that %s', (_what, change, reason) => {
    const result = decodeSymbols(encodeRawFrame({ ...good, ...change }));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.reason).toMatch(reason);
      expect(result.reason).not.toContain(secret);
      expect(result.reason).not.toContain(TYPICAL.token);
    }
  });

  it('reads the longest frame a header can describe, and refuses it for its plan ID', () => {
    const longest: RawFrame = { tokenTypeCode: 3, ssid: 'S'.repeat(32), password: 'p'.repeat(127), token: 't'.repeat(128), apn: 'a'.repeat(64), planId: 'p'.repeat(64) };
    const symbols = encodeRawFrame(longest);
    expect(symbols.length).toBeLessThanOrEqual(MAX_DECODABLE_FRAME_SYMBOLS);
    expect(decodeSymbols(symbols)).toEqual({ ok: false, reason: expect.stringMatching(/plan ID/) });
  });
});

describe('start pattern', () => {
  it('differs from every other window of idle, preamble and sync word in at least 8 symbols, in both polarities (by search)', () => {
    const preamble = Array.from({ length: PREAMBLE_SYMBOLS }, (_, i) => 1 - (i % 2));
    const sync = bitsOf(SYNC_WORD, SYNC_SYMBOLS);
    const pattern = [...preamble.slice(PREAMBLE_SYMBOLS - START_PATTERN_PREAMBLE_SYMBOLS), ...sync];
    let nearest = Infinity;
    for (const idle of [0, 1])
      for (const inverted of [0, 1]) {
        const line = [...new Array<number>(pattern.length).fill(idle), ...preamble, ...sync];
        const truth = pattern.length + PREAMBLE_SYMBOLS - START_PATTERN_PREAMBLE_SYMBOLS;
        for (let i = 0; i + pattern.length <= line.length; i++) {
          if (i === truth && !inverted) continue;
          nearest = Math.min(
            nearest,
            pattern.reduce((d, s, j) => d + (((line[i + j] as number) ^ inverted) !== s ? 1 : 0), 0),
          );
        }
      }
    expect(nearest).toBe(8);
    // At most 2 mismatches accepted: a wrong place or polarity needs 6 or more symbol errors.
    expect(nearest - START_PATTERN_MAX_MISMATCHES).toBeGreaterThanOrEqual(6);
  });
});

// ---------------------------------------------------------------------------------------------

describe('renderLight', () => {
  it('shows the LED-off level before and after the frame, and the LED by polarity during it', () => {
    const symbols = encodeFrame(TYPICAL);
    const base: LightChannel = { symbolRateHz: 60, sampleRateHz: 1200, ambient: 0.3, amplitude: 2, leadInSeconds: 0.1, tailSeconds: 0.1 };
    for (const activeLow of [false, true]) {
      const samples = renderLight(symbols, { ...base, activeLow });
      expect(Math.abs(samples.length - (0.2 + symbols.length / 60) * 1200)).toBeLessThanOrEqual(1);
      expect(samples[10]).toBeCloseTo(0.3, 5);
      expect(samples[samples.length - 10]).toBeCloseTo(0.3, 5);
      // Mid-symbol of preamble symbols 0 (a 1) and 1 (a 0): 20 samples per symbol after 120 of lead-in.
      expect(samples[130]).toBeCloseTo(activeLow ? 0.3 : 2.3, 5);
      expect(samples[150]).toBeCloseTo(activeLow ? 2.3 : 0.3, 5);
    }
  });

  it('runs a fast emitter clock short: +2% drift ends the frame 2% early', () => {
    const symbols = encodeFrame(TYPICAL);
    const nominal = renderLight(symbols, { symbolRateHz: 142, sampleRateHz: 2000, leadInSeconds: 0, tailSeconds: 0 });
    const fast = renderLight(symbols, { symbolRateHz: 142, sampleRateHz: 2000, leadInSeconds: 0, tailSeconds: 0, driftPpm: 20_000 });
    expect(Math.abs(nominal.length - (symbols.length / 142) * 2000)).toBeLessThanOrEqual(1);
    expect(Math.abs(fast.length - nominal.length / 1.02)).toBeLessThanOrEqual(1);
  });

  it('adds noise with the requested spread, reproducibly from the seed', () => {
    const symbols = new Uint8Array(0);
    const ch: LightChannel = { symbolRateHz: 60, sampleRateHz: 1000, ambient: 1, amplitude: 2, noiseSd: 0.1, leadInSeconds: 10, tailSeconds: 0, seed: 5 };
    const a = renderLight(symbols, ch);
    expect(renderLight(symbols, ch)).toEqual(a);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(mean).toBeCloseTo(1, 1);
    expect(sd).toBeGreaterThan(0.18);
    expect(sd).toBeLessThan(0.22);
  });
});

describe('decodeLight', () => {
  const channelArb = fc.record({
    symbolRateHz: fc.constantFrom(60, 142),
    sampleRateHz: fc.integer({ min: 1000, max: 2000 }),
    activeLow: fc.boolean(),
    ambient: fc.double({ min: 0, max: 2, noNaN: true }),
    amplitude: fc.double({ min: 0.2, max: 5, noNaN: true }),
    noiseSd: fc.double({ min: 0, max: 0.15, noNaN: true }),
    driftPpm: fc.integer({ min: -20_000, max: 20_000 }),
    leadInSeconds: fc.double({ min: 0, max: 0.5, noNaN: true }),
    tailSeconds: fc.double({ min: 0, max: 0.2, noNaN: true }),
    seed: fc.nat(),
  });

  it('round-trips random payloads over noisy, drifting channels of either polarity at 60 and 142 Hz', () => {
    fc.assert(
      fc.property(payloadArb, channelArb, (p, ch) => {
        const samples = renderLight(encodeFrame(p), ch);
        expectDecoded(decodeLight(samples, { sampleRateHz: ch.sampleRateHz, symbolRateHz: ch.symbolRateHz }), p);
      }),
      { seed: 0xc1, numRuns: 160 },
    );
  });

  it('decodes at the corners: ±2% drift, noise 0.15, 1 kHz sampling, both rates and polarities', () => {
    let seed = 1;
    for (const symbolRateHz of [60, 142])
      for (const activeLow of [false, true])
        for (const driftPpm of [-20_000, 20_000])
          for (const leadInSeconds of [0, 0.0173]) {
            const ch: LightChannel = { symbolRateHz, sampleRateHz: 1000, activeLow, driftPpm, noiseSd: 0.15, leadInSeconds, tailSeconds: 0, seed: seed++ };
            expectDecoded(decodeLight(renderLight(encodeFrame(TYPICAL), ch), { sampleRateHz: 1000, symbolRateHz }), TYPICAL);
          }
  });

  it('refuses a frame damaged before it was shone', () => {
    fc.assert(
      fc.property(payloadArb, channelArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (p, ch, x) => {
        const symbols = encodeFrame(p);
        const at = FRAME_DATA_START + Math.floor(x * (symbols.length - FRAME_DATA_START));
        symbols[at] = 1 - (symbols[at] as number);
        const result = decodeLight(renderLight(symbols, ch), { sampleRateHz: ch.sampleRateHz, symbolRateHz: ch.symbolRateHz });
        expect(result.ok).toBe(false);
      }),
      { seed: 0xc2, numRuns: 60 },
    );
  });

  it('never decodes a wrong payload from a channel far noisier than spec', () => {
    fc.assert(
      fc.property(payloadArb, channelArb, fc.double({ min: 0.3, max: 1.5, noNaN: true }), (p, ch, noiseSd) => {
        const samples = renderLight(encodeFrame(p), { ...ch, noiseSd });
        expectNeverWrong(decodeLight(samples, { sampleRateHz: ch.sampleRateHz, symbolRateHz: ch.symbolRateHz }), p);
      }),
      { seed: 0xc3, numRuns: 60 },
    );
  });

  it('never decodes a wrong payload when the capture starts or stops mid-frame', () => {
    fc.assert(
      fc.property(payloadArb, channelArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean(), (p, ch, x, cutStart) => {
        const samples = renderLight(encodeFrame(p), ch);
        const at = Math.floor(x * samples.length);
        const capture = cutStart ? samples.subarray(at) : samples.subarray(0, at);
        expectNeverWrong(decodeLight(capture, { sampleRateHz: ch.sampleRateHz, symbolRateHz: ch.symbolRateHz }), p);
      }),
      { seed: 0xc4, numRuns: 60 },
    );
  });

  it('returns a reason, never throws, for random sample arrays', () => {
    const samplesArb = fc.oneof(
      fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { maxLength: 20_000 }),
      fc.float32Array({ maxLength: 3000 }),
      fc.array(fc.constantFrom(0, 1), { maxLength: 20_000 }),
    );
    fc.assert(
      fc.property(samplesArb, fc.constantFrom(60, 142), fc.integer({ min: 1000, max: 2000 }), (samples, symbolRateHz, sampleRateHz) => {
        const result = decodeLight(samples, { sampleRateHz, symbolRateHz });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.reason).toMatch(/\w/);
      }),
      { seed: 0xc5, numRuns: 200 },
    );
    // Square waves at the symbol rate look like an endless preamble with no sync word.
    const square = Float32Array.from({ length: 30_000 }, (_, i) => (Math.floor(i / (1000 / 142)) % 2 ? 1 : 0));
    expect(decodeLight(square, { sampleRateHz: 1000, symbolRateHz: 142 })).toEqual({ ok: false, reason: expect.stringMatching(/no sync word/) });
  });

  it('explains inputs it cannot use', () => {
    const good = renderLight(encodeFrame(TYPICAL), { symbolRateHz: 142, sampleRateHz: 1000 });
    const reason = (r: DecodeResult): string => (r.ok ? 'decoded' : r.reason);
    expect(reason(decodeLight(good, { sampleRateHz: 300, symbolRateHz: 142 }))).toMatch(/2\.11 samples per symbol at 142 Hz; at least 3/);
    expect(reason(decodeLight(good, { sampleRateHz: 0, symbolRateHz: 142 }))).toMatch(/positive numbers of Hz/);
    expect(reason(decodeLight([...good.subarray(0, 50), Number.NaN, ...good.subarray(50)], { sampleRateHz: 1000, symbolRateHz: 142 }))).toMatch(/sample 50 is NaN/);
    expect(reason(decodeLight(new Float32Array(5000).fill(0.4), { sampleRateHz: 1000, symbolRateHz: 142 }))).toMatch(/flat/);
    expect(reason(decodeLight(good.subarray(0, 100), { sampleRateHz: 1000, symbolRateHz: 142 }))).toMatch(/shorter than a preamble/);
    expect(reason(decodeLight(good, { sampleRateHz: 1000, symbolRateHz: 60 }))).toMatch(/preamble/);
  });
});
