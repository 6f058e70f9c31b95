import { describe, expect, it } from 'vitest';
import { formatEvent, formatReply, formatRequest, parseDutLine, parseFields, parseRequest, type DutLine } from '../../drivers/console/tagged-protocol.js';
import { Random } from '../../drivers/dut/simulator/random.js';
import { escapeForDisplay } from '../../lib/text.js';

describe('parseDutLine', () => {
  it('parses an OK reply with and without a payload', () => {
    expect(parseDutLine('@12 OK v=3.712 unit=V')).toEqual({ kind: 'reply', tag: 12, ok: true, payload: 'v=3.712 unit=V' });
    expect(parseDutLine('@9999 OK')).toEqual({ kind: 'reply', tag: 9999, ok: true, payload: '' });
  });

  it('strips one trailing carriage return (CRLF firmware)', () => {
    expect(parseDutLine('@3 OK led=RED\r')).toEqual({ kind: 'reply', tag: 3, ok: true, payload: 'led=RED' });
  });

  it('parses an ERR reply with its code and message', () => {
    expect(parseDutLine('@7 ERR BUSY booting now')).toEqual({ kind: 'reply', tag: 7, ok: false, code: 'BUSY', message: 'booting now' });
    expect(parseDutLine('@7 ERR UNKNOWN_COMMAND')).toEqual({ kind: 'reply', tag: 7, ok: false, code: 'UNKNOWN_COMMAND', message: '' });
  });

  it('treats an ERR without a well-formed code as garbage', () => {
    for (const line of ['@7 ERR', '@7 ERR busy', '@7 ERR 42', '@7 ERR  BUSY']) {
      expect(parseDutLine(line), line).toMatchObject({ kind: 'garbage', line });
    }
  });

  it('treats malformed replies as garbage: long tags, no tag, unknown status, missing space', () => {
    for (const line of ['@12345 OK', '@ OK', '@1 YES', '@1OK', '@1 OKAY', '@-1 OK', '@1 ok']) {
      expect(parseDutLine(line), line).toMatchObject({ kind: 'garbage', reason: 'malformed reply' });
    }
  });

  it('parses events with key=value fields', () => {
    expect(parseDutLine('!READY')).toEqual({ kind: 'event', name: 'READY', fields: {}, payload: '' });
    expect(parseDutLine('!BOOT fw=factory-2.3.1 model=imp006')).toEqual({
      kind: 'event',
      name: 'BOOT',
      fields: { fw: 'factory-2.3.1', model: 'imp006' },
      payload: 'fw=factory-2.3.1 model=imp006',
    });
  });

  it('treats a lower-case or empty event name as garbage', () => {
    expect(parseDutLine('!ready')).toMatchObject({ kind: 'garbage', reason: 'malformed event' });
    expect(parseDutLine('!')).toMatchObject({ kind: 'garbage', reason: 'malformed event' });
  });

  it('treats # lines and empty lines as debug output', () => {
    expect(parseDutLine('#heap=12345 free')).toEqual({ kind: 'debug', text: 'heap=12345 free' });
    expect(parseDutLine('')).toEqual({ kind: 'debug', text: '' });
    expect(parseDutLine('\r')).toEqual({ kind: 'debug', text: '' });
  });

  it('treats control characters and non-ASCII as garbage, even inside an otherwise valid reply', () => {
    for (const line of ['@12 OK v=3.7 \x01\x02', '\x1b[2J\x1b[H\xff\xfe\x00garbled', '@1 OK caf\u00e9', '@1 OK a\tb', '!READY\x00', '#debug \x07']) {
      expect(parseDutLine(line), JSON.stringify(line)).toMatchObject({ kind: 'garbage', reason: 'control or non-ASCII characters' });
    }
  });

  it('treats any other printable line as garbage', () => {
    expect(parseDutLine('Guru Meditation Error: Core 0 panic')).toMatchObject({ kind: 'garbage', reason: 'not a reply, event or debug line' });
  });
});

describe('formatters round-trip through the parsers', () => {
  it('parses back what formatReply, formatEvent and formatRequest write', () => {
    expect(parseDutLine(formatReply(42, { ok: true, payload: 'v=1' }).slice(0, -1))).toEqual({ kind: 'reply', tag: 42, ok: true, payload: 'v=1' });
    expect(parseDutLine(formatReply(42, { ok: true }).slice(0, -1))).toEqual({ kind: 'reply', tag: 42, ok: true, payload: '' });
    expect(parseDutLine(formatReply(5, { ok: false, code: 'BAD_ARG', message: 'no channel X' }).slice(0, -1))).toEqual({
      kind: 'reply',
      tag: 5,
      ok: false,
      code: 'BAD_ARG',
      message: 'no channel X',
    });
    expect(parseDutLine(formatEvent('BLESSED', { id: 'abc', n: 3 }).slice(0, -1))).toEqual({ kind: 'event', name: 'BLESSED', fields: { id: 'abc', n: '3' }, payload: 'id=abc n=3' });
    expect(parseRequest(formatRequest(77, 'MEAS VBAT').slice(0, -1))).toEqual({ tag: 77, command: 'MEAS', args: ['VBAT'] });
  });
});

describe('parseFields', () => {
  it('keeps key=value tokens, ignores bare words and empty keys, and keeps "=" inside values', () => {
    expect(parseFields('id=abc mac=0c2a69123456 bare =nokey x=a=b empty=')).toEqual({ id: 'abc', mac: '0c2a69123456', x: 'a=b', empty: '' });
    expect(parseFields('')).toEqual({});
  });
});

describe('escapeForDisplay', () => {
  it('quotes printable text unchanged', () => {
    expect(escapeForDisplay('@1 OK v=3')).toBe('"@1 OK v=3"');
  });

  it('escapes control characters, quotes, backslashes and non-ASCII', () => {
    expect(escapeForDisplay('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(escapeForDisplay('\x00\x1b\t\r\n\x7f')).toBe('"\\x00\\x1b\\x09\\x0d\\x0a\\x7f"');
    expect(escapeForDisplay('\xff\u00e9')).toBe('"\\xff\\xe9"');
    expect(escapeForDisplay('\u20ac\u{1f600}')).toBe('"\\u{20ac}\\u{1f600}"');
  });

  it('truncates long text and says how long it was', () => {
    const long = 'x'.repeat(100);
    expect(escapeForDisplay(long)).toBe(`"${'x'.repeat(40)}"... (100 chars)`);
    expect(escapeForDisplay('abcdef', 3)).toBe('"abc"... (6 chars)');
    expect(escapeForDisplay('abc', 3)).toBe('"abc"');
  });

  it('never lets a control character through, whatever the input', () => {
    const rng = new Random(4242);
    for (let i = 0; i < 2000; i++) {
      let s = '';
      const n = rng.int(80);
      for (let j = 0; j < n; j++) s += String.fromCharCode(rng.chance(0.9) ? rng.int(256) : rng.int(0x10000));
      const out = escapeForDisplay(s);
      expect(/^[\x20-\x7e]*$/.test(out), `seed 4242 case ${i}: ${JSON.stringify(s)} -> ${JSON.stringify(out)}`).toBe(true);
    }
  });
});

describe('parseRequest', () => {
  it('parses a tag, an upper-case command and its arguments', () => {
    expect(parseRequest('@12 MEAS VBAT')).toEqual({ tag: 12, command: 'MEAS', args: ['VBAT'] });
    expect(parseRequest('@1 IDENT')).toEqual({ tag: 1, command: 'IDENT', args: [] });
    expect(parseRequest('@9999 LED GREEN ON\r')).toEqual({ tag: 9999, command: 'LED', args: ['GREEN', 'ON'] });
  });

  it('refuses malformed requests', () => {
    for (const line of ['MEAS VBAT', '@12345 MEAS', '@1 meas', '@1 MEAS  VBAT', '@1 MEAS VBAT ', '@1 MEAS\tVBAT', '@1 MEAS V\u00e9', '@1', '']) {
      expect(parseRequest(line), JSON.stringify(line)).toBeNull();
    }
  });
});

// ---- fuzz -------------------------------------------------------------------------------------

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed2024);
const KINDS = new Set(['reply', 'event', 'debug', 'garbage']);
const PRINTABLE = /^[\x20-\x7e]*$/;

function randomBytesLine(rng: Random): string {
  const len = rng.chance(0.5) ? rng.int(40) : rng.int(2001);
  const bytes = Buffer.alloc(len);
  for (let i = 0; i < len; i++) bytes[i] = rng.int(256);
  return bytes.toString('latin1');
}

const VALID = ['@1 OK', '@12 OK v=3.712 unit=V', '@9999 ERR BUSY booting', '@44 ERR BAD_ARG no channel X', '!READY', '!BOOT fw=factory-2.3.1 model=imp006', '#debug'];

/** A valid line with a few random edits: byte flips, inserts, deletes, duplications, CR/LF. */
function mutatedLine(rng: Random): string {
  let s = VALID[rng.int(VALID.length)] as string;
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(s.length + 1);
    const ch = String.fromCharCode(rng.chance(0.5) ? 0x20 + rng.int(0x5f) : rng.int(256));
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, at) + ch + s.slice(at + 1);
        break;
      case 1:
        s = s.slice(0, at) + ch + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 3:
        s = s.slice(0, at) + s.slice(0, at) + s.slice(at);
        break;
      default:
        s = s.slice(0, at) + (rng.chance(0.5) ? '\r' : '\n') + s.slice(at);
    }
  }
  return s;
}

function checkLine(raw: string, label: string): DutLine {
  let parsed: DutLine;
  try {
    parsed = parseDutLine(raw);
  } catch (err) {
    throw new Error(`${label}: parseDutLine threw ${(err as Error).message} on ${JSON.stringify(raw)}`);
  }
  expect(KINDS.has(parsed.kind), `${label}: unknown kind ${parsed.kind}`).toBe(true);
  if (parsed.kind === 'reply') {
    expect(Number.isInteger(parsed.tag) && parsed.tag >= 0 && parsed.tag <= 9999, `${label}: tag ${parsed.tag}`).toBe(true);
    const texts = parsed.ok ? [parsed.payload] : [parsed.code, parsed.message];
    for (const t of texts) expect(PRINTABLE.test(t), `${label}: non-printable reply text ${JSON.stringify(t)} from ${JSON.stringify(raw)}`).toBe(true);
  }
  if (parsed.kind === 'event') {
    const texts = [parsed.name, parsed.payload, ...Object.keys(parsed.fields), ...Object.values(parsed.fields)];
    for (const t of texts) expect(PRINTABLE.test(t), `${label}: non-printable event text ${JSON.stringify(t)} from ${JSON.stringify(raw)}`).toBe(true);
    expect(/^[A-Z][A-Z0-9_]{0,31}$/.test(parsed.name), `${label}: event name ${parsed.name}`).toBe(true);
  }
  if (parsed.kind === 'debug') expect(PRINTABLE.test(parsed.text), `${label}: non-printable debug text from ${JSON.stringify(raw)}`).toBe(true);
  return parsed;
}

describe('parseDutLine fuzz', () => {
  it(`never throws and only returns printable replies and events for 20,000 random and mutated lines (seed ${SEED}; FUZZ_SEED to replay)`, () => {
    const rng = new Random(SEED);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) {
      const raw = i % 2 === 0 ? randomBytesLine(rng) : mutatedLine(rng);
      const parsed = checkLine(raw, `seed ${SEED} case ${i}`);
      counts[parsed.kind] = (counts[parsed.kind] ?? 0) + 1;
    }
    // The mutations must reach every branch, or this fuzz would not be testing much.
    for (const kind of KINDS) expect(counts[kind] ?? 0, `seed ${SEED}: no ${kind} lines generated; counts ${JSON.stringify(counts)}`).toBeGreaterThan(50);
  });

  it(`round-trips random printable payloads through formatReply (seed ${SEED})`, () => {
    const rng = new Random(SEED ^ 0xabcdef);
    for (let i = 0; i < 2000; i++) {
      const tag = rng.int(10_000);
      let payload = '';
      const n = rng.int(60);
      for (let j = 0; j < n; j++) payload += String.fromCharCode(0x20 + rng.int(0x5f));
      const line = formatReply(tag, { ok: true, payload }).slice(0, -1);
      const parsed = checkLine(line, `seed ${SEED} round-trip ${i}`);
      // formatReply drops an empty payload, so both forms parse back to the same text.
      expect(parsed, `seed ${SEED} round-trip ${i}: ${JSON.stringify(line)}`).toEqual({ kind: 'reply', tag, ok: true, payload });
    }
  });
});
