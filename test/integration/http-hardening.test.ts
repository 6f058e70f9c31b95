// The HTTP server against a hostile or broken client (issue 17's black-box probe): a body that never
// comes is cut off within server.requestTimeoutMs (it waited about 313 s for a Content-Length of
// 99,999,999), headers that never end within server.headersTimeoutMs; a request or a live-socket
// handshake naming a host the station does not answer to (a page on a rebound DNS name) is
// refused; and the data folder the daemon made is its user's alone.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../station/config/load.js';
import { simulatedStationConfig } from '../support/configs.js';
import { Daemon, LiveClient } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';

let dir: string;
let daemon: Daemon;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'station-http-'));
  const cfg = simulatedStationConfig({ dataDir: path.join(dir, 'data'), slots: 1, operator: 'off' });
  cfg.server = { host: '127.0.0.1', port: 0, headersTimeoutMs: 500, requestTimeoutMs: 1000, allowedHosts: ['station-7.factory.test'] };
  daemon = new Daemon(Daemon.writeConfig(dir, cfg));
  await daemon.start();
  port = Number(new URL(daemon.url).port);
});
afterAll(async () => {
  await daemon?.kill9();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` on a raw connection and returns all the server sends until it closes the connection
 *  (or `deadlineMs` passes: then the answer ends with "(still open)"). */
function rawExchange(text: string, deadlineMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const deadline = setTimeout(() => {
      socket.destroy();
      resolve(`${got}(still open)`);
    }, deadlineMs);
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(got);
    });
    socket.write(text);
  });
}

/** A request with the Host header given (fetch does not let one set Host). */
function requestWithHost(pathname: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, headers: { ...headers, host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('bounded read times', () => {
  it('a login whose body never comes (Content-Length 99,999,999) is answered 408 and cut off, long before node would have (300 s)', async () => {
    const answer = await rawExchange(`POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{"role":"operator","pin":`);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).not.toContain('(still open)');
  });

  it('headers that never end are answered 408 and cut off too', async () => {
    const answer = await rawExchange(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).not.toContain('(still open)');
  });

  it('the bounds are 5 s for headers and 10 s for the whole request unless configured, and headers may not get longer than the request', () => {
    const base = { ...simulatedStationConfig({ dataDir: path.join(dir, 'unused'), slots: 1 }) };
    delete (base as { server?: unknown }).server;
    const cfg = parseConfig(base, { source: 'test', baseDir: dir });
    expect([cfg.server.headersTimeoutMs, cfg.server.requestTimeoutMs]).toEqual([5_000, 10_000]);
    expect(() => parseConfig({ ...base, server: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } }, { source: 'test', baseDir: dir })).toThrow(
      /headersTimeoutMs.*must not be above requestTimeoutMs/,
    );
  });
});

describe("Host names: only the station's own", () => {
  it('a request naming another host (a rebound DNS name) is refused 421 with what to do; its own names are answered', async () => {
    const refused = await requestWithHost('/api/health', `evil.example:${port}`);
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body)).toEqual({
      error: `this station does not answer to the host name "evil.example:${port}": open it by one of its own names, or add the name to server.allowedHosts`,
    });
    expect((await requestWithHost('/', `evil.example:${port}`)).status, 'the dashboard page too').toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `station-7.factory.test:${port}`, 'STATION-7.factory.test']) {
      expect((await requestWithHost('/api/health', host)).status, host).toBe(200);
    }
    await waitFor('the refusal in the log', () => daemon.stdout.includes('request refused: it names a host this station does not answer to'));
  });

  it("the live socket's handshake naming another host is refused (403), polling or WebSocket, even with a valid session and the matching Origin", async () => {
    const polling = await requestWithHost('/socket.io/?EIO=4&transport=polling', `evil.example:${port}`);
    expect(polling.status).toBe(403);
    expect(polling.body).toContain('does not answer to the host name');
    expect((await requestWithHost('/socket.io/?EIO=4&transport=polling', `127.0.0.1:${port}`)).status).toBe(200);
    // The shape of a DNS-rebinding attack: the attacker's page, its Origin matching its Host.
    const session = await daemon.login('operator');
    const evil = `rebound.example:${port}`;
    await expect(LiveClient.connect(daemon.url, { session, host: evil, origin: `http://${evil}` })).rejects.toThrow();
    await waitFor('the refusal for its Host (not its Origin) in the log', () => daemon.stdout.includes(`"host":"${evil}"`));
    const own = await LiveClient.connect(daemon.url, { session });
    own.socket.close();
  });
});

describe('the data folder', () => {
  it('is 0700 and the database 0600', () => {
    const dataDir = path.join(dir, 'data');
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    for (const name of ['station.db', 'station.db-wal', 'station.lock']) expect((statSync(path.join(dataDir, name)).mode & 0o777).toString(8), name).toBe('600');
  });
});
