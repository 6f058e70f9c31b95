// The `particle` uplink sink (docs/particle.md): each blessed record of a batch makes its unit a
// member of the Particle product, activates its plastic SIM, and claims it (or gets it a claim
// code for the box label), through Particle's Cloud API. In order, per step:
//
//   1. membership  POST /v1/products/:product/devices {id}            one call per record
//   2. SIMs        POST /v1/products/:product/sims {sims:[...]}       batched (simBatchSize), then
//                  GET  /v1/products/:product/sims/:iccid             each SIM read back: Particle
//                                                                     queues imports
//   3. claim       POST /v1/devices {id}                              with the claim token, or
//                  POST /v1/products/:product/device_claims           a claim code, sealed and kept
//
// Exactly once in effect: every call is safe to repeat. "Already done" answers count as done
// (existingDeviceIds, a SIM already active, a device already claimed by the same owner, a claim
// code already stored), so a batch sent again after a lost answer or a crash changes nothing
// twice; what this process already finished for a record is remembered and not asked again.
//
// What an answer means for a record:
//   done              accepted (a failed or test-mode record is accepted at once: nothing to do);
//   Particle refuses  a permanent rejection with Particle's words (another platform, another
//                     product, claimed by someone else, an ICCID Particle does not know); steps
//                     already done stay done (a refused SIM leaves the device a product member);
//   not yet           a SIM import not confirmed yet: rejected for now, the batch comes again.
// What stops the whole batch (sent again later, records kept): no answer, 5xx, 429 (its reset
// time honoured), an answer not in the reference's shape, and the token refused or lacking a
// scope (the critical alarm uplink.<sink id>.credentials, naming the scope). A token not set at
// all keeps the sink not ready under that alarm.
import { PARTICLE_DEVICE_ID, platformWords } from '../../lib/particle-platforms.js';
import { oneLine } from '../../lib/text.js';
import { ParticleApi, type CallFailure } from '../../drivers/particle/api.js';
import type { ParticleSinkConfig } from '../../drivers/particle/options.js';
import type { ClaimCodeStore, OutgoingBatch, SendOutcome, SinkAlarm, SinkCondition, UplinkSink } from './sinks.js';

export type { ClaimCodeStore };

export interface ParticleSinkOptions {
  /** The sink's id (its outbox cursor): its name, else "particle". */
  id: string;
  config: ParticleSinkConfig;
  /** The product token (a secret). */
  token: string;
  /** Words naming where the token came from, for messages: "PARTICLE_TOKEN" or "the particle sink's token". */
  tokenSource: string;
  /** The claiming account's or customer's token; null: the product token. */
  claimToken: string | null;
  claimTokenSource: string | null;
  timeoutMs: number;
  claimCodes: ClaimCodeStore | null;
  /** Why this sink cannot send at all (a token not set), in words; null when it can. */
  problem?: string | null;
  now?: () => number;
}

interface Rec {
  recordId: string;
  deviceId: string;
  iccid: string | null;
  status: string;
  mode: string;
  runId: string;
}

interface Progress {
  member?: true;
  sim?: true;
  claimed?: true;
}

type Rejection = { recordId: string; permanent: boolean; reason: string };

/** A step that could not go on: the whole batch is sent again later. */
class Stop {
  constructor(readonly outcome: Extract<SendOutcome, { kind: 'retry' }>) {}
}

/** Remembered records at most (a batch is at most 10 000 records). */
const MEMO_MAX = 50_000;

export class ParticleSink implements UplinkSink {
  readonly kind = 'particle';
  readonly id: string;
  readonly label: string;
  private readonly api: ParticleApi;
  private readonly product: string;
  /** What this process already finished, by recordId (a crash forgets it: "already" answers cover that). */
  private readonly progress = new Map<string, Progress>();
  /** When this process first imported each ICCID: Particle queues imports. */
  private readonly importedAt = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly opts: ParticleSinkOptions) {
    this.id = opts.id;
    this.api = new ParticleApi({ apiUrl: opts.config.apiUrl, timeoutMs: opts.timeoutMs });
    this.product = encodeURIComponent(String(opts.config.product));
    this.label = `Particle product ${opts.config.product} at ${this.api.url}`;
    this.now = opts.now ?? Date.now;
  }

  /** Not ready while it cannot send at all (a token not set): the alarm names what to set. */
  watch(listener: (condition: SinkCondition) => void): () => void {
    const problem = this.opts.problem ?? null;
    listener({ ready: problem === null, alarm: problem === null ? null : credentialsAlarm(problem) });
    return () => undefined;
  }

  async send(batch: OutgoingBatch, signal: AbortSignal): Promise<SendOutcome> {
    if (this.opts.problem) return { kind: 'retry', reason: this.opts.problem, retryAfterMs: null, alarm: credentialsAlarm(this.opts.problem) };
    const records = batch.records.map((r) => JSON.parse(r.payload) as Rec);
    const accepted: string[] = [];
    const rejected: Rejection[] = [];
    const work: Rec[] = [];
    for (const r of records) {
      // A failed unit is not a product device; a test-production unit is not shipped: nothing to do.
      if (r.status !== 'blessed' || r.mode === 'test') accepted.push(r.recordId);
      else if (!PARTICLE_DEVICE_ID.test(r.deviceId)) rejected.push({ recordId: r.recordId, permanent: true, reason: `Device ID ${r.deviceId} is not a Particle Device ID (24 hex characters)` });
      else work.push(r);
    }
    try {
      const members = await this.joinProduct(work, rejected, signal);
      const simsDone = this.opts.config.plasticSims ? await this.activateSims(members, rejected, signal) : members;
      const claimed = this.opts.config.claim ? await this.claim(simsDone, rejected, signal) : simsDone;
      for (const r of claimed) accepted.push(r.recordId);
    } catch (err) {
      if (err instanceof Stop) return err.outcome;
      throw err;
    }
    return { kind: 'answered', accepted, rejected };
  }

  private memo(recordId: string): Progress {
    let p = this.progress.get(recordId);
    if (!p) {
      if (this.progress.size >= MEMO_MAX) this.progress.clear();
      p = {};
      this.progress.set(recordId, p);
    }
    return p;
  }

  // ---- 1. product membership -----------------------------------------------------------------

  private async joinProduct(work: Rec[], rejected: Rejection[], signal: AbortSignal): Promise<Rec[]> {
    const members: Rec[] = [];
    for (const r of work) {
      const progress = this.memo(r.recordId);
      if (progress.member) {
        members.push(r);
        continue;
      }
      const res = await this.api.addDevice(this.product, r.deviceId, this.opts.token, signal);
      if (!res.ok) {
        const refusal = this.stopUnlessRefused(res.failure, `POST /v1/products/${this.product}/devices`, 'devices:import', 'product');
        rejected.push({ recordId: r.recordId, permanent: true, reason: `Particle did not add ${r.deviceId} to product ${this.opts.config.product}: ${refusal}` });
        continue;
      }
      const a = res.body;
      const has = (list: string[]): boolean => list.some((id) => id.toLowerCase() === r.deviceId);
      if (has(a.updatedDeviceIds) || has(a.existingDeviceIds)) {
        progress.member = true;
        members.push(r);
      } else if (has(a.invalidDeviceIds)) {
        rejected.push({
          recordId: r.recordId,
          permanent: true,
          reason: `Particle did not add ${r.deviceId} to product ${this.opts.config.product}: it is in invalidDeviceIds (a device of another platform than the product's ${platformWords(this.opts.config.platformId)}, or one already in another product)`,
        });
      } else if (has(a.nonmemberDeviceIds)) {
        rejected.push({
          recordId: r.recordId,
          permanent: true,
          reason: `Particle did not add ${r.deviceId} to product ${this.opts.config.product}: it is in nonmemberDeviceIds (the device is claimed by an account outside the product)`,
        });
      } else {
        throw new Stop({
          kind: 'retry',
          reason: `Particle's answer to adding ${r.deviceId} to product ${this.opts.config.product} does not list it`,
          retryAfterMs: null,
          malformed: JSON.stringify(a).slice(0, 80),
        });
      }
    }
    return members;
  }

  // ---- 2. SIM activation ---------------------------------------------------------------------

  private async activateSims(members: Rec[], rejected: Rejection[], signal: AbortSignal): Promise<Rec[]> {
    const done: Rec[] = [];
    const pending: Rec[] = [];
    for (const r of members) (r.iccid && !this.memo(r.recordId).sim ? pending : done).push(r);
    // Import what this process has not imported yet, in batches as the API allows.
    const toImport = [...new Set(pending.map((r) => r.iccid as string).filter((iccid) => !this.importedAt.has(iccid)))];
    const refusedImport = new Map<string, string>();
    for (let i = 0; i < toImport.length; i += this.opts.config.simBatchSize) {
      await this.importSims(toImport.slice(i, i + this.opts.config.simBatchSize), refusedImport, signal);
    }
    for (const r of pending) {
      const iccid = r.iccid as string;
      const refusal = refusedImport.get(iccid);
      if (refusal !== undefined) {
        rejected.push({ recordId: r.recordId, permanent: true, reason: `Particle refused to import SIM ${iccid}: ${refusal} (${r.deviceId} stays a member of product ${this.opts.config.product})` });
        continue;
      }
      const verdict = await this.simState(iccid, signal);
      if (verdict.kind === 'active') {
        this.memo(r.recordId).sim = true;
        done.push(r);
      } else {
        rejected.push({ recordId: r.recordId, permanent: verdict.kind === 'refused', reason: `${verdict.words} (${r.deviceId} stays a member of product ${this.opts.config.product})` });
      }
    }
    // Claims follow the batch's order.
    const order = new Map(members.map((r, i) => [r.recordId, i]));
    return done.sort((a, b) => (order.get(a.recordId) ?? 0) - (order.get(b.recordId) ?? 0));
  }

  /** Imports `iccids`; a refused batch is imported one by one, so one bad ICCID refuses only its record. */
  private async importSims(iccids: string[], refused: Map<string, string>, signal: AbortSignal): Promise<void> {
    const res = await this.api.importSims(this.product, iccids, this.opts.token, signal);
    if (res.ok) {
      const at = this.now();
      for (const iccid of iccids) this.importedAt.set(iccid, at);
      return;
    }
    const words = this.stopUnlessRefused(res.failure, `POST /v1/products/${this.product}/sims`, 'sims:import', 'product');
    if (iccids.length === 1) refused.set(iccids[0] as string, words);
    else for (const iccid of iccids) await this.importSims([iccid], refused, signal);
  }

  private async simState(iccid: string, signal: AbortSignal): Promise<{ kind: 'active' } | { kind: 'refused' | 'not yet'; words: string }> {
    const res = await this.api.getSim(this.product, iccid, this.opts.token, signal);
    if (res.ok) {
      const status = res.body.status;
      if (status === 'active') return { kind: 'active' };
      if (status.startsWith('inactive'))
        return { kind: 'refused', words: `SIM ${iccid} is ${status} in product ${this.opts.config.product}: reactivate it in the Particle Console, then send the record again` };
      return { kind: 'not yet', words: `SIM ${iccid} is not active yet (Particle says ${oneLine(status, 60)})` };
    }
    if (res.failure.kind === 'refused' && res.failure.status === 404 && !/product not found/i.test(res.failure.words)) {
      const since = this.importedAt.get(iccid);
      const words = res.failure.words || 'SIM not found';
      if (since !== undefined && this.now() - since < this.opts.config.simConfirmMs)
        return { kind: 'not yet', words: `SIM ${iccid} was imported and is not confirmed yet (Particle queues imports; it says: ${words})` };
      return { kind: 'refused', words: `Particle did not activate SIM ${iccid}: ${words}` };
    }
    const words = this.stopUnlessRefused(res.failure, `GET /v1/products/${this.product}/sims/:iccid`, 'sims:get', 'product');
    return { kind: 'refused', words: `Particle refused to show SIM ${iccid}: ${words}` };
  }

  // ---- 3. claiming ---------------------------------------------------------------------------

  private async claim(ready: Rec[], rejected: Rejection[], signal: AbortSignal): Promise<Rec[]> {
    const claim = this.opts.config.claim;
    if (!claim) return ready;
    const token = this.opts.claimToken ?? this.opts.token;
    const done: Rec[] = [];
    for (const r of ready) {
      const progress = this.memo(r.recordId);
      if (progress.claimed) {
        done.push(r);
        continue;
      }
      const refusal = claim.mode === 'device' ? await this.claimDevice(r, token, signal) : await this.claimCode(r, token, signal);
      if (refusal === null) {
        progress.claimed = true;
        done.push(r);
      } else rejected.push({ recordId: r.recordId, permanent: true, reason: `${refusal} (${r.deviceId} stays a member of product ${this.opts.config.product})` });
    }
    return done;
  }

  /** Claims the device to the token's owner: null when it is (or already was), else Particle's refusal. */
  private async claimDevice(r: Rec, token: string, signal: AbortSignal): Promise<string | null> {
    const res = await this.api.claimDevice(r.deviceId, token, signal);
    if (res.ok) return null;
    const f = res.failure;
    // "That belongs to someone else.": whatever the status, the device is another owner's.
    if ((f.kind === 'refused' || f.kind === 'credentials') && /belongs to someone else|claimed by|owned by/i.test(f.words)) {
      return `Particle refused to claim ${r.deviceId}: "${f.words}" (it is claimed by another account)`;
    }
    return `Particle refused to claim ${r.deviceId}: ${this.stopUnlessRefused(f, 'POST /v1/devices', null, 'claim')}`;
  }

  /** Gets the device a claim code and stores it (once: a stored code is kept); null when done. */
  private async claimCode(r: Rec, token: string, signal: AbortSignal): Promise<string | null> {
    const store = this.opts.claimCodes as ClaimCodeStore;
    if (store.get(r.deviceId) !== null) return null;
    const res = await this.api.createClaimCode(this.product, token, signal);
    if (!res.ok) return `Particle refused to create a claim code for ${r.deviceId}: ${this.stopUnlessRefused(res.failure, `POST /v1/products/${this.product}/device_claims`, null, 'claim')}`;
    try {
      store.put(r.deviceId, r.runId, res.body.claim_code);
    } catch (err) {
      throw new Stop({ kind: 'retry', reason: `the claim code for ${r.deviceId} could not be stored: ${(err as Error).message}`, retryAfterMs: null });
    }
    return null;
  }

  // ---- failures --------------------------------------------------------------------------------

  /**
   * A failed call: Particle's words when it refused this record (a 4xx about it); otherwise the
   * batch stops here (thrown): sent again later, with the token trouble named when it is that.
   */
  private stopUnlessRefused(f: CallFailure, what: string, scope: string | null, whose: 'product' | 'claim'): string {
    const tokenName = whose === 'claim' && this.opts.claimToken !== null ? `the claim token (${this.opts.claimTokenSource})` : `the product token (${this.opts.tokenSource})`;
    if (f.kind === 'retry') throw new Stop({ kind: 'retry', reason: f.reason, retryAfterMs: f.retryAfterMs, ...(f.malformed !== undefined ? { malformed: f.malformed } : {}) });
    const said = f.words ? `: ${f.words}` : '';
    if (f.kind === 'credentials') {
      const reason =
        f.status === 401
          ? `Particle refused ${tokenName} for ${what} (HTTP 401${said}): it is unknown or expired; set a valid token, records are kept until then`
          : `Particle refused ${tokenName} for ${what} (HTTP 403${said})${scope ? `: the token lacks the scope ${scope}` : ''}; give it ${scope ?? 'access to the device'}, records are kept until then`;
      throw new Stop({ kind: 'retry', reason, retryAfterMs: null, alarm: credentialsAlarm(reason) });
    }
    if (f.status === 404 && whose === 'product' && /product/i.test(f.words)) {
      const reason = `Particle does not know product ${this.opts.config.product} (HTTP 404${said}): check the particle sink's product; records are kept`;
      throw new Stop({ kind: 'retry', reason, retryAfterMs: null, alarm: credentialsAlarm(reason) });
    }
    return `HTTP ${f.status}${said || ' (no words)'}`;
  }
}

/** The sink's critical alarm (uplink.<sink id>.credentials): the records are fine, the configuration is not. */
function credentialsAlarm(message: string): SinkAlarm {
  return { kind: 'credentials', severity: 'critical', message };
}
