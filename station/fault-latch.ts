// The one place a fault of the machine fails the station closed. A fault of the disk under the
// store (station/store/fault-watch.ts sees it on whatever call met it) or an error nothing else
// caught (main.ts hands uncaught exceptions and unhandled rejections here) latches: the critical
// alarm `store.fault` (or `station.fault`) is raised, every slot refuses new DUTs (a hold on the
// line), health reports it and answers 503, and the daemon keeps running so that people and
// supervisors can see why. It stays latched until the station is restarted: a disk that failed
// once is not trusted again by this process.
//
// Timers, event handlers and background jobs that touch the store send their errors to
// `report(err, where)`: a store fault latches (if the watch has not already), anything else is
// logged once per place and the job carries on.
import type { Logger } from 'pino';
import type { StationBus } from './events.js';
import { storeFaultCode, type StoreFault, type StoreFaults } from './store/fault-watch.js';

export const STORE_FAULT_ALARM = 'store.fault';
export const STATION_FAULT_ALARM = 'station.fault';

/** Where a part sends an error it cannot handle itself (a timer's, an event handler's). */
export type FaultReporter = (err: unknown, where: string) => void;

export interface FaultStatus {
  store: StoreFault | null;
  /** An error nothing caught (a bug): the station refuses DUTs until restarted. */
  station: { message: string; since: string } | null;
}

export class FaultLatch {
  private station: FaultStatus['station'] = null;
  private store: StoreFaults | null = null;
  private storeFault: StoreFault | null = null;
  /** Places whose non-fault errors were logged already: one line each, not one per tick. */
  private readonly said = new Set<string>();

  constructor(
    private readonly deps: {
      bus: StationBus;
      log: Logger;
      /** Refuses new DUTs on every slot (Line.hold). */
      hold: (key: string, reason: string) => void;
      /** The data folder, named in the alarm. */
      dataDir: string;
    },
  ) {}

  /** Fails the station closed on the store's first fault. */
  watchStore(faults: StoreFaults): void {
    this.store = faults;
    faults.onFault((f) => this.storeFailed(f));
  }

  /** True once anything has latched. */
  get latched(): boolean {
    return this.storeFault !== null || this.station !== null;
  }

  status(): FaultStatus {
    return { store: this.storeFault ? { ...this.storeFault } : null, station: this.station ? { ...this.station } : null };
  }

  /** For parts: an error a timer or handler met. A store fault latches; each place is logged once. */
  readonly report: FaultReporter = (err, where) => {
    const fault = this.noteStoreFault(err);
    if (!this.firstTimeAt(where)) this.deps.log.debug({ err, where }, 'failed again');
    else if (fault) this.deps.log.warn({ where, code: storeFaultCode(err) }, `${where} met the store fault; it carries on`);
    else this.deps.log.error({ err, where }, `${where} failed; it carries on`);
  };

  private firstTimeAt(where: string): boolean {
    if (this.said.has(where)) return false;
    if (this.said.size < 200) this.said.add(where);
    return true;
  }

  /** For main.ts: an exception or rejection nothing caught. The station fails closed and keeps answering. */
  uncaught(err: unknown, kind: 'exception' | 'rejection'): void {
    if (this.noteStoreFault(err)) {
      this.deps.log.error({ err, kind }, 'a store fault escaped its caller; the station had failed closed already');
      return;
    }
    this.deps.log.fatal({ err, kind }, `uncaught ${kind}: the station refuses new DUTs until it is restarted`);
    if (this.station) return;
    const text = err instanceof Error ? err.message : String(err);
    this.station = { message: text.slice(0, 300), since: new Date().toISOString() };
    const reason = `station fault (an uncaught ${kind}: ${this.station.message}): no new DUTs until the station is restarted; see its log`;
    this.deps.hold('station-fault', reason);
    this.deps.bus.emit('alarm.raised', { alarmId: STATION_FAULT_ALARM, severity: 'critical', message: reason, slot: null });
  }

  private noteStoreFault(err: unknown): boolean {
    if (!storeFaultCode(err)) return false;
    if (this.store)
      this.store.note(err); // latches there, and tells storeFailed
    else this.storeFailed({ code: storeFaultCode(err) as string, message: (err as Error).message, since: new Date().toISOString() });
    return true;
  }

  private storeFailed(f: StoreFault): void {
    if (this.storeFault) return;
    this.storeFault = f;
    const reason =
      `store fault (${f.code}: ${f.message}): the disk under the data folder ${this.deps.dataDir} failed; no new DUTs, and verdicts that could not be stored are not counted. ` +
      'Check the disk and its file system, then restart the station';
    this.deps.hold('store-fault', reason);
    this.deps.bus.emit('alarm.raised', { alarmId: STORE_FAULT_ALARM, severity: 'critical', message: reason, slot: null });
    this.deps.log.fatal({ code: f.code, message: f.message, dataDir: this.deps.dataDir }, 'store fault: the station refuses new DUTs until it is restarted');
  }
}
