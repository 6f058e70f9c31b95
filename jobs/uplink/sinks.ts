// Where batches go: the interface every sink kind implements, and two of them: the cloud's ingest
// over HTTP (SPEC §6, docs/cloud-api.md), and NDJSON files in a folder for sites that carry records
// out by hand (the MQTT sink is mqtt-sink.ts). A sink only delivers and reads the answer; the
// uplink job decides what an answer means for the outbox.
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-file.js';
import { z } from 'zod';
import type { BatchRecord } from '../../station/store/outbox.js';
import type { SinkStatus } from '../../station/events.js';
import { parseRetryAfter } from '../../station/tokens/sources.js';

export interface OutgoingBatch {
  batchId: string;
  /** The records, in seq order, exactly as the batch was formed. */
  records: readonly BatchRecord[];
  /** The exact JSON body `{batchId, stationId, records}`: the same bytes on every retry (built on first use). */
  readonly body: string;
  recordIds: readonly string[];
  firstSeq: number;
  lastSeq: number;
  /** True when no send of this batch can have reached the sink before: this process formed it and
   *  this is its first send. False or absent: it may have been sent before (an answer lost, a crash
   *  mid-send). */
  firstTry?: boolean;
}

/** A problem worth a person's attention, raised as the alarm `uplink.<sink id>.<kind>`. */
export interface SinkAlarm {
  kind: string;
  severity: 'warning' | 'critical';
  /** In words, naming the cause and what to check; never a key, password or body. */
  message: string;
}

export type SendOutcome =
  /** The sink answered per record (an alarm: some were refused for a reason a person must fix). */
  | { kind: 'answered'; accepted: string[]; rejected: { recordId: string; permanent: boolean; reason: string }[]; alarm?: SinkAlarm }
  /** Nothing is known to have been applied: send the same batch again later. */
  | { kind: 'retry'; reason: string; retryAfterMs: number | null; alarm?: SinkAlarm; malformed?: string }
  /** The whole batch was refused for good (its records become dead letters with this reason). */
  | { kind: 'refused'; reason: string };

/** Where claim codes are kept: sealed at rest like the mobile secret, and put on the box label. */
export interface ClaimCodeStore {
  /** The code already stored for this device, or null. */
  get(deviceId: string): string | null;
  /** Seals and stores the code durably, then prints the device's claim label; throws when it cannot be stored. */
  put(deviceId: string, runId: string, code: string): void;
}

/** A sink's standing condition (an MQTT sink's broker connection), apart from any one batch. */
export interface SinkCondition {
  /** False while sending cannot work (not connected): the uplink waits to be told it can. */
  ready: boolean;
  alarm: SinkAlarm | null;
}

export interface UplinkSink {
  /** The kind of the configuration entry ("http", "file", "mqtt"). */
  readonly kind: string;
  /** Stable from the configuration (station/config/uplink.ts): the outbox keeps its cursor under it. */
  readonly id: string;
  /** Short words for logs and health, never a secret ("https://ingest.example/v1/stations/s1/batches"). */
  readonly label: string;
  /** This sink's own batching, over the uplink's (an MQTT sink publishes each record at once). */
  readonly batching?: { maxAgeMs?: number };
  /** False: forming and settling its batches need not wait for the disk (station/store/outbox.ts
   *  CommitOptions); default true. */
  readonly durableBatches?: boolean;
  /** Opens what the sink holds open (a broker connection); the uplink calls it as it starts. */
  start?(): void;
  /** Closes it; the uplink calls it as it stops, after abandoning the batches in flight. */
  stop?(): Promise<void>;
  /** Tells `listener` the sink's condition now and at every change; returns the unsubscribe. */
  watch?(listener: (condition: SinkCondition) => void): () => void;
  /** More for its health entry (an MQTT sink's Sparkplug B connection). */
  extraStatus?(): Pick<SinkStatus, 'sparkplug'>;
  send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome>;
}

/** The body of a batch: `{batchId, stationId, records:[{seq, recordId, deviceId, status, ...}]}`. */
export function batchBody(batchId: string, stationId: string, members: readonly { seq: number; payload: string }[]): string {
  const parts = members.map((m) => `{"seq":${m.seq},${m.payload.slice(1)}`);
  return `{"batchId":${JSON.stringify(batchId)},"stationId":${JSON.stringify(stationId)},"records":[${parts.join(',')}]}`;
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

// ---- HTTP ----------------------------------------------------------------------------------

const answerSchema = z.object({
  accepted: z.array(z.string().max(100)),
  rejected: z.array(z.object({ recordId: z.string().max(100), permanent: z.boolean(), reason: z.string().max(2000) })).default([]),
  /** A claim code per accepted blessed record, for the box's claim label (docs/cloud-api.md#claim-codes). */
  claimCodes: z.record(z.string().max(100), z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters, no spaces')).optional(),
});

const MAX_ANSWER_BYTES = 8 * 1024 * 1024;
/** Status codes worth sending the same batch again for (besides every 5xx). */
const RETRYABLE = new Set([408, 425, 429]);
/** The key or signature was refused: the records are fine, the station's configuration is not. */
const CREDENTIALS = new Set([401, 403]);

export interface HttpSinkOptions {
  /** The sink's id (default "http"). */
  id?: string;
  /** The ingest's base URL; a function for one known only once it listens (the demo ingest). */
  url: string | (() => string);
  stationId: string;
  apiKey: string;
  hmacSecret: string;
  timeoutMs: number;
  /** Where claim codes from the answer are sealed (and their labels printed); null: they are ignored. */
  claimCodes?: ClaimCodeStore | null;
}

export class HttpSink implements UplinkSink {
  readonly kind = 'http';
  readonly id: string;

  constructor(private readonly opts: HttpSinkOptions) {
    this.id = opts.id ?? 'http';
  }

  private get endpoint(): string {
    const base = typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url;
    return `${base.replace(/\/+$/, '')}/v1/stations/${encodeURIComponent(this.opts.stationId)}/batches`;
  }

  get label(): string {
    return this.endpoint;
  }

  async send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const both = AbortSignal.any([timeout, signal]);
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        body: batch.body,
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${this.opts.apiKey}`,
          'Idempotency-Key': batch.batchId,
          'X-Signature': signBody(batch.body, this.opts.hmacSecret),
        },
        signal: both,
        redirect: 'error',
      });
    } catch (err) {
      return { kind: 'retry', reason: this.networkReason(err, timeout, signal), retryAfterMs: null };
    }
    let text: string;
    try {
      text = await readLimited(res, MAX_ANSWER_BYTES);
    } catch (err) {
      return { kind: 'retry', reason: `reading the answer (HTTP ${res.status}) failed: ${this.networkReason(err, timeout, signal)}`, retryAfterMs: null };
    }
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    if (res.status === 200) {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return { kind: 'retry', reason: 'the ingest answered 200 with a body that is not JSON', retryAfterMs, malformed: firstBytes(text) };
      }
      const parsed = answerSchema.safeParse(raw);
      if (!parsed.success) {
        const where = parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`)
          .join('; ');
        return { kind: 'retry', reason: `the ingest's answer is not the contract's shape (${where})`, retryAfterMs, malformed: firstBytes(text) };
      }
      const { accepted, rejected, claimCodes } = parsed.data;
      if (claimCodes && this.opts.claimCodes) {
        const stored = this.storeClaimCodes(batch, accepted, claimCodes);
        if (stored !== null) return { kind: 'retry', reason: stored, retryAfterMs: null };
      }
      return { kind: 'answered', accepted, rejected };
    }
    const said = errorWords(text);
    if (res.status >= 500 || RETRYABLE.has(res.status)) {
      return { kind: 'retry', reason: `the ingest answered HTTP ${res.status}${said}`, retryAfterMs };
    }
    if (CREDENTIALS.has(res.status)) {
      const reason = `the ingest refused the station's credentials (HTTP ${res.status}${said}); check the apiKey and hmacSecret of sink "${this.id}"`;
      return { kind: 'retry', reason, retryAfterMs, alarm: { kind: 'credentials', severity: 'critical', message: reason } };
    }
    return { kind: 'refused', reason: `the ingest refused the whole batch: HTTP ${res.status}${said}` };
  }

  /**
   * Seals the claim code of each accepted blessed record of this batch (codes for other records are
   * ignored, as the contract says); a device that already has one keeps it. Null when done, else
   * why a code could not be stored: the batch is then sent again, and the same codes come back.
   */
  private storeClaimCodes(batch: OutgoingBatch, accepted: readonly string[], codes: Record<string, string>): string | null {
    const store = this.opts.claimCodes as ClaimCodeStore;
    const ok = new Set(accepted);
    for (const r of batch.records) {
      const code = codes[r.recordId];
      if (code === undefined || !ok.has(r.recordId)) continue;
      const rec = JSON.parse(r.payload) as { status?: string; runId?: string };
      if (rec.status !== 'blessed' || typeof rec.runId !== 'string' || store.get(r.deviceId) !== null) continue;
      try {
        store.put(r.deviceId, rec.runId, code);
      } catch (err) {
        return `the claim code for ${r.deviceId} could not be stored: ${(err as Error).message}`;
      }
    }
    return null;
  }

  private networkReason(err: unknown, timeout: AbortSignal, signal: AbortSignal): string {
    if (signal.aborted) return 'abandoned: the uplink is stopping';
    if (timeout.aborted) return `no answer within ${this.opts.timeoutMs} ms`;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return `cannot reach ${this.endpoint}: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
  }
}

/** The first bytes of an answer, escaped, for one log line: never the whole body. */
export function firstBytes(text: string, n = 80): string {
  return JSON.stringify(text.slice(0, n)) + (text.length > n ? `… (${text.length} characters)` : '');
}

/** `{"error": "..."}` from an error answer, shortened; empty when there is none. */
function errorWords(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof e === 'string' && e.length > 0) return `: ${e.slice(0, 200)}`;
  } catch {
    // not JSON: say nothing more
  }
  return '';
}

/** The whole answer as text; throws when it is longer than `maxBytes` (the rest is not read). */
export async function readLimited(res: Response, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`the answer is longer than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// ---- files ---------------------------------------------------------------------------------

interface ManifestEntry {
  batchId: string;
  file: string;
  records: number;
  firstSeq: number;
  lastSeq: number;
  sha256: string;
  writtenAt: string;
}

/**
 * Batches as NDJSON files (one record a line) in a folder, plus `manifest.json` listing them with
 * their SHA-256. Each file is written to a temporary name, fsynced, renamed, and the folder fsynced:
 * a crash leaves either the whole file or none. A batch written twice (a crash after the file, before
 * the station noted it) is the same file again, byte for byte.
 */
export class FileSink implements UplinkSink {
  readonly kind = 'file';
  readonly label: string;
  private manifest: { stationId: string; batches: ManifestEntry[] } | null = null;

  constructor(
    private readonly dir: string,
    private readonly stationId: string,
    readonly id = 'file',
  ) {
    this.label = `folder ${dir}`;
  }

  async send(batch: OutgoingBatch): Promise<SendOutcome> {
    try {
      mkdirSync(this.dir, { recursive: true });
      const parsed = JSON.parse(batch.body) as { records: unknown[] };
      const ndjson = parsed.records.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const file = `${batch.batchId}.ndjson`;
      writeAtomically(this.dir, file, ndjson);
      const manifest = this.loadManifest();
      const entry: ManifestEntry = {
        batchId: batch.batchId,
        file,
        records: parsed.records.length,
        firstSeq: batch.firstSeq,
        lastSeq: batch.lastSeq,
        sha256: createHash('sha256').update(ndjson).digest('hex'),
        writtenAt: new Date().toISOString(),
      };
      manifest.batches = manifest.batches.filter((b) => b.batchId !== batch.batchId);
      manifest.batches.push(entry);
      writeAtomically(this.dir, 'manifest.json', JSON.stringify(manifest, null, 1) + '\n');
      return { kind: 'answered', accepted: [...batch.recordIds], rejected: [] };
    } catch (err) {
      return { kind: 'retry', reason: `writing to ${this.dir} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, retryAfterMs: null };
    }
  }

  private loadManifest(): { stationId: string; batches: ManifestEntry[] } {
    if (this.manifest) return this.manifest;
    try {
      this.manifest = JSON.parse(readFileSync(path.join(this.dir, 'manifest.json'), 'utf8')) as { stationId: string; batches: ManifestEntry[] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`manifest.json in ${this.dir} is unreadable; move it aside and restart`, { cause: err });
      this.manifest = { stationId: this.stationId, batches: [] };
    }
    return this.manifest;
  }
}

/** lib/atomic-file.ts; mode 0644: the files are for another program (a sync agent) to read. */
function writeAtomically(dir: string, name: string, text: string): void {
  writeFileAtomicSync(path.join(dir, name), text, { mode: 0o644 });
}
