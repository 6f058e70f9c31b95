// Cuts a byte stream into lines at a delimiter (LF for the tagged protocol, CR / LF / CRLF for
// scanners and instruments), behind a cap: a device sending bytes with no line end must not grow a
// buffer without bound. A line longer than the cap is still delivered, as `overflow`, with its
// first `maxBytes` bytes kept (for an error that quotes it) and its full length counted; it is
// never taken for protocol. Delimiters split across chunks are found: only the last
// `delimiter.length - 1` bytes of a chunk are held back to see how the next one begins.

export type FramedLine = { kind: 'line'; bytes: Buffer } | { kind: 'overflow'; kept: Buffer; length: number };

export class LineFramer {
  private readonly delimiter: Buffer;
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private length = 0;
  private carry: Buffer = Buffer.alloc(0);

  constructor(
    delimiter: string | Buffer,
    readonly maxBytes: number,
  ) {
    this.delimiter = typeof delimiter === 'string' ? Buffer.from(delimiter, 'latin1') : delimiter;
    if (this.delimiter.length === 0) throw new Error('a line delimiter needs at least one byte');
  }

  /** Bytes of a line begun and not ended. */
  get pending(): number {
    return this.length + this.carry.length;
  }

  /** True while the line in progress is already longer than the cap. */
  get overflowing(): boolean {
    return this.length > this.maxBytes;
  }

  push(chunk: Buffer): FramedLine[] {
    const lines: FramedLine[] = [];
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    for (;;) {
      const end = data.indexOf(this.delimiter);
      if (end < 0) break;
      this.append(data.subarray(0, end));
      lines.push(this.endLine());
      data = data.subarray(end + this.delimiter.length);
    }
    const hold = Math.min(this.delimiter.length - 1, data.length);
    this.append(data.subarray(0, data.length - hold));
    if (hold > 0) this.carry = Buffer.from(data.subarray(data.length - hold));
    return lines;
  }

  /**
   * The bytes of the line begun and not ended, as far as they are kept (at most `maxBytes`, plus
   * any delimiter bytes held back): a shell prompt arrives with no line end and is read here.
   */
  peek(): Buffer {
    if (this.carry.length === 0) return this.kept.length === 1 ? (this.kept[0] as Buffer) : Buffer.concat(this.kept);
    return Buffer.concat([...this.kept, this.carry]);
  }

  /** Drops a line begun and not ended; returns its length (0: none). */
  discardPartial(): number {
    const length = this.pending;
    this.kept = [];
    this.keptBytes = 0;
    this.length = 0;
    this.carry = Buffer.alloc(0);
    return length;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.length += bytes.length;
    const room = this.maxBytes - this.keptBytes;
    if (room <= 0) return;
    const part = bytes.length <= room ? bytes : bytes.subarray(0, room);
    this.kept.push(Buffer.from(part));
    this.keptBytes += part.length;
  }

  private endLine(): FramedLine {
    const bytes = this.kept.length === 1 ? (this.kept[0] as Buffer) : Buffer.concat(this.kept);
    const length = this.length;
    this.kept = [];
    this.keptBytes = 0;
    this.length = 0;
    return length > this.maxBytes ? { kind: 'overflow', kept: bytes, length } : { kind: 'line', bytes };
  }
}
