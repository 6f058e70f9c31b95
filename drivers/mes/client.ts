// The station's MES client (docs/mes.md): asks the route of a unit before it is tested, and reports
// a verdict back. One client serves every slot.
//
// A route query is bounded: each try has `timeoutMs`, at most `retries` more tries follow a failed
// one after a backoff wait (lib/backoff.ts), so a query settles within `worstCaseMs`. A try that
// gets no answer, an HTTP error or an answer that is not the contract's shape has failed; all of
// them are "unreachable" to the caller (the interlock step applies the station's offline policy).
// An answer of the wrong shape is never guessed at. The outage is logged once, when it starts (the
// first failed try, an odd answer's first bytes escaped), and once when the MES answers again.
//
// A result report is one try: the caller (the uplink's future `mes` sink) owns retries and
// backoff, and learns from MesReportError whether a retry can help.
import type { Logger } from 'pino';
import type { z } from 'zod';
import { monotonicMs } from '../../lib/clock.js';
import { Backoff, type BackoffSettings } from '../../lib/backoff.js';
import { escapeForDisplay } from '../../lib/text.js';
import { resultAnswerSchema, resultReportSchema, resultsPath, routeAnswerSchema, routePath, type ResultAnswer, type ResultReport, type RouteAnswer } from './contract.js';

export interface MesClientOptions {
  /** mes.url: the MES's base URL (a path prefix is kept). */
  url: string;
  /** A secret (Authorization: Bearer): never logged. */
  apiKey?: string | undefined;
  stationId: string;
  operation: string;
  /** How long one try waits for a whole answer. */
  timeoutMs: number;
  /** Tries after the first when one fails. */
  retries: number;
  /** The wait between tries; default 250 ms doubling to 1 s. */
  backoff?: BackoffSettings;
  log: Logger;
  /** Told when an outage starts (with its cause) and when it ends (null): the station's alarm. */
  onOutage?: (outage: { cause: string } | null) => void;
}

/** The MES could not be asked: no answer, an HTTP error, or an answer not of the contract's shape. */
export class MesUnreachable extends Error {
  constructor(
    message: string,
    readonly tries: number,
  ) {
    super(message);
    this.name = 'MesUnreachable';
  }
}

/** A result report that did not go through; `retryable` says whether sending it again can help. */
export class MesReportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'MesReportError';
  }
}

/** An MES answer is at most this long; a longer one is refused unread. */
const MAX_ANSWER_BYTES = 64 * 1024;
const DEFAULT_BACKOFF: BackoffSettings = { initialMs: 250, maxMs: 1000 };

type Try = { ok: true; answer: RouteAnswer } | { ok: false; cause: string; retry: boolean; firstBytes?: string };

export class MesClient {
  private readonly base: string;
  private readonly backoff: BackoffSettings;
  /** The outage in progress: when it started (monotonic, lib/clock.ts) and how many tries failed since. */
  private outage: { since: number; failedTries: number } | null = null;

  constructor(private readonly opts: MesClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  get operation(): string {
    return this.opts.operation;
  }

  /** The longest a route query can take: every try's timeout and the longest waits between them. */
  get worstCaseMs(): number {
    return (this.opts.retries + 1) * this.opts.timeoutMs + this.opts.retries * this.backoff.maxMs;
  }

  /** True while the MES is known to be unreachable (since a try failed and none has succeeded). */
  get unreachable(): boolean {
    return this.outage !== null;
  }

  /**
   * The MES's answer for `deviceId` at this station and operation. Rejects MesUnreachable after the
   * last try, or with `signal`'s reason at once when the caller gives up (a run interrupted).
   * `onRetry` hears, in words, that a try failed and another follows.
   */
  async route(deviceId: string, opts: { signal: AbortSignal; onRetry?: (words: string) => void }): Promise<RouteAnswer> {
    const backoff = new Backoff(this.backoff);
    const started = monotonicMs();
    const tries = this.opts.retries + 1;
    let last: Extract<Try, { ok: false }> | null = null;
    for (let n = 1; n <= tries; n++) {
      opts.signal.throwIfAborted();
      const result = await this.tryRoute(deviceId, opts.signal);
      if (result.ok) {
        this.recovered();
        return result.answer;
      }
      opts.signal.throwIfAborted();
      last = result;
      this.failed(result);
      if (!result.retry || n === tries) {
        const spent = ((monotonicMs() - started) / 1000).toFixed(1);
        throw new MesUnreachable(`${result.cause} (${n} ${n === 1 ? 'try' : 'tries'} in ${spent} s)`, n);
      }
      opts.onRetry?.(`MES not answering (${result.cause}): try ${n + 1} of ${tries}`);
      await sleep(backoff.next(), opts.signal);
    }
    throw new MesUnreachable(last?.cause ?? 'no try was made', tries);
  }

  /**
   * Reports a verdict to the MES: `POST /v1/units/<deviceId>/results`, one try. Resolves when the
   * MES stored it (or had it already: `duplicate`); rejects MesReportError otherwise.
   */
  async reportResult(report: ResultReport, signal?: AbortSignal): Promise<ResultAnswer> {
    const checked = resultReportSchema.safeParse(report);
    if (!checked.success) {
      throw new MesReportError(`the result report is not the contract's shape: ${checked.error.issues.map((i) => `${i.path.join('.') || 'report'}: ${i.message}`).join('; ')}`, false);
    }
    const endpoint = `${this.base}${resultsPath(report.deviceId)}`;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        body: JSON.stringify(checked.data),
        headers: { ...this.headers(), 'Content-Type': 'application/json', 'Idempotency-Key': report.recordId },
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
        redirect: 'error',
      });
    } catch (err) {
      if (signal?.aborted) throw new MesReportError(`POST ${endpoint}: abandoned`, true);
      throw new MesReportError(`POST ${endpoint}: ${timeout.aborted ? `no answer within ${this.opts.timeoutMs} ms` : networkCause(err)}`, true);
    }
    const read = await readLimited(res, timeout);
    if (!read.complete) throw new MesReportError(`POST ${endpoint}: ${read.problem}`, true, res.status);
    if (res.status < 200 || res.status > 299) {
      // A 4xx other than a timeout or a rate limit will say the same again: sending it again cannot help.
      const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
      throw new MesReportError(`POST ${endpoint} answered HTTP ${res.status}${authHint(res.status)}: ${escapeForDisplay(read.text, 120)}`, retryable, res.status);
    }
    const parsed = parseJson(read.text, resultAnswerSchema);
    if (!parsed.ok) throw new MesReportError(`POST ${endpoint} answered ${res.status} with ${parsed.problem}; first bytes ${escapeForDisplay(read.text, 60)}`, true, res.status);
    return parsed.value;
  }

  private headers(): Record<string, string> {
    return { Accept: 'application/json', ...(this.opts.apiKey ? { Authorization: `Bearer ${this.opts.apiKey}` } : {}) };
  }

  /** One try: the answer, or why not and whether another try can help. */
  private async tryRoute(deviceId: string, signal: AbortSignal): Promise<Try> {
    const endpoint = `${this.base}${routePath(deviceId, this.opts.operation, this.opts.stationId)}`;
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const both = AbortSignal.any([timeout, signal]);
    let res: Response;
    try {
      res = await fetch(endpoint, { headers: this.headers(), signal: both, redirect: 'error' });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      return { ok: false, cause: timeout.aborted ? `no answer within ${this.opts.timeoutMs} ms` : networkCause(err), retry: true };
    }
    const read = await readLimited(res, both);
    if (signal.aborted) throw signal.reason;
    if (!read.complete) return { ok: false, cause: read.problem, retry: true };
    if (res.status !== 200) {
      // 5xx, 408 and 429 may pass; another 4xx (a wrong URL, a refused key) will not.
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      return { ok: false, cause: `HTTP ${res.status}${authHint(res.status)}`, retry, firstBytes: escapeForDisplay(read.text, 60) };
    }
    const parsed = parseJson(read.text, routeAnswerSchema);
    if (!parsed.ok) return { ok: false, cause: `an answer not of the contract's shape (${parsed.problem})`, retry: true, firstBytes: escapeForDisplay(read.text, 60) };
    return { ok: true, answer: parsed.value };
  }

  private failed(result: Extract<Try, { ok: false }>): void {
    if (this.outage) {
      this.outage.failedTries++;
      this.opts.log.debug({ cause: result.cause }, 'MES still unreachable');
      return;
    }
    this.outage = { since: monotonicMs(), failedTries: 1 };
    this.opts.log.warn({ mes: this.base, cause: result.cause, ...(result.firstBytes !== undefined ? { firstBytes: result.firstBytes } : {}) }, 'MES unreachable');
    this.opts.onOutage?.({ cause: result.cause });
  }

  private recovered(): void {
    if (!this.outage) return;
    const { since, failedTries } = this.outage;
    this.outage = null;
    this.opts.log.info({ mes: this.base, downMs: Math.round(monotonicMs() - since), failedTries }, 'MES answering again');
    this.opts.onOutage?.(null);
  }
}

/** The network's words for a failed request (ECONNREFUSED, ENOTFOUND, ...), never a URL's credentials. */
function networkCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

function authHint(status: number): string {
  return status === 401 || status === 403 ? ' (check mes.apiKey)' : status === 404 ? ' (check mes.url)' : '';
}

function parseJson<T>(text: string, schema: z.ZodType<T>): { ok: true; value: T } | { ok: false; problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    problem: parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join('.') || 'answer'}: ${i.message}`)
      .join('; '),
  };
}

/** The body, up to MAX_ANSWER_BYTES; `complete` false when it was cut short, too long or too late. */
async function readLimited(res: Response, signal: AbortSignal): Promise<{ complete: true; text: string } | { complete: false; text: string; problem: string }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body ?? []) {
      total += chunk.byteLength;
      if (total > MAX_ANSWER_BYTES) {
        await res.body?.cancel().catch(() => undefined);
        return { complete: false, text: Buffer.concat(chunks).toString('utf8'), problem: `an answer longer than ${MAX_ANSWER_BYTES} bytes` };
      }
      chunks.push(chunk);
    }
  } catch {
    return { complete: false, text: Buffer.concat(chunks).toString('utf8'), problem: signal.aborted ? 'the answer did not arrive in time' : 'the answer was cut off' };
  }
  return { complete: true, text: Buffer.concat(chunks).toString('utf8') };
}

/** Waits `ms`, or rejects with `signal`'s reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
