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

export interface HistoryRun {
  runId: string;
  deviceId: string | null;
  recordId: string | null;
}

/**
 * Writes `count` whole runs ended at `endedAt` the way the runner does: the run, one step row per
 * sequence step with a measurement for each measure step, then the verdict (the device and the
 * outbox row with it). `verdict` interrupted, or `identified` false, writes no outbox row.
 */
export async function writeHistory(
  store: Store,
  seq: CompiledSequence,
  count: number,
  opts: { endedAt: number; verdict?: 'blessed' | 'failed' | 'interrupted'; identified?: boolean; deviceIds?: string[] },
): Promise<HistoryRun[]> {
  const verdict = opts.verdict ?? 'blessed';
  const identified = opts.identified ?? true;
  const runs: HistoryRun[] = [];
  const pending: Promise<{ recordId: string | null }>[] = [];
  for (let i = 0; i < count; i++) {
    const runId = randomUUID();
    const deviceId = identified ? (opts.deviceIds?.[i] ?? randomDeviceId()) : null;
    store.beginRun({ runId, slot: i % 32, sequenceHash: seq.hash, mode: 'production', startedAt: opts.endedAt - 1000 });
    if (deviceId) store.attachDevice(runId, deviceId);
    seq.steps.forEach((step, index) => {
      const measurement =
        step.type === 'measure'
          ? { name: step.name, valueNum: 3.7 + index / 1000, valueText: null, unit: 'V', outcome: 'pass' as const, limitJson: '{"kind":"range","low":3.4,"high":4.2}' }
          : undefined;
      store.recordStep(runId, { index, name: step.name, type: step.type, status: 'pass', attempts: 1, startedAt: opts.endedAt - 900 + index, durationMs: 0.5, message: null, measurement });
    });
    runs.push({ runId, deviceId, recordId: null });
    pending.push(
      store.finishRun(runId, {
        verdict,
        endedAt: opts.endedAt,
        failStep: verdict === 'failed' ? 'VBAT' : null,
        reason: verdict === 'failed' ? 'VBAT 3.1 V below 3.3 V' : verdict === 'interrupted' ? 'the DUT rebooted' : null,
        identity: deviceId && verdict !== 'interrupted' ? { deviceId, mac: randomBytes(6).toString('hex'), iccid: null, imei: null } : null,
        rework: false,
        stationId: 'st-1',
      }),
    );
  }
  const results = await Promise.all(pending);
  results.forEach((r, i) => ((runs[i] as HistoryRun).recordId = r.recordId));
  return runs;
}

/** Delivers every record not yet in a batch the way the uplink does (a batch formed, then the
 *  cloud's answer settled): accepted, except `reject` (dead letters) and `holdBack` (left pending,
 *  so their batch stays open). Returns the batchIds formed. */
export function deliverQueued(store: Store, opts: { reject?: readonly string[]; holdBack?: readonly string[]; batchMax?: number } = {}): string[] {
  const batches: string[] = [];
  for (;;) {
    const batch = store.outbox.formBatch(opts.batchMax ?? 2000, 'http');
    if (!batch) return batches;
    batches.push(batch.batchId);
    const members = store.outbox.members(batch.batchId).map((m) => m.recordId);
    const rejected = members.filter((id) => opts.reject?.includes(id));
    const accepted = members.filter((id) => !opts.reject?.includes(id) && !opts.holdBack?.includes(id));
    store.outbox.settle(
      batch.batchId,
      accepted,
      rejected.map((recordId) => ({ recordId, reason: 'unknown device family' })),
      null,
    );
  }
}
