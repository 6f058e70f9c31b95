// The Particle API simulator on its own, over real HTTP: the reference's shapes (JSON and form
// bodies), product platforms, quarantine for a device not added first, SIM states and queued
// imports, claiming, rate-limit headers, scopes, and the control routes a test in another
// process uses.
import { afterEach, describe, expect, it } from 'vitest';
import { ParticleSimulator, type ParticleSimOptions } from '../../drivers/particle/simulator.js';
import { randomDeviceId, randomIccid } from '../support/records.js';

const TOKEN = 'sim-test-token-0123456789';
const sims: ParticleSimulator[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) await s.stop();
});

async function start(opts: Partial<ParticleSimOptions> = {}): Promise<ParticleSimulator> {
  const sim = new ParticleSimulator({ products: [{ id: 555, slug: 'tracker-fleet', platformId: 26 }], tokens: [{ token: TOKEN, owner: 'ops@example.com' }], ...opts });
  await sim.start();
  sims.push(sim);
  return sim;
}

async function call(sim: ParticleSimulator, method: string, route: string, body?: object | string, token = TOKEN): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const form = typeof body === 'string';
  const res = await fetch(sim.url + route, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json' } : {}) },
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

describe('the Particle API simulator', () => {
  it('adds devices by product id or slug, from JSON or a form body; "already" on the second add', async () => {
    const sim = await start();
    const id = randomDeviceId(24);
    const first = await call(sim, 'POST', '/v1/products/555/devices', `id=${id}`);
    expect(first).toMatchObject({ status: 200, json: { updated: 1, updatedDeviceIds: [id], existingDeviceIds: [], invalidDeviceIds: [], nonmemberDeviceIds: [] } });
    const again = await call(sim, 'POST', '/v1/products/tracker-fleet/devices', { id: id.toUpperCase() });
    expect(again.json).toMatchObject({ updated: 0, existingDeviceIds: [id] });
    expect(sim.state().membershipAdds[id]).toBe(1);
    expect((await call(sim, 'POST', '/v1/products/999/devices', { id })).status).toBe(404);
  });

  it('a device not added first lands in quarantine when it comes online; adding it takes it out', async () => {
    const sim = await start();
    const id = randomDeviceId(24);
    sim.registerDevice(id, 26);
    expect(sim.connect(id, 555)).toBe('quarantined');
    expect((await call(sim, 'GET', '/v1/products/555/devices?quarantined=true')).json.devices).toEqual([expect.objectContaining({ id, quarantined: true, platform_id: 26 })]);
    await call(sim, 'POST', '/v1/products/555/devices', { id });
    expect(sim.state().quarantined).toEqual({});
    expect(sim.connect(id, 555)).toBe('online');
    expect((await call(sim, 'GET', `/v1/products/555/devices/${id}`)).json).toMatchObject({ id, online: true, quarantined: false });
  });

  it('refuses another platform and a malformed ID as invalidDeviceIds; a default platform of null refuses unknown IDs', async () => {
    const sim = await start();
    const argon = randomDeviceId(24);
    sim.registerDevice(argon, 12);
    expect((await call(sim, 'POST', '/v1/products/555/devices', { id: argon })).json.invalidDeviceIds).toEqual([argon]);
    expect((await call(sim, 'POST', '/v1/products/555/devices', { id: 'abc' })).json.invalidDeviceIds).toEqual(['abc']);
    const strict = await start({ defaultPlatformId: null });
    const stranger = randomDeviceId(24);
    expect((await call(strict, 'POST', '/v1/products/555/devices', { id: stranger })).json.invalidDeviceIds).toEqual([stranger]);
  });

  it('queues SIM imports: not found until processed, then active, activated once however often imported', async () => {
    const sim = await start({ simImportDelayMs: 60_000 });
    const iccid = randomIccid();
    expect((await call(sim, 'POST', '/v1/products/555/sims', { sims: [iccid] })).json).toEqual({ ok: true });
    expect(await call(sim, 'GET', `/v1/products/555/sims/${iccid}`)).toMatchObject({ status: 404, json: { error: 'SIM not found' } });
    const now = await start();
    for (let i = 0; i < 3; i++) await call(now, 'POST', '/v1/products/555/sims', `sims[]=${iccid}`);
    expect((await call(now, 'GET', `/v1/products/555/sims/${iccid}`)).json).toMatchObject({ iccid, status: 'active', product_id: 555, activations_count: 1 });
    expect((await call(now, 'POST', '/v1/products/555/sims', { sims: ['12345'] })).status).toBe(400);
  });

  it('claims to the token owner once; someone else\'s device: "That belongs to someone else."', async () => {
    const sim = await start({
      tokens: [
        { token: TOKEN, owner: 'ops@example.com' },
        { token: 'other-token-000000000', owner: 'rival@example.com' },
      ],
    });
    const id = randomDeviceId(24);
    expect((await call(sim, 'POST', '/v1/devices', { id })).status).toBe(404); // offline and in no product
    await call(sim, 'POST', '/v1/products/555/devices', { id });
    expect((await call(sim, 'POST', '/v1/devices', { id })).json).toEqual({ ok: true, id, user_id: 'ops@example.com' });
    expect((await call(sim, 'POST', '/v1/devices', { id })).status).toBe(200);
    expect(await call(sim, 'POST', '/v1/devices', { id }, 'other-token-000000000')).toMatchObject({ status: 400, json: { errors: ['That belongs to someone else.'] } });
    expect(sim.state().claims[id]).toBe(1);
  });

  it('answers with X-RateLimit headers, 429 over the limit; 401 for an unknown token, 403 for a missing scope', async () => {
    const sim = await start({ rateLimit: { limit: 2, windowMs: 60_000 }, tokens: [{ token: TOKEN, owner: 'ops@example.com', scopes: ['sims:get'] }] });
    const first = await call(sim, 'POST', '/v1/products/555/devices', { id: randomDeviceId(24) });
    expect(first.status).toBe(403);
    expect(first.json.error_description).toBe('this token does not have the devices:import scope');
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect((await call(sim, 'GET', '/v1/products/555/sims/8901', undefined, 'nope')).json).toEqual({ error: 'invalid_token', error_description: 'The access token provided is invalid.' });
    expect((await call(sim, 'GET', '/v1/products/555/sims/8901')).status).toBe(429);
    expect(sim.state().rateLimited).toBe(1);
  });

  it('control routes need the control key; faults hit only their route', async () => {
    const sim = await start({ controlKey: 'ctl-key' });
    expect((await fetch(`${sim.url}/_control/state`, { method: 'POST' })).status).toBe(401);
    const ctl = (route: string, body: object): Promise<Response> => fetch(`${sim.url}/_control/${route}`, { method: 'POST', headers: { authorization: 'Bearer ctl-key' }, body: JSON.stringify(body) });
    expect((await ctl('fault', { fault: { kind: 'status', status: 502, route: 'claim' }, count: 1 })).status).toBe(200);
    const id = randomDeviceId(24);
    expect((await call(sim, 'POST', '/v1/products/555/devices', { id })).status).toBe(200);
    expect((await call(sim, 'POST', '/v1/devices', { id })).status).toBe(502);
    expect((await call(sim, 'POST', '/v1/devices', { id })).status).toBe(200);
    const state = (await (await ctl('state', {})).json()) as { faultsServed: number; seenDeviceIds: string[] };
    expect(state.faultsServed).toBe(1);
    expect(state.seenDeviceIds).toEqual([id]);
  });
});
