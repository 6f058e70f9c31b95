// A serial barcode scanner over a real pseudo-terminal pair (socat): the simulator writes real
// scan bytes to one end (with its prefix and CRLF, an auto-Enter bounce, a doubled scan, line
// noise, a truncated scan), the real driver on the other end opens it with serialport and emits
// exactly the expected scans. Then the cable is pulled (socat killed) and plugged back: the driver
// reconnects by itself and scans flow again.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScanner, scannerPortOf, type Scanner } from '../../drivers/scanner/index.js';
import { runSerialScannerOnPort, type SerialScannerOnPort } from '../../drivers/scanner/simulator/serial-scanner-sim.js';
import { silentLogger } from '../../station/log.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

describe('serial scanner over a real pseudo-terminal', () => {
  let dir: string;
  let pair: PtyPair;
  let sim: SerialScannerOnPort | null = null;
  let scanner: Scanner;
  const scans: string[] = [];
  const rejected: string[] = [];
  const statuses: boolean[] = [];
  const simOptions = { delimiter: 'CRLF' as const, prefix: 'P:', baudRate: 9600 };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'scanner-pty-'));
    pair = await new PtyPair(dir, 'scan0').open();
    scanner = createScanner({
      id: 'bench-scanner',
      port: scannerPortOf('bench-scanner', { kind: 'serial', path: pair.stationPath, baudRate: 9600, delimiter: 'CRLF', prefix: 'P:' }),
      log: silentLogger(),
      reconnect: { reconnectInitialMs: 50, reconnectMaxMs: 400 },
    });
    scanner.events.on('scan', (s) => scans.push(s.text));
    scanner.events.on('rejected', (r) => rejected.push(r.reason));
    scanner.events.on('status', (s) => statuses.push(s.connected));
    await scanner.start();
    await waitFor('the scanner to open its port', () => scanner.connected, { timeoutMs: 10_000 });
    sim = await runSerialScannerOnPort({ path: pair.simPath, ...simOptions });
  });

  afterAll(async () => {
    await scanner?.stop();
    await sim?.close();
    await pair?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('emits exactly the expected scans: bounces dropped, noise and a truncated scan refused with reasons', async () => {
    const s = (sim as SerialScannerOnPort).sim;
    await s.scan('SN00000001 0f0f0f0f0f0f0f0f');
    await s.scan('SN00000002 1e1e1e1e1e1e1e1e', { bounce: 'enter' });
    await s.fault('doubled', 'SN00000003 2d2d2d2d2d2d2d2d');
    await s.fault('garbage');
    await waitFor('the garbage to be refused', () => rejected.length === 1);
    await s.fault('truncated', 'SN00000004 3c3c3c3c3c3c3c3c');
    await waitFor('the truncated scan to be refused at the idle gap', () => rejected.length === 2);
    await s.write(Buffer.from('SN00000005\r\n')); // no prefix: not from this scanner's framing
    await s.scan('SN00000006 4b4b4b4b4b4b4b4b');
    await waitFor('the last scan', () => scans.includes('SN00000006 4b4b4b4b4b4b4b4b'));
    expect(scans).toEqual(['SN00000001 0f0f0f0f0f0f0f0f', 'SN00000002 1e1e1e1e1e1e1e1e', 'SN00000003 2d2d2d2d2d2d2d2d', 'SN00000006 4b4b4b4b4b4b4b4b']);
    expect(rejected).toEqual(['the scan is not UTF-8 text', 'scan cut short: no CRLF after the last byte (the idle gap passed)', 'scan without the scanner\'s prefix "P:"']);
  });

  it('reconnects after the cable is pulled and plugged back, and scans flow again', async () => {
    await pair.pull();
    await sim?.close();
    sim = null;
    await waitFor('the scanner to notice the pulled cable', () => !scanner.connected, { timeoutMs: 10_000 });
    await pair.open(); // the same paths again, as a re-enumerated USB adapter
    await waitFor('the scanner to reconnect', () => scanner.connected, { timeoutMs: 15_000 });
    sim = await runSerialScannerOnPort({ path: pair.simPath, ...simOptions });
    const before = scans.length;
    await sim.sim.scan('SN00000007 5a5a5a5a5a5a5a5a');
    await waitFor('a scan after the reconnect', () => scans.length === before + 1, { timeoutMs: 10_000 });
    expect(scans.at(-1)).toBe('SN00000007 5a5a5a5a5a5a5a5a');
    expect(statuses).toEqual([true, false, true]);
  });
});
