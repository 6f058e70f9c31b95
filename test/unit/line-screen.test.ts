// The read-only line screen (server.lineScreen): what its socket namespace is sent is cut to an
// allow-list (no prompts, no reasons or details, no run ids, no uplink or tokens, no shelf
// reasons), it carries out no event, and with the key off neither /line nor the namespace answers.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { AlarmBoard } from '../../station/alarms.js';
import { SessionStore } from '../../station/auth/sessions.js';
import { silentLogger } from '../../station/log.js';
import type { HttpDeps } from '../../station/server/deps.js';
import { HttpServer } from '../../station/server/http.js';
import { lineDelta, lineSnapshot } from '../../station/server/line-screen.js';
import type { Delta, Snapshot } from '../../station/server/live.js';
import { TempDirs } from '../support/unit-fakes.js';

const shelf = { by: 'Eve', reason: 'the supplier knows: do not call', at: '2026-12-03T08:00:00.000Z', until: '2026-12-03T10:00:00.000Z' };
const alarm = { alarmId: 'fixture.power.0', severity: 'warning' as const, message: 'records wait', slot: null, since: '2026-12-03T07:00:00.000Z', acknowledged: false, cleared: false, shelved: shelf };
const slot = {
  slot: 0,
  name: 'Nest 1',
  state: 'fail' as const,
  connected: true,
  runId: '0190-run',
  deviceId: '0c2a690000000001',
  step: { index: 3, count: 9, name: 'VBAT' },
  reason: 'VBAT: 5.1 V above 4.2 V (regex SN[0-9A-F]{8})',
  detail: 'BlinkUp: sending token abc',
  since: 1,
};
const snapshot = {
  seq: 7,
  station: { id: 'st-1', name: 'Line 3', mode: 'production', version: '1.0.0' },
  sequence: { name: 'widget', hash: 'f'.repeat(64), stepCount: 9 },
  slots: [slot],
  prompts: [{ promptId: 'p1', slot: 0, runId: '0190-run', text: 'Scan the label', answers: [], kind: 'scan', expected: 'SN[0-9A-F]{8}' }],
  alarms: [alarm],
  counters: { shiftStartedAt: 'x', tested: 3, passed: 2, failed: 1, firstPassYield: 0.5, finalYield: 0.66, unitsPerHour: 12 },
  uplink: { state: 'offline', lastError: 'http://cloud.example: ECONNREFUSED' },
  tokens: { available: 3 },
  chart: [],
  shift: { startedAt: 'x' },
} as unknown as Snapshot;

describe('what the line screen is sent', () => {
  it('a snapshot: tiles, counters and alarms, without prompts, reasons, run ids, uplink, tokens or shelf reasons', () => {
    const shown = lineSnapshot(snapshot);
    expect(shown.slots).toEqual([{ slot: 0, name: 'Nest 1', state: 'fail', connected: true, deviceId: '0c2a690000000001', step: { index: 3, count: 9, name: 'VBAT' }, since: 1 }]);
    expect(shown.alarms).toEqual([{ alarmId: 'fixture.power.0', severity: 'warning', message: 'records wait', slot: null, since: alarm.since, acknowledged: false, cleared: false, shelved: true }]);
    expect(shown.counters).toEqual(snapshot.counters);
    const text = JSON.stringify(shown);
    for (const hidden of ['prompts', 'Scan the label', 'SN[0-9A-F]', 'runId', '0190-run', 'reason', 'detail', 'ECONNREFUSED', 'uplink', 'tokens', 'Eve', 'supplier', 'hash'])
      expect(text, hidden).not.toContain(hidden);
  });

  it('deltas: slots cut to the same fields, alarms as above, prompts, scans, uplink and tokens dropped', () => {
    const d = (t: Delta['t'], body: object): Delta => ({ seq: 9, t, d: body });
    expect(lineDelta(d('slot', { slot: 0, state: 'fail', reason: 'x', detail: 'y', runId: 'r' }))).toEqual({ seq: 9, t: 'slot', d: { slot: 0, state: 'fail' } });
    for (const t of ['prompt.opened', 'prompt.closed', 'scan.rejected', 'uplink', 'tokens'] as const) expect(lineDelta(d(t, { promptId: 'p' })), t).toBeNull();
    expect(lineDelta(d('alarm.shelved', { alarmId: alarm.alarmId, entry: alarm, shelf }))).toEqual({
      seq: 9,
      t: 'alarm.shelved',
      d: { alarmId: alarm.alarmId, entry: expect.objectContaining({ shelved: true }) },
    });
    expect(JSON.stringify(lineDelta(d('alarm.shelved', { alarmId: alarm.alarmId, entry: alarm, shelf })))).not.toContain('supplier');
    expect(lineDelta(d('alarm.acked', { alarmId: 'a', entry: null }))).toEqual({ seq: 9, t: 'alarm.acked', d: { alarmId: 'a', entry: null } });
    expect(lineDelta(d('sequence', { name: 'widget', hash: 'h', stepCount: 3 }))).toEqual({ seq: 9, t: 'sequence', d: { name: 'widget' } });
    expect(lineDelta(d('counters', { tested: 4 }))).toEqual({ seq: 9, t: 'counters', d: { tested: 4 } });
  });
});

describe('server.lineScreen', () => {
  const dirs = new TempDirs();
  const servers: HttpServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    dirs.cleanup();
  });

  async function serve(lineScreen: boolean): Promise<string> {
    const uiDir = dirs.make();
    writeFileSync(path.join(uiDir, 'line.html'), '<!doctype html><title>line</title>');
    writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>dashboard</title>');
    const deps = {
      sessions: new SessionStore(),
      log: silentLogger(),
      uiDir,
      vendorDirs: {},
      allowedOrigins: [],
      stationId: 'st-1',
      stationName: null,
      mode: 'test',
      version: '0.0.0',
      startedAt: 0,
      alarms: new AlarmBoard(),
      metrics: new Registry(),
      feed: { uplinkStatus: null, onDelta: () => () => undefined, syncSlots: () => undefined, since: () => null, snapshot: () => snapshot },
      actions: {},
      lineScreen,
    } as unknown as HttpDeps;
    const http = new HttpServer(deps);
    servers.push(http);
    await http.listen('127.0.0.1', 0);
    return `http://127.0.0.1:${http.address?.port}`;
  }

  function connectLine(base: string): Promise<{ snapshot: unknown; ack: unknown } | { error: string }> {
    const socket = io(`${base}/line`, { transports: ['websocket'], extraHeaders: { origin: base }, reconnection: false, forceNew: true });
    return new Promise((resolve) => {
      socket.on('connect_error', (err) => {
        socket.close();
        resolve({ error: err.message });
      });
      socket.on('snapshot', async (s: unknown) => {
        const ack = await socket.timeout(5000).emitWithAck('slot.start', { slot: 0 });
        socket.close();
        resolve({ snapshot: s, ack });
      });
    });
  }

  it('on: /line is served without a login, and its namespace sends the cut snapshot and refuses every event', async () => {
    const base = await serve(true);
    const page = await fetch(`${base}/line`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>line</title>');
    const got = await connectLine(base);
    expect(got).toEqual({ snapshot: lineSnapshot(snapshot), ack: { ok: false, error: 'the line screen is read-only' } });
  });

  it('off: /line answers 404 and the namespace does not exist', async () => {
    const base = await serve(false);
    const page = await fetch(`${base}/line`);
    expect(page.status).toBe(404);
    expect(await page.json()).toEqual({ error: 'the line screen is off on this station (server.lineScreen)' });
    expect(await connectLine(base)).toEqual({ error: 'Invalid namespace' });
  });
});
