// The MES interlock end to end: the real daemon (one simulated nest) whose sequence asks the
// reference MES (`npm run mes`, its own process, over real HTTP with an API key) before testing
// each unit. A unit the route table holds fails with the MES's reason, untested; once the table
// releases units they are tested and blessed; an MES answering garbage is unreachable: the unit
// fails "MES unreachable" (offlinePolicy block), an alarm is raised, the outage is logged once with
// the answer's first bytes escaped, and all clears when the MES answers again. The runs read as
// OpenHTF records, every verdict reaches the MES through the uplink's mes sink (each once), and the
// MES key is nowhere in what the station says.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import type { RunView } from '../../station/records/openhtf.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

const MES_KEY = 'mes-key-for-tests-7f3a';
const HOLD = 'Hold: lot 42 on QA hold — ask the line lead';

interface DeviceRow {
  deviceId: string;
  status: string;
  runId: string;
}
interface Health {
  alarms: { alarmId: string; severity: string; message: string }[];
}

let dir: string;
let routesFile: string;
let mes: ChildProcess;
let mesUrl: string;
let mesOut = '';
let daemon: Daemon;

const writeRoutes = (table: object): void => writeFileSync(routesFile, JSON.stringify(table));
const control = async (route: string, body?: object): Promise<Record<string, unknown>> => {
  const res = await fetch(`${mesUrl}/_control/${route}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${MES_KEY}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`MES control ${route}: HTTP ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
};
const devices = async (status: string): Promise<DeviceRow[]> => (await daemon.api<{ devices: DeviceRow[] }>(`/api/devices?status=${status}&limit=500`)).devices;
const run = (runId: string): Promise<RunView> => daemon.api<RunView>(`/api/runs/${runId}`);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mes-interlock-'));
  routesFile = path.join(dir, 'routes.json');
  writeRoutes({ default: { allowed: false, reason: HOLD } });
  mes = spawn(process.execPath, [path.join(PROJECT_ROOT, 'dist/drivers/mes/cli.js'), '--port', '0', '--routes', routesFile, '--db', path.join(dir, 'mes.db'), '--control'], {
    env: { ...process.env, MES_API_KEY: MES_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  mes.stdout?.on('data', (d: Buffer) => (mesOut += d.toString()));
  mes.stderr?.on('data', (d: Buffer) => (mesOut += d.toString()));
  mesUrl = (await waitFor('the reference MES to listen', () => /mes listening on (http:\/\/\S+) /.exec(mesOut)?.[1], { timeoutMs: 20_000 })) as string;

  const cfg = simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 1 }) as Record<string, unknown> & { sequence: { steps: Record<string, unknown>[] } };
  cfg.sequence.steps.splice(1, 0, { type: 'interlock', name: 'MES route' });
  Object.assign(cfg.simulation as object, { retestRate: 0, failureRates: {} });
  cfg.station = { id: 'mes-line-st1', mode: 'production' };
  cfg.mes = { url: mesUrl, operation: 'final-test', offlinePolicy: 'block', timeoutMs: 1000, retries: 1, apiKey: MES_KEY };
  cfg.uplink = { sinks: [{ kind: 'mes' }], batchMaxAgeMs: 200, backoffInitialMs: 50, backoffMaxMs: 500 };
  daemon = await new Daemon(Daemon.writeConfig(dir, cfg)).start();
});

afterAll(async () => {
  await daemon?.terminate();
  if (mes && mes.exitCode === null) {
    const exited = new Promise((resolve) => mes.once('exit', resolve));
    mes.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('a station whose sequence starts with the MES interlock', () => {
  it('fails a unit the MES holds with the MES’s reason, untested, and blesses units once the MES releases them', async () => {
    const [held] = await waitFor('a unit failed by the MES', async () => {
      const failed = await devices('failed');
      return failed.length > 0 ? failed : null;
    });
    const heldRun = await run((held as DeviceRow).runId);
    expect(heldRun).toMatchObject({ status: 'failed', failStep: 'MES route', reason: HOLD, mes: { allowed: false, reason: HOLD, review: null } });
    expect(heldRun.steps.map((s) => [s.name, s.status])).toEqual([
      ['Identify', 'pass'],
      ['MES route', 'fail'],
      ['Bless', 'skipped'],
    ]);

    writeRoutes({ default: { allowed: true, reason: 'released for final test' }, operations: { 'final-test': { units: { [(held as DeviceRow).deviceId]: { allowed: false, reason: HOLD } } } } });
    const [blessed] = await waitFor('a unit blessed after the MES released it', async () => {
      const list = await devices('blessed');
      return list.length > 0 ? list : null;
    });
    const blessedRun = await run((blessed as DeviceRow).runId);
    expect(blessedRun.status).toBe('blessed');
    expect(blessedRun.mes).toEqual({ allowed: true, reason: 'released for final test', review: null });
    expect(blessedRun.steps[1]).toMatchObject({ name: 'MES route', status: 'pass', message: 'MES: released for final test' });
    expect(blessedRun.steps.length).toBeGreaterThan(4);

    // The MES heard the held unit once (it was not tested again), for this station’s operation, with its id.
    const { queries } = (await control('queries')) as { queries: { deviceId: string; operation: string; station: string }[] };
    expect(queries.filter((q) => q.deviceId === (held as DeviceRow).deviceId)).toEqual([expect.objectContaining({ operation: 'final-test', station: 'mes-line-st1' })]);
    expect(queries.find((q) => q.deviceId === (blessed as DeviceRow).deviceId)).toBeTruthy();

    // Both runs read as OpenHTF records: the held unit FAILed at its MES phase, the blessed one PASSed.
    const heldRecord = await daemon.api<{ outcome: string; outcome_details: unknown[]; phases: { name: string; outcome: string; measurements: Record<string, { measured_value: unknown }> }[] }>(
      `/api/runs/${heldRun.runId}?format=openhtf`,
    );
    expect(heldRecord.outcome).toBe('FAIL');
    expect(heldRecord.outcome_details).toEqual([{ code: 'MES route', description: HOLD }]);
    expect(heldRecord.phases[1]).toMatchObject({ name: 'MES route', outcome: 'FAIL', measurements: { 'mes.allowed': { measured_value: 'false' }, 'mes.reason': { measured_value: HOLD } } });
    const blessedRecord = await daemon.api<{ outcome: string; dut_id: string; station_id: string }>(`/api/runs/${blessedRun.runId}?format=openhtf`);
    expect(blessedRecord).toMatchObject({ outcome: 'PASS', dut_id: (blessed as DeviceRow).deviceId, station_id: 'mes-line-st1' });
    expect((await daemon.request(`/api/runs/${blessedRun.runId}?format=xml`)).status).toBe(400);
    const operator = await daemon.login('operator');
    expect((await daemon.request(`/api/runs/${blessedRun.runId}?format=openhtf`, { as: operator })).status).toBe(200);
    expect((await fetch(`${daemon.url}/api/runs/${blessedRun.runId}?format=openhtf`)).status).toBe(401);
    expect(JSON.stringify([heldRecord, blessedRecord, heldRun, blessedRun])).not.toContain(MES_KEY);
  });

  it('fails units "MES unreachable" while the MES answers garbage, raises an alarm, logs the outage once, and recovers', async () => {
    const failedBefore = (await devices('failed')).length;
    await control('behaviour', { garbage: '<html>\u0007Bad gateway</html>' });
    const unreachable = await waitFor('a unit failed because the MES could not be asked', async () => {
      for (const d of (await devices('failed')).slice(0, 5)) {
        const r = await run(d.runId);
        if (r.reason?.startsWith('MES unreachable')) return r;
      }
      return null;
    });
    expect(unreachable.reason).toMatch(/^MES unreachable: an answer not of the contract's shape \(not JSON\) \(2 tries in [\d.]+ s\); the unit was not tested \(mes.offlinePolicy "block"\)$/);
    expect(unreachable.mes).toEqual({ allowed: null, reason: expect.stringMatching(/^MES unreachable: /), review: null });
    expect(unreachable.steps.map((s) => s.name)).toEqual(['Identify', 'MES route', 'Bless']);
    const health = await daemon.api<Health>('/api/health');
    expect(health.alarms).toContainEqual(
      expect.objectContaining({ alarmId: 'mes.unreachable', severity: 'critical', message: expect.stringMatching(/^MES unreachable \(an answer not of the contract's shape/) }),
    );
    // More units fail during the outage; the outage is logged once, with the answer's first bytes escaped.
    await waitFor('another unit failed during the outage', async () => (await devices('failed')).length >= failedBefore + 2);
    const warnings = daemon.stdout
      .split('\n')
      .filter((l) => l.includes('"MES unreachable"'))
      .map((l) => JSON.parse(l) as { level: number; firstBytes?: string });
    expect(warnings).toEqual([expect.objectContaining({ level: 40, firstBytes: '"<html>\\x07Bad gateway</html>"' })]);

    await control('behaviour', {});
    const blessedBefore = (await devices('blessed')).length;
    await waitFor('a unit blessed once the MES answers again', async () => (await devices('blessed')).length > blessedBefore);
    await waitFor('the MES alarm to clear', async () => !(await daemon.api<Health>('/api/health')).alarms.some((a) => a.alarmId === 'mes.unreachable'));
    expect(daemon.stdout.split('\n').filter((l) => l.includes('"MES answering again"'))).toHaveLength(1);
    expect(`${daemon.stdout}${daemon.stderr}`).not.toContain(MES_KEY);
    expect(JSON.stringify(await daemon.api('/api/health'))).not.toContain(MES_KEY);
  });

  it('reports every verdict to the MES through the uplink (the mes sink), each run once, with its result', async () => {
    const finished = [...(await devices('blessed')), ...(await devices('failed'))];
    expect(finished.length).toBeGreaterThan(2);
    const reportsOf = async (deviceId: string): Promise<{ recordId: string; runId: string; result: string; operation: string; stationId: string }[]> => {
      const res = await fetch(`${mesUrl}/v1/units/${deviceId}/results`, { headers: { authorization: `Bearer ${MES_KEY}` } });
      return ((await res.json()) as { results: { recordId: string; runId: string; result: string; operation: string; stationId: string }[] }).results;
    };
    await waitFor('every finished unit reported to the MES', async () => {
      for (const d of finished) if (!(await reportsOf(d.deviceId)).some((r) => r.runId === d.runId)) return false;
      return true;
    });
    for (const d of finished) {
      const reports = await reportsOf(d.deviceId);
      expect(reports.filter((r) => r.runId === d.runId)).toEqual([expect.objectContaining({ result: d.status === 'blessed' ? 'pass' : 'fail', operation: 'final-test', stationId: 'mes-line-st1' })]);
      expect(new Set(reports.map((r) => r.recordId)).size).toBe(reports.length);
    }
    const health = await daemon.api<{ uplink: { sinks: { id: string; kind: string; delivered: number }[] } }>('/api/health');
    expect(health.uplink.sinks).toEqual([expect.objectContaining({ id: 'mes', kind: 'mes' })]);
    expect(health.uplink.sinks[0]?.delivered).toBeGreaterThanOrEqual(finished.length);
  });
});
