// A cap on line length in front of the readline parser: a DUT spewing bytes with no newline must
// not grow a buffer without bound. Bytes past the cap are dropped until the next newline; the
// truncated line is still delivered (so the request fails with a quote of it) and flagged.
import { Transform, type TransformCallback } from 'node:stream';

export class LineLengthGuard extends Transform {
  private runLength = 0;
  private dropping = false;
  /** Set when a line was cut; the consumer takes it with `takeTruncated()` at the next line. */
  private truncatedBytes = 0;
  private droppedInRun = 0;

  constructor(private readonly maxLineBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    const out: Buffer[] = [];
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === 0x0a) {
        if (this.dropping) {
          this.truncatedBytes = this.runLength + this.droppedInRun;
          start = i; // forward the newline itself so the parser ends the truncated line
          this.dropping = false;
          this.droppedInRun = 0;
        }
        this.runLength = 0;
        continue;
      }
      if (this.dropping) {
        this.droppedInRun++;
        start = i + 1;
        continue;
      }
      this.runLength++;
      if (this.runLength > this.maxLineBytes) {
        out.push(chunk.subarray(start, i));
        this.runLength--;
        this.dropping = true;
        this.droppedInRun = 1;
        start = i + 1;
      }
    }
    if (start < chunk.length) out.push(chunk.subarray(start));
    for (const part of out) if (part.length > 0) this.push(part);
    done();
  }

  /** True while bytes are being dropped (a line longer than the cap has not ended yet). */
  get overflowing(): boolean {
    return this.dropping;
  }

  /** The full length of the last truncated line, once, or 0. */
  takeTruncated(): number {
    const n = this.truncatedBytes;
    this.truncatedBytes = 0;
    return n;
  }
}
