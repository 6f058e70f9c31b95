// The particle sink against the Particle API simulator over real HTTP on loopback: membership, SIM
// activation (batched), claiming and claim codes; "already" answers after a lost response; the
// refusals that are dead letters (another platform, claimed by someone else, an unknown ICCID),
// and what stops a batch (429 with its reset time, 5xx, garbage, a slow answer, a token without
// the scope, which the uplink turns into its critical alarm naming the scope).
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ParticleSimulator, type ParticleSimOptions } from '../../drivers/particle/simulator.js';
import { particleSinkSchema, type ParticleSinkConfig } from '../../drivers/particle/options.js';
import { createParticleSink } from '../../jobs/uplink/index.js';
import { ParticleSink, type ClaimCodeStore } from '../../jobs/uplink/particle-sink.js';
import { batchBody, type OutgoingBatch, type SendOutcome } from '../../jobs/uplink/sinks.js';
import { UplinkJob } from '../../jobs/uplink/uplink.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { fillOutbox, randomDeviceId, randomIccid } from '../support/records.js';
import { captureStream, compileSmallSequence, TempDirs } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'product-token-0123456789abcdef';
const CUSTOMER = 'customer-token-0123456789abcdef';
const PRODUCT = 4321;
const ARGON = 12;
const BORON = 13;
const cleanups: (() => Promise<void> | void)[] = [];
const dirs = new TempDirs();

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

async function simulator(opts: Partial<ParticleSimOptions> = {}): Promise<ParticleSimulator> {
  const sim = new ParticleSimulator({
    products: [{ id: PRODUCT, slug: 'argon-line', platformId: ARGON }],
    tokens: [
      { token: TOKEN, owner: 'factory@example.com' },
      { token: CUSTOMER, owner: 'customer@example.com', kind: 'customer' },
    ],
    ...opts,
  });
  await sim.start();
  cleanups.push(() => sim.stop());
  return sim;
}

function sinkFor(sim: ParticleSimulator, config: Partial<ParticleSinkConfig> = {}, extra: { claimToken?: string; claimCodes?: ClaimCodeStore; timeoutMs?: number } = {}): ParticleSink {
  const parsed = particleSinkSchema.parse({ kind: 'particle', product: PRODUCT, platformId: ARGON, apiUrl: sim.url, plasticSims: true, simConfirmMs: 0, ...config });
  return new ParticleSink({
    id: 'particle',
    config: parsed,
    token: TOKEN,
    tokenSource: 'PARTICLE_TOKEN',
    claimToken: extra.claimToken ?? null,
    claimTokenSource: extra.claimToken ? 'PARTICLE_CLAIM_TOKEN' : null,
    timeoutMs: extra.timeoutMs ?? 2000,
    claimCodes: extra.claimCodes ?? null,
  });
}

interface Unit {
  recordId: string;
  deviceId: string;
  iccid: string | null;
  status: 'blessed' | 'failed';
  mode?: 'production' | 'test';
}

function unit(over: Partial<Unit> = {}): Unit {
  return { recordId: randomUUID(), deviceId: randomDeviceId(24), iccid: randomIccid(), status: 'blessed', ...over };
}

function batchOf(units: Unit[]): OutgoingBatch {
  const records = units.map((u, i) => ({
    seq: i + 1,
    recordId: u.recordId,
    deviceId: u.deviceId,
    payload: JSON.stringify({ recordId: u.recordId, stationId: 'st-1', deviceId: u.deviceId, iccid: u.iccid, status: u.status, mode: u.mode ?? 'production', runId: randomUUID() }),
  }));
  const batchId = randomUUID();
  return { batchId, records, body: batchBody(batchId, 'st-1', records), recordIds: units.map((u) => u.recordId), firstSeq: 1, lastSeq: units.length };
}

const send = (sink: ParticleSink, batch: OutgoingBatch): Promise<SendOutcome> => sink.send(batch, new AbortController().signal);

function answered(outcome: SendOutcome): Extract<SendOutcome, { kind: 'answered' }> {
  if (outcome.kind !== 'answered') throw new Error(`expected an answer per record, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('particle sink: a blessed unit becomes a product member with an active SIM, claimed', () => {
  it('adds each blessed Device ID to the product, activates its SIM and claims it; failed and test units cost no call', async () => {
    const sim = await simulator();
    const sink = sinkFor(sim, { claim: { mode: 'device' } }, { claimToken: CUSTOMER });
    const blessed = [unit(), unit({ iccid: null }), unit()];
    const failed = unit({ status: 'failed' });
    const test = unit({ mode: 'test' });
    const out = answered(await send(sink, batchOf([blessed[0] as Unit, failed, blessed[1] as Unit, test, blessed[2] as Unit])));
    expect(out.rejected).toEqual([]);
    expect(out.accepted.sort()).toEqual([...blessed, failed, test].map((u) => u.recordId).sort());
    const s = sim.state();
    for (const u of blessed) {
      expect(s.members[u.deviceId]).toBe(PRODUCT);
      expect(s.owners[u.deviceId]).toBe('customer@example.com');
      expect(s.membershipAdds[u.deviceId]).toBe(1);
      expect(s.claims[u.deviceId]).toBe(1);
    }
    expect(s.members[failed.deviceId]).toBeUndefined();
    expect(s.members[test.deviceId]).toBeUndefined();
    for (const u of [blessed[0], blessed[2]] as Unit[]) expect([s.sims[u.iccid as string], s.activations[u.iccid as string]]).toEqual(['active', 1]);
    expect(s.byRoute['import-sims'], 'the two SIMs in one import request').toBe(1);
    expect(s.byRoute['add-device']).toBe(3);
  });

  it('imports SIMs in batches of simBatchSize', async () => {
    const sim = await simulator();
    const sink = sinkFor(sim, { simBatchSize: 4 });
    const units = Array.from({ length: 10 }, () => unit());
    const out = answered(await send(sink, batchOf(units)));
    expect(out.accepted).toHaveLength(10);
    expect(sim.state().byRoute['import-sims']).toBe(3);
    expect(Object.values(sim.state().activations)).toEqual(Array(10).fill(1));
  });

  it('claim codes: one per blessed unit, stored once; a batch sent again asks for none', async () => {
    const sim = await simulator();
    const stored = new Map<string, string>();
    const store: ClaimCodeStore = { get: (d) => stored.get(d) ?? null, put: (d, _run, code) => void stored.set(d, code) };
    const sink = sinkFor(sim, { plasticSims: false, claim: { mode: 'code' } }, { claimToken: CUSTOMER, claimCodes: store });
    const units = [unit(), unit()];
    answered(await send(sink, batchOf(units)));
    expect([...stored.keys()].sort()).toEqual(units.map((u) => u.deviceId).sort());
    expect(sim.state().claimCodes.sort()).toEqual([...stored.values()].sort());
    for (const code of stored.values()) expect(code).toMatch(/^[A-Za-z0-9+/]{63}$/);
    // A fresh sink (a restarted station) sends the batch again: the stored codes are kept.
    answered(await send(sinkFor(sim, { plasticSims: false, claim: { mode: 'code' } }, { claimToken: CUSTOMER, claimCodes: store }), batchOf(units)));
    expect(sim.state().claimCodes).toHaveLength(2);
  });
});

describe('particle sink: exactly once in effect', () => {
  it.each(['add-device', 'import-sims', 'claim'] as const)('an answer lost after %s was applied: the batch comes again, "already" counts as done', async (route) => {
    const sim = await simulator();
    sim.inject({ kind: 'commit-then-drop', route }, 1);
    const sink = sinkFor(sim, { claim: { mode: 'device' } });
    const units = [unit(), unit()];
    const batch = batchOf(units);
    const first = await send(sink, batch);
    expect(first.kind).toBe('retry');
    // A restarted station remembers nothing: every step is asked again.
    const again = answered(await send(sinkFor(sim, { claim: { mode: 'device' } }), batch));
    expect(again.accepted.sort()).toEqual(units.map((u) => u.recordId).sort());
    const s = sim.state();
    for (const u of units) {
      expect(s.membershipAdds[u.deviceId], 'added to the product once').toBe(1);
      expect(s.activations[u.iccid as string], 'SIM activated once').toBe(1);
      expect(s.claims[u.deviceId], 'claimed once').toBe(1);
      expect(s.owners[u.deviceId]).toBe('factory@example.com');
    }
  });

  it('a record finished before a failure is not asked about again by the same process', async () => {
    const sim = await simulator();
    const sink = sinkFor(sim, { plasticSims: false });
    const units = [unit(), unit(), unit()];
    answered(await send(sink, batchOf([units[0] as Unit])));
    sim.inject({ kind: 'status', status: 503, route: 'add-device' }, 1);
    expect((await send(sink, batchOf(units))).kind).toBe('retry');
    const calls = sim.state().byRoute['add-device'] as number;
    answered(await send(sink, batchOf(units)));
    expect((sim.state().byRoute['add-device'] as number) - calls, 'only the two not yet members').toBe(2);
  });
});

describe('particle sink: refusals are dead letters in Particle words, done steps kept', () => {
  it('a device of another platform is refused for good (invalidDeviceIds)', async () => {
    const sim = await simulator();
    const boron = unit();
    sim.registerDevice(boron.deviceId, BORON);
    const ok = unit();
    const out = answered(await send(sinkFor(sim), batchOf([boron, ok])));
    expect(out.accepted).toEqual([ok.recordId]);
    expect(out.rejected).toEqual([{ recordId: boron.recordId, permanent: true, reason: expect.stringContaining('invalidDeviceIds') as string }]);
    expect(out.rejected[0]?.reason).toContain('Argon (platform 12)');
    expect(sim.state().members[boron.deviceId]).toBeUndefined();
  });

  it("a device claimed by someone else is refused for good with Particle's words; it stays a member", async () => {
    const sim = await simulator();
    const theirs = unit({ iccid: null });
    sim.registerDevice(theirs.deviceId, ARGON, 'someone@elsewhere.example');
    // A device claimed by an account outside the product is not added ...
    const out = answered(await send(sinkFor(sim, { claim: { mode: 'device' } }), batchOf([theirs])));
    expect(out.rejected[0]?.reason).toContain('nonmemberDeviceIds');
    // ... and one claimed by another account inside it is a member Particle will not let us claim.
    const other = unit({ iccid: null });
    sim.registerDevice(other.deviceId, ARGON, 'customer@example.com');
    const out2 = answered(await send(sinkFor(sim, { claim: { mode: 'device' } }), batchOf([other])));
    expect(out2.rejected).toEqual([{ recordId: other.recordId, permanent: true, reason: expect.stringContaining('"That belongs to someone else."') as string }]);
    expect(sim.state().members[other.deviceId]).toBe(PRODUCT);
    expect(sim.state().owners[other.deviceId]).toBe('customer@example.com');
  });

  it('an ICCID Particle does not know is a dead letter with its reason; the device stays a product member and is not claimed', async () => {
    const stranger = randomIccid();
    const sim = await simulator({ unknownSims: [stranger] });
    const u = unit({ iccid: stranger });
    const out = answered(await send(sinkFor(sim, { claim: { mode: 'device' } }), batchOf([u])));
    expect(out.rejected).toEqual([{ recordId: u.recordId, permanent: true, reason: expect.stringContaining('it is not a Particle SIM') as string }]);
    expect(out.rejected[0]?.reason).toContain(`${u.deviceId} stays a member of product ${PRODUCT}`);
    expect(sim.state().members[u.deviceId]).toBe(PRODUCT);
    expect(sim.state().owners[u.deviceId]).toBeUndefined();
  });

  it('an import not yet confirmed is rejected for now within simConfirmMs (after it: for good, as above)', async () => {
    const stranger = randomIccid();
    const sim = await simulator({ unknownSims: [stranger] });
    const u = unit({ iccid: stranger });
    const patient = sinkFor(sim, { simConfirmMs: 3_600_000 });
    const out = answered(await send(patient, batchOf([u])));
    expect(out.rejected).toEqual([{ recordId: u.recordId, permanent: false, reason: expect.stringContaining('not confirmed yet') as string }]);
  });

  it('a Device ID that is not 24 hex characters is refused without a call', async () => {
    const sim = await simulator();
    const short = unit({ deviceId: randomDeviceId(16) });
    const out = answered(await send(sinkFor(sim), batchOf([short])));
    expect(out.rejected[0]).toMatchObject({ permanent: true, reason: expect.stringContaining('not a Particle Device ID') as string });
    expect(sim.state().requests).toBe(0);
  });
});

describe('particle sink: what stops a batch (records kept, sent again)', () => {
  it('429 honours X-RateLimit-Reset', async () => {
    const sim = await simulator({ rateLimit: { limit: 2, windowMs: 4000 } });
    const before = Date.now();
    const out = await send(sinkFor(sim, { plasticSims: false }), batchOf([unit(), unit(), unit()]));
    expect(out.kind).toBe('retry');
    if (out.kind !== 'retry') return;
    expect(out.reason).toContain('HTTP 429');
    // The window ends 4 s after it began (rounded up to the next whole second in the header).
    expect(out.retryAfterMs).toBeGreaterThan(1000);
    expect(out.retryAfterMs).toBeLessThanOrEqual(4000 + 1000 + (Date.now() - before));
  });

  it.each([
    ['a 503', { kind: 'status', status: 503 }, 'HTTP 503'],
    ['garbage', { kind: 'malformed' }, 'not JSON'],
    ['a slow answer', { kind: 'slow', ms: 1500 }, 'no answer within'],
    ['a cut connection', { kind: 'reset' }, 'cannot reach'],
  ] as const)('%s', async (_name, fault, words) => {
    const sim = await simulator();
    sim.inject(fault, 1);
    const out = await send(sinkFor(sim, {}, { timeoutMs: 500 }), batchOf([unit()]));
    expect(out).toMatchObject({ kind: 'retry', reason: expect.stringContaining(words) as string });
  });

  it('a token without the scope: credentials trouble naming the scope', async () => {
    const sim = await simulator({ tokens: [{ token: TOKEN, owner: 'factory@example.com', scopes: ['devices:import', 'sims:get'] }] });
    const out = await send(sinkFor(sim), batchOf([unit()]));
    expect(out).toMatchObject({
      kind: 'retry',
      reason: expect.stringContaining('the token lacks the scope sims:import') as string,
      alarm: { kind: 'credentials', severity: 'critical', message: expect.stringContaining('sims:import') as string },
    });
  });
});

describe('particle sink in the uplink', () => {
  it('a token without devices:import raises the critical uplink.particle.credentials alarm naming it; records stay queued; a fixed token drains them', async () => {
    const sim = await simulator({ tokens: [{ token: TOKEN, owner: 'factory@example.com', scopes: ['sims:import', 'sims:get'] }] });
    const dataDir = dirs.make();
    const store = new Store(dataDir, silentLogger());
    store.open();
    cleanups.push(() => store.close());
    const seq = compileSmallSequence();
    store.registerSequence(seq);
    const ids = await fillOutbox(store, seq, 12, { failEvery: 5, deviceIdHex: 24, cellular: true });
    const bus = new StationBus();
    const alarms = new Map<string, StationEvents['alarm.raised']>();
    bus.on('alarm.raised', (a) => alarms.set(a.alarmId, a));
    bus.on('alarm.cleared', (a) => alarms.delete(a.alarmId));
    const logs = captureStream();
    const config = particleSinkSchema.parse({ kind: 'particle', product: 'argon-line', platformId: ARGON, apiUrl: sim.url, plasticSims: true, tokenEnv: 'TEST_PARTICLE_TOKEN' });
    const sink = createParticleSink(config, 2000, { env: { TEST_PARTICLE_TOKEN: TOKEN } });
    expect(sink.id).toBe('particle');
    const job = new UplinkJob(store, sink, bus, createLogger({ level: 'debug', destination: logs.stream as never }).log, {
      stationId: 'st-1',
      batchMaxRecords: 5,
      batchMaxAgeMs: 0,
      concurrency: 1,
      backoffInitialMs: 20,
      backoffMaxMs: 100,
    });
    cleanups.push(() => job.stop());
    job.start();
    const alarm = await waitFor('the credentials alarm', () => alarms.get('uplink.particle.credentials'), { timeoutMs: 10_000, intervalMs: 10 });
    expect(alarm.severity).toBe('critical');
    expect(alarm.message).toContain('lacks the scope devices:import');
    expect(job.status().queued).toBe(ids.length);
    expect(logs.text()).not.toContain(TOKEN);
    // The token gets its scope: the same records drain, the alarm clears.
    sim.setToken({ token: TOKEN, owner: 'factory@example.com' });
    await waitFor('the outbox to drain', () => job.status().queued === 0, { timeoutMs: 20_000, intervalMs: 10 });
    expect(alarms.has('uplink.particle.credentials')).toBe(false);
    expect(job.status().deadLetters).toBe(0);
    expect(Object.keys(sim.state().members)).toHaveLength(ids.length - 3);
    expect(logs.text()).not.toContain(TOKEN);
  });

  it('a token not set: the sink stays, not ready, under the critical alarm naming the variable; its records wait', async () => {
    const config = particleSinkSchema.parse({ kind: 'particle', name: 'argon-line', product: 1, platformId: ARGON });
    const sink = createParticleSink(config, 1000, { env: {} });
    expect(sink.id).toBe('argon-line');
    const conditions: unknown[] = [];
    sink.watch((c) => conditions.push(c));
    expect(conditions).toEqual([{ ready: false, alarm: { kind: 'credentials', severity: 'critical', message: expect.stringContaining('environment variable PARTICLE_TOKEN') as string } }]);
    expect(await send(sink, batchOf([unit()]))).toMatchObject({ kind: 'retry', alarm: { kind: 'credentials' } });
  });
});
