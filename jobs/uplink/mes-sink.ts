// The `mes` uplink sink (docs/mes.md#the-mes-sink): reports each verdict of the outbox to the plant's
// MES, `POST <mes.url>/v1/units/<deviceId>/results` (MesClient.reportResult, drivers/mes/client.ts),
// one report per record, in seq order.
//
// Exactly once in effect: the report of a record is built only from the record and its run (the
// same bytes on every try) and carries its recordId as the Idempotency-Key; the MES stores each
// recordId once and answers a repeat `duplicate: true`, which counts as delivered. So a report sent
// again after a lost answer, an MES restart or a station crash changes nothing twice.
//
// What an answer means for a record:
//   200 {accepted: true}             delivered (duplicate or not);
//   another 4xx but 401/403/404      the MES refuses this report for good (409: reported before with
//                                    other content; 422: not its shape): a dead letter, its words kept;
// What stops the batch (sent again later, records kept; reports done so far are remembered):
//   no answer, 5xx, 408, 429, an answer not of the contract's shape; 401/403 (the key, the critical
//   alarm uplink.<id>.credentials) and 404 (mes.url wrong, the same alarm).
// Every verdict is reported, a test-production unit's too: the interlock asked the MES about it as
// well, and what the MES does with it is the MES's business.
import type { Logger } from 'pino';
import { MesClient, MesReportError } from '../../drivers/mes/client.js';
import type { ResultReport } from '../../drivers/mes/contract.js';
import type { MesConfig } from '../../drivers/mes/options.js';
import type { RunView } from '../../station/records/openhtf.js';
import type { OutgoingBatch, SendOutcome, UplinkSink } from './sinks.js';

export interface MesSinkOptions {
  id: string;
  mes: MesConfig;
  stationId: string;
  /** The wait for one answer (uplink.requestTimeoutMs). */
  timeoutMs: number;
  /** The run of a record, for its review flag (null: not found). */
  runs: ((runId: string) => RunView | null) | null;
  log: Logger;
}

interface Rec {
  recordId: string;
  stationId: string;
  deviceId: string;
  status: string;
  runId: string;
  attempt: number | null;
  rework: boolean;
  sequenceHash: string;
  failStep: string | null;
  reason: string | null;
  startedAt: string;
  endedAt: string;
}

/** Records remembered as delivered in this process, at most. */
const MEMO_MAX = 50_000;

export class MesSink implements UplinkSink {
  readonly kind = 'mes';
  readonly id: string;
  readonly label: string;
  private readonly client: MesClient;
  /** recordIds this process saw the MES accept (a crash forgets them: duplicate answers cover that). */
  private readonly done = new Set<string>();

  constructor(private readonly opts: MesSinkOptions) {
    this.id = opts.id;
    this.label = `MES ${opts.mes.url.replace(/\/+$/, '')}/v1/units/:deviceId/results (operation ${opts.mes.operation})`;
    this.client = new MesClient({ url: opts.mes.url, apiKey: opts.mes.apiKey, stationId: opts.stationId, operation: opts.mes.operation, timeoutMs: opts.timeoutMs, retries: 0, log: opts.log });
  }

  /** The report of a record: a pure function of the record, its run and the configuration. */
  reportOf(r: Rec): ResultReport {
    const run = this.opts.runs?.(r.runId) ?? null;
    const review = run?.mes?.review ?? null;
    return {
      recordId: r.recordId,
      stationId: r.stationId,
      operation: this.opts.mes.operation,
      deviceId: r.deviceId,
      result: r.status === 'blessed' ? 'pass' : 'fail',
      runId: r.runId,
      attempt: r.attempt ?? 1,
      rework: r.rework,
      sequenceHash: r.sequenceHash,
      failStep: r.status === 'blessed' ? null : (r.failStep?.slice(0, 200) ?? null),
      reason: r.status === 'blessed' ? null : (r.reason?.slice(0, 2000) ?? null),
      startedAt: r.startedAt,
      endedAt: r.endedAt,
      review: review === null ? null : review.slice(0, 500),
    };
  }

  async send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome> {
    const accepted: string[] = [];
    const rejected: { recordId: string; permanent: boolean; reason: string }[] = [];
    for (const member of batch.records) {
      const r = JSON.parse(member.payload) as Rec;
      if (this.done.has(r.recordId)) {
        accepted.push(r.recordId);
        continue;
      }
      try {
        await this.client.reportResult(this.reportOf(r), signal);
      } catch (err) {
        if (!(err instanceof MesReportError)) throw err;
        if (err.retryable) return { kind: 'retry', reason: `reporting ${r.deviceId} to the MES: ${err.message}`, retryAfterMs: null };
        if (err.status === 401 || err.status === 403 || err.status === 404) {
          const reason = `the MES refused the result report of ${r.deviceId}: ${err.message}; records are kept until it is fixed`;
          return { kind: 'retry', reason, retryAfterMs: null, alarm: { kind: 'credentials', severity: 'critical', message: reason } };
        }
        rejected.push({ recordId: r.recordId, permanent: true, reason: `the MES refused the result report of ${r.deviceId}: ${err.message}` });
        continue;
      }
      if (this.done.size >= MEMO_MAX) this.done.clear();
      this.done.add(r.recordId);
      accepted.push(r.recordId);
    }
    return { kind: 'answered', accepted, rejected };
  }
}
