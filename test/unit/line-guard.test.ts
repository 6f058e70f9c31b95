import { ReadlineParser } from '@serialport/parser-readline';
import { describe, expect, it } from 'vitest';
import { cutLine, LineLengthGuard } from '../../drivers/dut/line-guard.js';
import { Random } from '../../drivers/dut/simulator/random.js';

interface Delivered {
  line: string;
  truncated: number;
}

/** The guard in front of a readline parser, exactly as StreamDutConsole wires them. */
function rig(maxLineBytes: number): { guard: LineLengthGuard; lines: Delivered[]; pushedBytes: () => number } {
  const guard = new LineLengthGuard(maxLineBytes);
  const parser = new ReadlineParser({ delimiter: '\n', encoding: 'latin1' });
  const lines: Delivered[] = [];
  let pushed = 0;
  guard.on('data', (chunk: Buffer) => (pushed += chunk.length));
  guard.pipe(parser);
  parser.on('data', (line: string) => {
    const cut = cutLine(line, maxLineBytes);
    lines.push(cut ? { line: cut.kept, truncated: cut.fullLength } : { line, truncated: 0 });
  });
  return { guard, lines, pushedBytes: () => pushed };
}

/** Writes `data` in chunks split at random points. Writes are processed synchronously here. */
function feedSplit(guard: LineLengthGuard, data: Buffer, rng: Random, maxChunk: number): void {
  let at = 0;
  while (at < data.length) {
    const n = 1 + rng.int(maxChunk);
    guard.write(data.subarray(at, at + n));
    at += n;
  }
}

function endAndFlush(guard: LineLengthGuard): Promise<void> {
  return new Promise<void>((resolve) => guard.end(resolve));
}

describe('LineLengthGuard with the readline parser', () => {
  it('passes lines under the cap untouched across arbitrary chunk splits', async () => {
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
      const { guard, lines } = rig(64);
      feedSplit(guard, Buffer.from(expected.map((l) => `${l}\n`).join(''), 'latin1'), rng, maxChunk);
      await endAndFlush(guard);
      expect(lines.map((l) => l.line), `seed ${seed}, chunks up to ${maxChunk}`).toEqual(expected);
      expect(lines.every((l) => l.truncated === 0)).toBe(true);
    }
  });

  it('passes a line of exactly the cap untouched and unflagged', async () => {
    const { guard, lines } = rig(16);
    guard.write(Buffer.from(`${'a'.repeat(16)}\n`));
    await endAndFlush(guard);
    expect(lines).toEqual([{ line: 'a'.repeat(16), truncated: 0 }]);
  });

  it('passes non-ASCII bytes through unchanged (the parser, not the guard, judges content)', async () => {
    const { guard, lines } = rig(64);
    guard.write(Buffer.from([0x40, 0xff, 0x00, 0x1b, 0x0d, 0x0a]));
    await endAndFlush(guard);
    expect(lines.map((l) => l.line)).toEqual(['@\xff\x00\x1b\r']);
  });

  it('cuts an over-long line to the cap, flags it with its full length, and drops the rest until the newline', async () => {
    const { guard, lines } = rig(32);
    guard.write(Buffer.from(`${'x'.repeat(100)}\n@1 OK v=1\n`));
    await endAndFlush(guard);
    expect(lines).toEqual([
      { line: 'x'.repeat(32), truncated: 100 },
      { line: '@1 OK v=1', truncated: 0 },
    ]);
    expect(guard.overflowing).toBe(false);
  });

  it('flags an over-long line the same way when it arrives in pieces, and reports overflowing meanwhile', async () => {
    const { guard, lines } = rig(32);
    guard.write(Buffer.from('y'.repeat(20)));
    expect(guard.overflowing).toBe(false);
    guard.write(Buffer.from('y'.repeat(20)));
    expect(guard.overflowing).toBe(true);
    guard.write(Buffer.from('y'.repeat(30)));
    guard.write(Buffer.from('\nnext\n'));
    await endAndFlush(guard);
    expect(lines).toEqual([
      { line: 'y'.repeat(32), truncated: 70 },
      { line: 'next', truncated: 0 },
    ]);
  });

  it('marks only the cut line, not the normal line after it', async () => {
    const { guard, lines } = rig(8);
    guard.write(Buffer.from(`${'z'.repeat(9)}\nshort\n`));
    await endAndFlush(guard);
    expect(lines).toEqual([{ line: 'z'.repeat(8), truncated: 9 }, { line: 'short', truncated: 0 }]);
  });

  // Several lines often arrive in one chunk (a UART FIFO, the in-memory link). Each over-long line
  // must be flagged with its own length, and a cut line must never pass as an ordinary one: a cut
  // "@5 OK v=1234567..." would otherwise read as a valid, wrong measurement.
  it('flags every over-long line when several arrive in one chunk', async () => {
    const { guard, lines } = rig(8);
    guard.write(Buffer.from(`${'a'.repeat(12)}\n${'b'.repeat(20)}\nok\n`));
    await endAndFlush(guard);
    expect(lines).toEqual([
      { line: 'a'.repeat(8), truncated: 12 },
      { line: 'b'.repeat(8), truncated: 20 },
      { line: 'ok', truncated: 0 },
    ]);
  });

  it('does not pin the flag of an over-long line on the normal line before it in the same chunk', async () => {
    const { guard, lines } = rig(8);
    guard.write(Buffer.from(`@5 OK\n${'c'.repeat(30)}\n`));
    await endAndFlush(guard);
    expect(lines).toEqual([
      { line: '@5 OK', truncated: 0 },
      { line: 'c'.repeat(8), truncated: 30 },
    ]);
  });

  it('flags each over-long line correctly across random chunk splits of a mixed stream', async () => {
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
    const { guard, lines } = rig(cap);
    feedSplit(guard, Buffer.from(sent.map((l) => `${l}\n`).join(''), 'latin1'), rng, 300);
    await endAndFlush(guard);
    expect(lines.map((l) => l.line), `seed ${seed}`).toEqual(sent.map((s) => s.slice(0, cap)));
    expect(lines.map((l) => l.truncated), `seed ${seed}`).toEqual(sent.map((s) => (s.length > cap ? s.length : 0)));
  });

  it('does not grow with an endless line: 10 MB without a newline pushes only the cap', async () => {
    const cap = 512;
    const { guard, lines, pushedBytes } = rig(cap);
    const block = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 160; i++) guard.write(block); // 10 MiB
    expect(pushedBytes()).toBe(cap);
    expect(guard.overflowing).toBe(true);
    expect(guard.readableLength).toBeLessThanOrEqual(cap);
    expect(lines).toHaveLength(0);
    guard.write(Buffer.from('\n@2 OK\n'));
    await endAndFlush(guard);
    expect(lines).toEqual([
      { line: 'A'.repeat(cap), truncated: 160 * 64 * 1024 },
      { line: '@2 OK', truncated: 0 },
    ]);
    // the kept cap, the in-band cut mark (NUL and the full length), then the rest
    expect(pushedBytes()).toBe(cap + `\x00${160 * 64 * 1024}`.length + '\n@2 OK\n'.length);
  });
});
