// The Host names the station answers to. A page on an attacker's DNS name that later resolves to
// the station (DNS rebinding) is, to the browser, the attacker's own origin: its requests carry
// the attacker's name in Host (and in Origin, which the live socket's own-origin check would then
// take for the station's own). So every HTTP request and every live-socket handshake must name
// the station by one of its own names: localhost, the loopback and the machine's own addresses,
// server.host, and server.allowedHosts (default: the machine's hostname and <hostname>.local).
import os from 'node:os';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/** The host name of a Host header, lowercased, without port, brackets or trailing dot; null when malformed. */
export function hostNameOf(header: string): string | null {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(header) ?? /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(header);
  if (!m) return null;
  return (m[1] as string).toLowerCase().replace(/\.$/, '');
}

export class HostAllowList {
  private readonly names: Set<string>;

  constructor(names: Iterable<string>) {
    this.names = new Set(
      [...names].map((n) =>
        n
          .toLowerCase()
          .replace(/^\[|\]$/g, '')
          .replace(/\.$/, ''),
      ),
    );
  }

  /** What the station answers to, for a server bound to `host`. */
  static forServer(opts: { host: string; allowedHosts?: readonly string[] | null; hostname?: string; interfaces?: ReturnType<typeof os.networkInterfaces> }): HostAllowList {
    const hostname = (opts.hostname ?? os.hostname()).toLowerCase();
    const own: string[] = [];
    // The machine's own addresses: an address is no DNS name, so no rebinding can come through it.
    for (const list of Object.values(opts.interfaces ?? os.networkInterfaces())) for (const i of list ?? []) own.push(i.address.replace(/%.*$/, ''));
    const names = opts.allowedHosts ?? (hostname ? [hostname, `${hostname}.local`] : []);
    return new HostAllowList([...LOOPBACK, ...(WILDCARDS.has(opts.host) ? [] : [opts.host]), ...own, ...names]);
  }

  /** Whether a request with this Host header is for the station. No Host at all (HTTP/1.0, never
   *  a browser; node refuses HTTP/1.1 without one) is let through. */
  allows(header: string | undefined): boolean {
    if (header === undefined) return true;
    const name = hostNameOf(header);
    return name !== null && this.names.has(name);
  }

  list(): string[] {
    return [...this.names];
  }
}

/** The refusal's words: what was asked for, and what to do. */
export function misdirected(header: string | undefined): string {
  const shown = JSON.stringify((header ?? '').slice(0, 100));
  return `this station does not answer to the host name ${shown}: open it by one of its own names, or add the name to server.allowedHosts`;
}
