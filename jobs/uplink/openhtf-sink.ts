// The `openhtf` uplink sink (docs/api.md#openhtf-files): writes each run of the outbox as an OpenHTF
// JSON test record, the same record GET /api/runs/:id?format=openhtf serves (station/records/openhtf.ts),
// one file per run in a folder, for tools that read OpenHTF's output (its OutputToFile callback
// writes one JSON file per test the same way).
//
// A file is named `<dut_id>.<start_time_millis>.json` (OpenHTF's own example pattern
// "{dut_id}.{start_time_millis}.json"); a Device ID is lowercase hex, so the name is safe on every
// file system. Each file is written to a temporary name, fsynced, renamed into place, and the folder
// fsynced (lib/atomic-file.ts): a crash leaves the whole file or none. The record is a pure function
// of the stored run, so a record written again after a crash (before the station noted it written)
// is the same file, byte for byte.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../lib/atomic-file.js';
import { openHtfRecord, type RunView } from '../../station/records/openhtf.js';
import type { OutgoingBatch, SendOutcome, UplinkSink } from './sinks.js';

export interface OpenhtfSinkOptions {
  id: string;
  /** The folder (absolute). */
  dir: string;
  station: { id: string; name?: string | null; version?: string };
  /** The run of a record as GET /api/runs/:id shows it (with its MES answer), or null. */
  runs: (runId: string) => RunView | null;
}

/** The file name of a run's record. */
export function openhtfFileName(deviceId: string, startTimeMillis: number): string {
  return `${deviceId}.${startTimeMillis}.json`;
}

export class OpenhtfSink implements UplinkSink {
  readonly kind = 'openhtf';
  readonly id: string;
  readonly label: string;

  constructor(private readonly opts: OpenhtfSinkOptions) {
    this.id = opts.id;
    this.label = `OpenHTF records in ${opts.dir}`;
  }

  send(batch: OutgoingBatch): Promise<SendOutcome> {
    const accepted: string[] = [];
    const rejected: { recordId: string; permanent: boolean; reason: string }[] = [];
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      for (const member of batch.records) {
        const { runId } = JSON.parse(member.payload) as { runId: string };
        const run = this.opts.runs(runId);
        if (!run || run.status === 'running') {
          rejected.push({ recordId: member.recordId, permanent: true, reason: `run ${runId} is not in the store (deleted by retention?): no OpenHTF record can be written` });
          continue;
        }
        const record = openHtfRecord(run, this.opts.station);
        const file = path.join(this.opts.dir, openhtfFileName(run.deviceId ?? member.deviceId, record.start_time_millis));
        // Mode 0644: the files are for another program to read.
        writeFileAtomicSync(file, JSON.stringify(record, null, 1) + '\n', { mode: 0o644 });
        accepted.push(member.recordId);
      }
    } catch (err) {
      return Promise.resolve({ kind: 'retry', reason: `writing OpenHTF records to ${this.opts.dir} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, retryAfterMs: null });
    }
    return Promise.resolve({ kind: 'answered', accepted, rejected });
  }
}
