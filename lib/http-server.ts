// Small pieces every HTTP server of the repository's own needs (the reference cloud ingest, the
// reference MES, the Particle and TofuPilot simulators): a constant-time comparison for keys, a
// JSON answer, and a request body read up to a limit.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** True when `a` and `b` are the same text, compared in constant time (API keys, signatures). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Answers `status` with `body` as JSON (with its Content-Length). */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The whole body, or null when it is longer than `max` (the rest is drained, not kept). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      total += c.length;
      if (total > max) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooBig ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The same, as UTF-8 text. */
export async function readBodyText(req: IncomingMessage, max: number): Promise<string | null> {
  const body = await readBody(req, max);
  return body === null ? null : body.toString('utf8');
}

/**
 * An HTTP server on a local port that can be taken down with every connection cut (to a client,
 * the service is unreachable) and brought back on the same port: the reference services' and
 * simulators' way to stage an outage.
 */
export class HttpListener {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** The port asked for (0: any free one), then the one bound. */
  port: number;

  constructor(
    private readonly handler: RequestListener,
    port: number,
    readonly host: string,
  ) {
    this.port = port;
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  /** Listens (on the port bound before, after a close). */
  async listen(): Promise<void> {
    const server = createServer(this.handler);
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        const a = server.address();
        if (a && typeof a === 'object') this.port = a.port;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
