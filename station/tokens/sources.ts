// Where factory tokens come from: the cloud's factory-tokens endpoint (SPEC §6), or a file of
// issued tokens for sites with no uplink. A source only fetches and validates; the ledger stores.
// A source's errors and logs name the tokenId, the line, the URL and the HTTP status, never the
// token text: an answer body is never quoted, and JSON parse errors (V8 quotes the input in them)
// are replaced by our own words.
import { createHmac, randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { StationConfig } from '../config/load.js';
import { cloudCredentials } from '../config/uplink.js';
import type { IssuedToken } from './ledger.js';

export interface TokenSource {
  /** Short words for logs and alarms: "cloud https://…", "file /…". */
  readonly label: string;
  /** Up to `count` new tokens; fewer (or none) when the source has no more. Rejects on failure. */
  fetch(count: number, signal?: AbortSignal): Promise<IssuedToken[]>;
}

export class TokenSourceError extends Error {
  constructor(
    message: string,
    /** The source asked to be left alone this long (HTTP Retry-After). */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'TokenSourceError';
  }
}

// ---- validation shared by both sources -------------------------------------------------------

const tokenItemSchema = z.object({
  tokenId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be 1-128 letters, digits, "_", ".", ":" or "-"'),
  token: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  type: z.string().min(1).max(32),
  /** ISO 8601 with an offset, or epoch milliseconds. */
  expiresAt: z.union([z.iso.datetime({ offset: true }), z.number().int().positive()]),
});

type TokenItem = z.infer<typeof tokenItemSchema>;

/** zod's words with the key path, never the value (zod's messages do not quote input). */
function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || 'answer'}: ${i.message}`)
    .join('; ');
}

/** Checks one item beyond its shape; returns why it cannot be used, or null. */
function itemProblem(item: TokenItem, acceptedTypes: ReadonlySet<string>, now: number): { token: IssuedToken | null; problem: string | null } {
  const expiresAt = typeof item.expiresAt === 'number' ? item.expiresAt : Date.parse(item.expiresAt);
  if (!acceptedTypes.has(item.type)) {
    return { token: null, problem: `token ${item.tokenId} is of type "${item.type}"; this station only sends ${[...acceptedTypes].join(', ')} tokens` };
  }
  if (expiresAt <= now) {
    return {
      token: null,
      problem: `token ${item.tokenId} expired at ${new Date(expiresAt).toISOString()} (station clock ${new Date(now).toISOString()}; if that is wrong, fix the station's clock)`,
    };
  }
  return { token: { tokenId: item.tokenId, token: item.token, type: item.type, expiresAt }, problem: null };
}

// ---- the cloud ---------------------------------------------------------------------------------

export interface CloudTokenSourceOptions {
  /** uplink.url: the base of the cloud API. */
  url: string;
  apiKey: string;
  hmacSecret: string;
  stationId: string;
  log: Logger;
  timeoutMs?: number;
  acceptedTypes?: string[];
  /** The most tokens asked for in one request. */
  maxPerRequest?: number;
}

const cloudAnswerSchema = z.object({ tokens: z.array(tokenItemSchema).max(10_000) });

/** The cloud's answer is at most this long; a bigger one is refused unread. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export class CloudTokenSource implements TokenSource {
  readonly label: string;
  private readonly endpoint: string;
  private readonly acceptedTypes: ReadonlySet<string>;

  constructor(private readonly opts: CloudTokenSourceOptions) {
    this.endpoint = `${opts.url.replace(/\/+$/, '')}/v1/stations/${encodeURIComponent(opts.stationId)}/factory-tokens`;
    this.label = `cloud ${this.endpoint}`;
    this.acceptedTypes = new Set(opts.acceptedTypes ?? ['factory']);
  }

  /**
   * One request for `count` tokens. The whole answer is refused (nothing returned) when any part of
   * it is wrong: a cloud that sends a wrong-type or expired token is misconfigured, and the rest of
   * that answer is not to be trusted either.
   */
  async fetch(count: number, signal?: AbortSignal): Promise<IssuedToken[]> {
    const asked = Math.max(1, Math.min(Math.floor(count), this.opts.maxPerRequest ?? 500));
    const body = JSON.stringify({ count: asked });
    const signature = createHmac('sha256', this.opts.hmacSecret).update(body).digest('hex');
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        body,
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${this.opts.apiKey}`,
          'X-Signature': `sha256=${signature}`,
          // The same headers as a batch upload (SPEC §6): a retried request is a new request for
          // tokens, so each attempt carries its own key.
          'Idempotency-Key': randomUUID(),
        },
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        redirect: 'error',
      });
    } catch (err) {
      if (timeout.aborted) throw new TokenSourceError(`POST ${this.endpoint}: no answer within ${timeoutMs} ms`);
      if (signal?.aborted) throw new TokenSourceError(`POST ${this.endpoint}: abandoned (the refill was stopped)`);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new TokenSourceError(`POST ${this.endpoint} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
      const hint = res.status === 401 || res.status === 403 ? ' (check uplink.apiKey and uplink.hmacSecret)' : '';
      throw new TokenSourceError(`POST ${this.endpoint} answered HTTP ${res.status}${hint}${retryAfterMs !== null ? `; retry after ${Math.round(retryAfterMs / 1000)} s` : ''}`, retryAfterMs);
    }
    const text = await readLimited(res, MAX_ANSWER_BYTES, this.endpoint, timeout);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new TokenSourceError(`POST ${this.endpoint} answered 200 with a body that is not JSON (${text.length} characters)`);
    }
    const parsed = cloudAnswerSchema.safeParse(raw);
    if (!parsed.success) {
      throw new TokenSourceError(`POST ${this.endpoint} answered with a malformed token list: ${describeIssues(parsed.error, '')}`);
    }
    const now = Date.now();
    const out: IssuedToken[] = [];
    const ids = new Set<string>();
    for (const item of parsed.data.tokens) {
      const { token, problem } = itemProblem(item, this.acceptedTypes, now);
      if (problem) throw new TokenSourceError(`POST ${this.endpoint}: answer refused, nothing stored: ${problem}`);
      if (ids.has(item.tokenId)) throw new TokenSourceError(`POST ${this.endpoint}: answer refused, nothing stored: token ${item.tokenId} is listed twice`);
      ids.add(item.tokenId);
      out.push(token as IssuedToken);
    }
    this.opts.log.debug({ endpoint: this.endpoint, asked, received: out.length }, 'factory tokens fetched from the cloud');
    return out;
  }
}

async function readLimited(res: Response, maxBytes: number, endpoint: string, timeout: AbortSignal): Promise<string> {
  const length = Number(res.headers.get('content-length'));
  if (Number.isFinite(length) && length > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new TokenSourceError(`POST ${endpoint} answered with ${length} bytes, more than the ${maxBytes} this station accepts`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body ?? []) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw new TokenSourceError(`POST ${endpoint} answered with more than the ${maxBytes} bytes this station accepts`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof TokenSourceError) throw err;
    if (timeout.aborted) throw new TokenSourceError(`POST ${endpoint}: the answer did not arrive in time`);
    throw new TokenSourceError(`POST ${endpoint}: reading the answer failed (${(err as Error).name})`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Retry-After as seconds or an HTTP date (RFC 9110 §10.2.3); capped at an hour. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return null;
    ms = at - now;
  }
  return Math.min(Math.max(ms, 0), 3_600_000);
}

// ---- a file ------------------------------------------------------------------------------------

export interface FileTokenSourceOptions {
  file: string;
  log: Logger;
  /** True for tokenIds already taken (the ledger's `knows`): a file is read many times. */
  isKnown: (tokenId: string) => boolean;
  acceptedTypes?: string[];
}

/**
 * Tokens from a file: a JSON array, a JSON object `{tokens:[…]}` (the cloud's answer saved), or
 * NDJSON, one token object per line. A bad item is skipped and logged with its line (or item)
 * number and why; the others are used. The file is re-read when it changes, so a site can drop a
 * new batch in place.
 */
export class FileTokenSource implements TokenSource {
  readonly label: string;
  private readonly acceptedTypes: ReadonlySet<string>;
  private cache: { mtimeMs: number; size: number; tokens: IssuedToken[] } | null = null;

  constructor(private readonly opts: FileTokenSourceOptions) {
    this.label = `file ${opts.file}`;
    this.acceptedTypes = new Set(opts.acceptedTypes ?? ['factory']);
  }

  async fetch(count: number): Promise<IssuedToken[]> {
    const tokens = await this.load();
    const now = Date.now();
    const out: IssuedToken[] = [];
    for (const t of tokens) {
      if (out.length >= count) break;
      if (t.expiresAt <= now || this.opts.isKnown(t.tokenId)) continue;
      out.push(t);
    }
    return out;
  }

  private async load(): Promise<IssuedToken[]> {
    let info;
    try {
      info = await stat(this.opts.file);
    } catch (err) {
      throw new TokenSourceError(`token file ${this.opts.file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (this.cache && this.cache.mtimeMs === info.mtimeMs && this.cache.size === info.size) return this.cache.tokens;
    let text: string;
    try {
      text = await readFile(this.opts.file, 'utf8');
    } catch (err) {
      throw new TokenSourceError(`token file ${this.opts.file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const { tokens, skipped } = parseTokenFile(text, this.acceptedTypes, Date.now());
    // Logged once per version of the file, not at every refill.
    for (const s of skipped) this.opts.log.warn({ file: this.opts.file, where: s.where, reason: s.reason }, 'token file entry skipped');
    this.opts.log.info({ file: this.opts.file, usable: tokens.length, skipped: skipped.length }, 'token file read');
    this.cache = { mtimeMs: info.mtimeMs, size: info.size, tokens };
    return tokens;
  }
}

export interface ParsedTokenFile {
  tokens: IssuedToken[];
  /** `where` is "line N" (NDJSON) or "item N" (JSON), counted from 1. */
  skipped: { where: string; reason: string }[];
}

/** Parses a token file's text; exported for tests. Never puts token text in a reason. */
export function parseTokenFile(text: string, acceptedTypes: ReadonlySet<string>, now: number): ParsedTokenFile {
  const items: { where: string; raw: unknown }[] = [];
  const skipped: ParsedTokenFile['skipped'] = [];
  const trimmed = text.trimStart();
  let whole: unknown = undefined;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      whole = JSON.parse(text);
    } catch {
      whole = undefined; // not one JSON document: read it as NDJSON below
    }
  }
  const list = Array.isArray(whole) ? whole : whole !== null && typeof whole === 'object' && Array.isArray((whole as { tokens?: unknown }).tokens) ? (whole as { tokens: unknown[] }).tokens : null;
  if (list) {
    list.forEach((raw, i) => items.push({ where: `item ${i + 1}`, raw }));
  } else {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        items.push({ where: `line ${i + 1}`, raw: JSON.parse(line) });
      } catch {
        skipped.push({ where: `line ${i + 1}`, reason: 'not a JSON object' });
      }
    });
  }
  const seen = new Set<string>();
  const tokens: IssuedToken[] = [];
  for (const { where, raw } of items) {
    const parsed = tokenItemSchema.safeParse(raw);
    if (!parsed.success) {
      skipped.push({ where, reason: describeIssues(parsed.error, '') });
      continue;
    }
    const { token, problem } = itemProblem(parsed.data, acceptedTypes, now);
    if (problem) {
      skipped.push({ where, reason: problem });
      continue;
    }
    if (seen.has(parsed.data.tokenId)) {
      skipped.push({ where, reason: `token ${parsed.data.tokenId} is listed earlier in the file` });
      continue;
    }
    seen.add(parsed.data.tokenId);
    tokens.push(token as IssuedToken);
  }
  return { tokens, skipped };
}

// ---- from the config ---------------------------------------------------------------------------

/**
 * The source `tokens.source` names, or null for "none". `tokens.file` is relative to the config
 * file. Throws, naming the missing keys, when the cloud is chosen without the uplink settings.
 */
export function createTokenSource(
  cfg: Pick<StationConfig, 'configPath' | 'station' | 'uplink' | 'tokens'>,
  deps: { log: Logger; isKnown: (tokenId: string) => boolean; simulated?: TokenSource | null },
): TokenSource | null {
  const t = cfg.tokens;
  if (t.source === 'none') return null;
  if (t.source === 'simulated') {
    if (!deps.simulated) throw new Error('tokens.source is "simulated" but no slot has a simulated DUT to enroll');
    return deps.simulated;
  }
  if (t.source === 'file') {
    if (!t.file) throw new Error('tokens.source is "file" but tokens.file is not set');
    const base = cfg.configPath ? path.dirname(cfg.configPath) : process.cwd();
    return new FileTokenSource({ file: path.resolve(base, t.file), log: deps.log, isKnown: deps.isKnown });
  }
  const cloud = cloudCredentials(cfg.uplink);
  if ('missing' in cloud) throw new Error(`tokens.source is "cloud" but ${cloud.missing.join(', ')} ${cloud.missing.length > 1 ? 'are' : 'is'} not set`);
  return new CloudTokenSource({ ...cloud, stationId: cfg.station.id, log: deps.log });
}
