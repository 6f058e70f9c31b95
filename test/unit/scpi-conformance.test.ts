// The driver against an SCPI server that is not ours: a few lines of TCP server in this file, playing
// a script of exactly which line it must receive next and what it answers (CRLF, as many LAN
// instruments do). Anything else the driver sends is a failure. So the drivers are tested against
// the wire protocol itself, not only against their own simulators.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createInstrument, InstrumentError, Psu } from '../../drivers/instrument/index.js';
import { silentLogger } from '../../station/log.js';
import { rejectionOf } from '../support/unit-fakes.js';

type Step = [expect: string, answer: string | null];

interface ScriptServer {
  port: number;
  unexpected: string[];
  left(): Step[];
  close(): Promise<void>;
}

function scriptServer(script: Step[]): Promise<ScriptServer> {
  const steps = [...script];
  const unexpected: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let end: number;
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        const step = steps.shift();
        if (!step || step[0] !== line) {
          unexpected.push(`got "${line}", expected ${step ? `"${step[0]}"` : 'nothing'}`);
          continue;
        }
        if (step[1] !== null) socket.write(`${step[1]}\r\n`);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        unexpected,
        left: () => steps,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('SCPI conformance against a scripted server', () => {
  it('speaks exactly the E36300 script: connect check, settings with error checks, a refused value, readbacks', async () => {
    const ok = '+0,"No error"';
    const server = await scriptServer([
      ['*IDN?', 'Keysight Technologies,E36312A,MY59000777,2.1.3-1.0.4-1.12'],
      ['*CLS', null],
      ['SYST:ERR?', ok],
      ['VOLT 3.7,(@2)', null],
      ['SYST:ERR?', ok],
      ['CURR 0.25,(@2)', null],
      ['SYST:ERR?', ok],
      ['CURR:PROT:STAT ON,(@2)', null],
      ['SYST:ERR?', ok],
      ['OUTP:PROT:CLE (@2)', null],
      ['SYST:ERR?', ok],
      ['OUTP ON,(@2)', null],
      ['SYST:ERR?', ok],
      ['MEAS:VOLT? (@2)', '+3.69980000E+00'],
      ['MEAS:CURR? (@2)', '+1.20500000E-02'],
      ['CURR:PROT:TRIP? (@2)', '0'],
      ['VOLT 30,(@2)', null],
      ['SYST:ERR?', '-222,"Data out of range"'],
      ['SYST:ERR?', ok],
    ]);
    cleanups.push(() => server.close());
    const psu = createInstrument(
      { id: 'psu1', kind: 'psu', model: 'keysight-e36312a', transport: { kind: 'tcp', host: '127.0.0.1', port: server.port }, timeoutMs: 1000 },
      { log: silentLogger() },
    ) as Psu;
    cleanups.push(() => psu.stop());
    await psu.start();
    await psu.waitReady(3000);
    expect(psu.identity?.serial).toBe('MY59000777');
    expect(psu.label).toBe(`127.0.0.1:${server.port}`);
    await psu.configure(2, { volts: 3.7, currentLimitA: 0.25 });
    await psu.output(2, true);
    expect((await psu.measure(2, 'voltage')).value).toBeCloseTo(3.6998, 6);
    expect((await psu.measure(2, 'current')).value).toBeCloseTo(0.01205, 8);
    expect(await psu.tripped(2)).toBe(false);
    const err = (await rejectionOf(psu.configure(2, { volts: 30, currentLimitA: 0.25 }))) as InstrumentError;
    expect(err.kind).toBe('instrument-error');
    expect(err.message).toBe('psu1 refused "VOLT 30,(@2)": -222,"Data out of range"');
    expect(server.unexpected).toEqual([]);
    expect(server.left()).toEqual([]);
  });
});
