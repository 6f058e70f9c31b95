// Fills a store's outbox with real records the way the runner writes them (run, device, outbox row
// in one commit), for uplink tests and the drain benchmark.
import { randomBytes, randomUUID } from 'node:crypto';
import { luhnCheckDigit } from '../../lib/luhn.js';
import type { CompiledSequence } from '../../station/sequence/sequence.js';
import type { Store } from '../../station/store/store.js';

export function randomDeviceId(hexChars = 16): string {
  return randomBytes(Math.ceil(hexChars / 2))
    .toString('hex')
    .slice(0, hexChars);
}

/** A random ICCID: 89, 17 digits, a Luhn check digit (19 digits). */
export function randomIccid(): string {
  let body = '89';
  for (const b of randomBytes(17)) body += String(b % 10);
  return body + luhnCheckDigit(body);
}

/** Writes `count` finished runs (every `failEvery`-th failed, the rest blessed); returns their recordIds. */
export async function fillOutbox(
  store: Store,
  seq: CompiledSequence,
  count: number,
  opts: { failEvery?: number; stationId?: string; chunk?: number; deviceIdHex?: number; cellular?: boolean } = {},
): Promise<string[]> {
  const ids: string[] = [];
  const chunk = opts.chunk ?? 2000;
  for (let done = 0; done < count;) {
    const n = Math.min(chunk, count - done);
    const pending: Promise<{ recordId: string | null }>[] = [];
    for (let i = 0; i < n; i++) {
      const k = done + i;
      const runId = randomUUID();
      const deviceId = randomDeviceId(opts.deviceIdHex);
      const now = Date.now();
      store.beginRun({ runId, slot: k % 32, sequenceHash: seq.hash, mode: 'production', startedAt: now - 1000 });
      store.attachDevice(runId, deviceId);
      const failed = opts.failEvery !== undefined && k % opts.failEvery === 0;
      pending.push(
        store.finishRun(runId, {
          verdict: failed ? 'failed' : 'blessed',
          endedAt: now,
          failStep: failed ? 'VBAT' : null,
          reason: failed ? 'VBAT 3.1 V below 3.3 V' : null,
          identity: { deviceId, mac: randomBytes(6).toString('hex'), iccid: opts.cellular ? randomIccid() : null, imei: null },
          rework: false,
          stationId: opts.stationId ?? 'st-1',
        }),
      );
    }
    for (const r of await Promise.all(pending)) if (r.recordId) ids.push(r.recordId);
    done += n;
  }
  return ids;
}
