// A Particle Cloud API simulator, written from Particle's public API reference, for the station's
// tests and demos (`npm run particle-sim`, docs/particle.md). It keeps, in memory:
//
//   products    id, slug and the one device platform each holds;
//   devices     platform, product membership, owner (claiming), online, quarantine;
//   SIMs        state (never_before_activated, active, inactive_user_deactivated), product, and
//               how many times each was activated;
//   tokens      whose they are (claims go to that owner), user or customer, and their scopes.
//
// It answers the calls the factory makes, with the reference's request and answer shapes:
//
//   POST /v1/products/:product/devices        {id}      -> {updated, updatedDeviceIds, existingDeviceIds, invalidDeviceIds, nonmemberDeviceIds}
//   GET  /v1/products/:product/devices[?quarantined=true], /v1/products/:product/devices/:id
//   POST /v1/products/:product/sims           {sims:[]} -> {ok:true}; the import is queued (simImportDelayMs)
//   GET  /v1/products/:product/sims/:iccid              -> {iccid, status, product_id, ...} or 404
//   POST /v1/devices                          {id}      -> claim to the token's owner
//   POST /v1/products/:product/device_claims            -> {claim_code, device_ids}
//
// A device of another platform, or already in another product, is refused (invalidDeviceIds); a
// device claimed by someone else cannot be claimed ("That belongs to someone else."); an ICCID
// Particle does not know fails its import, and its GET says why. A device that comes online
// (/_control/connect) with product firmware but is not a member lands in the product's quarantine.
// Every answer carries X-RateLimit-Limit/Remaining/Reset; over the limit it answers 429. And it
// fails on demand the ways the reference ingest does (drivers/cloud/ingest.ts): a status (5xx,
// 429), no answer, a slow answer, a cut connection, garbage, or the call applied and its answer
// dropped. Where the reference gives no words (SIM import failures, scope refusals), the words
// are this simulator's own.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, readBody, safeEqual, HttpListener } from '../../lib/http-server.js';

export type FaultRoute = 'add-device' | 'import-sims' | 'get-sim' | 'claim' | 'claim-code' | 'any';

export type ParticleFault = { route?: FaultRoute } & (
  | /** Answer this status (500, 502, 503, 429 ...), with Retry-After when given. */ { kind: 'status'; status: number; retryAfterSeconds?: number }
    /** Read the request, never answer. */
  | { kind: 'hang' }
  /** Answer normally after `ms`. */
  | { kind: 'slow'; ms: number }
  /** Cut the connection while the body arrives (nothing applied). */
  | { kind: 'reset' }
  /** Apply the call, then cut the connection before answering. */
  | { kind: 'commit-then-drop' }
  /** Answer 200 with a body that is not the reference's shape. */
  | { kind: 'malformed'; body?: string }
);

export interface SimProduct {
  id: number;
  slug?: string;
  platformId: number;
}

export interface SimToken {
  token: string;
  /** The account (or customer) the token belongs to: devices it claims are theirs. */
  owner: string;
  /** customer: a product customer's token (claims and claim codes only). Default user. */
  kind?: 'user' | 'customer';
  /** An API user's scopes; absent: every scope (a user's own token). */
  scopes?: readonly string[];
}

export interface ParticleSimOptions {
  host?: string;
  port?: number;
  products: SimProduct[];
  tokens: SimToken[];
  /** Devices Particle knows, with their platform (and owner, for a developer device claimed elsewhere). */
  devices?: { id: string; platformId: number; owner?: string }[];
  /** The platform of a 24-hex Device ID not listed in `devices`; null: such IDs are refused. Default: the first product's. */
  defaultPlatformId?: number | null;
  /** SIMs Particle knows: every well-formed ICCID ("any", the default) or this list. */
  knownSims?: 'any' | string[];
  /** ICCIDs Particle does not know even under "any". */
  unknownSims?: string[];
  /** Time from an import request to the SIM being active (Particle queues imports). */
  simImportDelayMs?: number;
  /** ICCIDs in one import request at most. */
  maxSimsPerImport?: number;
  /** Requests per window, counted over every API call (Particle limits by source address). */
  rateLimit?: { limit: number; windowMs: number };
  /** Serve /_control/* to callers with this bearer key: for tests in another process. */
  controlKey?: string;
}

type SimState = 'never_before_activated' | 'active' | 'inactive_user_deactivated';

interface SimDevice {
  id: string;
  platformId: number;
  productId: number | null;
  owner: string | null;
  online: boolean;
  quarantinedIn: number | null;
}

interface SimSim {
  iccid: string;
  state: SimState;
  productId: number | null;
}

/** Everything a test may check, as plain JSON. */
export interface ParticleSimState {
  requests: number;
  byRoute: Record<string, number>;
  faultsServed: number;
  rateLimited: number;
  /** Device ID -> product id, for every product member. */
  members: Record<string, number>;
  /** Device ID -> times it was added to a product (a membership that changed). */
  membershipAdds: Record<string, number>;
  /** ICCID -> times it was activated. */
  activations: Record<string, number>;
  /** ICCID -> state. */
  sims: Record<string, SimState>;
  /** Device ID -> times it was claimed (an owner that changed). */
  claims: Record<string, number>;
  /** Device ID -> owner. */
  owners: Record<string, string>;
  /** Claim codes issued, newest last. */
  claimCodes: string[];
  /** Device IDs in quarantine, with the product. */
  quarantined: Record<string, number>;
  /** Every Device ID any API call named (added, claimed, looked up), refused or not. */
  seenDeviceIds: string[];
}

const DEVICE_ID = /^[0-9a-f]{24}$/;
const ICCID = /^89\d{17,20}$/;

export class ParticleSimulator {
  private readonly http: HttpListener;
  private readonly products: SimProduct[];
  private readonly tokens: SimToken[];
  private readonly unknownSims: Set<string>;
  private readonly devices = new Map<string, SimDevice>();
  private readonly sims = new Map<string, SimSim>();
  /** Why an import of an ICCID into a product failed, by `${productId}:${iccid}`. */
  private readonly importFailures = new Map<string, string>();
  private readonly pendingImports: { iccid: string; productId: number; dueAt: number }[] = [];
  private readonly faults: { fault: ParticleFault; remaining: number }[] = [];
  private readonly counters = { requests: 0, faultsServed: 0, rateLimited: 0 };
  private readonly byRoute = new Map<string, number>();
  private readonly membershipAdds = new Map<string, number>();
  private readonly activations = new Map<string, number>();
  private readonly claims = new Map<string, number>();
  private readonly claimCodes: string[] = [];
  private readonly seen = new Set<string>();
  private window = { startedAt: 0, used: 0 };

  constructor(private readonly opts: ParticleSimOptions) {
    if (opts.products.length === 0) throw new Error('the Particle simulator needs at least one product');
    this.http = new HttpListener((req, res) => this.handle(req, res), opts.port ?? 0, opts.host ?? '127.0.0.1');
    this.products = opts.products.map((p) => ({ ...p }));
    this.tokens = [...opts.tokens];
    this.unknownSims = new Set(opts.unknownSims ?? []);
    for (const d of opts.devices ?? []) this.registerDevice(d.id, d.platformId, d.owner);
    if (Array.isArray(opts.knownSims)) for (const iccid of opts.knownSims) this.sims.set(iccid, { iccid, state: 'never_before_activated', productId: null });
  }

  get port(): number {
    return this.http.port;
  }

  get url(): string {
    return this.http.url;
  }

  async start(): Promise<void> {
    await this.http.listen();
  }

  async stop(): Promise<void> {
    await this.http.close();
  }

  /** The next `count` matching requests (default: until cleared) get this fault. */
  inject(fault: ParticleFault, count = Infinity): void {
    this.faults.push({ fault, remaining: count });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Adds a token, or replaces the one with the same text (new scopes, say). */
  setToken(token: SimToken): void {
    const i = this.tokens.findIndex((t) => t.token === token.token);
    if (i >= 0) this.tokens[i] = token;
    else this.tokens.push(token);
  }

  /** Tells the simulator a device's platform (and owner): what Particle knows from manufacturing. */
  registerDevice(id: string, platformId: number, owner?: string): void {
    const key = id.toLowerCase();
    const known = this.devices.get(key);
    if (known) {
      known.platformId = platformId;
      if (owner !== undefined) known.owner = owner;
    } else this.devices.set(key, { id: key, platformId, productId: null, owner: owner ?? null, online: false, quarantinedIn: null });
  }

  /** Tells the simulator which ICCIDs Particle knows (or does not). */
  registerSims(known: readonly string[], unknown: readonly string[] = []): void {
    for (const iccid of known) if (!this.sims.has(iccid)) this.sims.set(iccid, { iccid, state: 'never_before_activated', productId: null });
    for (const iccid of unknown) {
      this.sims.delete(iccid);
      this.unknownSims.add(iccid);
    }
  }

  /** A device running `productId`'s firmware comes online: a member goes online, anyone else into quarantine. */
  connect(deviceId: string, productId: number): 'online' | 'quarantined' | 'unknown device' {
    const device = this.device(deviceId);
    if (!device) return 'unknown device';
    if (device.productId === productId) {
      device.online = true;
      return 'online';
    }
    device.quarantinedIn = productId;
    return 'quarantined';
  }

  state(): ParticleSimState {
    this.processImports();
    const pick = <T>(m: Map<string, T>): Record<string, T> => Object.fromEntries(m);
    const members: Record<string, number> = {};
    const owners: Record<string, string> = {};
    const quarantined: Record<string, number> = {};
    for (const d of this.devices.values()) {
      if (d.productId !== null) members[d.id] = d.productId;
      if (d.owner !== null) owners[d.id] = d.owner;
      if (d.quarantinedIn !== null) quarantined[d.id] = d.quarantinedIn;
    }
    return {
      ...this.counters,
      byRoute: pick(this.byRoute),
      members,
      membershipAdds: pick(this.membershipAdds),
      activations: pick(this.activations),
      sims: Object.fromEntries([...this.sims.values()].map((s) => [s.iccid, s.state])),
      claims: pick(this.claims),
      owners,
      claimCodes: [...this.claimCodes],
      quarantined,
      seenDeviceIds: [...this.seen],
    };
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://particle');
    if (url.pathname.startsWith('/_control/')) return this.control(req, res, url.pathname);
    this.counters.requests++;
    const route = routeOf(req.method ?? 'GET', url.pathname);
    this.byRoute.set(route.key, (this.byRoute.get(route.key) ?? 0) + 1);
    const fault = route.key === 'unknown' ? null : this.nextFault(route.key as FaultRoute);
    if (fault?.kind === 'reset') {
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      return;
    }
    readBody(req, 1024 * 1024).then(
      async (raw) => {
        if (raw === null) return json(res, 413, { ok: false, error: 'the body is too large' });
        if (fault?.kind === 'hang') return;
        if (fault?.kind === 'slow') await new Promise((r) => setTimeout(r, fault.ms));
        if (res.destroyed) return;
        if (!this.rateAllows(res)) {
          this.counters.rateLimited++;
          return json(res, 429, { error: 'Too many requests', info: 'You are making requests too often. Please slow down.' });
        }
        if (fault?.kind === 'status') {
          if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(fault.retryAfterSeconds));
          return json(res, fault.status, { ok: false, error: `injected fault: HTTP ${fault.status}` });
        }
        if (fault?.kind === 'malformed') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(fault.body ?? '<html>Bad gateway</html>');
        }
        const answer = this.answer(req, url, route, raw);
        if (fault?.kind === 'commit-then-drop') {
          req.socket.destroy();
          return;
        }
        json(res, answer.status, answer.body);
      },
      () => req.socket.destroy(),
    );
  }

  /** Authenticates, checks the scope, applies the call: the status and body to answer. */
  private answer(req: IncomingMessage, url: URL, route: Route, raw: Buffer): { status: number; body: unknown } {
    this.processImports();
    if (route.key === 'unknown') return { status: 404, body: { ok: false, error: `Unknown route ${req.method} ${url.pathname}` } };
    const token = this.tokenOf(req);
    if (!token) return { status: 401, body: { error: 'invalid_token', error_description: 'The access token provided is invalid.' } };
    const scope = SCOPES[route.key];
    if (scope && token.scopes && !token.scopes.includes(scope)) {
      return { status: 403, body: { ok: false, error: 'Forbidden', error_description: `this token does not have the ${scope} scope` } };
    }
    const body = parseBody(req, raw);
    if (body === null) return { status: 400, body: { ok: false, error: 'The body is neither JSON nor form encoded' } };
    let product: SimProduct | null = null;
    if (route.product !== undefined) {
      product = this.products.find((p) => String(p.id) === route.product || p.slug === route.product) ?? null;
      if (!product) return { status: 404, body: { ok: false, error: 'Product not found' } };
      if (token.kind === 'customer' && route.key !== 'claim-code') return { status: 403, body: { ok: false, error: 'Forbidden', error_description: 'customers cannot call this endpoint' } };
    }
    switch (route.key) {
      case 'add-device':
        return this.addDevice(product as SimProduct, body);
      case 'list-devices':
        return this.listDevices(product as SimProduct, url);
      case 'get-device':
        return this.getDevice(product as SimProduct, route.id ?? '');
      case 'import-sims':
        return this.importSims(product as SimProduct, body);
      case 'get-sim':
        return this.getSim(product as SimProduct, route.id ?? '');
      case 'claim':
        return this.claim(token, body);
      case 'claim-code':
        return this.claimCode(token);
    }
  }

  private addDevice(product: SimProduct, body: Record<string, unknown>): { status: number; body: unknown } {
    const raw = typeof body.id === 'string' ? body.id.trim().toLowerCase() : '';
    if (!raw) return { status: 400, body: { ok: false, error: 'id is required (a Device ID)' } };
    this.seen.add(raw);
    const answer = { updated: 0, updatedDeviceIds: [] as string[], existingDeviceIds: [] as string[], invalidDeviceIds: [] as string[], nonmemberDeviceIds: [] as string[] };
    const device = DEVICE_ID.test(raw) ? this.device(raw) : null;
    if (!device || device.platformId !== product.platformId || (device.productId !== null && device.productId !== product.id)) answer.invalidDeviceIds.push(raw);
    else if (device.productId === product.id) answer.existingDeviceIds.push(raw);
    else if (device.owner !== null && !this.isOwnedInside(device)) answer.nonmemberDeviceIds.push(raw);
    else {
      device.productId = product.id;
      if (device.quarantinedIn === product.id) device.quarantinedIn = null;
      this.membershipAdds.set(raw, (this.membershipAdds.get(raw) ?? 0) + 1);
      answer.updated = 1;
      answer.updatedDeviceIds.push(raw);
    }
    return { status: 200, body: answer };
  }

  /** A developer device claimed by an account with no token here belongs to someone outside. */
  private isOwnedInside(device: SimDevice): boolean {
    return this.tokens.some((t) => t.owner === device.owner);
  }

  private listDevices(product: SimProduct, url: URL): { status: number; body: unknown } {
    const quarantined = url.searchParams.get('quarantined') === 'true';
    const devices = [...this.devices.values()].filter((d) => (quarantined ? d.quarantinedIn === product.id : d.productId === product.id)).map((d) => this.deviceView(d, product));
    return { status: 200, body: { devices, meta: { total_pages: 1 } } };
  }

  private getDevice(product: SimProduct, id: string): { status: number; body: unknown } {
    this.seen.add(id.toLowerCase());
    const device = this.devices.get(id.toLowerCase());
    if (!device || (device.productId !== product.id && device.quarantinedIn !== product.id)) return { status: 404, body: { ok: false, error: 'Device not found' } };
    return { status: 200, body: this.deviceView(device, product) };
  }

  private deviceView(d: SimDevice, product: SimProduct): object {
    return { id: d.id, product_id: d.productId ?? product.id, platform_id: d.platformId, owner: d.owner, online: d.online, quarantined: d.quarantinedIn === product.id, denied: false };
  }

  private importSims(product: SimProduct, body: Record<string, unknown>): { status: number; body: unknown } {
    const list = Array.isArray(body.sims) ? body.sims : typeof body.sims === 'string' ? [body.sims] : null;
    if (!list || list.length === 0 || list.some((s) => typeof s !== 'string')) return { status: 400, body: { ok: false, error: 'sims must be an array of ICCIDs' } };
    const max = this.opts.maxSimsPerImport ?? 1000;
    if (list.length > max) return { status: 400, body: { ok: false, error: `at most ${max} SIMs per import` } };
    const bad = (list as string[]).find((s) => !ICCID.test(s));
    if (bad !== undefined) return { status: 400, body: { ok: false, error: `${JSON.stringify(bad.slice(0, 30))} is not an ICCID` } };
    const dueAt = Date.now() + (this.opts.simImportDelayMs ?? 0);
    for (const iccid of list as string[]) this.pendingImports.push({ iccid, productId: product.id, dueAt });
    return { status: 200, body: { ok: true } };
  }

  /** Applies the queued imports that are due: the work Particle does after answering {ok: true}. */
  private processImports(now = Date.now()): void {
    while (this.pendingImports.length > 0 && (this.pendingImports[0]?.dueAt ?? Infinity) <= now) {
      const { iccid, productId } = this.pendingImports.shift() as { iccid: string; productId: number };
      const key = `${productId}:${iccid}`;
      const sim = this.knownSim(iccid);
      if (!sim) {
        this.importFailures.set(key, `SIM ${iccid} was not imported: it is not a Particle SIM`);
        continue;
      }
      if (sim.productId !== null && sim.productId !== productId) {
        this.importFailures.set(key, `SIM ${iccid} was not imported: it belongs to another account or product`);
        continue;
      }
      this.importFailures.delete(key);
      if (sim.productId === productId) continue; // already imported: active, or deactivated on purpose
      sim.productId = productId;
      sim.state = 'active';
      this.activations.set(iccid, (this.activations.get(iccid) ?? 0) + 1);
    }
  }

  private getSim(product: SimProduct, iccid: string): { status: number; body: unknown } {
    const sim = this.sims.get(iccid);
    if (!sim || sim.productId !== product.id) {
      const failure = this.importFailures.get(`${product.id}:${iccid}`);
      return { status: 404, body: { ok: false, error: failure ?? 'SIM not found' } };
    }
    return { status: 200, body: { _id: sim.iccid, iccid: sim.iccid, status: sim.state, product_id: sim.productId, activations_count: this.activations.get(iccid) ?? 0 } };
  }

  private claim(token: SimToken, body: Record<string, unknown>): { status: number; body: unknown } {
    const id = typeof body.id === 'string' ? body.id.trim().toLowerCase() : '';
    if (id) this.seen.add(id);
    const device = DEVICE_ID.test(id) ? this.devices.get(id) : undefined;
    // An offline device can be claimed only once it is a product member (the reference's rule).
    if (!device || (device.productId === null && !device.online)) return { status: 404, body: { ok: false, errors: ['Device not found'] } };
    if (device.owner !== null && device.owner !== token.owner) return { status: 400, body: { ok: false, errors: ['That belongs to someone else.'] } };
    if (device.owner === null) {
      device.owner = token.owner;
      this.claims.set(id, (this.claims.get(id) ?? 0) + 1);
    }
    return { status: 200, body: { ok: true, id, user_id: token.owner } };
  }

  private claimCode(token: SimToken): { status: number; body: unknown } {
    // Particle's claim codes are 63 characters of base64.
    const code = randomBytes(48).toString('base64').slice(0, 63);
    this.claimCodes.push(code);
    const deviceIds = [...this.devices.values()].filter((d) => d.owner === token.owner).map((d) => d.id);
    return { status: 200, body: { claim_code: code, device_ids: deviceIds } };
  }

  /** A device Particle knows; a 24-hex ID it has not heard of is of the default platform (or none). */
  private device(id: string): SimDevice | null {
    const key = id.toLowerCase();
    const known = this.devices.get(key);
    if (known) return known;
    const platform = this.opts.defaultPlatformId === undefined ? (this.products[0]?.platformId ?? null) : this.opts.defaultPlatformId;
    if (platform === null || !DEVICE_ID.test(key)) return null;
    const device: SimDevice = { id: key, platformId: platform, productId: null, owner: null, online: false, quarantinedIn: null };
    this.devices.set(key, device);
    return device;
  }

  private knownSim(iccid: string): SimSim | null {
    if (this.unknownSims.has(iccid)) return null;
    const known = this.sims.get(iccid);
    if (known) return known;
    if (this.opts.knownSims !== undefined && this.opts.knownSims !== 'any') return null;
    const sim: SimSim = { iccid, state: 'never_before_activated', productId: null };
    this.sims.set(iccid, sim);
    return sim;
  }

  private tokenOf(req: IncomingMessage): SimToken | null {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return null;
    return this.tokens.find((t) => safeEqual(t.token, m[1] as string)) ?? null;
  }

  /** A fixed window per simulator (Particle counts per source address); headers on every answer. */
  private rateAllows(res: ServerResponse): boolean {
    const rl = this.opts.rateLimit;
    if (!rl) return true;
    const now = Date.now();
    if (now - this.window.startedAt >= rl.windowMs) this.window = { startedAt: now, used: 0 };
    this.window.used++;
    res.setHeader('X-RateLimit-Limit', String(rl.limit));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, rl.limit - this.window.used)));
    res.setHeader('X-RateLimit-Reset', String(Math.ceil((this.window.startedAt + rl.windowMs) / 1000)));
    return this.window.used <= rl.limit;
  }

  private nextFault(route: FaultRoute): ParticleFault | null {
    const i = this.faults.findIndex((f) => (f.fault.route ?? 'any') === 'any' || f.fault.route === route);
    const f = this.faults[i];
    if (!f) return null;
    if (--f.remaining <= 0) this.faults.splice(i, 1);
    this.counters.faultsServed++;
    return f.fault;
  }

  /** POST /_control/fault {fault, count?}, clear, devices {devices:[{id, platformId, owner?}]},
   *  sims {known, unknown}, connect {deviceId, product}; GET or POST /_control/state. */
  private control(req: IncomingMessage, res: ServerResponse, route: string): void {
    const key = this.opts.controlKey;
    if (!key || !safeEqual(req.headers.authorization ?? '', `Bearer ${key}`)) return json(res, 401, { error: 'unknown control key' });
    readBody(req, 8 * 1024 * 1024).then(
      (raw) => {
        let arg: Record<string, unknown> = {};
        try {
          if (raw && raw.length > 0) arg = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
          return json(res, 400, { error: 'the body is not JSON' });
        }
        if (route === '/_control/fault' && arg.fault) this.inject(arg.fault as ParticleFault, typeof arg.count === 'number' ? arg.count : Infinity);
        else if (route === '/_control/clear') this.clearFaults();
        else if (route === '/_control/devices' && Array.isArray(arg.devices)) {
          for (const d of arg.devices as { id: string; platformId: number; owner?: string }[]) this.registerDevice(d.id, d.platformId, d.owner);
        } else if (route === '/_control/sims') this.registerSims((arg.known as string[] | undefined) ?? [], (arg.unknown as string[] | undefined) ?? []);
        else if (route === '/_control/connect') return json(res, 200, { result: this.connect(String(arg.deviceId ?? ''), Number(arg.product)) });
        else if (route !== '/_control/state') return json(res, 404, { error: `no control route ${route}` });
        json(res, 200, this.state());
      },
      () => req.socket.destroy(),
    );
  }
}

/** Which scope each call needs (the reference's API user scopes). Claims need a user's or customer's token. */
const SCOPES: Record<Exclude<Route['key'], 'unknown'>, string | null> = {
  'add-device': 'devices:import',
  'list-devices': 'devices:list',
  'get-device': 'devices:get',
  'import-sims': 'sims:import',
  'get-sim': 'sims:get',
  claim: null,
  'claim-code': null,
};

interface Route {
  key: Exclude<FaultRoute, 'any'> | 'list-devices' | 'get-device' | 'unknown';
  product?: string;
  id?: string;
}

function routeOf(method: string, pathname: string): Route {
  let m: RegExpExecArray | null;
  if ((m = /^\/v1\/products\/([^/]+)\/devices\/?$/.exec(pathname)))
    return { key: method === 'POST' ? 'add-device' : method === 'GET' ? 'list-devices' : 'unknown', product: decodeURIComponent(m[1] as string) };
  if (method === 'GET' && (m = /^\/v1\/products\/([^/]+)\/devices\/([^/]+)$/.exec(pathname)))
    return { key: 'get-device', product: decodeURIComponent(m[1] as string), id: decodeURIComponent(m[2] as string) };
  if (method === 'POST' && (m = /^\/v1\/products\/([^/]+)\/sims\/?$/.exec(pathname))) return { key: 'import-sims', product: decodeURIComponent(m[1] as string) };
  if (method === 'GET' && (m = /^\/v1\/products\/([^/]+)\/sims\/([^/]+)$/.exec(pathname)))
    return { key: 'get-sim', product: decodeURIComponent(m[1] as string), id: decodeURIComponent(m[2] as string) };
  if (method === 'POST' && pathname.replace(/\/$/, '') === '/v1/devices') return { key: 'claim' };
  if (method === 'POST' && (m = /^\/v1\/products\/([^/]+)\/device_claims\/?$/.exec(pathname))) return { key: 'claim-code', product: decodeURIComponent(m[1] as string) };
  return { key: 'unknown' };
}

/** A JSON or form-encoded body (the reference accepts both); {} when empty, null when neither. */
function parseBody(req: IncomingMessage, raw: Buffer): Record<string, unknown> | null {
  const text = raw.toString('utf8');
  if (text.trim().length === 0) return {};
  if ((req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      const key = k.endsWith('[]') ? k.slice(0, -2) : k;
      if (key === 'sims') out.sims = [...((out.sims as string[] | undefined) ?? []), v];
      else out[key] = v;
    }
    return out;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
