// The fleet view's reducer (fleet/reducer.ts): the stations' MQTT payloads folded into the cards'
// views; bad payloads (not JSON, not the station's shape) ignored, counted, and logged once.
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FleetState, parseTopic, type BadPayload } from '../../fleet/reducer.js';
import { FleetServer, RATE_PER_SEC } from '../../fleet/server.js';
import { io as ioClient } from 'socket.io-client';
import { waitFor } from '../support/wait.js';

const BASE = 'uns/acme/shenzhen/smt/line1/st1';

function slot(n: number, state: string, extra: object = {}): string {
  return JSON.stringify({
    slot: n,
    name: `Nest ${n + 1}`,
    state,
    connected: true,
    deviceId: state === 'idle' ? null : 'aa55',
    runId: null,
    step: null,
    reason: null,
    detail: null,
    since: '2026-12-03T14:51:54.120Z',
    ...extra,
  });
}

const METRICS = JSON.stringify({
  at: '2026-12-03T14:52:16.612Z',
  shift: { shiftStartedAt: '2026-12-03T14:00:00.000Z', tested: 41, passed: 35, failed: 6, firstPassYield: 0.853, finalYield: 0.853, unitsPerHour: 112.4 },
  uplink: { queued: 3, oldestQueuedAgeSeconds: 12, deadLetters: 0, sinks: [{ id: 'mqtt', state: 'online', queued: 3 }] },
  tokensAvailable: 40,
  slots: { total: 4, busy: 3, connected: 4 },
});

describe('fleet reducer', () => {
  it('reads the namespace topics from their end and nothing else', () => {
    expect(parseTopic(`${BASE}/state`)).toMatchObject({ key: BASE, stationId: 'st1', kind: 'state' });
    expect(parseTopic(`${BASE}/slots/3/state`)).toMatchObject({ key: BASE, kind: 'slot', slot: 3 });
    expect(parseTopic(`${BASE}/units/aa%2F55/result`)).toMatchObject({ key: BASE, kind: 'result' });
    expect(parseTopic(`${BASE}/metrics`)).toMatchObject({ kind: 'metrics' });
    for (const t of [`${BASE}/other`, `${BASE}/slots/x/state`, 'uns/acme/state', `${BASE}/slots/1/state/more`, 'uns/acme//smt/line1/st1/state']) expect(parseTopic(t), t).toBeNull();
  });

  it('folds state, slots, alarms, metrics and results into the card', () => {
    const f = new FleetState();
    expect(f.apply(`${BASE}/state`, JSON.stringify({ state: 'online', stationId: 'st1', version: '0.1.0', sequence: 'seq', sequenceHash: 'h', since: '2026-12-03T14:51:36.611Z' }))).toEqual({
      key: BASE,
      removed: false,
    });
    f.apply(`${BASE}/slots/1/state`, slot(1, 'testing'));
    f.apply(`${BASE}/slots/0/state`, slot(0, 'idle'));
    f.apply(`${BASE}/metrics`, METRICS);
    f.apply(
      `${BASE}/alarms`,
      JSON.stringify({
        at: 'x',
        change: null,
        active: [
          { alarmId: 'tokens.low', severity: 'warning', message: 'few tokens', slot: null, since: 'x', acknowledged: false },
          { alarmId: 'uplink.mqtt.denied', severity: 'critical', message: 'ACL denies', slot: null, since: 'x', acknowledged: false },
        ],
      }),
    );
    f.apply(
      `${BASE}/units/aa55/result`,
      JSON.stringify({ seq: 1, recordId: 'r', deviceId: 'aa55', status: 'failed', failStep: 'Battery voltage', reason: 'low', endedAt: '2026-12-03T14:51:57.742Z' }),
    );
    const v = f.get(BASE);
    expect(v).toMatchObject({
      enterprise: 'acme',
      site: 'shenzhen',
      area: 'smt',
      line: 'line1',
      stationId: 'st1',
      state: 'online',
      sequence: 'seq',
      shift: { tested: 41, firstPassYield: 0.853 },
      backlog: { queued: 3, oldestQueuedAgeSeconds: 12, deadLetters: 0 },
      alarms: { count: 2, worst: { alarmId: 'uplink.mqtt.denied', severity: 'critical' } },
      lastUnit: { deviceId: 'aa55', status: 'failed', failStep: 'Battery voltage', endedAt: Date.parse('2026-12-03T14:51:57.742Z') },
    });
    expect(v?.slots.map((s) => [s.slot, s.state])).toEqual([
      [0, 'idle'],
      [1, 'testing'],
    ]);
    // A step changes nothing the card shows: no diff.
    expect(f.apply(`${BASE}/slots/1/state`, slot(1, 'testing', { step: { index: 5, count: 16, name: 's' }, since: '2026-12-03T14:51:59.000Z' }))).toBeNull();
    // An older result published again after a reconnect does not replace the newer one.
    expect(f.apply(`${BASE}/units/bb/result`, JSON.stringify({ deviceId: 'bb', status: 'blessed', endedAt: '2026-12-03T14:50:00.000Z' }))).toBeNull();
    // The Last Will.
    f.apply(`${BASE}/state`, JSON.stringify({ state: 'offline', reason: 'connection lost', stationId: 'st1', version: '0.1.0' }));
    expect(f.get(BASE)).toMatchObject({ state: 'offline', reason: 'connection lost' });
    // A retained state deleted (an empty payload): the station leaves the view; a slot's: the slot.
    expect(f.apply(`${BASE}/slots/0/state`, '')).toEqual({ key: BASE, removed: false });
    expect(f.get(BASE)?.slots.map((s) => s.slot)).toEqual([1]);
    expect(f.apply(`${BASE}/state`, Buffer.alloc(0))).toEqual({ key: BASE, removed: true });
    expect(f.size).toBe(0);
    expect(f.badTotal).toBe(0);
  });

  it('ignores and counts payloads that are not JSON or not the shape, telling the first of each station and kind', () => {
    const f = new FleetState();
    f.apply(`${BASE}/slots/0/state`, slot(0, 'testing'));
    const before = JSON.stringify(f.get(BASE));
    const bad: BadPayload[] = [];
    const cases: [string, string][] = [
      [`${BASE}/slots/0/state`, 'not json {'],
      [`${BASE}/slots/0/state`, '\u0000\u0001garbage'],
      [`${BASE}/slots/0/state`, JSON.stringify({ slot: 0, state: 7 })],
      [`${BASE}/slots/0/state`, slot(1, 'pass')], // the payload's slot is not the topic's
      [`${BASE}/slots/0/state`, slot(0, 'pass', { since: 'yesterday' })],
      [`${BASE}/metrics`, JSON.stringify({ shift: { tested: -1 } })],
      [`${BASE}/metrics`, '[]'],
      [`${BASE}/state`, JSON.stringify({ state: 'sleeping' })],
      [`${BASE}/alarms`, JSON.stringify({ active: 'none' })],
      [`${BASE}/units/x/result`, 'null'],
    ];
    for (const [t, p] of cases)
      expect(
        f.apply(t, p, (b) => bad.push(b)),
        p,
      ).toBeNull();
    expect(JSON.stringify(f.get(BASE))).toBe(before);
    expect(f.bad).toEqual({ slot: 5, metrics: 2, state: 1, alarms: 1, result: 1 });
    expect(f.badTotal).toBe(10);
    expect(bad.filter((b) => b.first).map((b) => b.kind)).toEqual(['slot', 'metrics', 'state', 'alarms', 'result']);
    expect(bad[0]?.why).toBe('not JSON');
    expect(bad[1]?.head).toBe('\\u0000\\u0001garbage');
    expect(bad[3]?.why).toMatch(/slot 1 is not the topic's 0/);
    // Another station's bad payload is told once too.
    f.apply('uns/acme/shenzhen/smt/line1/st2/metrics', '{', (b) => bad.push(b));
    expect(bad.at(-1)?.first).toBe(true);
  });

  it('logs one line per station and kind in the server, and shows the count', async () => {
    const lines: { level: number; msg: string; payload?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const server = new FleetServer({ broker: 'mqtt://127.0.0.1:1', prefix: 'uns', port: 0, host: '127.0.0.1', log: pino({ level: 'info' }, sink) });
    for (let i = 0; i < 5; i++) server.onMessage(`${BASE}/metrics`, `garbage ${i}`);
    server.onMessage(`${BASE}/state`, JSON.stringify({ state: 'online' }));
    await new Promise((r) => setImmediate(r));
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/metrics payload ignored \(not JSON\)/);
    expect(warnings[0]?.payload).toBe('garbage 0');
    expect(server.summary()).toMatchObject({ stations: 1, online: 1, badPayloads: 5 });
  });

  it('pushes diffs of the stations that changed, at most 4 a second per station, the last state always', async () => {
    const server = new FleetServer({ broker: 'mqtt://127.0.0.1:1', prefix: 'uns', port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
    await server.start();
    const client = ioClient(server.url, { transports: ['websocket'] });
    try {
      const other = 'uns/acme/shenzhen/smt/line1/st2';
      server.onMessage(`${other}/state`, JSON.stringify({ state: 'online' }));
      await waitFor('the other station in the view', () => server.state.size === 1);
      const snapshot = await new Promise<{ stations: { key: string }[] }>((resolve) => client.once('snapshot', resolve));
      expect(snapshot.stations.map((v) => v.key)).toEqual([other]);
      const diffs: { stations: { key: string; slots: { deviceId: string | null }[] }[] }[] = [];
      client.on('diff', (d) => diffs.push(d));
      const t0 = performance.now();
      // 40 changes of one station's slot, 5 ms apart: far more than 4 a second.
      for (let i = 0; i < 40; i++) {
        server.onMessage(`${BASE}/slots/0/state`, slot(0, 'testing', { deviceId: `d${i}` }));
        await new Promise((r) => setTimeout(r, 5));
      }
      await waitFor('the last state on the page', () => diffs.some((d) => d.stations.some((v) => v.slots[0]?.deviceId === 'd39')), { timeoutMs: 5000 });
      const elapsed = performance.now() - t0;
      const pushes = diffs.flatMap((d) => d.stations).filter((v) => v.key === BASE);
      // A burst of RATE_PER_SEC, then one every 1000 / RATE_PER_SEC ms; coalesced, not all 40.
      expect(pushes.length).toBeGreaterThan(1);
      expect(pushes.length).toBeLessThanOrEqual(RATE_PER_SEC + Math.ceil((elapsed * RATE_PER_SEC) / 1000));
      expect(pushes.length).toBeLessThan(40);
      // The station that did not change is never sent again.
      expect(diffs.flatMap((d) => d.stations).filter((v) => v.key === other)).toEqual([]);
    } finally {
      client.close();
      await server.stop();
    }
  });

  it('answers on loopback to loopback names only (no DNS rebinding), and takes nothing but reads', async () => {
    const server = new FleetServer({ broker: 'mqtt://127.0.0.1:1', prefix: 'uns', port: 0, host: '127.0.0.1', log: pino({ level: 'silent' }) });
    await server.start();
    try {
      const port = Number(new URL(server.url).port);
      const get = (host: string, method = 'GET'): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path: '/api/fleet', method, headers: { host } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.end();
        });
      expect(await get(`127.0.0.1:${port}`)).toBe(200);
      expect(await get(`localhost:${port}`)).toBe(200);
      expect(await get('evil.example')).toBe(421);
      expect(await get(`127.0.0.1:${port}`, 'POST')).toBe(404);
    } finally {
      await server.stop();
    }
  });
});
