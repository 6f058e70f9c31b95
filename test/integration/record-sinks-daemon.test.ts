// The openhtf and tofupilot sinks in the real daemon (four simulated nests testing non-stop): each
// finished run becomes an OpenHTF record file equal to the API's record and keeping OpenHTF's
// record rules, and a run in the TofuPilot API simulator (over real HTTP, the key from
// TOFUPILOT_API_KEY). The daemon is SIGKILLed right after TofuPilot stored a run whose answer was
// lost, and started again: no run is posted twice, no file is short, and the key is nowhere in what
// the station says.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TofupilotSimulator } from '../../drivers/tofupilot/simulator.js';
import type { OpenHtfRecord } from '../../station/records/openhtf.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { openHtfProblems } from '../support/openhtf-rules.js';
import { waitFor } from '../support/wait.js';

const KEY = 'tp-key-for-daemon-tests-41c9';

let dir: string;
let recordsDir: string;
let sim: TofupilotSimulator;
let daemon: Daemon;

/** The record files written so far (a leftover `.<name>.tmp` of a killed write is not one). */
const recordFiles = (): string[] => {
  try {
    return readdirSync(recordsDir).filter((f) => !f.startsWith('.'));
  } catch {
    return [];
  }
};
const key = (serial: string, startedAt: string): string => `${serial}@${Date.parse(startedAt)}`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'record-sinks-'));
  recordsDir = path.join(dir, 'records', 'openhtf');
  sim = new TofupilotSimulator({ apiKey: KEY, procedures: ['proc-1'] });
  await sim.start();
  const cfg = simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 4 });
  cfg.station = { id: 'records-st1', name: 'Records station', mode: 'production' };
  cfg.uplink = {
    sinks: [
      { kind: 'openhtf', dir: 'records/openhtf' },
      { kind: 'tofupilot', url: sim.url, procedureId: 'proc-1' },
    ],
    batchMaxAgeMs: 100,
    requestTimeoutMs: 2000,
    backoffInitialMs: 50,
    backoffMaxMs: 500,
  };
  daemon = await new Daemon(Daemon.writeConfig(dir, cfg), { TOFUPILOT_API_KEY: KEY }).start();
});

afterAll(async () => {
  await daemon?.terminate();
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the openhtf and tofupilot sinks in the daemon', () => {
  it('writes every run as a file and posts it once to TofuPilot, across a SIGKILL right after a lost answer', async () => {
    await waitFor('a few runs in both sinks', () => recordFiles().length >= 4 && sim.runs.length >= 4, { timeoutMs: 30_000 });
    // An answer lost, and the station killed before it could ask again.
    const stored = sim.runs.length;
    sim.fault('lose-answer');
    await waitFor('TofuPilot storing a run whose answer is lost', () => sim.runs.length > stored, { timeoutMs: 30_000, intervalMs: 2 });
    await daemon.kill9();
    await daemon.start();
    const before = sim.runs.length;
    await waitFor('more runs after the restart', () => sim.runs.length >= before + 4, { timeoutMs: 30_000 });

    // Every file is whole, keeps OpenHTF's rules, and is the API's record of its run.
    const files = recordFiles();
    for (const f of files) {
      const record = JSON.parse(readFileSync(path.join(recordsDir, f), 'utf8')) as OpenHtfRecord;
      expect(openHtfProblems(record), f).toEqual([]);
      expect(f).toBe(`${record.dut_id}.${record.start_time_millis}.json`);
      expect(record.station_id).toBe('records-st1');
      const api = await daemon.api<OpenHtfRecord>(`/api/runs/${record.metadata.run_id as string}?format=openhtf`);
      expect(record).toEqual(api);
    }
    // Every file's run reaches TofuPilot, and no run is there twice.
    const fileKeys = files.map((f) => {
      const r = JSON.parse(readFileSync(path.join(recordsDir, f), 'utf8')) as OpenHtfRecord;
      return `${r.dut_id}@${r.start_time_millis}`;
    });
    await waitFor('every written run in TofuPilot', () => {
      const posted = new Set(sim.runs.map((r) => key(r.body.serial_number, r.body.started_at)));
      return fileKeys.every((k) => posted.has(k));
    });
    const posted = sim.runs.map((r) => key(r.body.serial_number, r.body.started_at));
    expect(posted.length).toBe(new Set(posted).size);
    expect(sim.requests).toContain('GET /api/v2/runs'); // the run whose answer was lost was looked up
    expect(sim.runs.every((r) => r.body.procedure_id === 'proc-1' && /^[0-9a-f]{64}$/.test(r.body.procedure_version ?? ''))).toBe(true);

    const health = await daemon.api<{ uplink: { sinks: { id: string; state: string }[] } }>('/api/health');
    expect(health.uplink.sinks.map((s) => s.id)).toEqual(['openhtf', 'tofupilot']);
    expect(`${daemon.stdout}${daemon.stderr}${JSON.stringify(health)}`).not.toContain(KEY);
  });
});
