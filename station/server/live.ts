// The live feed behind the dashboard: the station's state as small deltas, each with a
// station-wide sequence number, and a ring of the last 5,000 so a browser that reconnects gets
// exactly what it missed (or a snapshot when that is gone). It listens to the event bus and the
// token ledger; it never sends the whole state on a change.
//
// seq starts at the daemon's start time in microseconds, so a lastSeq remembered from before a
// restart is never mistaken for one of this process's deltas (that browser gets a snapshot).
import type { Logger } from 'pino';
import type { StationBus, SlotSnapshot, UplinkStatus } from '../events.js';
import type { Line } from '../line/line.js';
import type { Store } from '../store/store.js';
import type { TokenLevel } from '../tokens/ledger.js';
import type { AlarmBoard, AlarmChange, AlarmEntry } from '../alarms.js';
import { ShiftCounters, type ChartBucket, type Counters } from './shift.js';
import { monotonicMs } from '../../lib/clock.js';
import type { FaultReporter } from '../fault-latch.js';

export type DeltaType =
  | 'slot'
  | 'prompt.opened'
  | 'prompt.closed'
  | 'scan.rejected'
  | 'alarm.raised'
  | 'alarm.cleared'
  | 'alarm.acked'
  | 'alarm.shelved'
  | 'alarm.unshelved'
  | 'counters'
  | 'chart'
  | 'uplink'
  | 'tokens'
  | 'sequence';

export interface Delta {
  seq: number;
  t: DeltaType;
  d: object;
}

export interface OpenPromptView {
  promptId: string;
  slot: number;
  runId: string;
  text: string;
  answers: string[];
}

export interface Snapshot {
  seq: number;
  station: LiveStation;
  sequence: { name: string; hash: string; stepCount: number };
  slots: SlotSnapshot[];
  prompts: OpenPromptView[];
  alarms: AlarmEntry[];
  counters: Counters;
  uplink: UplinkStatus | null;
  tokens: TokenLevel | null;
  chart: ChartBucket[];
  shift: { startedAt: string };
}

export interface TokenLevelSource {
  level(): TokenLevel;
  events: { on(name: 'level', listener: (level: TokenLevel) => void): () => void };
}

/** The station as the dashboard needs it; `slotBarcodePattern`: what a scanned SLOT barcode looks like
 *  (labels.slotBarcodePattern), so the dashboard routes a keyboard-wedge scan as the station routes a roaming scanner's. */
export interface LiveStation {
  id: string;
  name: string | null;
  mode: string;
  version: string;
  slotBarcodePattern?: string;
}

export interface LiveFeedDeps {
  bus: StationBus;
  line: Pick<Line, 'snapshots' | 'currentSequence'>;
  tokens: TokenLevelSource | null;
  store: Store;
  /** The station's alarm board (station/alarms.ts): the feed sends its changes as they come. */
  alarms: AlarmBoard;
  station: LiveStation;
  shiftStarts: readonly string[];
  /** The uplink's status now (jobs/uplink), for a snapshot before its first status event. */
  uplinkStatus?: () => UplinkStatus | null;
  log: Logger;
  now?: () => number;
  /** Where an error of its timer goes (station/fault-latch.ts); default: logged. */
  reportFault?: FaultReporter;
}

export const RING_SIZE = 5000;
const UPLINK_MIN_INTERVAL_MS = 500;
const TOKENS_COALESCE_MS = 250;
const COUNTERS_REFRESH_MS = 30_000;

const SLOT_FIELDS = ['name', 'state', 'connected', 'runId', 'deviceId', 'step', 'reason', 'guidance', 'detail', 'since', 'lastVerdict'] as const;

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

export class LiveFeed {
  private seq: number;
  private readonly ring: Delta[] = [];
  private ringStart = 0; // index in `ring` of the oldest delta (a circular buffer once full)
  private readonly listeners = new Set<(delta: Delta) => void>();
  private readonly slots = new Map<number, SlotSnapshot>();
  private readonly prompts = new Map<string, OpenPromptView>();
  readonly alarms: AlarmBoard;
  private readonly shift: ShiftCounters;
  private lastCounters: Counters | null = null;
  private uplink: UplinkStatus | null = null;
  /** Monotonic. */
  private uplinkSentAt = -Infinity;
  private uplinkTimer: NodeJS.Timeout | null = null;
  private uplinkPendingSince = 0;
  private tokens: TokenLevel | null = null;
  private tokensSent: TokenLevel | null = null;
  private tokensTimer: NodeJS.Timeout | null = null;
  private tokensPendingSince = 0;
  private countersTimer: NodeJS.Timeout | null = null;
  private sequence: { name: string; hash: string; stepCount: number };
  private offs: (() => void)[] = [];
  private probe: ((delta: Delta, sourceAt: number) => void) | null = null;

  constructor(private readonly deps: LiveFeedDeps) {
    const now = deps.now ?? Date.now;
    this.seq = now() * 1000;
    this.alarms = deps.alarms;
    this.shift = new ShiftCounters(deps.store, deps.shiftStarts, now);
    this.sequence = LiveFeed.describe(deps.line.currentSequence);
  }

  private static describe(seq: Line['currentSequence']): { name: string; hash: string; stepCount: number } {
    return { name: seq.def.name, hash: seq.hash, stepCount: seq.steps.length };
  }

  /** Subscribes to the bus and loads the shift's counts; the store must be open. */
  start(): void {
    const { bus } = this.deps;
    // The active sequence is decided at start (sequence-versions.ts), after this was built.
    this.sequence = LiveFeed.describe(this.deps.line.currentSequence);
    this.shift.load();
    this.lastCounters = this.shift.counters();
    const stamp = (): number => performance.now();
    this.offs.push(
      bus.on('slot.state', (s) => this.onSlot(s, stamp())),
      bus.on('prompt.opened', (p) => {
        const at = stamp();
        const view = {
          promptId: p.promptId,
          slot: p.slot,
          runId: p.runId,
          text: p.text,
          answers: [...p.answers],
          ...(p.kind === 'scan' ? { kind: 'scan' as const, expected: p.expected ?? '', ...(p.format ? { format: p.format } : {}) } : {}),
          ...(p.i18n ? { i18n: p.i18n } : {}),
        };
        this.prompts.set(p.promptId, view);
        this.publish('prompt.opened', view, at);
      }),
      bus.on('prompt.closed', (p) => {
        const at = stamp();
        if (this.prompts.delete(p.promptId)) this.publish('prompt.closed', { promptId: p.promptId, slot: p.slot, answer: p.answer }, at);
      }),
      bus.on('scan.rejected', (r) => this.publish('scan.rejected', { slot: r.slot, promptId: r.promptId, reason: r.reason.slice(0, 300) }, stamp())),
      this.alarms.onChange((change) => this.publishAlarm(change, stamp())),
      bus.on('run.finished', (r) => {
        if (r.verdict === 'interrupted' || !r.deviceId) return;
        const at = stamp();
        this.rolloverIfDue(at);
        const bucket = this.shift.record(r.deviceId, r.verdict === 'blessed');
        this.publishCounters(at);
        this.publish('chart', bucket, at);
      }),
      bus.on('uplink.status', (u) => this.onUplink(u, stamp())),
      bus.on('sequence.changed', (s) => {
        this.sequence = { name: s.name, hash: s.hash, stepCount: s.stepCount };
        this.publish('sequence', { ...this.sequence }, stamp());
      }),
    );
    if (this.deps.tokens) this.offs.push(this.deps.tokens.events.on('level', (level) => this.onTokens(level, stamp())));
    for (const s of this.deps.line.snapshots()) this.slots.set(s.slot, { ...s, step: s.step ? { ...s.step } : null });
    this.countersTimer = setInterval(() => {
      try {
        const at = stamp();
        this.rolloverIfDue(at);
        this.publishCounters(at);
      } catch (err) {
        // A shift change reloads from the store: a failed disk is reported, the timer lives on.
        (this.deps.reportFault ?? ((e: unknown) => this.deps.log.error({ err: e }, 'refreshing the counters failed')))(err, 'the live feed refreshing the counters');
      }
    }, COUNTERS_REFRESH_MS);
    this.countersTimer.unref();
  }

  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
    for (const t of [this.countersTimer, this.uplinkTimer, this.tokensTimer]) if (t) clearTimeout(t);
    this.countersTimer = this.uplinkTimer = this.tokensTimer = null;
  }

  /** The uplink's last status (jobs/uplink), or null before its first. */
  get uplinkStatus(): UplinkStatus | null {
    if (this.uplink) return { ...this.uplink };
    try {
      return this.deps.uplinkStatus?.() ?? null;
    } catch {
      return null; // the uplink job is not started yet
    }
  }

  /** The shift's counts now, as a snapshot's `counters` (the MQTT metrics topic publishes them). */
  counters(): Counters {
    return this.shift.counters();
  }

  /** When the current shift started (ms): the default start of the engineer's yield view. */
  get shiftStartedAtMs(): number {
    return this.shift.shiftStartedAtMs;
  }

  get currentSeq(): number {
    return this.seq;
  }

  /**
   * Bench-only (test/bench/ui-bench.ts): told of each delta with the time (performance.now()) its
   * source event reached the feed, which is when the bus emitted it (listeners run synchronously).
   */
  setProbe(probe: ((delta: Delta, sourceAt: number) => void) | null): void {
    this.probe = probe;
  }

  onDelta(listener: (delta: Delta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Publishes a full `slot` delta for each slot the feed has not heard from yet (slots are built
   * when the line starts, and one whose port never opens may stay silent). Call before a client
   * joins, so it never sees a change to a slot it has no state for.
   */
  syncSlots(): void {
    for (const s of this.deps.line.snapshots()) if (!this.slots.has(s.slot)) this.onSlot(s, performance.now());
  }

  /** The whole state, for a browser that connects (or reconnects too late for the ring). */
  snapshot(): Snapshot {
    // The ledger's level is read now rather than cached from start: the ledger starts after the feed.
    const tokens = this.tokens ?? this.readTokens();
    return {
      seq: this.seq,
      station: { ...this.deps.station },
      sequence: { ...this.sequence },
      slots: [...this.slots.values()].sort((a, b) => a.slot - b.slot).map((s) => ({ ...s, step: s.step ? { ...s.step } : null })),
      prompts: [...this.prompts.values()].map((p) => ({ ...p, answers: [...p.answers] })),
      alarms: this.alarms.list(),
      counters: this.shift.counters(),
      uplink: this.uplinkStatus,
      tokens,
      chart: this.shift.chart(),
      shift: { startedAt: new Date(this.shift.shiftStartedAtMs).toISOString() },
    };
  }

  /** Every delta after `lastSeq`, in order, or null when some of them have left the ring (send a snapshot). */
  since(lastSeq: number): Delta[] | null {
    if (!Number.isSafeInteger(lastSeq) || lastSeq > this.seq) return null;
    if (lastSeq === this.seq) return [];
    const count = this.seq - lastSeq;
    if (count > this.ring.length) return null;
    const out: Delta[] = [];
    for (let i = this.ring.length - count; i < this.ring.length; i++) out.push(this.ring[(this.ringStart + i) % this.ring.length] as Delta);
    return out;
  }

  private readTokens(): TokenLevel | null {
    try {
      return this.deps.tokens ? this.deps.tokens.level() : null;
    } catch {
      return null; // the ledger is not started yet (a client this early is unlikely)
    }
  }

  private publish(t: DeltaType, d: object, sourceAt: number): void {
    const delta: Delta = { seq: ++this.seq, t, d };
    if (this.ring.length < RING_SIZE) this.ring.push(delta);
    else {
      this.ring[this.ringStart] = delta;
      this.ringStart = (this.ringStart + 1) % RING_SIZE;
    }
    this.probe?.(delta, sourceAt);
    for (const listener of this.listeners) {
      try {
        listener(delta);
      } catch (err) {
        this.deps.log.error({ err, t }, 'a live-feed listener threw; the delta stays in the ring');
      }
    }
  }

  private onSlot(s: SlotSnapshot, at: number): void {
    const prev = this.slots.get(s.slot);
    if (!prev) {
      this.slots.set(s.slot, { ...s, step: s.step ? { ...s.step } : null });
      // its own copy: the kept state changes later, a delta in the ring must not
      this.publish('slot', { ...s, step: s.step ? { ...s.step } : null }, at);
      return;
    }
    const changed: Record<string, unknown> = {};
    let any = false;
    for (const key of SLOT_FIELDS) {
      if (!sameValue(prev[key], s[key])) {
        const value = key === 'step' && s.step ? { ...s.step } : s[key];
        changed[key] = value;
        (prev as unknown as Record<string, unknown>)[key] = value;
        any = true;
      }
    }
    if (any) this.publish('slot', { slot: s.slot, ...changed }, at);
  }

  private publishAlarm(change: AlarmChange | null, at: number): void {
    if (change) this.publish(change.t, change.d, at);
  }

  private publishCounters(at: number): void {
    const next = this.shift.counters();
    const prev = this.lastCounters;
    const changed: Partial<Counters> = {};
    let any = false;
    for (const key of Object.keys(next) as (keyof Counters)[]) {
      if (!prev || prev[key] !== next[key]) {
        (changed as Record<string, unknown>)[key] = next[key];
        any = true;
      }
    }
    this.lastCounters = next;
    if (any) this.publish('counters', changed, at);
  }

  /** At a shift change: the counts and the chart restart (clients see counters.shiftStartedAt change). */
  private rolloverIfDue(at: number): void {
    if (!this.shift.shiftChanged()) return;
    this.shift.load();
    this.publishCounters(at);
  }

  private onUplink(u: UplinkStatus, at: number): void {
    this.uplink = { ...u };
    if (this.uplinkTimer) return; // a send is scheduled: it takes the latest status
    const wait = this.uplinkSentAt + UPLINK_MIN_INTERVAL_MS - monotonicMs();
    this.uplinkPendingSince = at;
    if (wait <= 0) {
      this.sendUplink();
      return;
    }
    this.uplinkTimer = setTimeout(() => {
      this.uplinkTimer = null;
      this.sendUplink();
    }, wait);
    this.uplinkTimer.unref();
  }

  private sendUplink(): void {
    if (!this.uplink) return;
    this.uplinkSentAt = monotonicMs();
    this.publish('uplink', { ...this.uplink }, this.uplinkPendingSince);
  }

  private onTokens(level: TokenLevel, at: number): void {
    this.tokens = { ...level };
    if (this.tokensTimer) return;
    this.tokensPendingSince = at;
    this.tokensTimer = setTimeout(() => {
      this.tokensTimer = null;
      const current = this.tokens;
      if (!current || sameValue(current, this.tokensSent)) return;
      this.tokensSent = current;
      this.publish('tokens', { ...current }, this.tokensPendingSince);
    }, TOKENS_COALESCE_MS);
    this.tokensTimer.unref();
  }
}
