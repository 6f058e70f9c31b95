// The fleet view's state, folded from the stations' MQTT messages (docs/mqtt.md, docs/fleet.md).
// Pure: a topic and its payload in, the station it changed out. The retained topics (`state`,
// `slots/<n>/state`, `alarms`, `metrics`) are replayed by the broker when the view subscribes, so
// they are the whole source: the view keeps no database. `units/<id>/result` (not retained) is the
// card's last unit.
//
// What a card shows is a small view (StationView), not the payloads: a message that changes
// nothing the card shows (a slot's step, the token pool) changes nothing, so it pushes nothing to
// the browsers. A payload that is not JSON or not the station's shape is ignored, counted by kind,
// and logged once per station and topic kind (a station publishing garbage every second is one
// line, not one a second).
//
// An empty retained payload is MQTT's way of deleting a retained message: on `state` it takes the
// station off the view (how a station is retired), on `slots/<n>/state` the slot.
import { z } from 'zod';

export type TopicKind = 'state' | 'slot' | 'result' | 'alarms' | 'metrics';

export interface SlotView {
  slot: number;
  name: string;
  /** The station's slot state word (idle, testing, pass, fail, ...). */
  state: string;
  deviceId: string | null;
  /** When the slot entered this state (ms since the epoch). */
  since: number;
}

export interface StationView {
  /** The station's topic base `<prefix>/<enterprise>/<site>/<area>/<line>/<stationId>`: its key. */
  key: string;
  enterprise: string;
  site: string;
  area: string;
  line: string;
  stationId: string;
  /** `unknown` until its retained `state` arrives (a slot seen first, say). */
  state: 'online' | 'offline' | 'unknown';
  /** Why offline: `connection lost` (its Last Will) or `stopped`. */
  reason: string | null;
  version: string | null;
  sequence: string | null;
  slots: SlotView[];
  shift: { tested: number; passed: number; failed: number; firstPassYield: number | null; finalYield: number | null; unitsPerHour: number } | null;
  backlog: { queued: number; oldestQueuedAgeSeconds: number | null; deadLetters: number } | null;
  alarms: { count: number; worst: { alarmId: string; severity: 'warning' | 'critical'; message: string } | null };
  lastUnit: { deviceId: string; status: string; failStep: string | null; reason: string | null; endedAt: number } | null;
}

export interface ParsedTopic {
  key: string;
  levels: [string, string, string, string, string];
  stationId: string;
  kind: TopicKind;
  slot?: number;
}

const SEVERITY_RANK = { critical: 2, warning: 1 } as const;

const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'not an ISO time');

const stateSchema = z.object({
  state: z.enum(['online', 'offline']),
  reason: z.string().max(200).nullish(),
  stationId: z.string().max(200).optional(),
  version: z.string().max(100).nullish(),
  sequence: z.string().max(200).nullish(),
});

const slotSchema = z.object({
  slot: z.number().int().min(0).max(1023),
  name: z.string().max(200),
  state: z.string().min(1).max(40),
  deviceId: z.string().max(200).nullable(),
  since: isoTime,
});

const alarmsSchema = z.object({
  active: z.array(z.object({ alarmId: z.string().max(200), severity: z.enum(['warning', 'critical']), message: z.string().max(2000) })).max(10_000),
});

const count = z.number().int().min(0);
const ratio = z.number().min(0).max(1).nullable();

const metricsSchema = z.object({
  shift: z.object({ tested: count, passed: count, failed: count, firstPassYield: ratio, finalYield: ratio, unitsPerHour: z.number().min(0) }),
  uplink: z.object({ queued: count, oldestQueuedAgeSeconds: z.number().min(0).nullable(), deadLetters: count }),
});

const resultSchema = z.object({
  deviceId: z.string().max(200),
  status: z.string().max(40),
  failStep: z.string().max(500).nullish(),
  reason: z.string().max(2000).nullish(),
  endedAt: isoTime,
});

/**
 * A topic of the namespace, read from its end: `state`, `alarms`, `metrics`, `slots/<n>/state`,
 * `units/<id>/result`, after exactly `<prefix>/<enterprise>/<site>/<area>/<line>/<stationId>`.
 * Anything else (another publisher's topic under the prefix) is null: not ours, not counted.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  let stationAt: number;
  let kind: TopicKind;
  let slot: number | undefined;
  const last = parts[parts.length - 1];
  if (last === 'state' && parts.length === 9 && parts[6] === 'slots') {
    const n = parts[7] as string;
    if (!/^\d{1,4}$/.test(n)) return null;
    stationAt = 5;
    kind = 'slot';
    slot = Number(n);
  } else if (last === 'result' && parts.length === 9 && parts[6] === 'units') {
    stationAt = 5;
    kind = 'result';
  } else if (parts.length === 7 && (last === 'state' || last === 'alarms' || last === 'metrics')) {
    stationAt = 5;
    kind = last;
  } else return null;
  const levels = parts.slice(0, stationAt) as [string, string, string, string, string];
  const stationId = parts[stationAt] as string;
  if (levels.some((l) => l === '') || stationId === '') return null;
  return { key: parts.slice(0, stationAt + 1).join('/'), levels, stationId, kind, ...(slot === undefined ? {} : { slot }) };
}

/** A level as the station wrote it (mqtt-topics.ts topicLevel percent-encodes "/", "+", "#", "%", NUL). */
function unlevel(level: string): string {
  return level.replace(/%(2F|2B|23|25|00)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export interface BadPayload {
  kind: TopicKind;
  topic: string;
  /** The first bytes, escaped, for the log. */
  head: string;
  why: string;
  /** True the first time for this station and kind: the caller logs it. */
  first: boolean;
}

export class FleetState {
  private readonly stations = new Map<string, StationView>();
  /** Bad payloads ignored, by topic kind. */
  readonly bad: Record<TopicKind, number> = { state: 0, slot: 0, result: 0, alarms: 0, metrics: 0 };
  private readonly logged = new Set<string>();

  get size(): number {
    return this.stations.size;
  }

  get(key: string): StationView | undefined {
    return this.stations.get(key);
  }

  all(): StationView[] {
    return [...this.stations.values()];
  }

  get badTotal(): number {
    return Object.values(this.bad).reduce((a, b) => a + b, 0);
  }

  /**
   * Folds one message in. Returns what changed: the station's key (its view changed), `removed`
   * (its retained state was deleted), or null (nothing the view shows changed, not our topic, or a
   * bad payload, which `onBad` is told of).
   */
  apply(topic: string, payload: Buffer | string, onBad?: (b: BadPayload) => void): { key: string; removed: boolean } | null {
    const t = parseTopic(topic);
    if (!t) return null;
    const text = typeof payload === 'string' ? payload : payload.toString('utf8');
    if (text.length === 0) return this.deleted(t);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.reject(t, topic, text, 'not JSON', onBad);
      return null;
    }
    const before = this.stations.get(t.key);
    const view = before ? cloneView(before) : newView(t);
    const why = fold(view, t, json);
    if (why !== null) {
      this.reject(t, topic, text, why, onBad);
      return null;
    }
    if (before && sameView(before, view, t.kind)) return null;
    this.stations.set(t.key, view);
    return { key: t.key, removed: false };
  }

  private deleted(t: ParsedTopic): { key: string; removed: boolean } | null {
    const v = this.stations.get(t.key);
    if (!v) return null;
    if (t.kind === 'state') {
      this.stations.delete(t.key);
      return { key: t.key, removed: true };
    }
    if (t.kind === 'slot') {
      const slots = v.slots.filter((s) => s.slot !== t.slot);
      if (slots.length === v.slots.length) return null;
      this.stations.set(t.key, { ...v, slots });
      return { key: t.key, removed: false };
    }
    return null;
  }

  private reject(t: ParsedTopic, topic: string, text: string, why: string, onBad?: (b: BadPayload) => void): void {
    this.bad[t.kind]++;
    const id = `${t.key} ${t.kind}`;
    const first = !this.logged.has(id);
    // Bounded: past 10,000 stations × kinds logged, the rest are only counted.
    if (first && this.logged.size < 10_000) this.logged.add(id);
    onBad?.({ kind: t.kind, topic, head: escapeHead(text), why, first: first && this.logged.has(id) });
  }
}

function newView(t: ParsedTopic): StationView {
  const [, enterprise, site, area, line] = t.levels.map(unlevel) as [string, string, string, string, string];
  return {
    key: t.key,
    enterprise,
    site,
    area,
    line,
    stationId: unlevel(t.stationId),
    state: 'unknown',
    reason: null,
    version: null,
    sequence: null,
    slots: [],
    shift: null,
    backlog: null,
    alarms: { count: 0, worst: null },
    lastUnit: null,
  };
}

function cloneView(v: StationView): StationView {
  return { ...v, slots: v.slots.slice() };
}

/** The part of a view each topic kind writes: a message changed the card when its part differs. */
const PART: Record<TopicKind, (v: StationView) => unknown> = {
  state: (v) => [v.state, v.reason, v.version, v.sequence],
  slot: (v) => v.slots,
  alarms: (v) => v.alarms,
  metrics: (v) => [v.shift, v.backlog],
  result: (v) => v.lastUnit,
};

function sameView(a: StationView, b: StationView, kind: TopicKind): boolean {
  const part = PART[kind];
  return JSON.stringify(part(a)) === JSON.stringify(part(b));
}

/** Folds a parsed payload into the view; returns why it is not the station's shape, or null. */
function fold(view: StationView, t: ParsedTopic, json: unknown): string | null {
  switch (t.kind) {
    case 'state': {
      const r = stateSchema.safeParse(json);
      if (!r.success) return shapeWords(r.error);
      view.state = r.data.state;
      view.reason = r.data.state === 'offline' ? (r.data.reason ?? null) : null;
      view.version = r.data.version ?? view.version;
      if (r.data.state === 'online') view.sequence = r.data.sequence ?? null;
      return null;
    }
    case 'slot': {
      const r = slotSchema.safeParse(json);
      if (!r.success) return shapeWords(r.error);
      if (r.data.slot !== t.slot) return `the payload's slot ${r.data.slot} is not the topic's ${t.slot}`;
      const s: SlotView = { slot: r.data.slot, name: r.data.name, state: r.data.state, deviceId: r.data.deviceId, since: Date.parse(r.data.since) };
      const i = view.slots.findIndex((x) => x.slot === s.slot);
      if (i >= 0) {
        const old = view.slots[i] as SlotView;
        // The slot's step moves `since` only with the state word: an unchanged card stays unchanged.
        if (old.state === s.state && old.deviceId === s.deviceId && old.name === s.name) return null;
        view.slots[i] = s;
      } else {
        view.slots.push(s);
        view.slots.sort((a, b) => a.slot - b.slot);
      }
      return null;
    }
    case 'alarms': {
      const r = alarmsSchema.safeParse(json);
      if (!r.success) return shapeWords(r.error);
      let worst: StationView['alarms']['worst'] = null;
      for (const a of r.data.active) if (!worst || SEVERITY_RANK[a.severity] > SEVERITY_RANK[worst.severity]) worst = { alarmId: a.alarmId, severity: a.severity, message: a.message };
      view.alarms = { count: r.data.active.length, worst };
      return null;
    }
    case 'metrics': {
      const r = metricsSchema.safeParse(json);
      if (!r.success) return shapeWords(r.error);
      const s = r.data.shift;
      view.shift = { tested: s.tested, passed: s.passed, failed: s.failed, firstPassYield: s.firstPassYield, finalYield: s.finalYield, unitsPerHour: s.unitsPerHour };
      const u = r.data.uplink;
      view.backlog = { queued: u.queued, oldestQueuedAgeSeconds: u.oldestQueuedAgeSeconds, deadLetters: u.deadLetters };
      return null;
    }
    case 'result': {
      const r = resultSchema.safeParse(json);
      if (!r.success) return shapeWords(r.error);
      const endedAt = Date.parse(r.data.endedAt);
      // A record published again after a reconnect is older than the one shown: keep the newer.
      if (view.lastUnit && view.lastUnit.endedAt > endedAt) return null;
      view.lastUnit = { deviceId: r.data.deviceId, status: r.data.status, failStep: r.data.failStep ?? null, reason: r.data.reason ?? null, endedAt };
      return null;
    }
  }
}

function shapeWords(err: z.ZodError): string {
  const i = err.issues[0];
  return i ? `not the station's shape: ${i.path.join('.') || '(the payload)'}: ${i.message}` : "not the station's shape";
}

/** The first 80 characters of a payload, with control characters escaped. */
function escapeHead(text: string): string {
  const head = text.slice(0, 80);
  return JSON.stringify(head).slice(1, -1) + (text.length > 80 ? '…' : '');
}
