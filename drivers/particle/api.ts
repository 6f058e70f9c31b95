// A small client for the Particle Cloud API calls the factory makes (docs/particle.md): add a
// device to a product, import and activate SIMs, read a SIM back, claim a device, create a claim
// code. Each call answers either Particle's body, checked against the shape its reference gives,
// or what went wrong in a form the caller can act on:
//
//   retry        nothing is known to have been applied, or it may have been: ask again later
//                (no answer, a timeout, 408, 429 with its reset time, 5xx, an answer that is not
//                the documented shape);
//   credentials  the token was refused (401) or lacks a scope (403): the records are fine, the
//                configuration is not;
//   refused      any other 4xx: Particle's own words, for a dead letter.
//
// The token travels only in the Authorization header; no error, reason or log line carries it.
import { z } from 'zod';
import { oneLine } from '../../lib/text.js';

export interface ParticleApiOptions {
  /** https://api.particle.io, or a simulator's URL. */
  apiUrl: string;
  timeoutMs: number;
}

export type CallFailure =
  | { kind: 'retry'; reason: string; retryAfterMs: number | null; malformed?: string }
  | { kind: 'credentials'; status: number; words: string }
  | { kind: 'refused'; status: number; words: string; body: unknown };

export type CallResult<T> = { ok: true; status: number; body: T } | { ok: false; failure: CallFailure };

/** POST /v1/products/:product/devices: where each Device ID went. */
export const addDeviceAnswer = z.looseObject({
  updated: z.number().optional(),
  updatedDeviceIds: z.array(z.string()).default([]),
  existingDeviceIds: z.array(z.string()).default([]),
  invalidDeviceIds: z.array(z.string()).default([]),
  nonmemberDeviceIds: z.array(z.string()).default([]),
});
export type AddDeviceAnswer = z.output<typeof addDeviceAnswer>;

/** GET /v1/products/:product/sims/:iccid. */
export const simAnswer = z.looseObject({
  iccid: z.string().optional(),
  _id: z.string().optional(),
  status: z.string(),
  product_id: z.union([z.number(), z.string()]).nullable().optional(),
});
export type SimAnswer = z.output<typeof simAnswer>;

/** POST /v1/devices (claim). */
export const claimAnswer = z.looseObject({ ok: z.boolean().optional(), id: z.string().optional() });

/** POST /v1/products/:product/device_claims. */
export const claimCodeAnswer = z.looseObject({ claim_code: z.string().min(1).max(128), device_ids: z.array(z.string()).optional() });

const okAnswer = z.looseObject({ ok: z.boolean().optional() });

const MAX_ANSWER_BYTES = 1024 * 1024;
/** Answers worth asking again for (besides every 5xx). */
const RETRYABLE = new Set([408, 425, 429]);

export class ParticleApi {
  private readonly base: string;

  constructor(private readonly opts: ParticleApiOptions) {
    this.base = opts.apiUrl.replace(/\/+$/, '');
  }

  get url(): string {
    return this.base;
  }

  addDevice(product: string, deviceId: string, token: string, signal: AbortSignal): Promise<CallResult<AddDeviceAnswer>> {
    return this.call('POST', `/v1/products/${product}/devices`, token, { id: deviceId, import_method: 'one' }, addDeviceAnswer, signal);
  }

  importSims(product: string, iccids: readonly string[], token: string, signal: AbortSignal): Promise<CallResult<z.output<typeof okAnswer>>> {
    return this.call('POST', `/v1/products/${product}/sims`, token, { sims: iccids }, okAnswer, signal);
  }

  getSim(product: string, iccid: string, token: string, signal: AbortSignal): Promise<CallResult<SimAnswer>> {
    return this.call('GET', `/v1/products/${product}/sims/${encodeURIComponent(iccid)}`, token, undefined, simAnswer, signal);
  }

  claimDevice(deviceId: string, token: string, signal: AbortSignal): Promise<CallResult<z.output<typeof claimAnswer>>> {
    return this.call('POST', `/v1/devices`, token, { id: deviceId }, claimAnswer, signal);
  }

  createClaimCode(product: string, token: string, signal: AbortSignal): Promise<CallResult<z.output<typeof claimCodeAnswer>>> {
    return this.call('POST', `/v1/products/${product}/device_claims`, token, {}, claimCodeAnswer, signal);
  }

  private async call<T extends z.ZodType>(method: 'GET' | 'POST', route: string, token: string, body: object | undefined, shape: T, signal: AbortSignal): Promise<CallResult<z.output<T>>> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const both = AbortSignal.any([timeout, signal]);
    const what = `${method} ${route}`;
    let res: Response;
    try {
      res = await fetch(this.base + route, {
        method,
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        signal: both,
        redirect: 'error',
      });
    } catch (err) {
      return retry(`${what}: ${networkWords(err, timeout, signal, this.opts.timeoutMs, this.base)}`, null);
    }
    let text: string;
    try {
      text = await readLimited(res, MAX_ANSWER_BYTES);
    } catch (err) {
      return retry(`${what}: reading the answer (HTTP ${res.status}) failed: ${networkWords(err, timeout, signal, this.opts.timeoutMs, this.base)}`, null);
    }
    const waitMs = retryAfterMs(res.headers);
    let json: unknown = null;
    try {
      json = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      json = undefined;
    }
    if (res.status >= 200 && res.status < 300) {
      if (json === undefined) return retry(`${what}: Particle answered HTTP ${res.status} with a body that is not JSON`, waitMs, firstBytes(text));
      const parsed = shape.safeParse(json);
      if (!parsed.success) {
        const where = parsed.error.issues
          .slice(0, 2)
          .map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`)
          .join('; ');
        return retry(`${what}: Particle's answer is not the documented shape (${where})`, waitMs, firstBytes(text));
      }
      return { ok: true, status: res.status, body: parsed.data as z.output<T> };
    }
    const words = particleWords(json) || (json === undefined ? firstBytes(text) : '');
    if (res.status >= 500 || RETRYABLE.has(res.status)) {
      const wait = res.status === 429 && waitMs !== null ? `; next window in ${Math.ceil(waitMs / 1000)} s` : '';
      return retry(`${what}: Particle answered HTTP ${res.status}${words ? `: ${words}` : ''}${wait}`, waitMs);
    }
    if (res.status === 401 || res.status === 403) return { ok: false, failure: { kind: 'credentials', status: res.status, words } };
    return { ok: false, failure: { kind: 'refused', status: res.status, words, body: json ?? null } };
  }
}

function retry(reason: string, retryAfterMs: number | null, malformed?: string): { ok: false; failure: CallFailure } {
  return { ok: false, failure: { kind: 'retry', reason, retryAfterMs, ...(malformed !== undefined ? { malformed } : {}) } };
}

/**
 * How long to wait before asking again: Retry-After (seconds or an HTTP date), else
 * X-RateLimit-Reset (the end of the rate-limit window: epoch seconds, or seconds from now when
 * small). Capped at an hour; null when the answer says nothing.
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const cap = (ms: number): number => Math.min(Math.max(Math.ceil(ms), 0), 3_600_000);
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return cap(Number(retryAfter) * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return cap(at - now);
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    const value = Number(reset);
    // An epoch time in seconds is above 10^9; a small number is a count of seconds from now.
    return cap(value > 1e9 ? value * 1000 - now : value * 1000);
  }
  return null;
}

/** Particle's words in an error answer (`error_description`, `error`, `errors`, `info`), one line. */
export function particleWords(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const b = body as Record<string, unknown>;
  const parts: string[] = [];
  const add = (v: unknown): void => {
    if (typeof v === 'string' && v.length > 0 && !parts.includes(v)) parts.push(v);
    else if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') add((v as { message: string }).message);
  };
  add(b.error);
  add(b.error_description);
  if (Array.isArray(b.errors)) b.errors.forEach(add);
  add(b.info);
  return oneLine(parts.join(': '), 300);
}

function networkWords(err: unknown, timeout: AbortSignal, signal: AbortSignal, timeoutMs: number, base: string): string {
  if (signal.aborted) return 'abandoned: the uplink is stopping';
  if (timeout.aborted) return `no answer within ${timeoutMs} ms`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return `cannot reach ${base}: ${cause?.code ?? cause?.message ?? (err as Error).message}`;
}

/** The first bytes of an answer, escaped, for one log line: never the whole body. */
function firstBytes(text: string, n = 80): string {
  return JSON.stringify(text.slice(0, n)) + (text.length > n ? `… (${text.length} characters)` : '');
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
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
