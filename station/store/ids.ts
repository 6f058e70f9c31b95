// Time-ordered identifiers (UUIDv7, RFC 9562): run and record IDs sort by creation time, so their
// index entries append at the end of the b-tree instead of touching a random page per commit.
import { randomFillSync } from 'node:crypto';

const bytes = Buffer.alloc(16);
let lastMs = 0;
let counter = 0;

export function uuidv7(now = Date.now()): string {
  randomFillSync(bytes, 6);
  // 12-bit counter in rand_a keeps IDs from the same millisecond in order (RFC 9562 §6.2, method 1).
  if (now <= lastMs) {
    counter++;
    if (counter > 0xfff) {
      lastMs++;
      counter = 0;
    }
  } else {
    lastMs = now;
    counter = 0;
  }
  const ms = lastMs;
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
