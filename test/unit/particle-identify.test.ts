// Identify for a Particle product: the unit's reported platform must be the product's, and its
// Device ID 24 hex characters; a unit that fails either is failed at identify, in words an
// operator can act on, before any other step (BlinkUp, its factory token) runs. The simulated
// DUT reports its platform (platform=), configurable per unit.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectDutConsole } from '../../drivers/dut/simulator/direct-console.js';
import { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import type { DutConsole } from '../../drivers/console/console.js';
import { StationBus } from '../../station/events.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner } from '../../station/line/runner.js';
import { silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { parseConfig, particleSinkOf } from '../../station/config/load.js';
import { coreConfig } from '../support/configs.js';
import { compileSmallSequence, nextEvent, RecordingConsole, ScriptedConsole, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
  dirs.cleanup();
});

const ARGON_PRODUCT = { product: 4321, platformId: 12 };
const ID24 = 'e00fce68a1b2c3d4e5f60718';

function rig() {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const runner = new SequenceRunner({ store, bus, prompts: new PromptBroker(bus), log: silentLogger(), stationId: 'st', mode: 'production', failCommandTimeoutMs: 500, particle: ARGON_PRODUCT });
  const seq = compileSmallSequence();
  store.registerSequence(seq);
  return {
    store,
    async run(console: DutConsole) {
      const runId = randomUUID();
      const out = await runner.run({
        runId,
        slot: 0,
        console,
        sequence: seq,
        signal: new AbortController().signal,
        onStep: () => undefined,
        onIdentified: () => undefined,
        onVerdictSent: () => undefined,
      });
      return { ...out, runId };
    },
    outbox(): { kind: string; device_id: string }[] {
      const db = new Database(store.dbPath, { readonly: true });
      try {
        return db.prepare(`SELECT kind, device_id FROM outbox`).all() as { kind: string; device_id: string }[];
      } finally {
        db.close();
      }
    },
  };
}

function dut(ident: string): ScriptedConsole {
  return new ScriptedConsole({
    IDENT: ident,
    'MEAS VBAT': 'v=3.712 unit=V',
    'MEAS V3V3': 'v=3.301 unit=V',
    'SELFTEST FLASH': 'result=PASS',
    BLESS: 'blessed=1',
    FAIL: 'led=RED',
  });
}

describe('identify for a Particle product', () => {
  it('blesses a unit of the product platform with a 24-character Device ID', async () => {
    const r = rig();
    const out = await r.run(dut(`id=${ID24} mac=0c2a69123456 platform=12 blessed=0`));
    expect(out.verdict).toBe('blessed');
  });

  it('fails a unit of another platform at identify, naming both platforms, and runs nothing after it', async () => {
    const r = rig();
    const console = dut(`id=${ID24} mac=0c2a69123456 platform=13 blessed=0`);
    const out = await r.run(console);
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Identify');
    expect(out.reason).toBe('wrong device type for this line: the unit is a Boron (platform 13), and Particle product 4321 takes Argon (platform 12) units only; set it aside for its own line');
    expect(console.commands).toEqual(['IDENT', 'FAIL IDENTIFY']);
    // The failure is recorded against the device (a failed record: the particle sink makes no call for it).
    expect(r.outbox()).toEqual([{ kind: 'failed', device_id: ID24 }]);
  });

  it('fails a unit that does not report its platform, or reports something else', async () => {
    const r = rig();
    const silent = await r.run(dut(`id=${ID24} mac=0c2a69123456 blessed=0`));
    expect(silent.reason).toBe('wrong or unknown device type: the unit did not report its platform (platform=), and Particle product 4321 takes Argon (platform 12) units only');
    const odd = await r.run(dut(`id=${ID24} mac=0c2a69123456 platform=toaster blessed=0`));
    expect(odd.reason).toContain('the unit reported platform "toaster"');
    const named = await r.run(dut(`id=${ID24} mac=0c2a69123456 platform=argon blessed=0`));
    expect(named.verdict).toBe('blessed');
  });

  it('refuses a Device ID that is not 24 hex characters, whatever the sequence says', async () => {
    const r = rig();
    const console = dut('id=0c2a69ffee001234 mac=0c2a69123456 platform=12 blessed=0');
    const out = await r.run(console);
    expect(out.verdict).toBe('failed');
    expect(out.reason).toBe('identity rejected: Device ID must be 24 hex characters (Particle product 4321), got "0c2a69ffee001234"');
    expect(console.commands).toEqual(['IDENT', 'FAIL IDENTIFY']);
  });

  it('with the simulated nest: units report the configured platform; one set to another platform is failed', async () => {
    const r = rig();
    const nest = new SimulatedNest('sim:p', { bootMs: 0, handlingMs: 100_000, deviceIdHexLength: 24, platformId: 12 }, 99, { event: () => undefined, raw: () => undefined, unplug: () => undefined });
    const direct = new DirectDutConsole('sim:p', nest);
    cleanups.push(() => nest.stop());
    const console = new RecordingConsole(direct);
    let ready = nextEvent(direct.events, 'event', (e) => e.name === 'READY');
    nest.start();
    await ready;
    expect((await r.run(console)).verdict).toBe('blessed');
    ready = nextEvent(direct.events, 'event', (e) => e.name === 'READY');
    nest.insertUnit(nest.newUnit({ platformId: 13 }));
    await ready;
    const out = await r.run(console);
    expect(out.verdict).toBe('failed');
    expect(out.reason).toContain('the unit is a Boron (platform 13)');
  });

  it('a nest with otherPlatformRate mixes in units of otherPlatformId', () => {
    const nest = new SimulatedNest('sim:q', { deviceIdHexLength: 24, platformId: 12, otherPlatformId: 13, otherPlatformRate: 0.5 }, 7, {
      event: () => undefined,
      raw: () => undefined,
      unplug: () => undefined,
    });
    const platforms = new Set(Array.from({ length: 40 }, () => nest.newUnit().platformId));
    expect(platforms).toEqual(new Set([12, 13]));
  });
});

describe('config: a Particle product', () => {
  it('is an uplink sink of kind "particle", and needs the identify step to read 24-character Device IDs', () => {
    const cfg = coreConfig() as Record<string, unknown> & { sequence: { steps: Record<string, unknown>[] } };
    cfg.uplink = { sinks: [{ kind: 'particle', product: 4321, platformId: 12 }] };
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'identify' ? { ...s, deviceIdHexLength: 16 } : s));
    expect(() => parseConfig(cfg, { source: 'test', baseDir: process.cwd() })).toThrow(
      /steps\[0\]\.deviceIdHexLength: a Particle product \(the uplink's particle sink\) takes 24-character Device IDs/,
    );
    cfg.sequence.steps = cfg.sequence.steps.map((s) => (s.type === 'identify' ? { ...s, deviceIdHexLength: 24 } : s));
    const parsed = parseConfig(cfg, { source: 'test', baseDir: process.cwd() });
    expect(particleSinkOf(parsed)).toMatchObject({ kind: 'particle', product: 4321, platformId: 12, plasticSims: false, apiUrl: 'https://api.particle.io' });
  });

  it('refuses both a token and tokenEnv, and a second particle sink', () => {
    const cfg = coreConfig() as Record<string, unknown>;
    cfg.uplink = { sinks: [{ kind: 'particle', product: 4321, platformId: 12, token: 'x', tokenEnv: 'PARTICLE_TOKEN' }] };
    expect(() => parseConfig(cfg, { source: 'test', baseDir: process.cwd() })).toThrow(/give token or tokenEnv, not both/);
    cfg.uplink = {
      sinks: [
        { kind: 'particle', product: 4321, platformId: 12 },
        { kind: 'particle', name: 'other', product: 99, platformId: 13 },
      ],
    };
    expect(() => parseConfig(cfg, { source: 'test', baseDir: process.cwd() })).toThrow(/uplink\.sinks\[1\]: a station's units join one Particle product: sinks\[0\] is already of kind "particle"/);
  });
});
