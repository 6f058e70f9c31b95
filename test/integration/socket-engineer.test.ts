// The engineer console against the real daemon (simulated nests with simulated BlinkUp): sequence
// versions validated, saved, diffed and made active for the next run, surviving a restart; device
// search and history; yield per step; the CSV export (formula cells defused, no token text); and
// the operator's alarm acknowledgement that lets a slot stopped by a wrong-type token run again.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon, LiveClient, type LoginSession } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

interface Version {
  version: number;
  hash: string;
  name: string;
  createdAt: string;
  stepCount: number;
  author: string;
  by: string | null;
  note: string | null;
}
interface Health {
  sequence: { hash: string };
  slots: { slot: number; state: string; runId: string | null; reason: string | null }[];
  alarms: { alarmId: string }[];
}
interface DeviceRow {
  deviceId: string;
  mac: string;
  iccid: string | null;
  status: string;
  runId: string;
}
type SequenceDef = { name: string; steps: Record<string, unknown>[] } & Record<string, unknown>;

let dir: string;
let configPath: string;
let daemon: Daemon;
let engineer: LoginSession;
let operator: LoginSession;
let configDef: SequenceDef;
let configHash: string;
const clients: LiveClient[] = [];

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const postJson = (route: string, body: unknown, as?: LoginSession): Promise<Response> =>
  daemon.request(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...(as ? { as } : {}) });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'socket-engineer-'));
  const cfg = simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 2, blinkup: true });
  const sim = cfg.simulation as Record<string, unknown>;
  Object.assign(sim, { cellularRate: 1, retestRate: 0, failureRates: {} });
  configPath = Daemon.writeConfig(dir, cfg);
  daemon = await new Daemon(configPath).start();
  engineer = await daemon.login('engineer');
  operator = await daemon.login('operator');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await daemon?.terminate();
  rmSync(dir, { recursive: true, force: true });
});

describe('sequence versions', () => {
  it("lists the configuration's sequence as version 1, active", async () => {
    const health = await daemon.api<Health>('/api/health');
    configHash = health.sequence.hash;
    const list = await daemon.api<{ active: string; versions: Version[] }>('/api/sequences');
    expect(list.active).toBe(configHash);
    expect(list.versions).toEqual([{ version: 1, hash: configHash, name: 'imp-widget-factory-test', createdAt: expect.any(String), stepCount: 13, author: 'config', by: null, note: null }]);
    const detail = await daemon.api<{ definition: SequenceDef; previousHash: string | null; diff: unknown[]; version: number }>(`/api/sequences/${configHash}`);
    expect(detail.version).toBe(1);
    expect(detail.previousHash).toBeNull();
    expect(detail.diff).toEqual([]);
    expect(detail.definition.steps).toHaveLength(13);
    configDef = detail.definition;
    expect((await daemon.request(`/api/sequences/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await daemon.request('/api/sequences/not-a-hash')).status).toBe(404);
  });

  it('validates an edit and reports each problem at its field; nothing invalid is saved', async () => {
    const bad = clone(configDef);
    (bad.steps[2] as { limit: Record<string, number> }).limit.low = 5; // above high 4.2, and marginalLow 3.5 is now below low
    bad.steps[3] = { ...bad.steps[3], timeoutMs: -1 };
    bad.steps[5] = { ...bad.steps[5], name: bad.steps[4]?.name };
    const res = await postJson('/api/sequences/validate', bad);
    expect(res.status).toBe(422);
    const body = (await res.json()) as { ok: boolean; problems: { path: string; message: string }[] };
    expect(body.ok).toBe(false);
    const byPath = Object.fromEntries(body.problems.map((p) => [p.path, p.message]));
    expect(byPath['steps[2].limit.low']).toBe('low 5 is above high 4.2');
    expect(byPath['steps[2].limit.marginalLow']).toBe('must be at or above low');
    expect(byPath['steps[3].timeoutMs']).toMatch(/>=1/);
    expect(byPath['steps[5].name']).toBe('duplicates the name of step 4');

    const save = await postJson('/api/sequences', { definition: bad, note: 'a bad one' });
    expect(save.status).toBe(422);
    expect(((await save.json()) as { problems: unknown[] }).problems).toEqual(body.problems);
    expect((await daemon.api<{ versions: Version[] }>('/api/sequences')).versions).toHaveLength(1);

    const notJson = await postJson('/api/sequences/validate', '{"name":');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/^the body is not valid JSON/);
    const notObject = await postJson('/api/sequences/validate', '[]');
    expect(notObject.status).toBe(422);
    expect(((await notObject.json()) as { problems: { path: string }[] }).problems[0]?.path).toBe('(root)');

    const good = await postJson('/api/sequences/validate', configDef);
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true, hash: configHash });
  });

  it('saves a changed limit as version 2 with its diff; the next run on every slot records its hash', async () => {
    const live = await LiveClient.connect(daemon.url, { session: engineer });
    clients.push(live);
    const before = await waitFor(
      'a run in flight before the save',
      async () => {
        const h = await daemon.api<Health>('/api/health');
        return h.slots.some((s) => s.runId) ? h : null;
      },
      { timeoutMs: 30_000 },
    );
    const inFlight = new Set(before.slots.map((s) => s.runId).filter(Boolean));
    expect(inFlight.size).toBeGreaterThan(0); // else the check that runs in flight keep their sequence checks nothing
    const edited = clone(configDef);
    (edited.steps[2] as { limit: Record<string, number> }).limit.high = 4.19;
    const res = await postJson('/api/sequences', { definition: edited, note: 'battery high limit 4.19 V' });
    expect(res.status).toBe(201);
    const saved = (await res.json()) as { version: number; hash: string; diff: unknown[] };
    expect(saved.version).toBe(2);
    expect(saved.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(saved.hash).not.toBe(configHash);
    expect(saved.diff).toEqual([{ path: 'steps[2].limit.high', before: 4.2, after: 4.19 }]);

    await waitFor('the sequence delta', () => live.deltas.find((d) => d.t === 'sequence'));
    expect(live.deltas.find((d) => d.t === 'sequence')?.d).toEqual({ name: 'imp-widget-factory-test', hash: saved.hash, stepCount: 13 });
    const list = await daemon.api<{ active: string; versions: Version[] }>('/api/sequences');
    expect(list.active).toBe(saved.hash);
    expect(list.versions.map((v) => [v.version, v.author, v.by, v.note])).toEqual([
      [2, 'engineer', 'engineer', 'battery high limit 4.19 V'],
      [1, 'config', null, null],
    ]);
    // without a change note, nothing is saved
    const noNote = await postJson('/api/sequences', edited);
    expect(noNote.status).toBe(400);
    expect(((await noNote.json()) as { problems: string[] }).problems.join(' ')).toMatch(/note/);
    const detail = await daemon.api<{ previousHash: string; diff: unknown[] }>(`/api/sequences/${saved.hash}`);
    expect(detail.previousHash).toBe(configHash);
    expect(detail.diff).toEqual(saved.diff);

    // the same content again is not a new version
    const again = await postJson('/api/sequences', { definition: edited, note: 'again' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ version: 2, hash: saved.hash, diff: [] });

    const newRun = await waitFor('a run started after the save', async () => (await daemon.api<Health>('/api/health')).slots.find((s) => s.runId && !inFlight.has(s.runId))?.runId, {
      timeoutMs: 60_000,
    });
    const run = await daemon.api<{ sequence: { hash: string } }>(`/api/runs/${newRun}`);
    expect(run.sequence.hash).toBe(saved.hash);
    for (const runId of inFlight) {
      const old = await daemon.api<{ sequence: { hash: string } }>(`/api/runs/${runId}`);
      expect(old.sequence.hash).toBe(configHash); // runs in flight keep theirs
    }
    expect((await daemon.api<Health>('/api/health')).sequence.hash).toBe(saved.hash);
  });
});

describe('devices, yield and export', () => {
  let device: DeviceRow;

  it('finds a device by Device ID prefix, by MAC with any separators, and by ICCID; shows its history', async () => {
    device = await waitFor('a blessed device', async () => (await daemon.api<{ devices: DeviceRow[] }>('/api/devices?status=blessed&limit=1')).devices[0], { timeoutMs: 60_000 });
    const search = async (q: string): Promise<DeviceRow[]> => (await daemon.api<{ devices: DeviceRow[] }>(`/api/devices/search?q=${encodeURIComponent(q)}`)).devices;
    expect((await search(device.deviceId.slice(0, 6))).map((d) => d.deviceId)).toContain(device.deviceId);
    const macColons = device.mac.toUpperCase().match(/../g)?.join(':') as string;
    expect((await search(macColons)).map((d) => d.deviceId)).toContain(device.deviceId);
    expect((await search(device.mac.match(/..../g)?.join('.') as string)).map((d) => d.deviceId)).toContain(device.deviceId);
    expect(device.iccid).toMatch(/^89\d{17,18}$/);
    expect((await search(device.iccid as string)).map((d) => d.deviceId)).toEqual([device.deviceId]);
    expect(await search('zz!*')).toEqual([]);
    expect((await search(device.deviceId))[0]).toEqual((await daemon.api<{ devices: DeviceRow[] }>('/api/devices?limit=500')).devices.find((d) => d.deviceId === device.deviceId));
    expect((await daemon.request('/api/devices/search')).status).toBe(400);

    const history = await daemon.api<{ device: DeviceRow; runs: { runId: string; status: string; sequenceHash: string; attempt: number }[] }>(`/api/devices/${device.deviceId}/history`);
    expect(history.device.deviceId).toBe(device.deviceId);
    const run = history.runs.find((r) => r.runId === device.runId);
    expect(run).toMatchObject({ status: 'blessed', attempt: 1, sequenceHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await daemon.request('/api/devices/0123456789abcdef/history')).status).toBe(404);
  });

  it('shows each measurement of a run against its limit, with its outcome', async () => {
    const run = await daemon.api<{ steps: { name: string; measurements: { value: unknown; outcome: string; limit: unknown }[] }[] }>(`/api/runs/${device.runId}`);
    const battery = run.steps.find((s) => s.name === 'Battery voltage');
    expect(battery?.measurements[0]).toMatchObject({ value: expect.any(Number), outcome: expect.stringMatching(/^(pass|marginal)$/), limit: { kind: 'range', low: 3.4 } });
  });

  it('gives the yield of every step of a sequence', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    const y = await daemon.api<{
      sequenceHash: string;
      steps: { index: number; name: string; type: string; runs: number; pass: number; marginal: number; fail: number; error: number; firstFailures: number }[];
    }>(`/api/yield/steps?sequence=${configHash}&since=${encodeURIComponent(since)}`);
    expect(y.sequenceHash).toBe(configHash);
    expect(y.steps.map((s) => s.name)).toEqual(configDef.steps.map((s) => s.name));
    const identify = y.steps[0];
    expect(identify?.runs).toBeGreaterThanOrEqual(1);
    for (const s of y.steps) {
      expect(s.pass + s.marginal + s.fail + s.error).toBe(s.runs);
      expect(s.firstFailures).toBeLessThanOrEqual(s.fail + s.error);
    }
    expect((await daemon.request('/api/yield/steps?since=yesterday')).status).toBe(400);
    expect((await daemon.request(`/api/yield/steps?sequence=${'f'.repeat(64)}`)).status).toBe(404);
  });

  it('lets an operator acknowledge the wrong-token-type alarm, which lets the stopped slot run again', async () => {
    const live = await LiveClient.connect(daemon.url, { session: operator });
    clients.push(live);
    expect((await postJson('/api/sim/slots/0/faults', { kind: 'wrong-token-type' })).status).toBe(202);
    const raised = await waitFor('the wrong-token-type alarm', () => live.deltas.find((d) => d.t === 'alarm.raised' && String(d.d.alarmId).startsWith('blinkup.wrong-token-type.')), {
      timeoutMs: 60_000,
    });
    const alarmId = String(raised.d.alarmId);
    expect(raised.d).toMatchObject({ severity: 'critical', acknowledged: false, cleared: false });
    const slot = Number(raised.d.slot);
    await waitFor('the slot to stop', async () => (await daemon.api<Health>('/api/health')).slots[slot]?.state === 'refused');
    const stoppedRun = (await daemon.api<Health>('/api/health')).slots[slot]?.runId;

    expect(await live.send('alarm.ack', { alarmId })).toEqual({ ok: true });
    await waitFor(
      'acked and cleared deltas',
      () => live.deltas.some((d) => d.t === 'alarm.acked' && d.d.alarmId === alarmId) && live.deltas.some((d) => d.t === 'alarm.cleared' && d.d.alarmId === alarmId),
    );
    expect((await daemon.api<Health>('/api/health')).alarms.map((a) => a.alarmId)).not.toContain(alarmId);
    await waitFor(
      'the slot to take a DUT again',
      async () => {
        const s = (await daemon.api<Health>('/api/health')).slots[slot];
        return s && s.state !== 'refused' && s.runId !== stoppedRun;
      },
      { timeoutMs: 60_000 },
    );
    const fresh = await LiveClient.connect(daemon.url, { session: operator });
    clients.push(fresh);
    await waitFor('a snapshot', () => fresh.snapshots.length === 1);
    expect((fresh.snapshots[0]?.alarms as { alarmId: string }[]).map((a) => a.alarmId)).not.toContain(alarmId);
    expect(await live.send('alarm.ack', { alarmId })).toEqual({ ok: false, error: `no alarm "${alarmId}" is listed` });
  });

  it('exports the records as CSV: formula cells defused, no token text, filtered by time', async () => {
    // A sequence whose first measurement fails every unit, under a name a spreadsheet would run.
    const formula = '=HYPERLINK("http://evil.example","open")';
    const trap = clone(configDef);
    trap.steps.splice(1, 0, { type: 'measure', name: formula, command: 'MEAS VBAT', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: -1000, high: -999 } });
    const res = await postJson('/api/sequences', { definition: trap, note: 'a formula trap' });
    expect(res.status).toBe(201);
    await waitFor(
      'a unit failed at the formula step',
      async () => {
        const failed = (await daemon.api<{ devices: DeviceRow[] }>('/api/devices?status=failed&limit=20')).devices;
        for (const d of failed) if ((await daemon.api<{ failStep: string }>(`/api/runs/${d.runId}`)).failStep === formula) return true;
        return false;
      },
      { timeoutMs: 60_000 },
    );

    const csv = await daemon.request('/api/export/records.csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="records-ui-test-station-\d{4}-\d\d-\d\d\.csv"$/);
    const text = await csv.text();
    const lines = text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('deviceId,mac,iccid,imei,status,attempts,runId,sequenceHash,mode,failStep,reason,verdictAt,blessedAt,uploadedAt');
    expect(lines.some((l) => l.includes(',blessed,'))).toBe(true); // units that went through BlinkUp
    // One row per verdict, each with its time: failed rows too.
    // (The first five columns hold no comma; reason and failStep may, quoted: verdictAt is read from the end.)
    const failedRows = lines.slice(1).filter((l) => l.split(',')[4] === 'failed');
    expect(failedRows.length).toBeGreaterThan(0);
    for (const l of lines.slice(1)) expect(l).toMatch(/,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,[^,]*,[^,]*$/);
    expect(text).toContain(`"'=HYPERLINK(""http://evil.example"",""open"")"`);
    expect(text).not.toMatch(/(^|,)"?[=+@-]/m);
    expect(text).not.toMatch(/ft_[A-Za-z0-9_-]{6,}/); // the simulated cloud's factory tokens
    expect(text).not.toContain('factory-wifi-secret');

    const none = await (await daemon.request('/api/export/records.csv?until=2000-01-01T00:00:00Z')).text();
    expect(none.trimEnd().split('\r\n')).toHaveLength(1);
    expect((await daemon.request('/api/export/records.csv?since=last-week')).status).toBe(400);
  });
});

describe('the active sequence across restarts', () => {
  it("keeps the saved version when the configuration is unchanged, and takes the configuration's when it changed", async () => {
    const before = await daemon.api<{ active: string; versions: Version[] }>('/api/sequences');
    expect(before.versions).toHaveLength(3);
    expect(await daemon.terminate()).toBe(0);
    await daemon.start();
    const after = await daemon.api<{ active: string; versions: Version[] }>('/api/sequences');
    expect(after).toEqual(before);
    expect((await daemon.api<Health>('/api/health')).sequence.hash).toBe(before.active);

    const cfg = JSON.parse(readFileSync(configPath, 'utf8')) as { sequence: { description: string } };
    cfg.sequence.description = 'edited in the file';
    writeFileSync(configPath, JSON.stringify(cfg));
    expect(await daemon.terminate()).toBe(0);
    await daemon.start();
    const edited = await daemon.api<{ active: string; versions: Version[] }>('/api/sequences');
    expect(edited.versions).toHaveLength(4);
    expect(edited.versions[0]).toMatchObject({ version: 4, author: 'config' });
    expect(edited.active).toBe(edited.versions[0]?.hash);
    expect((await daemon.api<Health>('/api/health')).sequence.hash).toBe(edited.active);
  });
});
