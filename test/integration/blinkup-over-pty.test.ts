// Factory BlinkUp end to end over real pseudo-terminals: the daemon drives an LED emitter on one
// serial port and a DUT console on another; in this process the emitter simulator plays each
// frame for its real on-air time and shines it at the simulated DUT, whose light sensor decodes
// it and enrolls with the simulated enrollment service. Every outcome is driven from here, and a
// canary token is searched for everywhere it must never appear.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNestOnSerial, type SerialNest } from '../../drivers/dut/simulator/cli.js';
import { SimulatedEnrollmentService, type IssuedSimToken } from '../../drivers/dut/simulator/enrollment.js';
import { unpackSymbols } from '../../drivers/emitter/emitter.js';
import { decodeSymbols } from '../../drivers/emitter/frame.js';
import { OpticalLink } from '../../drivers/emitter/simulator/optical-link.js';
import { ImpFixtureSim } from '../../drivers/emitter/simulator/imp-fixture-sim.js';
import { runEmitterOnSerial, type SerialEmitterSim } from '../../drivers/emitter/simulator/serial.js';
import { SerialPort } from 'serialport';
import { blinkupStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

interface StepRow {
  run_id: string;
  status: string;
  message: string | null;
}

class BlinkUpRig {
  dir = mkdtempSync(path.join(os.tmpdir(), 'station-blinkup-'));
  dutPair = new PtyPair(this.dir, 'dut0');
  emitterPair = new PtyPair(this.dir, 'emit0');
  service = new SimulatedEnrollmentService();
  link = new OpticalLink();
  nest!: SerialNest;
  emitter!: SerialEmitterSim;
  daemon!: Daemon;
  tokenFile = path.join(this.dir, 'tokens.ndjson');
  dbPath = path.join(this.dir, 'data', 'station.db');

  fixture: ImpFixtureSim | null = null;
  private fixturePort: SerialPort | null = null;

  async start(symbolRateHz: 60 | 142, tokens: IssuedSimToken[], logLevel = 'info', device: 'led' | 'imp-fixture' = 'led'): Promise<void> {
    await this.dutPair.open();
    await this.emitterPair.open();
    this.writeTokens(tokens);
    const cfg = blinkupStationConfig({
      dataDir: path.join(this.dir, 'data'),
      slots: [{ dut: this.dutPair.stationPath, emitter: this.emitterPair.stationPath }],
      tokenFile: this.tokenFile,
      symbolRateHz,
      logLevel,
    });
    if (device === 'imp-fixture') {
      // The fixture brings its own tokens: no pool, no token source.
      cfg.slots = (cfg.slots as Record<string, unknown>[]).map((slot) => ({ ...slot, emitter: { kind: 'imp-fixture', path: this.emitterPair.stationPath, minRetriggerMs: 1500 } }));
      cfg.tokens = { source: 'none' };
    }
    const config = Daemon.writeConfig(this.dir, cfg);
    this.daemon = await new Daemon(config).start();
    if (device === 'imp-fixture') {
      this.fixture = new ImpFixtureSim(this.link, this.service, { ssid: 'factory-line-9', password: 'pw-factory-9', symbolRateHz, minIntervalMs: 1000, driftPpm: -3000 });
      const port = new SerialPort({ path: this.emitterPair.simPath, baudRate: 115200, autoOpen: false, lock: false });
      await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
      this.fixture.attach(port);
      this.fixturePort = port;
    } else {
      this.emitter = await runEmitterOnSerial({ path: this.emitterPair.simPath, link: this.link, driftPpm: 4000 });
    }
    this.nest = await runNestOnSerial({
      path: this.dutPair.simPath,
      latencyMs: 2,
      seed: 4242,
      autoStart: false,
      behaviour: { bootMs: 20, handlingMs: 100, cellularRate: 0.5, retestRate: 0, failureRates: {}, idleReseatMs: 10_000 },
    });
    this.nest.nest.attachOptics({ link: this.link, enrollment: this.service, sampleRateHz: 1000, noiseSd: 0.05, enrollMs: 50 });
    this.nest.nest.start();
  }

  writeTokens(tokens: IssuedSimToken[]): void {
    writeFileSync(this.tokenFile, tokens.map((t) => JSON.stringify(t)).join('\n') + '\n');
  }

  addTokens(tokens: IssuedSimToken[]): void {
    appendFileSync(this.tokenFile, tokens.map((t) => JSON.stringify(t)).join('\n') + '\n');
  }

  db<T>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  blinkupSteps(): StepRow[] {
    return this.db<StepRow>(`SELECT run_id, status, message FROM step_results WHERE name = 'Factory BlinkUp' ORDER BY started_at`);
  }

  /** Waits for a BlinkUp step result not seen before that satisfies `match`. */
  async nextBlinkup(what: string, seen: number, match: (row: StepRow) => boolean, timeoutMs = 60_000): Promise<StepRow> {
    return waitFor(what, () => this.blinkupSteps().slice(seen).find(match) ?? null, { timeoutMs, intervalMs: 100 });
  }

  tokenStates(): Record<string, number> {
    return Object.fromEntries(this.db<{ state: string; n: number }>(`SELECT state, count(*) AS n FROM token_ledger GROUP BY state`).map((r) => [r.state, r.n]));
  }

  async close(): Promise<void> {
    await this.daemon?.kill9();
    await this.nest?.close();
    await this.emitter?.close();
    this.fixture?.detach();
    if (this.fixturePort?.isOpen) await new Promise<void>((resolve) => this.fixturePort?.close(() => resolve()));
    await this.dutPair.close();
    await this.emitterPair.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('factory BlinkUp at 142 Hz over real pseudo-terminals', () => {
  const rig = new BlinkUpRig();
  const canary = `CANARY-${Math.random().toString(16).slice(2)}${Math.random().toString(16).slice(2)}`;
  const issued: IssuedSimToken[] = [];

  beforeAll(async () => {
    // The canary expires first, so it is the first token the pool hands out.
    const [canaryToken] = rig.service.issue(1, { text: canary, ttlMs: 3 * 3600_000 });
    issued.push(canaryToken as IssuedSimToken, ...rig.service.issue(12));
    await rig.start(142, issued, 'debug');
  });
  afterAll(() => rig.close());

  it('sends the token by light, the DUT enrolls, and the unit is blessed with the token consumed', async () => {
    const step = await rig.nextBlinkup('a BlinkUp step', 0, () => true);
    expect(step.status, `${step.message}\n${rig.daemon.stdout.slice(-3000)}`).toBe('pass');
    const [run] = rig.db<{ status: string }>(`SELECT status FROM runs WHERE run_id = ?`, step.run_id);
    await waitFor('the run to be blessed', () => rig.db<{ status: string }>(`SELECT status FROM runs WHERE run_id = ?`, step.run_id)[0]?.status === 'blessed');
    expect(run).toBeDefined();
    expect(rig.tokenStates().consumed).toBeGreaterThanOrEqual(1);
    expect(rig.emitter.sim.framesPlayed).toBeGreaterThanOrEqual(1);
    expect(rig.service.enrollments).toBeGreaterThanOrEqual(1);
  });

  /** Every place a secret must never be: logs, the data folder's files, every API answer. */
  async function secretHits(secrets: string[]): Promise<string[]> {
    const texts: string[] = [];
    for (const route of ['/api/health', '/api/devices?limit=50', '/metrics', '/api/export/records.csv']) texts.push(await (await rig.daemon.request(route)).text());
    for (const row of rig.db<{ run_id: string }>(`SELECT run_id FROM runs`)) texts.push(await (await rig.daemon.request(`/api/runs/${row.run_id}`)).text());
    texts.push(rig.daemon.stdout, rig.daemon.stderr);
    const files = readdirSync(path.join(rig.dir, 'data')).map((f) => path.join(rig.dir, 'data', f));
    const haystacks = [...texts.map((t) => Buffer.from(t)), ...files.map((f) => readFileSync(f))];
    const hits: string[] = [];
    // A frame's symbols carry the secrets whitened, so no string search finds them: decode any
    // frame data that got out.
    for (const hay of haystacks) {
      for (const m of hay.toString('latin1').matchAll(/FRAME (?:60|142) (?:HIGH|LOW) (\d+) ([0-9a-f]+)/g)) {
        const symbols = unpackSymbols(m[2] as string, Number(m[1]));
        if (symbols && decodeSymbols(symbols).ok) hits.push(`a decodable frame: FRAME ... ${m[1]} ${(m[2] as string).slice(0, 16)}...`);
      }
    }
    for (const secret of secrets) {
      const needles = [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret), Buffer.from(secret).toString('hex')];
      for (const hay of haystacks) for (const needle of needles) if (hay.includes(needle)) hits.push(needle);
    }
    return hits;
  }

  it('never lets the token text out: not in logs, the database, or any API answer', async () => {
    await waitFor('the canary token consumed', () => rig.db(`SELECT 1 FROM token_ledger WHERE state = 'consumed'`).length > 0);
    expect(rig.daemon.stdout).toMatch(/"level":20/); // the daemon really logged at debug level
    expect(await secretHits([canary])).toEqual([]);
  });

  it('takes a fresh token when the token is rejected as invalid, and records the rejection', async () => {
    const seen = rig.blinkupSteps().length;
    rig.service.forceNext('invalid-token');
    const step = await rig.nextBlinkup('a BlinkUp after an invalid token', seen, (r) => r.message?.includes('rejected as invalid') ?? false);
    expect(step.status).toBe('pass');
    expect(step.message).toMatch(/enrolled after: the token was rejected as invalid \(token [0-9a-f]{8}\)/);
    expect(rig.db(`SELECT 1 FROM token_events WHERE state = 'rejected' AND note LIKE '%invalid-token%'`).length).toBeGreaterThanOrEqual(1);
  });

  it('retries a frame the DUT could not read', async () => {
    const seen = rig.blinkupSteps().length;
    rig.nest.nest.injectFault('bad-light');
    const step = await rig.nextBlinkup('a BlinkUp after a bad frame', seen, (r) => r.message?.includes('could not read the light frame') ?? false);
    expect(step.status).toBe('pass');
  });

  it('takes a fresh token when the token is rejected as expired', async () => {
    const seen = rig.blinkupSteps().length;
    rig.service.forceNext('expired-token');
    const step = await rig.nextBlinkup('a BlinkUp after an expired token', seen, (r) => r.message?.includes('rejected as expired') ?? false);
    expect(step.status).toBe('pass');
  });

  it('sends again when the DUT does not answer, then asks the operator to re-seat it, then enrolls', async () => {
    const seen = rig.blinkupSteps().length;
    // noAnswerRetries is 1: the first silence is retried at once, the second asks the operator.
    rig.nest.nest.injectFault('no-enroll');
    rig.nest.nest.injectFault('no-enroll');
    const step = await rig.nextBlinkup('a BlinkUp after two silences', seen, (r) => (r.message?.match(/no enrollment answer within 3000 ms/g)?.length ?? 0) === 2);
    expect(step.status).toBe('pass');
    expect(step.message).toMatch(/^enrolled after: no enrollment answer within 3000 ms; no enrollment answer within 3000 ms$/);
  });

  it('routes an already blessed device to rework without trying more tokens', async () => {
    const seen = rig.blinkupSteps().length;
    const before = rig.tokenStates();
    rig.service.forceNext('already-blessed');
    const step = await rig.nextBlinkup('a BlinkUp on a blessed device', seen, (r) => r.status === 'fail');
    expect(step.message).toMatch(/already a blessed production device: route to rework/);
    const [run] = await waitFor('the run to end', () => {
      const rows = rig.db<{ status: string; fail_step: string; rework: number }>(`SELECT status, fail_step, rework FROM runs WHERE run_id = ? AND status != 'running'`, step.run_id);
      return rows.length > 0 ? rows : null;
    });
    expect(run).toEqual({ status: 'failed', fail_step: 'Factory BlinkUp', rework: 1 });
    const after = rig.tokenStates();
    expect((after.rejected ?? 0) - (before.rejected ?? 0)).toBe(1); // one token, no retries
  });

  it('does not fail the DUT when the emitter does not answer: the run is interrupted', async () => {
    const seen = rig.blinkupSteps().length;
    rig.emitter.sim.injectFault('silent');
    const step = await rig.nextBlinkup('a BlinkUp cut by the emitter', seen, (r) => r.status === 'interrupted');
    expect(step.message).toMatch(/emitter not responding/);
    const [run] = await waitFor('the run to end', () => {
      const rows = rig.db<{ status: string }>(`SELECT status FROM runs WHERE run_id = ? AND status != 'running'`, step.run_id);
      return rows.length > 0 ? rows : null;
    });
    expect(run?.status).toBe('interrupted');
  });

  it('stops the slot with an alarm on a wrong-type token and burns no more tokens', async () => {
    const seen = rig.blinkupSteps().length;
    rig.service.forceNext('wrong-token-type');
    await rig.nextBlinkup('a BlinkUp with a wrong-type token', seen, (r) => r.status === 'interrupted' && (r.message?.includes('wrong type') ?? false));
    const health = await waitFor('the slot refused with an alarm', async () => {
      const h = await rig.daemon.api<{ slots: { state: string; reason: string }[]; alarms: { alarmId: string; severity: string }[] }>('/api/health');
      return h.slots[0]?.state === 'refused' ? h : null;
    });
    expect(health.slots[0]?.reason).toMatch(/wrong type/);
    expect(health.alarms.some((a) => a.alarmId.startsWith('blinkup.wrong-token-type') && a.severity === 'critical')).toBe(true);
    const tokensUsed = (s: Record<string, number>): number => (s.sent ?? 0) + (s.consumed ?? 0) + (s.rejected ?? 0);
    const used = tokensUsed(rig.tokenStates());
    // The unit is reseated (watchdog, operator): the slot still takes nothing.
    rig.nest.nest.boot();
    await waitFor('the READY to reach the station', async () => (await rig.daemon.api<{ slots: { state: string }[] }>('/api/health')).slots[0]?.state === 'refused');
    expect(tokensUsed(rig.tokenStates())).toBe(used);
  });

  it('after every fault, no token text and no Wi-Fi password is anywhere: logs, files, API answers', async () => {
    expect(rig.emitter.sim.framesPlayed).toBeGreaterThanOrEqual(4);
    expect(await secretHits([...issued.map((t) => t.token), 'pw-factory-9'])).toEqual([]);
  });
});

describe('factory BlinkUp at 60 Hz', () => {
  const rig = new BlinkUpRig();
  beforeAll(() => rig.start(60, rig.service.issue(4)));
  afterAll(() => rig.close());

  it('blesses a unit after a standard-rate BlinkUp', async () => {
    const step = await rig.nextBlinkup('a BlinkUp step', 0, () => true, 90_000);
    expect(step.status, `${step.message}\n${rig.daemon.stdout.slice(-3000)}`).toBe('pass');
    await waitFor('the run to be blessed', () => rig.db<{ status: string }>(`SELECT status FROM runs WHERE run_id = ?`, step.run_id)[0]?.status === 'blessed');
  });
});

describe('an Imp BlinkUp fixture over a real pseudo-terminal', () => {
  const rig = new BlinkUpRig();
  beforeAll(() => rig.start(142, [], 'info', 'imp-fixture'));
  afterAll(() => rig.close());

  it('triggers the fixture, which sends its own token: the unit enrolls and no pool token is used', async () => {
    const step = await rig.nextBlinkup('a fixture BlinkUp', 0, () => true);
    expect(step.status, step.message ?? '').toBe('pass');
    await waitFor('the run to be blessed', () => rig.db<{ status: string }>(`SELECT status FROM runs WHERE run_id = ?`, step.run_id)[0]?.status === 'blessed');
    expect(rig.fixture?.blinkups).toBeGreaterThanOrEqual(1);
    expect(rig.db(`SELECT 1 FROM token_ledger`)).toEqual([]);
  });

  it('retriggers the fixture after an invalid token, never faster than its minimum interval', async () => {
    const seen = rig.blinkupSteps().length;
    const before = rig.fixture?.blinkups ?? 0;
    rig.service.forceNext('invalid-token');
    const step = await rig.nextBlinkup('a fixture BlinkUp after an invalid token', seen, (r) => r.message?.includes('rejected as invalid') ?? false);
    expect(step.status).toBe('pass');
    expect(step.message).toMatch(/rejected as invalid \(fixture token\)/);
    // The fixture refuses triggers closer than 1 s with RATE_LIMITED: none was refused.
    expect((rig.fixture?.blinkups ?? 0) - before).toBeGreaterThanOrEqual(2);
  });
});
