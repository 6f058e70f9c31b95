// The Host names the station answers to (station/server/hosts.ts): what a Host header names, and
// which names a station bound to an address, or to every address, answers to.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { HostAllowList, hostNameOf } from '../../station/server/hosts.js';

const interfaces = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.168.7.20', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.7.20/24' },
    { address: 'fe80::1%eth0', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
  ],
} as unknown as ReturnType<typeof os.networkInterfaces>;

describe('hostNameOf', () => {
  it('takes the name out of a Host header: no port, no brackets, lower case, no trailing dot; null when malformed', () => {
    expect(hostNameOf('Station-7.Factory.Test:8080')).toBe('station-7.factory.test');
    expect(hostNameOf('localhost')).toBe('localhost');
    expect(hostNameOf('[::1]:8080')).toBe('::1');
    expect(hostNameOf('example.com.')).toBe('example.com');
    for (const bad of ['', 'a b', 'evil.example:80:80', 'evil.example/x', '[::1', 'user@host']) expect(hostNameOf(bad), bad).toBeNull();
  });
});

describe('HostAllowList.forServer', () => {
  it("bound to one address: localhost, the loopback, that address, the machine's addresses, and its hostname by default", () => {
    const list = HostAllowList.forServer({ host: '192.168.7.20', hostname: 'line1-st3', interfaces });
    for (const ok of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080', '192.168.7.20:8080', 'LINE1-ST3:8080', 'line1-st3.local', '[fe80::1]:8080']) expect(list.allows(ok), ok).toBe(true);
    for (const no of ['evil.example:8080', 'line1-st3.evil.example', '10.0.0.1:8080', 'garbage header']) expect(list.allows(no), no).toBe(false);
    expect(list.allows(undefined), 'no Host at all (HTTP/1.0)').toBe(true);
  });

  it('server.allowedHosts replaces the hostname defaults; the loopback, the bound address and the own addresses stay', () => {
    const list = HostAllowList.forServer({ host: '0.0.0.0', hostname: 'line1-st3', allowedHosts: ['station-7.factory.test'], interfaces });
    expect(list.allows('station-7.factory.test:8080')).toBe(true);
    expect(list.allows('line1-st3:8080')).toBe(false);
    expect(list.allows('192.168.7.20:8080')).toBe(true);
    expect(list.allows('localhost:8080')).toBe(true);
    expect(list.allows('0.0.0.0:8080'), 'a wildcard bind is no name').toBe(false);
  });
});
