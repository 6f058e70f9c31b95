// A cap on line length in front of the readline parser: a DUT spewing bytes with no newline must
// not grow a buffer without bound. Bytes past the cap are dropped until the next newline; the cut
// line is still delivered, so the request fails with a quote of it, and it is marked in-band:
// the guard appends NUL and the line's full length before the newline. Only a cut line can be
// longer than the cap, so `cutLine` recognises it without any state shared with the parser
// (several lines often arrive in one chunk).
import { Transform, type TransformCallback } from 'node:stream';

export class LineLengthGuard extends Transform {
  private runLength = 0;
  private dropping = false;

  constructor(private readonly maxLineBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === 0x0a) {
        if (this.dropping) {
          this.push(Buffer.from(`\x00${this.runLength}`, 'latin1'));
          this.dropping = false;
          start = i; // forward the newline itself so the parser ends the cut line
        }
        this.runLength = 0;
        continue;
      }
      this.runLength++;
      if (this.dropping) {
        start = i + 1;
        continue;
      }
      if (this.runLength > this.maxLineBytes) {
        if (i > start) this.push(chunk.subarray(start, i));
        this.dropping = true;
        start = i + 1;
      }
    }
    if (start < chunk.length) this.push(chunk.subarray(start));
    done();
  }

  /** True while bytes are being dropped (a line longer than the cap has not ended yet). */
  get overflowing(): boolean {
    return this.dropping;
  }
}

/** For a line that went through a guard with this cap: the kept text and full length if it was cut. */
export function cutLine(line: string, maxLineBytes: number): { kept: string; fullLength: number } | null {
  if (line.length <= maxLineBytes) return null;
  const m = /\x00(\d+)\r?$/.exec(line);
  if (!m) return null;
  return { kept: line.slice(0, m.index), fullLength: Number(m[1]) };
}
