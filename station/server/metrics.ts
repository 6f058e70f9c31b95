// Prometheus metrics (GET /metrics). Counters move with the event bus; gauges are read from the
// store and the line when scraped, so a scrape never sees a stale cache.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StationBus } from '../events.js';
import type { Line } from '../line/line.js';
import type { Store } from '../store/store.js';
import type { UplinkStatus } from '../events.js';

export function createMetrics(deps: {
  bus: StationBus;
  store: Store;
  line: Line;
  stationId: string;
  tokens?: { level(): { available: number } } | null;
  uplink?: { status(): UplinkStatus };
}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ station: deps.stationId });
  const runs = new Counter({ name: 'station_runs_total', help: 'Runs finished since start, by verdict', labelNames: ['verdict'], registers: [registry] });
  const steps = new Counter({ name: 'station_steps_total', help: 'Steps finished since start, by status', labelNames: ['status'], registers: [registry] });
  const runSeconds = new Histogram({
    name: 'station_run_duration_seconds',
    help: 'Duration of finished runs',
    labelNames: ['verdict'],
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  const started = new Map<string, number>();
  deps.bus.on('run.started', (e) => started.set(e.runId, performance.now()));
  deps.bus.on('run.step', (e) => steps.inc({ status: e.result.status }));
  deps.bus.on('run.finished', (e) => {
    runs.inc({ verdict: e.verdict });
    const t0 = started.get(e.runId);
    started.delete(e.runId);
    if (t0 !== undefined) runSeconds.observe({ verdict: e.verdict }, (performance.now() - t0) / 1000);
  });

  let cached: ReturnType<Store['stats']> | null = null;
  const stats = (): ReturnType<Store['stats']> => (cached ??= deps.store.stats());
  const gauge = (name: string, help: string, read: () => number | null): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        this.set(v ?? Number.NaN); // NaN: no value yet (no device tested), never a stale or a false 0
      },
    });
  };
  // Refresh the store snapshot once per scrape: the first gauge collected clears it.
  new Gauge({
    name: 'station_up',
    help: 'The station daemon is running',
    registers: [registry],
    collect() {
      cached = null;
      up = null;
      this.set(1);
    },
  });
  gauge('station_devices_blessed', 'Distinct devices blessed (rework never counted twice)', () => stats().devicesBlessed);
  gauge('station_devices_tested', 'Distinct devices with a verdict', () => stats().devicesTested);
  gauge('station_first_pass_yield', 'Share of devices blessed on their first verdict', () => stats().firstPassYield);
  gauge('station_final_yield', 'Share of tested devices blessed', () => stats().finalYield);
  gauge('station_rework_blessings', 'Blessings of devices that were already blessed', () => stats().reworkBlessings);
  // The uplink's view (dead letters excluded from the queue); the store's when there is no uplink.
  let up: UplinkStatus | null = null;
  const uplink = (): UplinkStatus | null => (up ??= deps.uplink?.status() ?? null);
  gauge('station_outbox_queued', 'Records waiting for upload (to at least one sink)', () => uplink()?.queued ?? stats().outboxQueued);
  gauge('station_outbox_oldest_age_seconds', 'Age of the oldest record waiting for upload', () => {
    const u = uplink();
    if (u) return u.oldestQueuedAgeSeconds ?? 0;
    const oldest = stats().outboxOldestAt;
    return oldest === null ? 0 : (Date.now() - oldest) / 1000;
  });
  gauge('station_uplink_dead_letters', 'Records a sink rejected for good (each counted once)', () => uplink()?.deadLetters ?? 0);
  gauge('station_uplink_backoff_seconds', 'Wait before the next upload attempt (0: not backing off)', () => (uplink()?.backoffMs ?? 0) / 1000);
  gauge('station_uplink_last_success_timestamp_seconds', 'When a batch last went through (unix seconds)', () => {
    const at = uplink()?.lastSuccessAt;
    return at ? Date.parse(at) / 1000 : null;
  });
  new Gauge({
    name: 'station_uplink_state',
    help: 'The uplink state (1 for the current one)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const current = uplink()?.state ?? 'not configured';
      for (const st of ['online', 'degraded', 'offline', 'not configured']) this.set({ state: st }, st === current ? 1 : 0);
    },
  });
  // Each sink of the uplink on its own (label `sink`: its id).
  const sinks = (): UplinkStatus['sinks'] => uplink()?.sinks ?? [];
  const perSink = (name: string, help: string, read: (s: UplinkStatus['sinks'][number]) => number | null): void => {
    new Gauge({
      name,
      help,
      labelNames: ['sink'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of sinks()) this.set({ sink: s.id }, read(s) ?? Number.NaN);
      },
    });
  };
  perSink('station_uplink_sink_queued', 'Records waiting for this sink', (s) => s.queued);
  perSink('station_uplink_sink_oldest_age_seconds', 'Age of the oldest record waiting for this sink', (s) => s.oldestQueuedAgeSeconds ?? 0);
  perSink('station_uplink_sink_dead_letters', 'Records this sink rejected for good', (s) => s.deadLetters);
  perSink('station_uplink_sink_backoff_seconds', "Wait before this sink's next attempt (0: not backing off)", (s) => (s.backoffMs ?? 0) / 1000);
  perSink('station_uplink_sink_last_success_timestamp_seconds', 'When a batch last went through to this sink (unix seconds)', (s) => (s.lastSuccessAt ? Date.parse(s.lastSuccessAt) / 1000 : null));
  new Gauge({
    name: 'station_uplink_sink_state',
    help: "This sink's state (1 for the current one)",
    labelNames: ['sink', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sinks()) for (const st of ['online', 'degraded', 'offline']) this.set({ sink: s.id, state: st }, st === s.state ? 1 : 0);
    },
  });
  // Acknowledged records, counted by the sink since start; a counter moves by what it adds.
  const seen = new Map<string, number>();
  new Counter({
    name: 'station_uplink_sink_delivered_total',
    help: 'Records this sink acknowledged since the station started',
    labelNames: ['sink'],
    registers: [registry],
    collect() {
      for (const s of sinks()) {
        const before = seen.get(s.id) ?? 0;
        if (s.delivered > before) this.inc({ sink: s.id }, s.delivered - before);
        seen.set(s.id, Math.max(before, s.delivered));
      }
    },
  });
  // The ledger's own count (the one the dashboard shows): one definition of the pool's level.
  gauge('station_tokens_available', 'Factory tokens ready in the pool', () => (deps.tokens ? deps.tokens.level().available : null));
  new Gauge({
    name: 'station_slot_busy',
    help: 'Slots with a run in progress',
    registers: [registry],
    collect() {
      this.set(deps.line.snapshots().filter((s) => ['identifying', 'blinkup', 'testing', 'blessing'].includes(s.state)).length);
    },
  });
  new Gauge({
    name: 'station_slot_connected',
    help: 'Slots whose DUT console is connected',
    registers: [registry],
    collect() {
      this.set(deps.line.snapshots().filter((s) => s.connected).length);
    },
  });
  return registry;
}
