// The dashboard's live connection against the real daemon (simulated nests, nobody answering
// prompts but us): a snapshot on connect, then small deltas with a station-wide seq; a browser
// that reconnects gets exactly what it missed; prompts answered over the socket and over HTTP;
// roles, CSRF and Origin checked at the handshake and per event; malformed events answered with
// a clear error while everyone else keeps being served.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon, LiveClient, type LoginSession } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

type Delta = LiveClient['deltas'][number];
interface SlotView {
  slot: number;
  state: string;
  runId: string | null;
  deviceId: string | null;
  step: { index: number; count: number; name: string } | null;
  [k: string]: unknown;
}
interface PromptView {
  promptId: string;
  slot: number;
  runId: string;
  text: string;
  answers: string[];
}

const SLOT_FIELDS = ['slot', 'name', 'state', 'connected', 'runId', 'deviceId', 'step', 'reason', 'guidance', 'detail', 'since', 'lastVerdict'];

let dir: string;
let daemon: Daemon;
let operator: LoginSession;
let engineer: LoginSession;
let watcher: LiveClient; // connected from the start, sees every delta
const clients: LiveClient[] = [];

async function connect(opts: Parameters<typeof LiveClient.connect>[1]): Promise<LiveClient> {
  const c = await LiveClient.connect(daemon.url, opts);
  clients.push(c);
  return c;
}

/** The open prompts as a client that applied its snapshot and every delta since would know them. */
function openPrompts(c: LiveClient): Map<string, PromptView> {
  const open = new Map<string, PromptView>();
  for (const p of (c.snapshots[0]?.prompts ?? []) as PromptView[]) open.set(p.promptId, p);
  for (const d of c.deltas) {
    if (d.t === 'prompt.opened') open.set(String(d.d.promptId), d.d as unknown as PromptView);
    if (d.t === 'prompt.closed') open.delete(String(d.d.promptId));
  }
  return open;
}

/** Slots rebuilt from the first snapshot and every delta after it. */
function rebuiltSlots(c: LiveClient): Map<number, SlotView> {
  const slots = new Map<number, SlotView>();
  for (const s of (c.snapshots[0]?.slots ?? []) as SlotView[]) slots.set(s.slot, { ...s });
  for (const d of c.deltas) if (d.t === 'slot') slots.set(Number(d.d.slot), { ...slots.get(Number(d.d.slot)), ...(d.d as unknown as SlotView) });
  return slots;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'socket-live-'));
  const config = Daemon.writeConfig(dir, simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 2, operator: 'off' }));
  daemon = await new Daemon(config).start();
  operator = await daemon.login('operator');
  engineer = await daemon.login('engineer');
  watcher = await connect({ session: operator });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await daemon?.terminate();
  rmSync(dir, { recursive: true, force: true });
});

describe('the live feed', () => {
  it('sends a snapshot of the whole station on connect', async () => {
    await waitFor('the snapshot', () => watcher.snapshots.length === 1);
    const snap = watcher.snapshots[0] as Record<string, unknown>;
    expect(Object.keys(snap).sort()).toEqual(['alarms', 'chart', 'counters', 'prompts', 'seq', 'sequence', 'shift', 'slots', 'station', 'tokens', 'uplink'].sort());
    expect(snap.station).toMatchObject({ id: 'ui-test-station', name: 'UI test station', mode: 'production' });
    const health = await daemon.api<{ sequence: { hash: string } }>('/api/health');
    expect(snap.sequence).toMatchObject({ hash: health.sequence.hash, stepCount: 12 });
    expect((snap.slots as SlotView[]).map((s) => s.slot)).toEqual([0, 1]);
    expect(Object.keys(snap.counters as object).sort()).toEqual(['failed', 'finalYield', 'firstPassYield', 'passed', 'shiftStartedAt', 'tested', 'unitsPerHour']);
    expect((snap.shift as { startedAt: string }).startedAt).toBe((snap.counters as { shiftStartedAt: string }).shiftStartedAt);
    expect(Array.isArray(snap.chart)).toBe(true);
    expect(Number.isSafeInteger(snap.seq)).toBe(true);
  });

  it('lets an operator answer prompts over the socket and over HTTP; a wrong answer is refused with the choices', async () => {
    // With nobody answering, each nest runs to the operator prompt and waits there.
    await waitFor('both nests to wait at their prompt', () => openPrompts(watcher).size === 2, { timeoutMs: 30_000 });
    const [first, second] = [...openPrompts(watcher).values()] as [PromptView, PromptView];
    expect(first.answers).toEqual(['yes', 'no']);
    expect(first.text).toBe('Is the status LED green?');

    expect(await watcher.send('prompt.answer', { promptId: first.promptId, answer: 'maybe' })).toEqual({
      ok: false,
      error: expect.stringMatching(/"maybe" is not an answer to this prompt; expected one of: yes, no/),
    });
    expect(await watcher.send('prompt.answer', { promptId: first.promptId, answer: 'yes' })).toEqual({ ok: true });
    await waitFor('prompt.closed for the socket answer', () => watcher.deltas.some((d) => d.t === 'prompt.closed' && d.d.promptId === first.promptId && d.d.answer === 'yes'));
    expect(await watcher.send('prompt.answer', { promptId: first.promptId, answer: 'yes' })).toEqual({ ok: false, error: `prompt ${first.promptId} is not open` });

    const post = (body: unknown, as: LoginSession = operator): Promise<Response> =>
      daemon.request(`/api/prompts/${second.promptId}/answer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), as });
    const bad = await post({ answer: 'maybe' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/expected one of: yes, no/);
    const ok = await post({ answer: 'yes' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ promptId: second.promptId });
    await waitFor('prompt.closed for the HTTP answer', () => watcher.deltas.some((d) => d.t === 'prompt.closed' && d.d.promptId === second.promptId));
    expect((await post({ answer: 'yes' })).status).toBe(404);
  });

  it('sends each change as a small delta, seq +1 each, with only the fields that changed', async () => {
    // The next units run to their prompts and wait there: a still point to compare states at.
    await waitFor('both nests to wait at a new prompt', () => openPrompts(watcher).size === 2 && watcher.deltas.filter((d) => d.t === 'prompt.opened').length >= 2, { timeoutMs: 30_000 });
    const snapSeq = watcher.snapshots[0]?.seq as number;
    expect(watcher.deltas.length).toBeGreaterThan(10);
    watcher.deltas.forEach((d, i) => {
      expect(d.seq).toBe(snapSeq + 1 + i);
      expect(Buffer.byteLength(JSON.stringify(d))).toBeLessThan(1024);
    });
    const slotDeltas = watcher.deltas.filter((d) => d.t === 'slot');
    expect(slotDeltas.length).toBeGreaterThan(0); // else the checks below check nothing
    for (const d of slotDeltas) {
      expect(Object.keys(d.d).every((k) => SLOT_FIELDS.includes(k))).toBe(true);
      expect(Object.keys(d.d).length).toBeLessThan(SLOT_FIELDS.length); // never the whole slot
    }
    // The snapshot plus the deltas is the station's state.
    const health = await daemon.api<{ slots: SlotView[] }>('/api/health');
    const rebuilt = rebuiltSlots(watcher);
    for (const s of health.slots) {
      expect(rebuilt.get(s.slot)).toMatchObject({ state: s.state, runId: s.runId, deviceId: s.deviceId, step: s.step, reason: s.reason, detail: s.detail, connected: s.connected });
    }

    // From here on the watcher answers every prompt, so the nests keep cycling.
    watcher.socket.on('delta', (d: Delta) => {
      if (d.t === 'prompt.opened') void watcher.send('prompt.answer', { promptId: d.d.promptId, answer: 'yes' });
    });
    for (const p of openPrompts(watcher).values()) void watcher.send('prompt.answer', { promptId: p.promptId, answer: 'yes' });
    await waitFor('a unit to be blessed', () => watcher.deltas.some((d) => d.t === 'counters' && Number(d.d.passed) >= 1), { timeoutMs: 30_000 });
    const chart = watcher.deltas.filter((d) => d.t === 'chart');
    expect(chart.length).toBeGreaterThanOrEqual(1);
    expect(chart.at(-1)?.d).toMatchObject({ units: expect.any(Number), passed: expect.any(Number), t: expect.any(Number) });
  });

  it('gives a browser that reconnects exactly the deltas it missed: no gap, no duplicate', async () => {
    const b = await connect({ session: operator });
    await waitFor('b to see some deltas', () => b.deltas.length >= 3, { timeoutMs: 30_000 });
    b.close();
    const lastSeq = b.lastSeq;
    await waitFor('deltas b misses while away', () => watcher.deltas.filter((d) => d.seq > lastSeq).length >= 8, { timeoutMs: 30_000 });
    const back = await connect({ session: operator, lastSeq });
    await waitFor('the replay and some live deltas after it', () => back.replays.length === 1 && back.deltas.length >= 3, { timeoutMs: 30_000 });
    expect(back.snapshots).toHaveLength(0);
    expect(back.arrivals[0]).toBe('deltas');
    const received = [...(back.replays[0] as Delta[]), ...back.deltas];
    expect(received[0]?.seq).toBe(lastSeq + 1);
    received.forEach((d, i) => expect(d.seq).toBe(lastSeq + 1 + i));
    expect((back.replays[0] as Delta[]).length).toBeGreaterThanOrEqual(8);
    // and they are the very deltas the connected browser got
    await waitFor('the watcher to have them all', () => watcher.lastSeq >= (received.at(-1) as Delta).seq);
    const bySeq = new Map(watcher.deltas.map((d) => [d.seq, d]));
    for (const d of received) expect(d).toEqual(bySeq.get(d.seq));
  });

  it("sends a snapshot when the missed deltas are no longer kept, or the lastSeq is not one of this daemon's", async () => {
    for (const lastSeq of [watcher.lastSeq - 5001, watcher.lastSeq + 1000, 'abc', -1]) {
      const c = await connect({ session: operator, lastSeq: lastSeq as number });
      await waitFor(`a snapshot for lastSeq ${lastSeq}`, () => c.snapshots.length === 1);
      expect(c.replays).toHaveLength(0);
      expect(c.arrivals[0]).toBe('snapshot');
      c.close();
    }
  });
});

describe('client events', () => {
  it('answers a malformed event with a clear error, and the socket keeps working', async () => {
    const c = await connect({ session: operator });
    expect(await c.send('slot.start', { slot: 'x' })).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for slot\.start: slot: .*expected number/) });
    expect(await c.send('slot.start')).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for slot\.start/) });
    expect(await c.send('slot.start', { slot: 99 })).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for slot\.start: slot: /) });
    expect(await c.send('slot.start', { slot: 0, extra: true })).toEqual({ ok: false, error: expect.stringMatching(/Unrecognized key/) });
    expect(await c.send('prompt.answer', 'yes')).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for prompt\.answer/) });
    expect(await c.send('alarm.ack', { alarmId: 5 })).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for alarm\.ack: alarmId/) });
    expect(await c.send('delete.everything', {})).toEqual({ ok: false, error: 'unknown event' });
    expect(await c.send('__proto__', {})).toEqual({ ok: false, error: 'unknown event' });
    c.socket.emit('slot.start', { slot: 'no ack callback' }); // nobody to answer: ignored, nothing breaks
    // still served: a well-formed event gets its real answer, deltas keep coming
    expect(await c.send('slot.start', { slot: 7 })).toEqual({ ok: false, error: 'there is no slot 7' });
    expect(await c.send('alarm.ack', { alarmId: 'no-such-alarm' })).toEqual({ ok: false, error: 'no alarm "no-such-alarm" is listed' });
    const seen = c.deltas.length;
    await waitFor('more deltas on the same socket', () => c.deltas.length > seen + 2, { timeoutMs: 30_000 });
    expect(c.socket.connected).toBe(true);
  });

  it('drops a connection that sends an oversized frame, and only that one', async () => {
    const c = await connect({ session: operator });
    c.socket.emit('prompt.answer', { promptId: 'x', answer: 'y'.repeat(40_000) });
    await waitFor('the oversized sender to be dropped', () => c.disconnects.length === 1);
    const seen = watcher.deltas.length;
    await waitFor('the others still served', () => watcher.deltas.length > seen + 2, { timeoutMs: 30_000 });
    expect(watcher.socket.connected).toBe(true);
  });

  it('checks the role per event: an operator cannot inject faults; an engineer can', async () => {
    expect(await watcher.send('sim.fault', { slot: 0, kind: 'garbage' })).toEqual({ ok: false, error: 'this needs the engineer role' });
    const eng = await connect({ session: engineer });
    expect(await eng.send('sim.fault', { slot: 0, kind: 'bogus' })).toEqual({ ok: false, error: expect.stringMatching(/^bad payload for sim\.fault: kind/) });
    expect(await eng.send('sim.fault', { slot: 0, kind: 'garbage' })).toEqual({ ok: true });
    // an engineer may do what an operator can
    expect(await eng.send('slot.start', { slot: 7 })).toEqual({ ok: false, error: 'there is no slot 7' });
  });
});

describe('the handshake and the HTTP side of the roles', () => {
  it('refuses a socket from another origin, or with no origin', async () => {
    await expect(connect({ session: operator, origin: 'http://evil.example' })).rejects.toThrow('bad origin');
    await expect(connect({ session: operator, origin: daemon.url.replace('127.0.0.1', 'localhost') })).rejects.toThrow('bad origin');
    await expect(connect({ session: operator, origin: null })).rejects.toThrow('bad origin');
  });

  it("refuses a socket without a session, or without the session's CSRF token", async () => {
    await expect(connect({ csrfToken: operator.csrfToken })).rejects.toThrow('unauthorized');
    await expect(connect({ session: operator, csrfToken: engineer.csrfToken })).rejects.toThrow('unauthorized');
    await expect(connect({ cookie: operator.cookie })).rejects.toThrow('unauthorized');
    await expect(connect({ cookie: 'station.sid=' + 'x'.repeat(43), csrfToken: operator.csrfToken })).rejects.toThrow('unauthorized');
  });

  it("refuses an operator's sequence save (403), a state change without CSRF (403) and one without a session (401)", async () => {
    const body = JSON.stringify({ name: 'x', steps: [] });
    const asOperator = await daemon.request('/api/sequences', { method: 'POST', headers: { 'content-type': 'application/json' }, body, as: operator });
    expect(asOperator.status).toBe(403);
    expect(await asOperator.json()).toEqual({ error: 'this needs the engineer role' });
    const noCsrf = await fetch(`${daemon.url}/api/slots/0/start`, { method: 'POST', headers: { cookie: operator.cookie } });
    expect(noCsrf.status).toBe(403);
    expect(await noCsrf.json()).toEqual({ error: 'missing or wrong CSRF token' });
    const noSession = await fetch(`${daemon.url}/api/slots/0/start`, { method: 'POST', headers: { 'x-csrf-token': operator.csrfToken } });
    expect(noSession.status).toBe(401);
    expect((await daemon.request('/api/sim/slots/0/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"garbage"}', as: operator })).status).toBe(403);
    expect((await daemon.request('/api/devices/search?q=ab', { as: operator })).status).toBe(403);
    expect((await daemon.request('/api/devices?limit=1', { as: operator })).status).toBe(200);
  });

  it('closes the sockets of a session that logs out, and that session can no longer connect', async () => {
    const s = await daemon.login('operator');
    const c = await connect({ session: s });
    const out = await daemon.request('/api/session', { method: 'DELETE', as: s });
    expect(out.status).toBe(204);
    await waitFor('the socket to be closed by the server', () => c.disconnects.length === 1);
    expect(c.disconnects[0]).toBe('io server disconnect');
    await expect(connect({ session: s })).rejects.toThrow('unauthorized');
    expect((await daemon.request('/api/devices', { as: s })).status).toBe(401);
    // the other sessions are untouched
    expect(watcher.socket.connected).toBe(true);
  });
});
