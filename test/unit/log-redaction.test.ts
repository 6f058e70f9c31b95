// Secrets never reach the logs: the logger redacts every secret-bearing key, wherever a careless
// call puts it.
import { captureStream } from '../support/unit-fakes.js';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../station/log.js';

describe('log redaction', () => {
  it('redacts uplink keys, tokens, passwords and authorization headers at every depth the station logs them', () => {
    const out = captureStream();
    const { log } = createLogger({ level: 'debug', destination: out.stream as never });
    const secrets = ['KEY-9f8e7d', 'HMAC-1a2b3c', 'FT-canary-777', 'pw-hunter2', 'Bearer abc.def', 'MS-secret-55'];
    log.info({ apiKey: secrets[0], hmacSecret: secrets[1] }, 'top level');
    log.info({ uplink: { url: 'https://ingest.example', apiKey: secrets[0], hmacSecret: secrets[1] } }, 'one level down');
    log.info({ config: { uplink: { apiKey: secrets[0] } } }, 'two levels down');
    log.info({ token: secrets[2], enrollment: { token: secrets[2] } }, 'tokens');
    log.info({ password: secrets[3], req: { headers: { authorization: secrets[4] } } }, 'http');
    log.debug({ label: { secret: secrets[5] } }, 'label');
    const text = out.text();
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(10);
    expect(text).toContain('https://ingest.example'); // only the secrets go
  });

  it('redacts the Particle tokens and claim codes wherever a config or a claim label would put them', () => {
    const out = captureStream();
    const { log } = createLogger({ level: 'debug', destination: out.stream as never });
    const secrets = ['PT-product-token-1', 'PT-claim-token-2', 'CC-claim-code-3', 'https://example.com/claim?c=CC-4'];
    log.info({ uplink: { particle: { token: secrets[0], claim: { token: secrets[1] } } } }, 'a whole uplink section');
    log.info({ config: { uplink: { particle: { token: secrets[0] } } } }, 'deeper');
    log.info({ claimCode: secrets[2], device: { claimCode: secrets[2] }, label: { qr: secrets[3] } }, 'claim label');
    const text = out.text();
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
