import { describe, expect, it } from 'vitest';
import { Random } from '../../drivers/dut/simulator/random.js';
import { LineFramer, type FramedLine } from '../../drivers/transport/line-framer.js';

interface Delivered {
  line: string;
  /** The full length of a line cut at the cap; 0 for a whole line. */
  truncated: number;
}

function shown(lines: FramedLine[]): Delivered[] {
  return lines.map((l) => (l.kind === 'line' ? { line: l.bytes.toString('latin1'), truncated: 0 } : { line: l.kept.toString('latin1'), truncated: l.length }));
}

/** Pushes `data` in chunks split at random points; returns every line delivered. */
function feedSplit(framer: LineFramer, data: Buffer, rng: Random, maxChunk: number): Delivered[] {
  const out: Delivered[] = [];
  let at = 0;
  while (at < data.length) {
    const n = 1 + rng.int(maxChunk);
    out.push(...shown(framer.push(data.subarray(at, at + n))));
    at += n;
  }
  return out;
}

describe('LineFramer', () => {
  it('passes lines under the cap untouched across arbitrary chunk splits', () => {
    const seed = 1234;
    const rng = new Random(seed);
    const expected: string[] = [];
    for (let i = 0; i < 300; i++) {
      let s = '';
      const n = 1 + rng.int(64); // 1..64 bytes: at or under the cap
      for (let j = 0; j < n; j++) s += String.fromCharCode(0x20 + rng.int(0x5f));
      expected.push(s);
    }
    for (const maxChunk of [1, 3, 17, 64, 500, 100_000]) {
      const lines = feedSplit(new LineFramer('\n', 64), Buffer.from(expected.map((l) => `${l}\n`).join(''), 'latin1'), rng, maxChunk);
      expect(
        lines.map((l) => l.line),
        `seed ${seed}, chunks up to ${maxChunk}`,
      ).toEqual(expected);
      expect(lines.every((l) => l.truncated === 0)).toBe(true);
    }
  });

  it('finds a two-byte delimiter (CRLF) split across chunks, and keeps a lone CR or LF inside the line', () => {
    const framer = new LineFramer('\r\n', 64);
    const rng = new Random(99);
    const text = 'ab\rc\r\nd\ne\r\n\r\nlast\r\n';
    for (const maxChunk of [1, 2, 3, 100]) {
      expect(feedSplit(framer, Buffer.from(text, 'latin1'), rng, maxChunk).map((l) => l.line)).toEqual(['ab\rc', 'd\ne', '', 'last']);
    }
  });

  it('passes a line of exactly the cap untouched and unflagged', () => {
    expect(shown(new LineFramer('\n', 16).push(Buffer.from(`${'a'.repeat(16)}\n`)))).toEqual([{ line: 'a'.repeat(16), truncated: 0 }]);
  });

  it('passes non-ASCII bytes through unchanged (the protocol, not the framer, judges content)', () => {
    expect(shown(new LineFramer('\n', 64).push(Buffer.from([0x40, 0xff, 0x00, 0x1b, 0x0d, 0x0a]))).map((l) => l.line)).toEqual(['@\xff\x00\x1b\r']);
  });

  it('keeps the first cap bytes of an over-long line, counts its full length, and drops the rest until the delimiter', () => {
    const framer = new LineFramer('\n', 32);
    expect(shown(framer.push(Buffer.from(`${'x'.repeat(100)}\n@1 OK v=1\n`)))).toEqual([
      { line: 'x'.repeat(32), truncated: 100 },
      { line: '@1 OK v=1', truncated: 0 },
    ]);
    expect(framer.overflowing).toBe(false);
  });

  it('flags an over-long line the same way when it arrives in pieces, and reports overflowing meanwhile', () => {
    const framer = new LineFramer('\n', 32);
    expect(framer.push(Buffer.from('y'.repeat(20)))).toEqual([]);
    expect(framer.overflowing).toBe(false);
    framer.push(Buffer.from('y'.repeat(20)));
    expect(framer.overflowing).toBe(true);
    framer.push(Buffer.from('y'.repeat(30)));
    expect(shown(framer.push(Buffer.from('\nnext\n')))).toEqual([
      { line: 'y'.repeat(32), truncated: 70 },
      { line: 'next', truncated: 0 },
    ]);
  });

  // Several lines often arrive in one chunk (a UART FIFO, the in-memory link). Each over-long line
  // must be flagged with its own length, and a cut line must never pass as an ordinary one: a cut
  // "@5 OK v=1234567..." would otherwise read as a valid, wrong measurement.
  it('flags every over-long line when several arrive in one chunk, and only those', () => {
    expect(shown(new LineFramer('\n', 8).push(Buffer.from(`@5 OK\n${'a'.repeat(12)}\n${'b'.repeat(20)}\nok\n`)))).toEqual([
      { line: '@5 OK', truncated: 0 },
      { line: 'a'.repeat(8), truncated: 12 },
      { line: 'b'.repeat(8), truncated: 20 },
      { line: 'ok', truncated: 0 },
    ]);
  });

  it('flags each over-long line correctly across random chunk splits of a mixed stream', () => {
    const seed = 777;
    const rng = new Random(seed);
    const cap = 24;
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const n = rng.chance(0.3) ? cap + 1 + rng.int(100) : 1 + rng.int(cap);
      let s = '';
      for (let j = 0; j < n; j++) s += String.fromCharCode(0x21 + rng.int(0x5e));
      sent.push(s);
    }
    const lines = feedSplit(new LineFramer('\n', cap), Buffer.from(sent.map((l) => `${l}\n`).join(''), 'latin1'), rng, 300);
    expect(
      lines.map((l) => l.line),
      `seed ${seed}`,
    ).toEqual(sent.map((s) => s.slice(0, cap)));
    expect(
      lines.map((l) => l.truncated),
      `seed ${seed}`,
    ).toEqual(sent.map((s) => (s.length > cap ? s.length : 0)));
  });

  it('does not grow with an endless line: 10 MB without a delimiter keeps only the cap', () => {
    const cap = 512;
    const framer = new LineFramer('\r\n', cap);
    const block = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 160; i++) expect(framer.push(block)).toEqual([]); // 10 MiB
    expect(framer.overflowing).toBe(true);
    expect(framer.pending).toBe(160 * 64 * 1024);
    expect(shown(framer.push(Buffer.from('\r\n@2 OK\r\n')))).toEqual([
      { line: 'A'.repeat(cap), truncated: 160 * 64 * 1024 },
      { line: '@2 OK', truncated: 0 },
    ]);
  });

  it('drops a partial line on request and reports its length', () => {
    const framer = new LineFramer('\n', 8);
    framer.push(Buffer.from('abcdefghijk'));
    expect(framer.discardPartial()).toBe(11);
    expect(shown(framer.push(Buffer.from('ok\n')))).toEqual([{ line: 'ok', truncated: 0 }]);
  });
});
