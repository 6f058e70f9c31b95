import { afterEach, describe, expect, it } from 'vitest';
import { createInstrument, InstrumentError, ScpiInstrument, type AnyInstrument } from '../../drivers/instrument/index.js';
import { MODELS } from '../../drivers/instrument/models.js';
import { ScpiSession, type ScpiSessionOptions, type SessionEvents } from '../../drivers/instrument/scpi-session.js';
import { silentLogger } from '../../station/log.js';
import { FakeScpiLink, type ScriptedScpiPeer } from '../support/scpi-fakes.js';
import { nextEvent, rejectionOf } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const stops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function setup(
  configure: (peer: ScriptedScpiPeer) => void = () => undefined,
  overrides: Partial<ScpiSessionOptions> = {},
): Promise<{ session: ScpiSession; link: FakeScpiLink; states: SessionEvents['state'][] }> {
  const link = new FakeScpiLink(configure);
  const session = new ScpiSession({
    id: 'dmm1',
    what: 'DMM',
    label: 'fake:dmm1',
    open: link.open,
    log: silentLogger(),
    terminator: 'LF',
    timeoutMs: 150,
    reconnect: { initialMs: 10, maxMs: 40 },
    identity: MODELS['keysight-34461a'].identity,
    clearOnConnect: ['*CLS'],
    errorQuery: 'SYST:ERR?',
    ...overrides,
  });
  const states: SessionEvents['state'][] = [];
  session.events.on('state', (s) => states.push(s));
  stops.push(() => session.stop());
  await session.start();
  return { session, link, states };
}

async function asInstrumentError(promise: Promise<unknown>): Promise<InstrumentError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(InstrumentError);
  return err as InstrumentError;
}

describe('ScpiSession at connect', () => {
  it('checks *IDN?, then clears the status with *CLS and drains the error queue before anything else', async () => {
    const { session, link } = await setup((peer) => {
      peer.errors = ['-410,"Query INTERRUPTED"']; // left over from before the station
    });
    await session.waitReady(2000);
    expect(link.current.received).toEqual(['*IDN?', '*CLS', 'SYST:ERR?']);
    expect(session.identity).toMatchObject({ manufacturer: 'Keysight Technologies', model: '34461A', serial: 'MY57000001', firmware: 'A.03.01-03.15-03.01-00.52-04-02' });
    expect(session.state).toBe('ready');
  });

  it('reports wrong-instrument with what it expected and what answered, refuses commands, and is ready once the right one is plugged in', async () => {
    let idn = 'Rigol Technologies,DM3058,DM3A123456,01.01.00.01';
    const { session, link } = await setup((peer) => {
      peer.idn = idn;
    });
    await waitFor('wrong-instrument', () => session.state === 'wrong-instrument', { timeoutMs: 2000, intervalMs: 2 });
    expect(session.stateReason).toBe('expected a Keysight Truevolt DMM (34460A, 34461A, 34465A or 34470A), answered "Rigol Technologies,DM3058,DM3A123456,01.01.00.01"');
    const refused = await asInstrumentError(session.query('READ?'));
    expect(refused.kind).toBe('wrong-instrument');
    expect(refused.message).toContain('dmm1');
    expect(refused.message).toContain('answered "Rigol Technologies,DM3058');
    // It keeps looking: plug the right DMM in and the session comes up by itself.
    const opensBefore = link.opens;
    idn = 'Keysight Technologies,34465A,MY59000002,A.03.01';
    await session.waitReady(3000);
    expect(link.opens).toBeGreaterThan(opensBefore);
    expect(session.identity?.model).toBe('34465A');
    expect(link.current.received.slice(0, 2)).toEqual(['*IDN?', '*CLS']);
  });

  it('is offline with the reason when the instrument does not answer *IDN?, and retries', async () => {
    const { session, link } = await setup((peer) => {
      peer.handler = (command) => command === '*IDN?' && link.opens < 3; // silent for the first two connections
    });
    await waitFor('offline after the silent *IDN?', () => session.state === 'offline' && (session.stateReason ?? '').includes('no answer to "*IDN?"'), { timeoutMs: 2000, intervalMs: 2 });
    await session.waitReady(3000);
    expect(link.opens).toBeGreaterThanOrEqual(3);
  });

  it('sends *IDN? and *CLS again after every reconnect, before the next command', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    const offline = nextEvent(session.events, 'state', (s) => s.state === 'offline');
    link.current.hangUp();
    await offline;
    const refused = await asInstrumentError(session.query('READ?'));
    expect(refused.kind).toBe('disconnected');
    expect(refused.lostPort).toBe(true);
    await session.waitReady(2000);
    link.current.answers.set('READ?', '+1.23000000E-03');
    await expect(session.query('READ?')).resolves.toBe('+1.23000000E-03');
    expect(link.current.received).toEqual(['*IDN?', '*CLS', 'SYST:ERR?', 'READ?']);
  });

  it('leaves out *CLS for a model without it, and still drains the queue', async () => {
    const { session, link } = await setup(
      (peer) => {
        peer.idn = 'Siglent Technologies,SPD3303X,SPD3XIDQ123456,1.01.01.02.05,V3.0';
        peer.knowsCls = false;
        peer.noErrorText = '0  No Error';
      },
      { identity: MODELS['siglent-spd3303x'].identity, clearOnConnect: [] },
    );
    await session.waitReady(2000);
    expect(link.current.received).toEqual(['*IDN?', 'SYST:ERR?']);
    expect(session.identity?.firmware).toBe('1.01.01.02.05,V3.0');
  });
});

describe('ScpiSession commands', () => {
  it('drains SYST:ERR? after a write and fails it with the instrument text, the instrument id and the command', async () => {
    const { session, link } = await setup((peer) => {
      peer.handler = (command, p) => {
        if (command === 'VOLT 40,(@1)') p.errors.push('-222,"Data out of range"', '-221,"Settings conflict"');
        return false;
      };
    });
    await session.waitReady(2000);
    const err = await asInstrumentError(session.write('VOLT 40,(@1)'));
    expect(err.kind).toBe('instrument-error');
    expect(err.message).toBe('dmm1 refused "VOLT 40,(@1)": -222,"Data out of range" (then -221,"Settings conflict")');
    expect(err.code).toBe(-222);
    expect(err.instrumentId).toBe('dmm1');
    expect(err.command).toBe('VOLT 40,(@1)');
    expect(err.detail.instrumentErrors).toEqual(['-222,"Data out of range"', '-221,"Settings conflict"']);
    // The whole queue was read: three SYST:ERR? (two entries and the "No error").
    expect(link.current.afterConnect).toEqual(['VOLT 40,(@1)', 'SYST:ERR?', 'SYST:ERR?', 'SYST:ERR?']);
    await expect(session.write('VOLT 4,(@1)')).resolves.toBeUndefined();
  });

  it('fails a query the instrument refused (no answer, an error queued) with the instrument text, not as a timeout', async () => {
    const { session } = await setup((peer) => {
      peer.handler = (command, p) => {
        if (command !== 'MEAS:VOLT? (@7)') return false;
        p.errors.push('-222,"Data out of range"');
        return true; // a query in error gets no answer
      };
    });
    await session.waitReady(2000);
    const err = await asInstrumentError(session.query('MEAS:VOLT? (@7)'));
    expect(err.kind).toBe('instrument-error');
    expect(err.message).toBe('dmm1 refused "MEAS:VOLT? (@7)": -222,"Data out of range"');
  });

  it('times out a silent query naming the command, then gets back in step so a late answer is never taken for the next one', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    const peer = link.current;
    let slowRead = false;
    peer.handler = (command, p) => {
      if (command === 'READ?') return (slowRead = true);
      // The slow READ? finishes just as the next command comes in: its answer goes out first.
      if (command === '*IDN?' && slowRead) {
        slowRead = false;
        p.say('+4.20000000E+00');
      }
      return false;
    };
    const err = await asInstrumentError(session.query('READ?', { timeoutMs: 60 }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('dmm1: no answer to "READ?" within 60 ms (DMM at fake:dmm1)');
    expect(peer.afterConnect).toEqual(['READ?', '*IDN?', 'SYST:ERR?']);
    peer.answers.set('MEAS:VOLT:DC?', '+1.00000000E+00');
    await expect(session.query('MEAS:VOLT:DC?')).resolves.toBe('+1.00000000E+00');
  });

  it('fails "garbage" quoting the escaped line, and carries on with the next command', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    link.current.handler = (command, p) => {
      if (command !== 'READ?') return false;
      p.sayRaw('\x1b[2J\xff\x00garbled\n');
      return true;
    };
    const err = await asInstrumentError(session.query('READ?'));
    expect(err.kind).toBe('garbage');
    expect(err.message).toBe('dmm1 answered "READ?" with garbage (control or non-ASCII characters): "\\x1b[2J\\xff\\x00garbled"');
    link.current.handler = null;
    link.current.answers.set('READ?', '+1.00000000E-03');
    await expect(session.query('READ?')).resolves.toBe('+1.00000000E-03');
  });

  it('fails "garbage" for an over-long answer without keeping it all', async () => {
    const { session, link } = await setup(() => undefined, { maxLineBytes: 256 });
    await session.waitReady(2000);
    link.current.answers.set('READ?', '9'.repeat(5000));
    const err = await asInstrumentError(session.query('READ?'));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('line of 5000 bytes exceeds the 256-byte limit');
  });

  it('fails "disconnected" when the connection drops in the middle of a command', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    link.current.handler = (command, p) => {
      if (command === 'READ?') p.hangUp();
      return command === 'READ?';
    };
    const err = await asInstrumentError(session.query('READ?', { timeoutMs: 2000 }));
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain('disconnected during "READ?"');
    expect(err.lostPort).toBe(true);
  });

  it('keeps one command in flight: a second caller waits for the first answer', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    const peer = link.current;
    peer.handler = (command) => command === 'READ?'; // held: answered by the test
    const first = session.query('READ?');
    const second = session.query('*OPC?');
    peer.answers.set('*OPC?', '1');
    await waitFor('READ? sent', () => peer.afterConnect.length === 1, { timeoutMs: 1000, intervalMs: 2 });
    await new Promise((r) => setImmediate(r));
    expect(peer.afterConnect).toEqual(['READ?']);
    peer.say('+1.00000000E-03');
    await expect(first).resolves.toBe('+1.00000000E-03');
    await expect(second).resolves.toBe('1');
    expect(peer.afterConnect).toEqual(['READ?', '*OPC?']);
  });

  it('answers an aborted caller at once and keeps the session in step', async () => {
    const { session, link } = await setup();
    await session.waitReady(2000);
    const peer = link.current;
    peer.handler = (command) => command === 'READ?';
    const controller = new AbortController();
    const inFlight = session.query('READ?', { signal: controller.signal, timeoutMs: 2000 });
    const queued = session.query('*OPC?', { signal: controller.signal });
    await waitFor('READ? sent', () => peer.afterConnect.includes('READ?'), { timeoutMs: 1000, intervalMs: 2 });
    controller.abort();
    expect((await asInstrumentError(inFlight)).kind).toBe('aborted');
    expect((await asInstrumentError(queued)).kind).toBe('aborted');
    peer.say('+2.00000000E-03'); // the instrument finishes the abandoned read
    peer.answers.set('MEAS:VOLT:DC?', '+5.00000000E+00');
    await expect(session.query('MEAS:VOLT:DC?')).resolves.toBe('+5.00000000E+00');
    expect(peer.afterConnect).not.toContain('*OPC?'); // the queued one was never sent
  });

  it('ends commands with the configured terminator and reads CRLF answers', async () => {
    const link = new FakeScpiLink(() => undefined, '\r\n');
    const session = new ScpiSession({
      id: 'psu1',
      what: 'power supply',
      label: 'fake:psu1',
      open: link.open,
      log: silentLogger(),
      terminator: 'CRLF',
      timeoutMs: 200,
      reconnect: { initialMs: 10, maxMs: 40 },
      identity: MODELS.scpi.identity,
      clearOnConnect: ['*CLS'],
      errorQuery: 'SYST:ERR?',
    });
    stops.push(() => session.stop());
    const raw: string[] = [];
    await session.start();
    link.current.stream.on('data', (c: Buffer) => raw.push(c.toString('latin1')));
    await session.waitReady(2000);
    link.current.answers.set('MEAS:CURR? (@1)', '+1.20000000E-01');
    await expect(session.query('MEAS:CURR? (@1)')).resolves.toBe('+1.20000000E-01');
    expect(raw.join('')).toContain('MEAS:CURR? (@1)\r\n');
  });

  it('spaces commands by the model minimum gap', async () => {
    const { session, link } = await setup(() => undefined, { minCommandGapMs: 30 });
    await session.waitReady(2000);
    const times: number[] = [];
    link.current.handler = (command) => {
      if (command.startsWith('OUTP')) times.push(Date.now());
      return false;
    };
    await session.write('OUTP CH1,ON');
    await session.write('OUTP CH2,ON');
    expect(times).toHaveLength(2);
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(2 * 30 - 5); // SYST:ERR? between them waits too
  });
});

describe('overload', () => {
  it('is not a number: a numeric query reporting 9.9E37 fails as "overload"', async () => {
    const link = new FakeScpiLink((peer) => {
      peer.idn = 'Keysight Technologies,DAQ970A,MY58000001,A.03.01';
      peer.answers.set('MEAS:VOLT:DC? (@101)', '+9.90000000E+37');
      peer.answers.set('MEAS:VOLT:DC? (@102)', '9.9E37');
    });
    const instrument: AnyInstrument = createInstrument(
      { id: 'daq1', kind: 'scpi', model: 'scpi', transport: { kind: 'serial', path: '/dev/fake' } },
      { log: silentLogger(), openers: { serial: () => link.open } },
    );
    stops.push(() => instrument.stop());
    await instrument.start();
    await instrument.waitReady(2000);
    expect(instrument).toBeInstanceOf(ScpiInstrument);
    const daq = instrument as ScpiInstrument;
    for (const channel of ['101', '102']) {
      const err = await asInstrumentError(daq.queryNumber(`MEAS:VOLT:DC? (@${channel})`));
      expect(err.kind).toBe('overload');
      expect(err.message).toContain('overload');
    }
  });
});
