// The `tofupilot` uplink sink (docs/tofupilot.md): posts each run of the outbox to TofuPilot's runs
// API (drivers/tofupilot/contract.ts), one run per record: outcome, procedure_id, procedure_version
// (the sequence hash), serial_number (the Device ID), started_at, ended_at, and the phases with their
// measurements, as the run is stored (the same run GET /api/runs/:id shows).
//
// That API takes no idempotency key, so a run posted twice is two runs. The duplicate rule: a
// record is posted without asking only on the first send of a batch this process formed
// (OutgoingBatch.firstTry); on any later send (a previous attempt got no answer, a 5xx, a crash
// mid-send, a restart) the sink first lists the runs of that serial number and procedure started
// within a second of the run's start, and a run found with the same start time (to the millisecond)
// counts as delivered, without posting again. Runs this process saw TofuPilot take are remembered.
//
// What an answer means for a record:
//   2xx {id}                 delivered;
//   400, 409, 422, other 4xx refused for good (a dead letter, TofuPilot's words kept);
// What stops the batch (sent again later, records kept):
//   no answer, 5xx, 408, 429 (Retry-After honoured), an answer not of the API's shape;
//   401/403 (the key) and 404 (the procedure or the URL): the critical alarm uplink.<id>.credentials.
// A key not set at all keeps the sink not ready under that alarm.
import { RUNS_PATH, runCreateAnswerSchema, runListAnswerSchema, type RunCreate, type RunCreateMeasurement, type RunCreatePhase } from '../../drivers/tofupilot/contract.js';
import { escapeForDisplay } from '../../lib/text.js';
import { openHtfRecord, type MeasurementView, type RunView, type StepView } from '../../station/records/openhtf.js';
import type { Limit } from '../../station/sequence/limits.js';
import { parseRetryAfter } from '../../station/tokens/sources.js';
import { firstBytes, readLimited, type OutgoingBatch, type SendOutcome, type SinkAlarm, type SinkCondition, type UplinkSink } from './sinks.js';

export interface TofupilotSinkOptions {
  id: string;
  /** TofuPilot's address, without /api. */
  url: string;
  /** The API key (a secret); empty when not set (see problem). */
  apiKey: string;
  procedureId: string;
  stationId: string;
  timeoutMs: number;
  runs: ((runId: string) => RunView | null) | null;
  /** Why the sink cannot send at all (a key not set), in words; null when it can. */
  problem?: string | null;
}

const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
const MEMO_MAX = 50_000;
/** How near (ms) a run found in TofuPilot must have started to count as the record's run. */
const SAME_START_MS = 0;
/** The window (ms) either side of the start the lookup asks for. */
const LOOKUP_WINDOW_MS = 1000;

type Call = { ok: true; status: number; text: string; retryAfterMs: number | null } | { ok: false; reason: string };

class Stop {
  constructor(readonly outcome: Extract<SendOutcome, { kind: 'retry' }>) {}
}

export class TofupilotSink implements UplinkSink {
  readonly kind = 'tofupilot';
  readonly id: string;
  readonly label: string;
  private readonly base: string;
  /** recordId → TofuPilot's run id, for runs this process saw TofuPilot take (or found). */
  private readonly done = new Map<string, string>();

  constructor(private readonly opts: TofupilotSinkOptions) {
    this.id = opts.id;
    this.base = opts.url.replace(/\/+$/, '');
    this.label = `TofuPilot ${this.base}${RUNS_PATH} (procedure ${opts.procedureId})`;
  }

  watch(listener: (condition: SinkCondition) => void): () => void {
    const problem = this.opts.problem ?? null;
    listener({ ready: problem === null, alarm: problem === null ? null : credentialsAlarm(problem) });
    return () => undefined;
  }

  /** The body of a record's run: a pure function of the stored run and the configuration. */
  bodyOf(run: RunView, recordId: string): RunCreate {
    const outcome = openHtfRecord(run, { id: this.opts.stationId }).outcome ?? 'ERROR';
    const phases: RunCreatePhase[] = [];
    const walk = (steps: readonly StepView[]): void => {
      for (const s of steps) {
        if (s.type === 'group') walk(s.steps ?? []);
        else phases.push(phaseOf(s));
      }
    };
    walk(run.steps);
    return {
      outcome: outcome === 'TIMEOUT' ? 'ERROR' : outcome,
      procedure_id: this.opts.procedureId,
      procedure_version: run.sequence.hash,
      serial_number: run.deviceId ?? '',
      started_at: run.startedAt,
      ended_at: run.endedAt ?? run.startedAt,
      phases,
      metadata: {
        station_id: this.opts.stationId,
        record_id: recordId,
        run_id: run.runId,
        sequence_name: run.sequence.name,
        mode: run.mode,
        rework: run.rework,
        ...(run.attempt !== null ? { attempt: run.attempt } : {}),
        ...(run.failStep ? { fail_step: run.failStep } : {}),
        ...(run.reason ? { reason: run.reason.slice(0, 500) } : {}),
      },
    };
  }

  async send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome> {
    if (this.opts.problem) return { kind: 'retry', reason: this.opts.problem, retryAfterMs: null, alarm: credentialsAlarm(this.opts.problem) };
    const accepted: string[] = [];
    const rejected: { recordId: string; permanent: boolean; reason: string }[] = [];
    try {
      for (const member of batch.records) {
        if (this.done.has(member.recordId)) {
          accepted.push(member.recordId);
          continue;
        }
        const { runId } = JSON.parse(member.payload) as { runId: string };
        const run = this.opts.runs?.(runId) ?? null;
        if (!run || run.status === 'running' || !run.deviceId) {
          rejected.push({ recordId: member.recordId, permanent: true, reason: `run ${runId} is not in the store (deleted by retention?): nothing to post to TofuPilot` });
          continue;
        }
        const body = this.bodyOf(run, member.recordId);
        // The duplicate rule (header): ask before posting again what may have been posted.
        const found = batch.firstTry === true ? null : await this.lookup(body, signal);
        const tofuId = found ?? (await this.post(body, member.recordId, rejected, signal));
        if (tofuId === null) continue;
        if (this.done.size >= MEMO_MAX) this.done.clear();
        this.done.set(member.recordId, tofuId);
        accepted.push(member.recordId);
      }
    } catch (err) {
      if (err instanceof Stop) return err.outcome;
      throw err;
    }
    return { kind: 'answered', accepted, rejected };
  }

  /** TofuPilot's id of the run already there for this body (same serial number, procedure, start), or null. */
  private async lookup(body: RunCreate, signal: AbortSignal): Promise<string | null> {
    const start = Date.parse(body.started_at);
    const q = new URLSearchParams();
    q.append('serial_numbers', body.serial_number);
    q.append('procedure_ids', body.procedure_id);
    q.append('started_after', new Date(start - LOOKUP_WINDOW_MS).toISOString());
    q.append('started_before', new Date(start + LOOKUP_WINDOW_MS).toISOString());
    q.append('limit', '100');
    const what = `GET ${RUNS_PATH}?serial_numbers=${body.serial_number}`;
    const call = await this.call('GET', `${RUNS_PATH}?${q.toString()}`, null, signal);
    const answer = this.judge(call, what);
    if (answer.status !== 200) throw new Stop(this.unexpected(answer.status, answer.text, what, answer.retryAfterMs));
    let parsed;
    try {
      parsed = runListAnswerSchema.safeParse(JSON.parse(answer.text));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) throw new Stop({ kind: 'retry', reason: `TofuPilot's answer to ${what} is not the API's shape`, retryAfterMs: null, malformed: firstBytes(answer.text) });
    const same = parsed.data.data.find(
      (r) => r.unit.serial_number.toLowerCase() === body.serial_number.toLowerCase() && r.procedure.id === body.procedure_id && Math.abs(Date.parse(r.started_at) - start) <= SAME_START_MS,
    );
    return same?.id ?? null;
  }

  /** Posts the run: TofuPilot's id, or null when it refused the run for good (added to `rejected`). */
  private async post(body: RunCreate, recordId: string, rejected: { recordId: string; permanent: boolean; reason: string }[], signal: AbortSignal): Promise<string | null> {
    const what = `POST ${RUNS_PATH} for ${body.serial_number}`;
    const answer = this.judge(await this.call('POST', RUNS_PATH, JSON.stringify(body), signal), what);
    if (answer.status >= 200 && answer.status < 300) {
      let parsed;
      try {
        parsed = runCreateAnswerSchema.safeParse(JSON.parse(answer.text));
      } catch {
        parsed = null;
      }
      if (!parsed?.success)
        throw new Stop({ kind: 'retry', reason: `TofuPilot answered ${what} with ${answer.status} and a body not of the API's shape`, retryAfterMs: null, malformed: firstBytes(answer.text) });
      return parsed.data.id;
    }
    if (answer.status >= 400 && answer.status < 500 && ![401, 403, 404, 408, 429].includes(answer.status)) {
      rejected.push({ recordId, permanent: true, reason: `TofuPilot refused the run of ${body.serial_number}: HTTP ${answer.status}${words(answer.text)}` });
      return null;
    }
    throw new Stop(this.unexpected(answer.status, answer.text, what, answer.retryAfterMs));
  }

  /** A call that got an answer, or the batch stops (no answer: sent again later, looked up first). */
  private judge(call: Call, what: string): { status: number; text: string; retryAfterMs: number | null } {
    if (!call.ok) throw new Stop({ kind: 'retry', reason: `${what}: ${call.reason}`, retryAfterMs: null });
    return call;
  }

  private unexpected(status: number, text: string, what: string, retryAfterMs: number | null): Extract<SendOutcome, { kind: 'retry' }> {
    const said = words(text);
    if (status === 401 || status === 403) {
      const reason = `TofuPilot refused the API key for ${what} (HTTP ${status}${said}): set a valid key (the tofupilot sink's apiKey or TOFUPILOT_API_KEY); records are kept until then`;
      return { kind: 'retry', reason, retryAfterMs, alarm: credentialsAlarm(reason) };
    }
    if (status === 404) {
      const reason = `TofuPilot answered ${what} with HTTP 404${said}: check the tofupilot sink's procedureId and url; records are kept`;
      return { kind: 'retry', reason, retryAfterMs, alarm: credentialsAlarm(reason) };
    }
    return { kind: 'retry', reason: `TofuPilot answered ${what} with HTTP ${status}${said}`, retryAfterMs };
  }

  private async call(method: 'GET' | 'POST', pathAndQuery: string, body: string | null, signal: AbortSignal): Promise<Call> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const both = AbortSignal.any([timeout, signal]);
    try {
      const res = await fetch(`${this.base}${pathAndQuery}`, {
        method,
        headers: { Accept: 'application/json', Authorization: `Bearer ${this.opts.apiKey}`, ...(body !== null ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== null ? { body } : {}),
        signal: both,
        redirect: 'error',
      });
      let text: string;
      try {
        text = await readLimited(res, MAX_ANSWER_BYTES);
      } catch (err) {
        if (signal.aborted || timeout.aborted) throw err;
        return { ok: false, reason: (err as Error).message };
      }
      return { ok: true, status: res.status, text, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
    } catch (err) {
      if (signal.aborted) return { ok: false, reason: 'abandoned: the uplink is stopping' };
      if (timeout.aborted) return { ok: false, reason: `no answer within ${this.opts.timeoutMs} ms` };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { ok: false, reason: `no answer (${cause?.code ?? cause?.message ?? (err as Error).message})` };
    }
  }
}

function credentialsAlarm(message: string): SinkAlarm {
  return { kind: 'credentials', severity: 'critical', message };
}

/** TofuPilot's `message` (or `error`) from an error answer, escaped and shortened; empty when none. */
function words(text: string): string {
  try {
    const e = JSON.parse(text) as { message?: unknown; error?: unknown };
    const m = typeof e.message === 'string' ? e.message : typeof e.error === 'string' ? e.error : null;
    if (m) return `: ${escapeForDisplay(m, 200)}`;
  } catch {
    // not JSON
  }
  return text ? `: ${escapeForDisplay(text, 80)}` : '';
}

function phaseOf(s: StepView): RunCreatePhase {
  const start = Date.parse(s.startedAt);
  const outcome = s.status === 'pass' || s.status === 'marginal' ? 'PASS' : s.status === 'fail' ? 'FAIL' : s.status === 'skipped' ? 'SKIP' : 'ERROR';
  return {
    name: s.name,
    outcome,
    started_at: s.startedAt,
    ended_at: new Date(Math.round(start + s.durationMs)).toISOString(),
    ...(s.message ? { docstring: s.message } : {}),
    measurements: s.measurements.map(measurementOf),
    // TofuPilot keeps every attempt of a phase under one name with an increasing retry_count.
    retry_count: Math.max(0, (s.groupAttempt ?? 1) - 1),
  };
}

function measurementOf(m: MeasurementView): RunCreateMeasurement {
  const outcome = m.value === null ? 'UNSET' : m.outcome === 'fail' ? 'FAIL' : 'PASS';
  const validators = validatorsOf(m.limit, outcome);
  return {
    name: m.name,
    outcome,
    ...(m.value !== null ? { measured_value: typeof m.value === 'number' && !Number.isFinite(m.value) ? String(m.value) : m.value } : {}),
    ...(m.unit ? { units: m.unit } : {}),
    ...(validators.length > 0 ? { validators } : {}),
  };
}

/** A station limit as TofuPilot's structured validators (operator, expected_value), with the measurement's outcome. */
function validatorsOf(limit: Limit | null, outcome: 'PASS' | 'FAIL' | 'UNSET'): NonNullable<RunCreateMeasurement['validators']> {
  if (!limit) return [];
  switch (limit.kind) {
    case 'range':
      return [
        ...(limit.low !== undefined ? [{ operator: '>=', expected_value: limit.low, outcome }] : []),
        ...(limit.high !== undefined ? [{ operator: '<=', expected_value: limit.high, outcome }] : []),
        ...(limit.marginalLow !== undefined ? [{ operator: '>=', expected_value: limit.marginalLow, is_decisive: false }] : []),
        ...(limit.marginalHigh !== undefined ? [{ operator: '<=', expected_value: limit.marginalHigh, is_decisive: false }] : []),
      ];
    case 'equals':
      if (typeof limit.value === 'number' && limit.tolerance)
        return [
          { operator: '>=', expected_value: limit.value - limit.tolerance, outcome },
          { operator: '<=', expected_value: limit.value + limit.tolerance, outcome },
        ];
      return [{ operator: '==', expected_value: limit.value, outcome }];
    case 'regex':
      return [{ operator: 'matches', expected_value: limit.pattern, outcome }];
  }
}
