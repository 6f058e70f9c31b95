// Logging: pino, JSON lines by default, pretty when a person is watching a terminal.
// Every secret-bearing key is redacted at the logger, so a careless `log.info(config)` leaks nothing.
import { pino, type Logger, type DestinationStream } from 'pino';
import { createRequire } from 'node:module';

export const REDACT_PATHS = [
  'apiKey',
  'hmacSecret',
  'token',
  'password',
  'secret',
  'authorization',
  '*.apiKey',
  '*.hmacSecret',
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*.*.apiKey',
  '*.*.hmacSecret',
  '*.*.token',
  // four keys deep: a particle sink's claim.token under a section's key, should one ever be logged
  '*.*.*.token',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  // label secrets (station/identity: the mobile secret) under their usual key
  'mobileSecret',
  '*.mobileSecret',
  '*.*.mobileSecret',
  // dashboard logins (station/auth): PINs, password hashes, session ids and CSRF tokens
  'pin',
  '*.pin',
  'csrfToken',
  '*.csrfToken',
  'sessionId',
  '*.sessionId',
  'engineerPasswordHash',
  'operatorPinHash',
  '*.engineerPasswordHash',
  '*.operatorPinHash',
  '*.*.engineerPasswordHash',
  '*.*.operatorPinHash',
  'headers.cookie',
  'headers["x-csrf-token"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  // label secrets (the mobile secret), station/identity/secret.ts
  'mobileSecret',
  '*.mobileSecret',
  '*.*.mobileSecret',
  // claim codes (the particle sink, claim labels: drivers/label/claim.ts), and a claim label's QR text
  'claimCode',
  '*.claimCode',
  '*.*.claimCode',
  'claim_code',
  '*.claim_code',
  'qr',
  '*.qr',
];

export interface StationLogger {
  log: Logger;
  /** Flushes buffered lines; call before exit. */
  flush(): void;
}

export function createLogger(opts: { level: string; pretty?: boolean; destination?: DestinationStream }): StationLogger {
  const options = { level: opts.level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  if (opts.destination) {
    return { log: pino(options, opts.destination), flush: () => undefined };
  }
  const usePretty = opts.pretty ?? process.stdout.isTTY === true;
  if (usePretty) {
    // pino-pretty only for a person at a terminal: loaded then, not at every start.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    const stream = pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
    return { log: pino(options, stream), flush: () => undefined };
  }
  const dest = pino.destination({ dest: 1, sync: false, minLength: 0 });
  return {
    log: pino(options, dest),
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        // stdout already closed: nothing left to flush to
      }
    },
  };
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
