// Station configurations for tests: the shipped sequence, real serial slots, fast timeouts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../station/paths.js';

interface ShippedConfig {
  sequence: { steps: { type: string; name: string; timeoutMs?: number }[] } & Record<string, unknown>;
}

/**
 * station.config.json as shipped, with its sequence file read in as `sequence`. Unless `scripts`
 * is asked for, without its script steps: their modules are found from the config file's folder,
 * and most tests parse or write the configuration somewhere else.
 */
export function shippedConfigRaw<T = Record<string, unknown>>(opts: { scripts?: boolean } = {}): T {
  const cfg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'station.config.json'), 'utf8')) as Record<string, unknown>;
  if (typeof cfg.sequenceFile === 'string') {
    cfg.sequence = JSON.parse(readFileSync(path.join(PROJECT_ROOT, cfg.sequenceFile), 'utf8'));
    delete cfg.sequenceFile;
  }
  if (!opts.scripts) {
    const sequence = cfg.sequence as { steps: AnyStep[] };
    sequence.steps = withoutScripts(sequence.steps);
  }
  return cfg as T;
}

function withoutScripts(steps: AnyStep[]): AnyStep[] {
  return steps.filter((s) => s.type !== 'script').map((s) => (s.steps ? { ...s, steps: withoutScripts(s.steps) } : s));
}

type AnyStep = { type: string; name: string; steps?: AnyStep[]; source?: unknown };

/** A step that needs the fixture (DUT power, bench instruments), or a group holding one. */
function usesFixture(step: AnyStep): boolean {
  return step.type === 'power' || step.type === 'instrument' || (step.type === 'measure' && step.source !== undefined) || (step.steps ?? []).some(usesFixture);
}

/**
 * The shipped configuration. Unless `fixture` is asked for, without its bench instruments, the
 * slots' power and routes, and the steps that use them: tests of the line over real ptys have no
 * simulated supply behind their DUTs. Unless `identity` is asked for, without its label scan, scanners,
 * label printing and in-process demo ingest: tests of the core, BlinkUp and the dashboard drive
 * those parts themselves (or not at all), and must not wait on a label scan.
 */
export function shippedConfig(opts: { identity?: boolean; fixture?: boolean; scripts?: boolean } = {}): ShippedConfig & Record<string, unknown> {
  const cfg = shippedConfigRaw<ShippedConfig & Record<string, unknown>>({ scripts: opts.scripts });
  if (!opts.fixture) {
    delete cfg.instruments;
    for (const slot of cfg.slots as Record<string, unknown>[]) {
      delete slot.power;
      delete slot.route;
    }
    cfg.sequence.steps = cfg.sequence.steps.filter((s) => !usesFixture(s as AnyStep));
    const rates = (cfg.simulation as { failureRates?: Record<string, number> } | undefined)?.failureRates;
    if (rates) delete rates.SLEEPCURRENT;
  }
  if (opts.identity) return cfg;
  cfg.sequence.steps = cfg.sequence.steps.map((s) => {
    if (s.type !== 'identify') return s;
    const { label: _label, ...rest } = s as typeof s & { label?: unknown };
    return rest;
  });
  delete cfg.scanners;
  delete cfg.labels;
  const sim = cfg.simulation as Record<string, unknown> | undefined;
  if (sim) delete sim.ingest;
  return cfg;
}

/**
 * The shipped configuration without factory BlinkUp (no blinkup step, emitters, tokens or
 * credentials): the station core on its own, for tests of the core.
 */
export function coreConfig(): ShippedConfig & Record<string, unknown> {
  const cfg = shippedConfig();
  cfg.sequence.steps = cfg.sequence.steps.filter((s) => s.type !== 'blinkup');
  delete cfg.blinkup;
  delete cfg.tokens;
  for (const slot of cfg.slots as Record<string, unknown>[]) delete slot.emitter;
  return cfg;
}

/** A config whose slots are serial ports (the station ends of pty pairs). */
export function serialStationConfig(opts: {
  dataDir: string;
  ports: string[];
  stationId?: string;
  promptAnswerMs?: number;
  logLevel?: string;
  /** The DUT ports' reconnect backoff (default 50 ms doubling to 500 ms). */
  reconnect?: { initialMs: number; maxMs: number };
}): Record<string, unknown> {
  const base = coreConfig();
  const sequence = { ...base.sequence, defaultTimeoutMs: 1500, steps: base.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 20 } : s)) };
  return {
    station: { id: opts.stationId ?? 'test-station', mode: 'production' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: opts.dataDir },
    log: { level: opts.logLevel ?? 'info' },
    line: { autoStart: 'on-boot', shutdownGraceMs: 2000 },
    dut: { maxLineBytes: 512, reconnectInitialMs: opts.reconnect?.initialMs ?? 50, reconnectMaxMs: opts.reconnect?.maxMs ?? 500 },
    slots: opts.ports.map((p, i) => ({ name: `Nest ${i + 1}`, dut: { kind: 'serial', path: p } })),
    sequence,
    uplink: {},
    simulation: { operator: 'all-slots', promptAnswerMs: opts.promptAnswerMs ?? 10, promptFailRate: 0 },
  };
}

/** A serial station with factory BlinkUp: each slot has a DUT port and an LED emitter port. */
export function blinkupStationConfig(opts: { dataDir: string; slots: { dut: string; emitter: string }[]; tokenFile: string; symbolRateHz: 60 | 142; logLevel?: string }): Record<string, unknown> {
  const shipped = shippedConfig();
  const base = serialStationConfig({ dataDir: opts.dataDir, ports: opts.slots.map((s) => s.dut), logLevel: opts.logLevel });
  const sequence = {
    ...shipped.sequence,
    defaultTimeoutMs: 1500,
    steps: shipped.sequence.steps.map((s) => (s.type === 'delay' ? { ...s, ms: 20 } : s.type === 'blinkup' ? { ...s, timeoutMs: 3000 } : s)),
  };
  return {
    ...base,
    slots: opts.slots.map((s, i) => ({ name: `Nest ${i + 1}`, dut: { kind: 'serial', path: s.dut }, emitter: { kind: 'serial-led', path: s.emitter } })),
    sequence,
    blinkup: { ssid: 'factory-line-9', password: 'pw-factory-9', symbolRateHz: opts.symbolRateHz, activeLow: false },
    tokens: { source: 'file', file: opts.tokenFile, targetLevel: 20, lowWater: 2, refillIntervalMs: 1000 },
  };
}

/**
 * The shipped simulated station, fast: `slots` simulated nests (with the shipped simulated
 * emitters and BlinkUp when `blinkup`), no uplink, quick boots and swaps. For the dashboard's tests.
 */
export function simulatedStationConfig(opts: {
  dataDir: string;
  slots: number;
  blinkup?: boolean;
  operator?: 'simulated-slots' | 'off';
  mode?: 'production' | 'test';
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  const base = opts.blinkup ? shippedConfig() : coreConfig();
  const shippedSlots = shippedConfig().slots as { emitter?: unknown }[];
  const simulation = { ...(base.simulation as Record<string, unknown>) };
  delete simulation.ingest;
  return {
    ...base,
    station: { id: 'ui-test-station', name: 'UI test station', mode: opts.mode ?? 'production' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: opts.dataDir },
    log: { level: 'info' },
    slots: Array.from({ length: opts.slots }, (_, i) => ({
      name: `Nest ${i + 1}`,
      dut: { kind: 'simulated' },
      ...(opts.blinkup ? { emitter: shippedSlots[i % 2]?.emitter } : {}), // serial-LED model emitters
    })),
    uplink: {},
    simulation: {
      ...simulation,
      commandLatencyMs: 5,
      bootMs: 50,
      handlingMs: 200,
      faultRates: { garbage: 0, hang: 0, unplug: 0 },
      promptAnswerMs: 20,
      promptFailRate: 0,
      operator: opts.operator ?? 'simulated-slots',
    },
    ...opts.extra,
  };
}
