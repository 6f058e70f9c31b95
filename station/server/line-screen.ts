// The read-only line screen (/line, server.lineScreen): what a wall screen shows without a login –
// the nest tiles (name, state, step, device id), the shift's counters and chart, and the alarms –
// live, on its own socket.io namespace (/line) that takes no client events. What it is sent is
// built here from the dashboard's snapshot and deltas by allow-list: no prompts (their text and
// expected patterns), no slot reason or detail, no run ids, no uplink or token state, no shelf
// reasons or names, and never a token, a key, a mobile secret or a claim code (none of which the
// live feed carries either).
import type { AlarmEntry } from '../alarms.js';
import type { Delta, Snapshot } from './live.js';

/** The delta types the line screen gets; every other one is dropped. */
export const LINE_DELTA_TYPES = ['slot', 'alarm.raised', 'alarm.cleared', 'alarm.acked', 'alarm.shelved', 'alarm.unshelved', 'counters', 'chart', 'sequence'] as const;

const SLOT_KEYS = ['slot', 'name', 'state', 'connected', 'deviceId', 'step', 'since'] as const;

function pick<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(o, k)) out[k] = (o as Record<string, unknown>)[k];
  return out as Partial<T>;
}

export interface LineAlarm {
  alarmId: string;
  severity: 'warning' | 'critical';
  message: string;
  slot: number | null;
  since: string;
  acknowledged: boolean;
  cleared: boolean;
  shelved: boolean;
}

function lineAlarm(a: AlarmEntry | null): LineAlarm | null {
  if (!a) return null;
  return { alarmId: a.alarmId, severity: a.severity, message: a.message, slot: a.slot, since: a.since, acknowledged: a.acknowledged, cleared: a.cleared, shelved: a.shelved !== null };
}

export interface LineSnapshot {
  seq: number;
  station: { name: string | null; mode: string };
  sequence: { name: string };
  slots: object[];
  alarms: LineAlarm[];
  counters: Snapshot['counters'];
  chart: Snapshot['chart'];
  shift: Snapshot['shift'];
}

export function lineSnapshot(s: Snapshot): LineSnapshot {
  return {
    seq: s.seq,
    station: { name: s.station.name, mode: s.station.mode },
    sequence: { name: s.sequence.name },
    slots: s.slots.map((slot) => pick(slot, SLOT_KEYS)),
    alarms: s.alarms.map((a) => lineAlarm(a) as LineAlarm),
    counters: s.counters,
    chart: s.chart,
    shift: s.shift,
  };
}

/** The line screen's form of a delta, or null when it gets none. */
export function lineDelta(delta: Delta): Delta | null {
  const t = delta.t;
  if (!(LINE_DELTA_TYPES as readonly string[]).includes(t)) return null;
  const d = delta.d as Record<string, unknown>;
  switch (t) {
    case 'slot':
      return { seq: delta.seq, t, d: pick(d, SLOT_KEYS) };
    case 'alarm.raised':
      return { seq: delta.seq, t, d: lineAlarm(d as unknown as AlarmEntry) as object };
    case 'alarm.cleared':
    case 'alarm.acked':
    case 'alarm.shelved':
    case 'alarm.unshelved':
      return { seq: delta.seq, t, d: { alarmId: d.alarmId, entry: lineAlarm((d.entry as AlarmEntry | null) ?? null) } };
    case 'sequence':
      return { seq: delta.seq, t, d: { name: d.name } };
    default:
      return { seq: delta.seq, t, d: delta.d };
  }
}
