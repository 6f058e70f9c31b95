// Clocks (lib/clock.ts): every duration, timeout, backoff, batch age, rate-limit window and session
// expiry is on the monotonic clock, so a wall clock stepped an hour back or forward (NTP, a dead
// RTC battery) makes nothing fire early or late, and batches keep their order. vitest's fake
// timers fake Date apart from performance.now(): vi.setSystemTime() steps the wall clock only,
// exactly what an NTP step does, while advancing time moves both.
import type { Options } from 'express-rate-limit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ShellConsole } from '../../drivers/console/shell-console.js';
import { ScanFilter } from '../../drivers/scanner/scan-filter.js';
import { ScanRouter } from '../../drivers/scanner/scan-router.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import type { OutgoingBatch, SendOutcome, UplinkSink } from '../../jobs/uplink/sinks.js';
import { UplinkJob, type UplinkOptions } from '../../jobs/uplink/uplink.js';
import { SessionStore } from '../../station/auth/sessions.js';
import { CLOCK_BEHIND_ALARM, ClockWatch, newestRecordAt } from '../../station/clock-watch.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { MonotonicRateStore } from '../../station/server/guard.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox } from '../support/records.js';
import { captureStream, compileSmallSequence, FakeTerminalLink, TempDirs } from '../support/unit-fakes.js';

const HOUR = 3_600_000;
const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

/** Fake timers for everything that measures time, Date and performance.now() included; setImmediate
 *  stays real (the store commits on it). */
function fakeClocks(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
}

/** Steps the wall clock only (what NTP or an administrator does); the monotonic clock goes on. */
function stepWallClock(ms: number): void {
  vi.setSystemTime(Date.now() + ms);
}

class RecordingSink implements UplinkSink {
  readonly kind = 'http' as const;
  readonly id = 'http';
  readonly label = 'recording sink';
  readonly sent: OutgoingBatch[] = [];
  constructor(private readonly answer: (batch: OutgoingBatch, n: number) => SendOutcome = (b) => ({ kind: 'answered', accepted: [...b.recordIds], rejected: [] })) {}
  send(batch: OutgoingBatch): Promise<SendOutcome> {
    this.sent.push(batch);
    return Promise.resolve(this.answer(batch, this.sent.length));
  }
}

function openStore(): { store: Store; seq: ReturnType<typeof compileSmallSequence> } {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  cleanups.push(() => store.close());
  return { store, seq };
}

function uplink(store: Store, sink: UplinkSink, opts: Partial<UplinkOptions>): { job: UplinkJob; bus: StationBus } {
  const bus = new StationBus();
  const job = new UplinkJob(store, sink, bus, silentLogger(), {
    stationId: 'st-1',
    batchMaxRecords: 50,
    batchMaxAgeMs: 0,
    concurrency: 1,
    backoffInitialMs: 100,
    backoffMaxMs: 100,
    random: () => 0.5,
    ...opts,
  });
  cleanups.push(() => job.stop());
  return { job, bus };
}

/** Writes `n` records and tells the bus of each, as the runner does after the commit. */
async function verdicts(store: Store, seq: ReturnType<typeof compileSmallSequence>, bus: StationBus, n: number): Promise<void> {
  const ids = await fillOutbox(store, seq, n);
  for (const recordId of ids) {
    const row = store.database.prepare(`SELECT seq, run_id, device_id FROM outbox WHERE record_id = ?`).get(recordId) as { seq: number; run_id: string; device_id: string };
    const finished: StationEvents['run.finished'] = { runId: row.run_id, slot: 0, verdict: 'blessed', deviceId: row.device_id, rework: false, attempt: 1, reason: null, recordId, seq: row.seq };
    bus.emit('run.finished', finished);
  }
}

describe('the uplink: batch age, backoff and order on the monotonic clock', () => {
  for (const step of [-HOUR, HOUR]) {
    it(`a partial batch goes when its first record has waited batchMaxAgeMs, the wall clock stepped ${step > 0 ? 'forward' : 'back'} an hour meanwhile`, async () => {
      fakeClocks();
      const { store, seq } = openStore();
      const sink = new RecordingSink();
      const { job, bus } = uplink(store, sink, { batchMaxAgeMs: 10_000 });
      job.start();
      await verdicts(store, seq, bus, 3);
      await vi.advanceTimersByTimeAsync(1_000);
      stepWallClock(step);
      await verdicts(store, seq, bus, 1); // a record after the step looks the batch over again
      await vi.advanceTimersByTimeAsync(8_999);
      expect(sink.sent, 'nothing sent before the first record is 10 s old').toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(sink.sent).toHaveLength(1);
      expect(sink.sent[0]?.recordIds).toHaveLength(4);
    });

    it(`a backoff of 5 s lasts 5 s, the wall clock stepped ${step > 0 ? 'forward' : 'back'} an hour during it`, async () => {
      fakeClocks();
      const { store, seq } = openStore();
      const sink = new RecordingSink((b, n) => (n === 1 ? { kind: 'retry', reason: 'HTTP 503', retryAfterMs: 5_000 } : { kind: 'answered', accepted: [...b.recordIds], rejected: [] }));
      const { job, bus } = uplink(store, sink, {});
      job.start();
      await verdicts(store, seq, bus, 2);
      await vi.advanceTimersByTimeAsync(0);
      expect(sink.sent).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1_000);
      stepWallClock(step);
      await verdicts(store, seq, bus, 1); // a new verdict during the backoff must not cut it short
      await vi.advanceTimersByTimeAsync(3_999);
      expect(sink.sent, 'no retry before the backoff ends').toHaveLength(1);
      expect(job.status().backoffMs).toBe(5_000);
      await vi.advanceTimersByTimeAsync(1);
      expect(sink.sent.length, 'the retry when the backoff ends').toBeGreaterThanOrEqual(2);
      expect(sink.sent[1]?.batchId).toBe(sink.sent[0]?.batchId);
    });
  }

  it('open batches are sent in the order they were formed, though the clock was stepped back an hour between them', async () => {
    fakeClocks();
    const { store, seq } = openStore();
    await fillOutbox(store, seq, 2);
    const first = store.outbox.formBatch(2, 'http');
    stepWallClock(-HOUR);
    await fillOutbox(store, seq, 2);
    const second = store.outbox.formBatch(2, 'http');
    expect(second?.createdAt).toBeLessThan(first?.createdAt as number); // as the wall clock said
    const sink = new RecordingSink();
    const { job } = uplink(store, sink, { concurrency: 1 });
    job.start();
    for (let ms = 0; ms < 100 && sink.sent.length < 2; ms++) await vi.advanceTimersByTimeAsync(1);
    expect(sink.sent.map((b) => b.batchId)).toEqual([first?.batchId, second?.batchId]);
    // Records keep their sequence numbers: the first batch holds the lower ones.
    expect(sink.sent.map((b) => [b.firstSeq, b.lastSeq])).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('sessions and the login rate limit on the monotonic clock', () => {
  it('a session ends after idleMs of real time, whatever the wall clock did', () => {
    fakeClocks();
    const sessions = new SessionStore({ idleMs: 60_000 });
    const s = sessions.create('operator');
    vi.advanceTimersByTime(30_000);
    stepWallClock(HOUR);
    expect(sessions.touch(s.id), 'a clock stepped forward logs nobody out').not.toBeNull();
    expect(sessions.expiresAt(s)).toBe(Date.now() + 60_000);
    stepWallClock(-2 * HOUR);
    vi.advanceTimersByTime(59_999);
    expect(sessions.peek(s.id)).not.toBeNull();
    vi.advanceTimersByTime(1);
    expect(sessions.peek(s.id), 'a clock stepped back keeps nobody in').toBeNull();
  });

  it("the login limit's window is windowMs of real time, whatever the wall clock did", () => {
    fakeClocks();
    const store = new MonotonicRateStore();
    store.init({ windowMs: 300_000 } as Options);
    cleanups.push(() => store.shutdown());
    for (let i = 0; i < 10; i++) store.increment('10.0.0.9');
    stepWallClock(-HOUR);
    vi.advanceTimersByTime(299_999);
    expect(store.get('10.0.0.9')?.totalHits, 'still locked out just before the window ends').toBe(10);
    expect(store.get('10.0.0.9')?.resetTime?.getTime()).toBe(Date.now() + 1);
    vi.advanceTimersByTime(1);
    expect(store.get('10.0.0.9'), 'a clock stepped back does not stretch the lock-out').toBeUndefined();
    for (let i = 0; i < 10; i++) store.increment('10.0.0.9');
    stepWallClock(HOUR);
    expect(store.increment('10.0.0.9').totalHits, 'a clock stepped forward does not forgive a guesser').toBe(11);
  });
});

describe('scanners on the monotonic clock', () => {
  it("the same label scanned again after the debounce is a scan, though the wall clock was stepped back an hour between; its time is the wall clock's", () => {
    fakeClocks();
    const filter = new ScanFilter({ scannerId: 's1', log: silentLogger(), debounceMs: 750 });
    expect(filter.accept('DEV-1').kind).toBe('scan');
    vi.advanceTimersByTime(1_000);
    stepWallClock(-HOUR);
    const again = filter.accept('DEV-1');
    expect(again).toMatchObject({ kind: 'scan', at: Date.now() });
    vi.advanceTimersByTime(100);
    stepWallClock(HOUR);
    expect(filter.accept('DEV-1'), 'a bounce 100 ms later is still a bounce').toMatchObject({ kind: 'dropped', why: 'duplicate' });
  });

  it("a slot barcode's selection lasts its TTL of real time, the wall clock stepped forward an hour meanwhile", () => {
    fakeClocks();
    const router = new ScanRouter({ scanners: [{ id: 'roam' }] }, { log: silentLogger(), slotCount: 4, selectionTtlMs: 30_000 });
    expect(router.route({ scannerId: 'roam', text: 'SLOT:2' }).kind).toBe('selected');
    stepWallClock(HOUR);
    vi.advanceTimersByTime(29_000);
    expect(router.selectedSlot('roam')).toBe(2);
    vi.advanceTimersByTime(1_000);
    expect(router.selectedSlot('roam')).toBeNull();
  });
});

describe('a DUT request timeout', () => {
  for (const step of [-HOUR, HOUR]) {
    it(`fires after timeoutMs, the wall clock stepped ${step > 0 ? 'forward' : 'back'} an hour while it waited`, async () => {
      const link = new FakeTerminalLink((dut) => dut.send('uart:~$ ')); // a prompt, then silence
      const shell = new ShellConsole({ label: 'fake:shell', open: link.open, log: silentLogger(), maxLineBytes: 160, reconnectInitialMs: 10, reconnectMaxMs: 40, promptSettleMs: 15 });
      cleanups.push(() => shell.stop());
      await shell.start();
      fakeClocks();
      let settled: unknown = null;
      const request = shell.request('factory selftest', 5_000).catch((err: unknown) => (settled = err));
      await vi.advanceTimersByTimeAsync(1_000);
      stepWallClock(step);
      await vi.advanceTimersByTimeAsync(3_999);
      expect(settled, 'no timeout before 5 s').toBeNull();
      await vi.advanceTimersByTimeAsync(1);
      await request;
      expect(settled).toBeInstanceOf(RequestError);
      expect((settled as RequestError).kind).toBe('timeout');
    });
  }
});

describe('the wall clock watched (station/clock-watch.ts)', () => {
  function watch(): { watch: ClockWatch; alarms: Map<string, StationEvents['alarm.raised']>; log: () => string } {
    const bus = new StationBus();
    const alarms = new Map<string, StationEvents['alarm.raised']>();
    bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
    bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
    const out = captureStream();
    const w = new ClockWatch({ bus, log: createLogger({ level: 'info', destination: out.stream as never }).log });
    cleanups.push(() => w.stop());
    return { watch: w, alarms, log: out.text };
  }

  it('a wall clock behind the newest record at start raises clock.behind (a warning), and clears it once the clock has passed that record', () => {
    fakeClocks();
    const w = watch();
    const newest = Date.now() + HOUR;
    w.watch.start(newest);
    expect(w.alarms.get(CLOCK_BEHIND_ALARM)).toMatchObject({ severity: 'warning', slot: null });
    expect(w.alarms.get(CLOCK_BEHIND_ALARM)?.message).toContain('behind the newest record');
    w.watch.check();
    expect(w.alarms.has(CLOCK_BEHIND_ALARM)).toBe(true);
    vi.setSystemTime(newest + 1);
    w.watch.check();
    expect(w.alarms.has(CLOCK_BEHIND_ALARM)).toBe(false);
  });

  it('no alarm for a clock ahead of every record, or behind by less than a minute', () => {
    fakeClocks();
    const ahead = watch();
    ahead.watch.start(Date.now() - 1000);
    const slightly = watch();
    slightly.watch.start(Date.now() + 30_000);
    const empty = watch();
    empty.watch.start(null);
    expect([...ahead.alarms.keys(), ...slightly.alarms.keys(), ...empty.alarms.keys()]).toEqual([]);
  });

  it('logs a step of the wall clock with its size', async () => {
    fakeClocks();
    const w = watch();
    w.watch.start(null);
    stepWallClock(-HOUR);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(w.log()).toContain('the wall clock was stepped back by 3600 s');
  });

  it("newestRecordAt reads the newest run's, record's and device's time", async () => {
    const { store, seq } = openStore();
    expect(newestRecordAt(store.database)).toBeNull();
    await fillOutbox(store, seq, 3);
    const row = store.database.prepare(`SELECT max(created_at) AS t FROM outbox`).get() as { t: number };
    expect(newestRecordAt(store.database)).toBe(row.t);
    store.database.prepare(`UPDATE outbox SET created_at = created_at + ? WHERE seq = 3`).run(HOUR);
    expect(newestRecordAt(store.database)).toBe(row.t + HOUR);
  });
});
