// The alarm history and the shelves in a real SQLite store (migration 7): the board's lines come
// back newest first, page by page and per alarm; a shelf outlasts a restart of the store and the
// board, and ends by itself once the station is back; the uplink watch turns the backlog into an
// alarm only past the engineer's thresholds.
import { afterAll, describe, expect, it } from 'vitest';
import { AlarmBoard } from '../../station/alarms.js';
import { StationBus, type UplinkStatus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { AlarmHistory } from '../../station/store/alarm-history.js';
import { Store } from '../../station/store/store.js';
import { spoken, UPLINK_BACKLOG_ALARM, UplinkWatch } from '../../station/uplink-watch.js';
import { TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

function openStation(dataDir: string): { store: Store; bus: StationBus; board: AlarmBoard; history: AlarmHistory } {
  const store = new Store(dataDir, silentLogger());
  store.open();
  const bus = new StationBus(silentLogger());
  const board = new AlarmBoard({ onDelayMs: {} });
  board.attach(bus);
  const history = new AlarmHistory(store);
  board.useRecorder(history);
  return { store, bus, board, history };
}

describe('the alarm history in SQLite', () => {
  it('keeps every line with who did it, newest first, page by page and per alarm', () => {
    const { store, bus, board, history } = openStation(dirs.make());
    try {
      for (let i = 0; i < 5; i++) {
        bus.emit('alarm.raised', { alarmId: `instruments.dmm${i}.offline`, severity: 'warning', message: `dmm${i} does not answer`, slot: null });
        bus.emit('alarm.cleared', { alarmId: `instruments.dmm${i}.offline` });
      }
      bus.emit('alarm.raised', { alarmId: 'disk.full', severity: 'critical', message: 'disk budget reached', slot: 2 });
      board.acknowledgeAndTell('disk.full', 'operator');
      board.shelveAndTell('disk.full', { by: 'engineer', reason: 'a bigger disk comes on Monday', until: Date.now() + 3600_000 });

      const first = history.page({ limit: 4, beforeSeq: null, alarmId: null });
      expect(first.events.map((e) => [e.event, e.alarmId, e.by])).toEqual([
        ['shelved', 'disk.full', 'engineer'],
        ['acknowledged', 'disk.full', 'operator'],
        ['raised', 'disk.full', null],
        ['cleared', 'instruments.dmm4.offline', null],
      ]);
      expect(first.events[0]).toMatchObject({ severity: 'critical', slot: 2, reason: 'a bigger disk comes on Monday', until: expect.stringMatching(/Z$/) });
      expect(first.nextBefore).toBe(first.events.at(-1)?.seq);
      const rest = history.page({ limit: 100, beforeSeq: first.nextBefore, alarmId: null });
      expect(rest.events).toHaveLength(9);
      expect(rest.nextBefore).toBeNull();
      expect(rest.events.at(-1)).toMatchObject({ event: 'raised', alarmId: 'instruments.dmm0.offline', message: 'dmm0 does not answer', severity: 'warning' });
      const one = history.page({ limit: 100, beforeSeq: null, alarmId: 'instruments.dmm2.offline' });
      expect(one.events.map((e) => e.event)).toEqual(['cleared', 'raised']);
    } finally {
      board.detach();
      store.close();
    }
  });

  it('keeps a shelf across a restart, and ends it by itself once it is over', async () => {
    const dataDir = dirs.make();
    const before = openStation(dataDir);
    before.bus.emit('alarm.raised', { alarmId: 'mes.unreachable', severity: 'critical', message: 'MES unreachable', slot: null });
    before.board.shelveAndTell('mes.unreachable', { by: 'engineer', reason: 'MES maintenance window', until: Date.now() + 400 });
    before.board.detach();
    before.store.close();

    const after = openStation(dataDir);
    try {
      expect(after.board.shelved()).toEqual([{ alarmId: 'mes.unreachable', shelf: expect.objectContaining({ by: 'engineer', reason: 'MES maintenance window' }) }]);
      after.bus.emit('alarm.raised', { alarmId: 'mes.unreachable', severity: 'critical', message: 'MES unreachable', slot: null });
      expect(after.board.get('mes.unreachable')?.shelved?.reason).toBe('MES maintenance window');
      await waitFor('the shelf to end', () => after.board.get('mes.unreachable')?.shelved === null, { timeoutMs: 5000, intervalMs: 20 });
      expect(after.board.get('mes.unreachable')).toMatchObject({ acknowledged: false, cleared: false });
      expect(after.history.page({ limit: 1, beforeSeq: null, alarmId: 'mes.unreachable' }).events[0]).toMatchObject({ event: 'unshelved', by: 'expiry' });
      expect((after.store.database.prepare('SELECT count(*) AS n FROM alarm_shelves').get() as { n: number }).n).toBe(0);
    } finally {
      after.board.detach();
      after.store.close();
    }
  });
});

describe('the uplink watch', () => {
  const status = (queued: number, oldestSeconds: number | null): UplinkStatus => ({
    state: 'offline',
    sink: 'http',
    sinks: [],
    queued,
    oldestQueuedAgeSeconds: oldestSeconds,
    deadLetters: 0,
    lastSuccessAt: null,
    backoffMs: 4000,
    lastError: 'connect ECONNREFUSED 127.0.0.1:9',
  });

  it('is a status, not an alarm, until the oldest record is older than alarmAfterMs or alarmBacklog records wait', () => {
    const bus = new StationBus(silentLogger());
    const seen: string[] = [];
    bus.on('alarm.raised', (a) => seen.push(`raised ${a.alarmId}: ${a.message}`));
    bus.on('alarm.cleared', (a) => seen.push(`cleared ${a.alarmId}`));
    const watch = new UplinkWatch({ bus, status: () => null, alarmAfterMs: 900_000, alarmBacklog: 5000, log: silentLogger() });
    watch.check(status(120, 899)); // an outage of 15 minutes less a second: calm
    watch.check(status(0, null));
    expect(seen).toEqual([]);
    watch.check(status(120, 900));
    watch.check(status(130, 950)); // still over: no new alarm
    expect(seen).toEqual([
      `raised ${UPLINK_BACKLOG_ALARM}: Records are not reaching the cloud: some have waited over 15 min. The line goes on and every record is kept; ask an engineer to check the uplink.`,
    ]);
    watch.check(status(0, null));
    watch.check(status(5000, 3));
    expect(seen.slice(1)).toEqual([
      `cleared ${UPLINK_BACKLOG_ALARM}`,
      `raised ${UPLINK_BACKLOG_ALARM}: Records are not reaching the cloud: 5000 or more are waiting. The line goes on and every record is kept; ask an engineer to check the uplink.`,
    ]);
    expect(seen.join('\n')).not.toContain('ECONNREFUSED');
    expect([spoken(900_000), spoken(7_200_000), spoken(90_000)]).toEqual(['15 min', '2 h', '90 s']);
  });
});
