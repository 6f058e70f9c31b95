// Token sources: the cloud's factory-tokens endpoint (a real local HTTP server checks the bearer
// and the HMAC signature) and token files. A wrong answer stores nothing and raises the alarm; no
// error or log line carries a token's text.
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenRefillJob } from '../../jobs/token-refill.js';
import { StationBus } from '../../station/events.js';
import { createLogger, silentLogger } from '../../station/log.js';
import { Store } from '../../station/store/store.js';
import { TokenLedger } from '../../station/tokens/ledger.js';
import { CloudTokenSource, createTokenSource, FileTokenSource, parseRetryAfter, parseTokenFile, TokenSourceError } from '../../station/tokens/sources.js';
import { TokenVault } from '../../station/tokens/vault.js';
import { rejectionOf, TempDirs, captureStream } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const HOUR = 3_600_000;
const API_KEY = 'station-api-key-1';
const HMAC_SECRET = 'station-hmac-secret-1';
const STATION = 'line1-station1';

const dirs = new TempDirs();
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  dirs.cleanup();
});

// ---- a fake cloud ----------------------------------------------------------------------------

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** What the server made of the credentials. */
  authorized: boolean;
  signed: boolean;
}

type Answer = (req: SeenRequest, res: ServerResponse) => void;

/** A cloud on 127.0.0.1 that checks bearer and signature (401 if wrong) and answers with `answer`. */
async function fakeCloud(answer: Answer): Promise<{ url: string; seen: SeenRequest[]; setAnswer(a: Answer): void }> {
  const seen: SeenRequest[] = [];
  let current = answer;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const expected = `sha256=${createHmac('sha256', HMAC_SECRET).update(body).digest('hex')}`;
      const r: SeenRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        authorized: req.headers.authorization === `Bearer ${API_KEY}`,
        signed: req.headers['x-signature'] === expected,
      };
      seen.push(r);
      if (!r.authorized || !r.signed) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad credentials"}');
        return;
      }
      current(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, setAnswer: (a) => (current = a) };
}

let serial = 0;
function cloudTokens(n: number, extra: Record<string, unknown> = {}): { tokenId: string; token: string; type: string; expiresAt: string | number }[] {
  return Array.from({ length: n }, () => ({
    tokenId: `tok-${++serial}`,
    token: `ft_${randomBytes(18).toString('base64url')}`,
    type: 'factory',
    expiresAt: new Date(Date.now() + HOUR).toISOString(),
    ...extra,
  }));
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
  };

/** Each answer is the tokens asked for (count from the request body). */
const issueAsked: Answer = (req, res) => {
  const { count } = JSON.parse(req.body) as { count: number };
  json(200, { tokens: cloudTokens(count) })(req, res);
};

function cloudSource(url: string, extra: Partial<ConstructorParameters<typeof CloudTokenSource>[0]> = {}): CloudTokenSource {
  return new CloudTokenSource({ url, apiKey: API_KEY, hmacSecret: HMAC_SECRET, stationId: STATION, log: silentLogger(), ...extra });
}

// ---- a real ledger -------------------------------------------------------------------------------

function openLedger(opts: { lowWater?: number; targetLevel?: number } = {}) {
  const dataDir = dirs.make();
  const store = new Store(dataDir, silentLogger());
  store.open();
  const vault = new TokenVault({ dataDir, env: {}, log: silentLogger() });
  vault.start();
  const bus = new StationBus();
  const alarms: { kind: string; alarmId: string; message?: string }[] = [];
  bus.on('alarm.raised', (a) => alarms.push({ kind: 'raised', alarmId: a.alarmId, message: a.message }));
  bus.on('alarm.cleared', (a) => alarms.push({ kind: 'cleared', alarmId: a.alarmId }));
  const ledger = new TokenLedger(store, vault, bus, silentLogger(), { lowWater: opts.lowWater ?? 2, targetLevel: opts.targetLevel ?? 5 });
  ledger.start();
  cleanups.push(() => {
    ledger.stop();
    vault.stop();
    store.close();
  });
  return { dataDir, store, ledger, alarms };
}

// ---- the cloud ------------------------------------------------------------------------------------

describe('CloudTokenSource', () => {
  it('POSTs {count} to /v1/stations/<id>/factory-tokens with the bearer and the HMAC of the raw body', async () => {
    const cloud = await fakeCloud(issueAsked);
    const tokens = await cloudSource(`${cloud.url}/`).fetch(3);
    expect(tokens).toHaveLength(3);
    expect(tokens[0]).toMatchObject({ type: 'factory', tokenId: expect.stringMatching(/^tok-/) });
    expect(typeof tokens[0]?.expiresAt).toBe('number');
    const [req] = cloud.seen;
    expect(req).toMatchObject({ method: 'POST', url: `/v1/stations/${STATION}/factory-tokens`, body: '{"count":3}', authorized: true, signed: true });
    expect(req?.headers['content-type']).toBe('application/json');
  });

  it('is refused by a cloud that checks the signature when the secret is wrong, and says to check the keys', async () => {
    const cloud = await fakeCloud(issueAsked);
    const err = (await rejectionOf(cloudSource(cloud.url, { hmacSecret: 'wrong' }).fetch(2))) as TokenSourceError;
    expect(cloud.seen[0]?.signed).toBe(false);
    expect(err.message).toMatch(/answered HTTP 401 \(check uplink.apiKey and uplink.hmacSecret\)/);
    expect(err.message).not.toContain('wrong');
  });

  it('accepts epoch-millisecond expiry times as well as ISO 8601', async () => {
    const at = Date.now() + HOUR;
    const cloud = await fakeCloud(json(200, { tokens: cloudTokens(1, { expiresAt: at }) }));
    expect((await cloudSource(cloud.url).fetch(1))[0]?.expiresAt).toBe(at);
  });

  it('honours Retry-After on 429 and 503', async () => {
    const cloud = await fakeCloud(json(429, { error: 'slow down' }, { 'retry-after': '7' }));
    const err = (await rejectionOf(cloudSource(cloud.url).fetch(2))) as TokenSourceError;
    expect(err).toBeInstanceOf(TokenSourceError);
    expect(err.retryAfterMs).toBe(7000);
    expect(err.message).toMatch(/HTTP 429; retry after 7 s/);
    expect(parseRetryAfter(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThan(25_000);
    expect(parseRetryAfter('soon')).toBeNull();
  });

  it('gives up on a cloud that does not answer within the timeout', async () => {
    const cloud = await fakeCloud(() => undefined); // never answers
    const err = (await rejectionOf(cloudSource(cloud.url, { timeoutMs: 150 }).fetch(1))) as TokenSourceError;
    expect(err.message).toMatch(/no answer within 150 ms/);
  });

  it('names an unreachable cloud', async () => {
    const cloud = await fakeCloud(issueAsked);
    const closedPort = new URL(cloud.url);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    closedPort.port = String(port);
    const err = (await rejectionOf(cloudSource(closedPort.origin).fetch(1))) as TokenSourceError;
    expect(err.message).toMatch(/failed: ECONNREFUSED/);
  });

  const malformed: [string, () => { answer: Answer; secrets: string[] }, RegExp][] = [
    ['not JSON', () => ({ answer: json(200, 'tokens: ft_abcdef'), secrets: ['ft_abcdef'] }), /body that is not JSON/],
    [
      'truncated JSON carrying a token',
      () => {
        const t = cloudTokens(1);
        return { answer: json(200, JSON.stringify({ tokens: t }).slice(0, -3)), secrets: [t[0]!.token] };
      },
      /not JSON/,
    ],
    ['the wrong shape', () => ({ answer: json(200, { items: [] }), secrets: [] }), /malformed token list: tokens: Invalid input/],
    [
      'a token with no tokenId',
      () => {
        const t = cloudTokens(2);
        delete (t[1] as { tokenId?: string }).tokenId;
        return { answer: json(200, { tokens: t }), secrets: t.map((x) => x.token) };
      },
      /tokens\.1\.tokenId/,
    ],
    [
      'a developer token among factory ones',
      () => {
        const t = [...cloudTokens(2), ...cloudTokens(1, { type: 'developer' })];
        return { answer: json(200, { tokens: t }), secrets: t.map((x) => x.token) };
      },
      /nothing stored: token tok-\d+ is of type "developer"; this station only sends factory tokens/,
    ],
    [
      'an expired token',
      () => {
        const t = [...cloudTokens(1), ...cloudTokens(1, { expiresAt: new Date(Date.now() - 60_000).toISOString() })];
        return { answer: json(200, { tokens: t }), secrets: t.map((x) => x.token) };
      },
      /expired at .*station clock .*fix the station's clock/,
    ],
    [
      'the same tokenId twice',
      () => {
        const [a] = cloudTokens(1);
        const t = [a!, { ...a!, token: 'ft_other' }];
        return { answer: json(200, { tokens: t }), secrets: [a!.token, 'ft_other'] };
      },
      /listed twice/,
    ],
    ['HTTP 500', () => ({ answer: json(500, { error: 'boom' }), secrets: [] }), /answered HTTP 500/],
    ['HTTP 429', () => ({ answer: json(429, {}, { 'retry-after': '0' }), secrets: [] }), /answered HTTP 429/],
  ];

  it.each(malformed)('stores nothing, raises tokens.source, and quotes no token when the answer is %s', async (_what, make, reason) => {
    const { answer, secrets } = make();
    const cloud = await fakeCloud(answer);
    const out = captureStream();
    const { log } = createLogger({ level: 'trace', destination: out.stream as never });
    const { ledger, alarms } = openLedger();
    const source = cloudSource(cloud.url, { log });
    const direct = (await rejectionOf(source.fetch(3))) as Error;
    expect(direct).toBeInstanceOf(TokenSourceError);
    expect(direct.message).toMatch(reason);
    const job = new TokenRefillJob(ledger, source, log, { targetLevel: 5, lowWater: 2, intervalMs: 60_000, backoffBaseMs: 60_000 });
    cleanups.push(() => job.stop());
    job.start();
    const alarm = await waitFor('the tokens.source alarm', () => alarms.find((a) => a.alarmId === 'tokens.source'));
    expect(alarm.message).toMatch(reason);
    expect(ledger.level()).toMatchObject({ available: 0, reserved: 0 });
    for (const secret of secrets) {
      expect(direct.message).not.toContain(secret);
      expect(alarm.message).not.toContain(secret);
      expect(out.text()).not.toContain(secret);
    }
  });
});

// ---- files --------------------------------------------------------------------------------------

describe('FileTokenSource', () => {
  const factory = new Set(['factory']);

  it('reads NDJSON, skipping bad lines by number and reason without their token text', () => {
    const now = Date.now();
    const good = cloudTokens(2);
    const secretDev = 'ft_dev_secret_123';
    const secretBroken = 'ft_broken_secret_456';
    const secretNoId = 'ft_noid_secret_789';
    const lines = [
      JSON.stringify(good[0]),
      '',
      `{"tokenId":"tok-x","token":"${secretBroken}"`,
      JSON.stringify({ tokenId: 'tok-dev', token: secretDev, type: 'developer', expiresAt: now + HOUR }),
      JSON.stringify({ token: secretNoId, type: 'factory', expiresAt: now + HOUR }),
      JSON.stringify({ tokenId: 'tok-old', token: 'ft_old', type: 'factory', expiresAt: now - 1 }),
      JSON.stringify(good[1]),
      JSON.stringify(good[0]),
    ];
    const { tokens, skipped } = parseTokenFile(lines.join('\n'), factory, now);
    expect(tokens.map((t) => t.tokenId)).toEqual([good[0]!.tokenId, good[1]!.tokenId]);
    expect(tokens[0]?.token).toBe(good[0]!.token);
    expect(skipped.map((s) => s.where)).toEqual(['line 3', 'line 4', 'line 5', 'line 6', 'line 8']);
    expect(skipped[0]?.reason).toBe('not a JSON object');
    expect(skipped[1]?.reason).toMatch(/type "developer"/);
    expect(skipped[2]?.reason).toMatch(/^tokenId: /);
    expect(skipped[3]?.reason).toMatch(/expired/);
    expect(skipped[4]?.reason).toMatch(/listed earlier/);
    for (const secret of [secretDev, secretBroken, secretNoId]) expect(JSON.stringify(skipped)).not.toContain(secret);
  });

  it('reads a JSON array and a saved cloud answer, numbering bad items', () => {
    const good = cloudTokens(2);
    const asArray = parseTokenFile(JSON.stringify([good[0], { tokenId: 'tok-y' }, good[1]]), factory, Date.now());
    expect(asArray.tokens).toHaveLength(2);
    expect(asArray.skipped).toEqual([{ where: 'item 2', reason: expect.stringMatching(/^token: /) }]);
    const asAnswer = parseTokenFile(JSON.stringify({ tokens: good }, null, 2), factory, Date.now());
    expect(asAnswer.tokens.map((t) => t.tokenId)).toEqual(good.map((t) => t.tokenId));
  });

  it('does not hand out a token twice: what the ledger knows is skipped, across refills and restarts', async () => {
    const { dataDir, ledger } = openLedger({ lowWater: 1, targetLevel: 3 });
    const file = path.join(dataDir, 'tokens.ndjson');
    const all = cloudTokens(5);
    writeFileSync(file, all.map((t) => JSON.stringify(t)).join('\n'));
    const source = new FileTokenSource({ file, log: silentLogger(), isKnown: (id) => ledger.knows(id) });
    const job = new TokenRefillJob(ledger, source, silentLogger(), { targetLevel: 3, lowWater: 1, intervalMs: 60_000 });
    cleanups.push(() => job.stop());
    job.start();
    await waitFor('the first refill', () => ledger.level().available === 3);
    for (const run of ['run-1', 'run-2', 'run-3']) {
      const lease = ledger.reserve(run)!;
      ledger.markSent(lease.tokenId, run);
      ledger.consume(lease.tokenId, run);
    }
    // below low water: the job refills at once with the two tokens left in the file
    await waitFor('the refill from the rest of the file', () => ledger.level().available === 2);
    await job.refillNow();
    expect(ledger.level()).toMatchObject({ available: 2, consumed: 3 });
    expect(await source.fetch(10)).toEqual([]);
    expect(
      ledger
        .list({ limit: 10 })
        .map((t) => t.tokenId)
        .sort(),
    ).toEqual(all.map((t) => t.tokenId).sort());
  });

  it('reports a missing file as a source failure naming the file', async () => {
    const file = path.join(dirs.make(), 'nope.ndjson');
    const err = (await rejectionOf(new FileTokenSource({ file, log: silentLogger(), isKnown: () => false }).fetch(1))) as Error;
    expect(err.message).toBe(`token file ${file} cannot be read: ENOENT`);
  });
});

describe('createTokenSource', () => {
  const uplinkDefaults = { batchMaxRecords: 500, batchMaxAgeMs: 1000, concurrency: 4, requestTimeoutMs: 15_000, backoffInitialMs: 1000, backoffMaxMs: 60_000, alarmAfterMs: 900_000 };
  const base = { configPath: '/etc/station/station.json', station: { id: STATION, mode: 'production' as const }, uplink: uplinkDefaults };
  const tokens = { source: 'none' as const, targetLevel: 50, lowWater: 10, refillIntervalMs: 30_000 };
  const deps = { log: silentLogger(), isKnown: () => false };

  it('makes none, a file source relative to the config, or a cloud source', () => {
    expect(createTokenSource({ ...base, tokens }, deps)).toBeNull();
    const file = createTokenSource({ ...base, tokens: { ...tokens, source: 'file', file: 'tokens/batch.ndjson' } }, deps);
    expect(file?.label).toBe('file /etc/station/tokens/batch.ndjson');
    const cloud = createTokenSource({ ...base, uplink: { ...uplinkDefaults, url: 'https://cloud.example/api/', apiKey: 'k', hmacSecret: 'h' }, tokens: { ...tokens, source: 'cloud' } }, deps);
    expect(cloud?.label).toBe(`cloud https://cloud.example/api/v1/stations/${STATION}/factory-tokens`);
  });

  it('names the missing uplink settings for a cloud source', () => {
    expect(() => createTokenSource({ ...base, uplink: { ...uplinkDefaults, url: 'https://cloud.example' }, tokens: { ...tokens, source: 'cloud' } }, deps)).toThrow(
      'tokens.source is "cloud" but uplink.apiKey, uplink.hmacSecret are not set',
    );
  });
});
