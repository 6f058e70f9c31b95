// Faults of the machine under the store (issue 17: the daemon died of an uncaught SqliteError from
// the uplink's status timer after the disk failed at a WAL fsync). An I/O error anywhere is seen
// by the store's fault watch, fails the station closed in one place (station/fault-latch.ts),
// claims no write that did not happen, and kills no timer. The disk is made to fail by patching
// better-sqlite3's statements (test/support/sqlite-faults.ts); a real full disk is in
// test/integration/store-faults.test.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskBudgetJob, folderBytes } from '../../jobs/disk-budget.js';
import type { OutgoingBatch, SendOutcome, UplinkSink } from '../../jobs/uplink/sinks.js';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { AlarmBoard } from '../../station/alarms.js';
import { StationBus } from '../../station/events.js';
import { FaultLatch, STATION_FAULT_ALARM, STORE_FAULT_ALARM } from '../../station/fault-latch.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { storeFaultCode } from '../../station/store/fault-watch.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox } from '../support/records.js';
import { sqliteFaults } from '../support/sqlite-faults.js';
import { captureStream, compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const dirs = new TempDirs();
const cleanups: (() => Promise<void> | void)[] = [];
const faults = sqliteFaults();

afterEach(async () => {
  faults.heal();
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

function openStore(): { store: Store; seq: ReturnType<typeof compileSmallSequence>; dataDir: string } {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  cleanups.push(() => {
    faults.heal();
    store.close();
  });
  return { store, seq, dataDir };
}

/** One run up to its verdict, as the runner writes it; the promise of its blessing's commit. */
function blessOne(store: Store, seq: ReturnType<typeof compileSmallSequence>): { runId: string; deviceId: string; committed: Promise<unknown> } {
  const runId = randomUUID();
  const deviceId = randomBytes(8).toString('hex');
  store.beginRun({ runId, slot: 0, sequenceHash: seq.hash, mode: 'production', startedAt: Date.now() - 1000 });
  store.attachDevice(runId, deviceId);
  const committed = store.finishRun(runId, {
    verdict: 'blessed',
    endedAt: Date.now(),
    failStep: null,
    reason: null,
    identity: { deviceId, mac: 'aabbccddeeff', iccid: null, imei: null },
    rework: false,
    stationId: 'st-1',
  });
  return { runId, deviceId, committed };
}

describe('what counts as a fault of the machine', () => {
  it('I/O errors, a full disk, a database that cannot be opened, moved or corrupt; not a constraint or a busy database', () => {
    const err = (code: string): Error => Object.assign(new Error(code), { code });
    for (const code of [
      'SQLITE_IOERR',
      'SQLITE_IOERR_FSYNC',
      'SQLITE_IOERR_WRITE',
      'SQLITE_FULL',
      'SQLITE_CANTOPEN',
      'SQLITE_READONLY_DBMOVED',
      'SQLITE_CORRUPT',
      'SQLITE_NOTADB',
      'EIO',
      'ENOSPC',
      'EROFS',
    ]) {
      expect(storeFaultCode(err(code)), code).toBe(code);
    }
    for (const code of ['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_BUSY', 'SQLITE_ERROR', 'ENOENT', 'SQLITE_IOERRX']) expect(storeFaultCode(err(code)), code).toBeNull();
    expect(storeFaultCode(new Error('plain'))).toBeNull();
    expect(storeFaultCode(null)).toBeNull();
  });
});

describe('the store on a failing disk', () => {
  it('a blessing whose commit fails at the fsync is refused to its caller, latched as the store fault, and not in the database', async () => {
    const { store, seq } = openStore();
    const told: string[] = [];
    store.faults.onFault((f) => told.push(f.code));
    await fillOutbox(store, seq, 2);
    faults.failWith('SQLITE_IOERR_FSYNC', /^COMMIT/);
    const { runId, deviceId, committed } = blessOne(store, seq);
    await expect(committed).rejects.toMatchObject({ code: 'SQLITE_IOERR_FSYNC' });
    expect(store.faults.current).toMatchObject({ code: 'SQLITE_IOERR_FSYNC', message: 'disk I/O error' });
    // A second fault is the same latch: told once.
    await expect(blessOne(store, seq).committed).rejects.toMatchObject({ code: 'SQLITE_IOERR_FSYNC' });
    expect(told).toEqual(['SQLITE_IOERR_FSYNC']);
    faults.heal();
    const db = store.database;
    // Its run began in the same turn: the failed commit took all of it.
    expect(db.prepare(`SELECT status FROM runs WHERE run_id = ?`).get(runId)).toBeUndefined();
    expect(db.prepare(`SELECT count(*) AS n FROM devices WHERE device_id = ?`).get(deviceId)).toEqual({ n: 0 });
    expect(db.prepare(`SELECT count(*) AS n FROM outbox`).get()).toEqual({ n: 2 });
  });

  it('a read that fails (health, a query of the API) latches the fault too, whoever catches the error', () => {
    const { store } = openStore();
    faults.failWith('SQLITE_IOERR_READ');
    try {
      store.database.prepare(`SELECT count(*) FROM devices`).pluck().get();
    } catch {
      // a caller that swallows the error: the fault is latched all the same
    }
    expect(store.faults.current?.code).toBe('SQLITE_IOERR_READ');
    expect(() => store.stats()).toThrow(expect.objectContaining({ code: 'SQLITE_IOERR_READ' }));
  });
});

class HeldSink implements UplinkSink {
  readonly kind = 'http' as const;
  readonly id = 'http';
  readonly label = 'held sink';
  readonly sent: OutgoingBatch[] = [];
  private release: (() => void) | null = null;
  send(batch: OutgoingBatch): Promise<SendOutcome> {
    this.sent.push(batch);
    return new Promise((resolve) => {
      this.release = () => resolve({ kind: 'answered', accepted: [...batch.recordIds], rejected: [] });
    });
  }
  answer(): void {
    this.release?.();
  }
}

describe('timers that touch the store live on a failed disk', () => {
  it("the uplink: its status refresh, its pump and a batch's settling report the fault instead of throwing (the daemon died of this)", async () => {
    const { store, seq } = openStore();
    await fillOutbox(store, seq, 3);
    const sink = new HeldSink();
    const reported: string[] = [];
    const job = new UplinkJob(store, sink, new StationBus(), silentLogger(), {
      stationId: 'st-1',
      batchMaxRecords: 10,
      batchMaxAgeMs: 0,
      concurrency: 1,
      backoffInitialMs: 50,
      backoffMaxMs: 50,
      reportFault: (err, where) => {
        expect(storeFaultCode(err)).toBe('SQLITE_IOERR_FSYNC');
        reported.push(where);
      },
    });
    cleanups.push(() => job.stop());
    job.start(); // the status is told now, and again from a timer 250 ms later
    await waitFor('the batch in flight', () => sink.sent.length === 1);
    faults.failWith('SQLITE_IOERR_FSYNC');
    sink.answer(); // settling the batch meets the failed disk
    await waitFor('the status timer, the settling and the pump to meet the fault', () =>
      [/^the uplink status refresh/, /^the uplink \(http\) (recording what the sink answered|sending or settling a batch)/, /^the uplink \(http\) reading or forming a batch/].every((w) =>
        reported.some((r) => w.test(r)),
      )
        ? true
        : null,
    );
    expect(store.faults.current?.code).toBe('SQLITE_IOERR_FSYNC');
    // Nothing was marked uploaded: the batch is still open once the disk is back.
    faults.heal();
    expect(store.database.prepare(`SELECT count(*) AS n FROM outbox WHERE uploaded_at IS NOT NULL`).get()).toEqual({ n: 0 });
  });

  it('the disk budget: a reclaim on a failed disk is reported from its timer, not thrown', async () => {
    const { store, dataDir } = openStore();
    const reported: string[] = [];
    const job = new DiskBudgetJob(
      {
        dataDir,
        budgetBytes: folderBytes(dataDir) + 1048576,
        minFreeBytes: 0,
        intervalMs: 100,
        hold: () => undefined,
        release: () => undefined,
        reclaim: () => store.checkpoint(),
        reportFault: (_err, where) => reported.push(where),
      },
      new StationBus(),
      silentLogger(),
    );
    job.start();
    cleanups.push(() => job.stop());
    expect(job.status().state).toBe('ok');
    faults.failWith('SQLITE_IOERR_WRITE');
    writeFileSync(path.join(dataDir, 'export.csv'), Buffer.alloc(2 * 1048576)); // over the budget: the next check reclaims
    await waitFor('the timer to report the failed reclaim', () => reported.includes('the disk budget check'));
    expect(store.faults.current?.code).toBe('SQLITE_IOERR_WRITE');
  });
});

describe('the fault latch: one place that fails the station closed', () => {
  function latch(): { latch: FaultLatch; board: AlarmBoard; holds: Map<string, string>; log: () => string } {
    const bus = new StationBus();
    const board = new AlarmBoard();
    board.attach(bus);
    const holds = new Map<string, string>();
    const out = captureStream();
    const l = new FaultLatch({ bus, log: createLogger({ level: 'info', destination: out.stream as never }).log, hold: (k, r) => holds.set(k, r), dataDir: '/var/lib/blinkup' });
    return { latch: l, board, holds, log: out.text };
  }

  it("the store's first fault raises the critical alarm store.fault and holds the line, naming the code and the data folder", async () => {
    const { store, seq } = openStore();
    const l = latch();
    l.latch.watchStore(store.faults);
    expect(l.latch.latched).toBe(false);
    faults.failWith('SQLITE_FULL', /^COMMIT/);
    await expect(blessOne(store, seq).committed).rejects.toMatchObject({ code: 'SQLITE_FULL' });
    const alarm = l.board.get(STORE_FAULT_ALARM);
    expect(alarm).toMatchObject({ severity: 'critical', slot: null });
    expect(alarm?.message).toContain('SQLITE_FULL');
    expect(alarm?.message).toContain('/var/lib/blinkup');
    expect(l.holds.get('store-fault')).toBe(alarm?.message);
    expect(l.latch.status()).toMatchObject({ store: { code: 'SQLITE_FULL' }, station: null });
    expect(l.latch.latched).toBe(true);
  });

  it('a store fault reported by a part latches even when the store never saw it (an EIO from the data folder)', () => {
    const l = latch();
    l.latch.report(Object.assign(new Error('EIO: i/o error, scandir'), { code: 'EIO' }), 'the disk budget check');
    expect(l.board.get(STORE_FAULT_ALARM)?.severity).toBe('critical');
    expect(l.log()).toContain('the disk budget check met the store fault; it carries on');
  });

  it('an error that is not a fault is logged once per place and latches nothing', () => {
    const l = latch();
    l.latch.report(new Error('bad answer'), 'the token refill');
    l.latch.report(new Error('bad answer'), 'the token refill');
    expect(l.log().match(/the token refill failed; it carries on/g)).toHaveLength(1);
    expect(l.latch.latched).toBe(false);
    expect(l.holds.size).toBe(0);
  });

  it('an uncaught exception fails the station closed with station.fault; an uncaught store fault is the store fault', () => {
    const l = latch();
    l.latch.uncaught(new TypeError("Cannot read properties of undefined (reading 'slot')"), 'exception');
    expect(l.board.get(STATION_FAULT_ALARM)).toMatchObject({ severity: 'critical' });
    expect(l.holds.get('station-fault')).toContain("reading 'slot'");
    expect(l.latch.status().station?.message).toContain("reading 'slot'");
    const other = latch();
    other.latch.uncaught(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_FSYNC' }), 'rejection');
    expect(other.board.get(STORE_FAULT_ALARM)?.severity).toBe('critical');
    expect(other.board.get(STATION_FAULT_ALARM)).toBeNull();
  });
});
