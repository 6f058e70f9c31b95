// The alarm board after ISA-18.2 practice: an on-delay per alarm (a condition that clears within it
// raises nothing; one that lasts is announced with the time it began), active alarms listed before
// cleared and shelved ones, acknowledgements by role, shelving with a reason and an end (kept by
// the recorder, taken back at start, ending by itself), and the history of all of it. Timers are
// vitest's fake ones; the board's clock follows them.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlarmBoard, AlarmError, DEFAULT_ON_DELAY_MS, MAX_SHELF_MS, type AlarmChange, type AlarmEvent, type AlarmRecorder, type AlarmShelf } from '../../station/alarms.js';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';

/** A recorder in memory: the history lines and the shelves as SQLite would keep them. */
class MemoryRecorder implements AlarmRecorder {
  events: AlarmEvent[] = [];
  kept = new Map<string, AlarmShelf>();
  record(e: AlarmEvent): void {
    this.events.push(e);
  }
  shelves(): { alarmId: string; shelf: AlarmShelf }[] {
    return [...this.kept.entries()].map(([alarmId, shelf]) => ({ alarmId, shelf }));
  }
  saveShelf(alarmId: string, shelf: AlarmShelf): void {
    this.kept.set(alarmId, shelf);
  }
  dropShelf(alarmId: string): void {
    this.kept.delete(alarmId);
  }
}

const T0 = Date.parse('2026-12-03T08:00:00.000Z');

function board(onDelayMs: Record<string, number> = {}): { board: AlarmBoard; bus: StationBus; changes: AlarmChange[]; recorder: MemoryRecorder } {
  const b = new AlarmBoard({ onDelayMs });
  const bus = new StationBus(silentLogger());
  b.attach(bus);
  const changes: AlarmChange[] = [];
  b.onChange((c) => changes.push(c));
  const recorder = new MemoryRecorder();
  b.useRecorder(recorder);
  return { board: b, bus, changes, recorder };
}

const raise = (bus: StationBus, alarmId: string, severity: 'warning' | 'critical' = 'warning', message = `${alarmId} is up`, slot: number | null = null): void => {
  bus.emit('alarm.raised', { alarmId, severity, message, slot });
};

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('on-delay', () => {
  it('raises nothing for a condition that clears within its on-delay: the token pool empty at a healthy start', () => {
    const { board: b, bus, changes, recorder } = board();
    expect(b.onDelayOf('tokens.empty')).toBe(DEFAULT_ON_DELAY_MS['tokens.empty']);
    raise(bus, 'tokens.empty', 'critical');
    raise(bus, 'tokens.low');
    expect(b.pendingIds().sort()).toEqual(['tokens.empty', 'tokens.low']);
    vi.advanceTimersByTime(100); // the first refill
    bus.emit('alarm.cleared', { alarmId: 'tokens.empty' });
    bus.emit('alarm.cleared', { alarmId: 'tokens.low' });
    vi.advanceTimersByTime(60_000);
    expect(changes).toEqual([]);
    expect(b.list()).toEqual([]);
    expect(b.pendingIds()).toEqual([]);
    expect(recorder.events).toEqual([]);
  });

  it('announces a condition that lasts its on-delay, with the time it began, and only then', () => {
    const { board: b, bus, changes, recorder } = board({ instruments: 3000, 'instruments.dmm1.offline': 8000 });
    expect([b.onDelayOf('instruments.psu1.offline'), b.onDelayOf('instruments.dmm1.offline')]).toEqual([3000, 8000]);
    raise(bus, 'instruments.dmm1.offline', 'warning', 'dmm1 offline', null);
    raise(bus, 'instruments.psu1.offline');
    vi.advanceTimersByTime(2999);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(1);
    // the prefix "instruments" (3 s) for psu1; the longer match (8 s) for dmm1
    expect(changes.map((c) => c.t === 'alarm.raised' && c.d.alarmId)).toEqual(['instruments.psu1.offline']);
    raise(bus, 'instruments.dmm1.offline', 'critical', 'dmm1 offline for long', null); // changed while waiting: the last one counts
    vi.advanceTimersByTime(5000);
    const raised = changes.at(-1) as Extract<AlarmChange, { t: 'alarm.raised' }>;
    expect(raised.d).toMatchObject({
      alarmId: 'instruments.dmm1.offline',
      severity: 'critical',
      message: 'dmm1 offline for long',
      since: new Date(T0).toISOString(),
      acknowledged: false,
      cleared: false,
      shelved: null,
    });
    expect(recorder.events.map((e) => [e.event, e.alarmId, e.at - T0])).toEqual([
      ['raised', 'instruments.psu1.offline', 3000],
      ['raised', 'instruments.dmm1.offline', 8000],
    ]);
  });

  it('raises at once an alarm with no on-delay, and an alarm raised again while listed needs no new delay', () => {
    const { board: b, bus, changes } = board({ tokens: 5000 });
    raise(bus, 'disk.full', 'critical');
    expect(changes.map((c) => c.t)).toEqual(['alarm.raised']);
    raise(bus, 'disk.full', 'critical', 'disk full: 99 %');
    expect(changes.map((c) => c.t)).toEqual(['alarm.raised', 'alarm.raised']);
    expect(b.get('disk.full')?.message).toBe('disk full: 99 %');
    raise(bus, 'disk.full', 'critical', 'disk full: 99 %'); // nothing changed
    expect(changes).toHaveLength(2);
  });

  it("takes the configuration's on-delays before the built-in ones, whatever their length", () => {
    expect(board().board.onDelayOf('tokens.low')).toBe(DEFAULT_ON_DELAY_MS['tokens.low']);
    const { board: b } = board({ tokens: 0, 'instruments.psu1': 1500 });
    expect([b.onDelayOf('tokens.empty'), b.onDelayOf('tokens.low'), b.onDelayOf('instruments.psu1.offline'), b.onDelayOf('instruments.psu10.offline'), b.onDelayOf('disk.full')]).toEqual([
      0, 0, 1500, 0, 0,
    ]);
  });
});

describe('the list', () => {
  it('puts active alarms first (critical, then the oldest), then cleared ones, then shelved ones', () => {
    const { board: b, bus } = board();
    raise(bus, 'a.warning-old');
    vi.advanceTimersByTime(1000);
    raise(bus, 'b.cleared-critical', 'critical');
    vi.advanceTimersByTime(1000);
    raise(bus, 'c.critical-new', 'critical');
    raise(bus, 'd.shelved', 'critical');
    bus.emit('alarm.cleared', { alarmId: 'b.cleared-critical' });
    b.shelveAndTell('d.shelved', { by: 'engineer', reason: 'being repaired', until: Date.now() + 60_000 });
    expect(b.list().map((a) => a.alarmId)).toEqual(['c.critical-new', 'a.warning-old', 'b.cleared-critical', 'd.shelved']);
    expect(b.active().map((a) => a.alarmId)).toEqual(['c.critical-new', 'a.warning-old', 'd.shelved']);
  });

  it('records who acknowledged, and drops a cleared alarm once acknowledged', () => {
    const { board: b, bus, recorder } = board();
    raise(bus, 'labels.output');
    b.acknowledgeAndTell('labels.output', 'engineer');
    expect(b.get('labels.output')).toMatchObject({ acknowledged: true, cleared: false });
    bus.emit('alarm.cleared', { alarmId: 'labels.output' });
    expect(b.get('labels.output')).toBeNull();
    expect(recorder.events.map((e) => [e.event, e.by])).toEqual([
      ['raised', null],
      ['acknowledged', 'engineer'],
      ['cleared', null],
    ]);
    expect(() => b.acknowledge('labels.output')).toThrow(AlarmError);
  });
});

describe('shelving', () => {
  it('shelves a listed alarm with a reason until a time, and refuses one not listed or an end past 7 days', () => {
    const { board: b, bus, changes, recorder } = board();
    expect(() => b.shelve('nope', { by: 'engineer', reason: 'x', until: Date.now() + 60_000 })).toThrow(/no alarm "nope" is listed/);
    raise(bus, 'mes.unreachable', 'critical');
    expect(() => b.shelve('mes.unreachable', { by: 'engineer', reason: 'MES down for maintenance', until: Date.now() + MAX_SHELF_MS + 1 })).toThrow(/within the next 7 days/);
    expect(() => b.shelve('mes.unreachable', { by: 'engineer', reason: 'MES down for maintenance', until: Date.now() })).toThrow(/within the next 7 days/);
    const shelf = b.shelveAndTell('mes.unreachable', { by: 'engineer', reason: 'MES down for maintenance', until: Date.now() + 3600_000 });
    expect(shelf).toEqual({ by: 'engineer', reason: 'MES down for maintenance', at: new Date(T0).toISOString(), until: new Date(T0 + 3600_000).toISOString() });
    expect(changes.at(-1)).toMatchObject({ t: 'alarm.shelved', d: { alarmId: 'mes.unreachable', entry: { shelved: shelf, cleared: false }, shelf } });
    expect(recorder.kept.get('mes.unreachable')).toEqual(shelf);
    expect(recorder.events.at(-1)).toMatchObject({ event: 'shelved', by: 'engineer', reason: 'MES down for maintenance', until: T0 + 3600_000 });
  });

  it('lets a shelved alarm that clears leave the list, keeps it shelved when it comes back, and brings it back unacknowledged when the shelf ends', () => {
    const { board: b, bus, changes, recorder } = board();
    raise(bus, 'instruments.dmm1.offline');
    b.acknowledgeAndTell('instruments.dmm1.offline');
    b.shelveAndTell('instruments.dmm1.offline', { by: 'engineer', reason: 'DMM cable flaky, replacement ordered', until: Date.now() + 600_000 });
    bus.emit('alarm.cleared', { alarmId: 'instruments.dmm1.offline' });
    expect(b.get('instruments.dmm1.offline')).toBeNull(); // nobody has to acknowledge a shelved alarm that cleared
    raise(bus, 'instruments.dmm1.offline');
    expect(b.get('instruments.dmm1.offline')).toMatchObject({ acknowledged: false, shelved: { reason: 'DMM cable flaky, replacement ordered' } });
    b.acknowledgeAndTell('instruments.dmm1.offline');
    vi.advanceTimersByTime(600_000);
    expect(changes.at(-1)).toMatchObject({ t: 'alarm.unshelved', d: { alarmId: 'instruments.dmm1.offline', entry: { shelved: null, acknowledged: false, cleared: false } } });
    expect(recorder.kept.size).toBe(0);
    expect(recorder.events.at(-1)).toMatchObject({ event: 'unshelved', by: 'expiry' });
    expect(b.shelved()).toEqual([]);
  });

  it('ends a shelf early when an engineer says so, and refuses to unshelve what is not shelved', () => {
    const { board: b, bus, recorder } = board();
    raise(bus, 'uplink.backlog');
    b.shelveAndTell('uplink.backlog', { by: 'engineer', reason: 'cloud migration tonight', until: Date.now() + 3600_000 });
    b.unshelveAndTell('uplink.backlog', 'engineer');
    expect(b.get('uplink.backlog')).toMatchObject({ shelved: null, acknowledged: false });
    expect(recorder.events.at(-1)).toMatchObject({ event: 'unshelved', by: 'engineer' });
    expect(() => b.unshelve('uplink.backlog', 'engineer')).toThrow(/is not shelved/);
    vi.advanceTimersByTime(3600_000); // the old shelf's timer is gone: nothing more happens
    expect(recorder.events.at(-1)).toMatchObject({ event: 'unshelved', by: 'engineer' });
  });

  it('takes its shelves back from the recorder at start (a restart keeps them), ending those already over', () => {
    const recorder = new MemoryRecorder();
    recorder.kept.set('mes.unreachable', { by: 'engineer', reason: 'MES maintenance', at: new Date(T0 - 60_000).toISOString(), until: new Date(T0 + 60_000).toISOString() });
    recorder.kept.set('labels.output', { by: 'engineer', reason: 'printer away', at: new Date(T0 - 120_000).toISOString(), until: new Date(T0 - 1).toISOString() });
    const b = new AlarmBoard();
    const bus = new StationBus(silentLogger());
    b.attach(bus);
    raise(bus, 'labels.output'); // before the store opened: recorded once the recorder is there
    b.useRecorder(recorder);
    expect(b.shelved().map((s) => s.alarmId)).toEqual(['mes.unreachable']);
    expect([...recorder.kept.keys()]).toEqual(['mes.unreachable']);
    expect(recorder.events.map((e) => [e.event, e.alarmId, e.by])).toEqual([
      ['raised', 'labels.output', null],
      ['unshelved', 'labels.output', 'expiry'],
    ]);
    raise(bus, 'mes.unreachable', 'critical');
    expect(b.get('mes.unreachable')?.shelved?.reason).toBe('MES maintenance');
    b.detach();
  });
});
