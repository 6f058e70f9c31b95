// Each model against a transcript: the exact commands the driver sends for the station's functions
// (as in docs/instruments.md, from the vendors' programming guides) and answers written as the
// guides' examples show them.
import { afterEach, describe, expect, it } from 'vitest';
import { channelCount, createInstrument, Dmm, InstrumentError, modelSupports, Psu, ScpiInstrument, Switch, type AnyInstrument, type InstrumentConfigInput } from '../../drivers/instrument/index.js';
import { silentLogger } from '../../station/log.js';
import { FakeScpiLink, type ScriptedScpiPeer } from '../support/scpi-fakes.js';
import { rejectionOf } from '../support/unit-fakes.js';

const started: AnyInstrument[] = [];

afterEach(async () => {
  for (const instrument of started.splice(0)) await instrument.stop();
});

async function connect<T extends AnyInstrument>(
  config: Omit<InstrumentConfigInput, 'transport'>,
  idn: string,
  configure: (peer: ScriptedScpiPeer) => void = () => undefined,
): Promise<{ instrument: T; peer: () => ScriptedScpiPeer }> {
  const link = new FakeScpiLink((peer) => {
    peer.idn = idn;
    configure(peer);
  });
  const instrument = createInstrument({ ...config, transport: { kind: 'serial', path: '/dev/fake' }, timeoutMs: 300 } as InstrumentConfigInput, {
    log: silentLogger(),
    openers: { serial: () => link.open },
  });
  started.push(instrument);
  await instrument.start();
  await instrument.waitReady(2000);
  return { instrument: instrument as T, peer: () => link.current };
}

/** The commands sent since the last call (connect check excluded the first time). */
function transcript(peer: ScriptedScpiPeer): () => string[] {
  let seen = peer.received.length - peer.afterConnect.length;
  return () => {
    const lines = peer.received.slice(seen);
    seen = peer.received.length;
    return lines;
  };
}

describe('keysight-34461a (Truevolt 3446xA)', () => {
  const idn = 'Keysight Technologies,34461A,MY53200001,A.02.14-02.40-02.14-00.49-02-01';

  it('configures once, sets the sample count and takes all the readings from one READ?', async () => {
    const { instrument, peer } = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a' }, idn, (p) => {
      p.answers.set('READ?', ['+1.00000000E-03,+1.00200000E-03,+9.98000000E-04', '+1.00100000E-03,+1.00100000E-03,+1.00100000E-03']);
    });
    const sent = transcript(peer());
    const first = await instrument.measure({ function: 'current-dc', range: 0.01, samples: 3 });
    expect(sent()).toEqual(['CONF:CURR:DC 0.01', 'SYST:ERR?', 'SAMP:COUN 3', 'SYST:ERR?', 'READ?']);
    expect(first).toMatchObject({ instrumentId: 'dmm1', serial: 'MY53200001', function: 'current-dc', unit: 'A', samples: 3, min: 9.98e-4, max: 1.002e-3, overload: false, range: 0.01 });
    expect(first.value).toBeCloseTo(1.0e-3, 12);
    // Same function, range and count: nothing to set again.
    await instrument.measure({ function: 'current-dc', range: 0.008, samples: 3 });
    expect(sent()).toEqual(['READ?']);
  });

  it('autoranges with AUTO, and reads once per sample when paced by intervalMs', async () => {
    const { instrument, peer } = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a' }, idn, (p) => {
      p.answers.set('READ?', ['+3.30120000E+00', '+3.30080000E+00']);
    });
    const sent = transcript(peer());
    const result = await instrument.measure({ function: 'voltage-dc', samples: 2, intervalMs: 5 });
    // CONFigure leaves the count at 1: no SAMP:COUN needed for one reading at a time.
    expect(sent()).toEqual(['CONF:VOLT:DC AUTO', 'SYST:ERR?', 'READ?', 'READ?']);
    expect(result.range).toBe('auto');
    expect(result.value).toBeCloseTo(3.301, 9);
  });

  it('reports an overload (+9.90000000E+37) in the result, with no value', async () => {
    const { instrument } = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a' }, idn, (p) => {
      p.answers.set('READ?', '+9.90000000E+37,+1.00000000E+02');
    });
    const result = await instrument.measure({ function: 'resistance', range: 100, samples: 2 });
    expect(result).toMatchObject({ overload: true, value: null, min: null, max: null, samples: 2, readings: [100], unit: 'Ohm' });
  });

  it('accepts the rest of the family (34465A) and refuses a range beyond the top one', async () => {
    const { instrument } = await connect<Dmm>({ id: 'dmm1', kind: 'dmm', model: 'keysight-34461a' }, 'Keysight Technologies,34465A,MY59000001,A.03.01');
    const err = (await rejectionOf(instrument.measure({ function: 'current-dc', range: 20 }))) as InstrumentError;
    expect(err.kind).toBe('invalid');
    expect(err.message).toBe('dmm1: 20 A is beyond the top current-dc range (10 A) of keysight-34461a');
  });
});

describe('rigol-dm3058', () => {
  const idn = 'Rigol Technologies,DM3058,DM3A152600001,01.01.00.01.11.00';

  it('selects the function and the range by index, then reads once per sample', async () => {
    const { instrument, peer } = await connect<Dmm>({ id: 'dmm2', kind: 'dmm', model: 'rigol-dm3058' }, idn, (p) => {
      p.noErrorText = '0,"No error"';
      p.answers.set(':MEAS:CURR:DC?', ['1.23400000E-02', '1.23600000E-02']);
      p.answers.set(':MEAS:RES?', '4.70120000E+04');
    });
    const sent = transcript(peer());
    const current = await instrument.measure({ function: 'current-dc', range: 0.02, samples: 2 });
    expect(sent()).toEqual([':FUNC:CURR:DC', 'SYST:ERR?', ':MEAS:CURR:DC 2', 'SYST:ERR?', ':MEAS:CURR:DC?', ':MEAS:CURR:DC?']);
    expect(current.value).toBeCloseTo(0.01235, 9);
    expect(current.range).toBe(0.02);
    const ohms = await instrument.measure({ function: 'resistance', samples: 1 });
    expect(sent()).toEqual([':FUNC:RES', 'SYST:ERR?', ':MEAS AUTO', 'SYST:ERR?', ':MEAS:RES?']);
    expect(ohms.value).toBeCloseTo(47012, 6);
  });
});

describe('keysight-e36312a (E36300)', () => {
  const idn = 'Keysight Technologies,E36312A,MY59001234,2.1.3-1.0.4-1.12';

  it('addresses every setting with a channel list, turns OCP on, clears a trip before switching on', async () => {
    const { instrument, peer } = await connect<Psu>({ id: 'psu1', kind: 'psu', model: 'keysight-e36312a' }, idn, (p) => {
      p.answers.set('MEAS:VOLT? (@1)', '+4.99950000E+00');
      p.answers.set('MEAS:CURR? (@1)', '+1.21000000E-02');
      p.answers.set('CURR:PROT:TRIP? (@1)', ['0', '1']);
    });
    const sent = transcript(peer());
    await instrument.configure(1, { volts: 5, currentLimitA: 1 });
    expect(sent()).toEqual(['VOLT 5,(@1)', 'SYST:ERR?', 'CURR 1,(@1)', 'SYST:ERR?', 'CURR:PROT:STAT ON,(@1)', 'SYST:ERR?']);
    await instrument.output(1, true);
    expect(sent()).toEqual(['OUTP:PROT:CLE (@1)', 'SYST:ERR?', 'OUTP ON,(@1)', 'SYST:ERR?']);
    expect(await instrument.measure(1, 'voltage')).toMatchObject({ value: 4.9995, unit: 'V', channel: 1, serial: 'MY59001234' });
    expect((await instrument.measure(1, 'current')).value).toBeCloseTo(0.0121, 9);
    expect(await instrument.tripped(1)).toBe(false);
    expect(await instrument.tripped(1)).toBe(true);
    await instrument.output(1, false);
    expect(sent()).toEqual(['MEAS:VOLT? (@1)', 'MEAS:CURR? (@1)', 'CURR:PROT:TRIP? (@1)', 'CURR:PROT:TRIP? (@1)', 'OUTP OFF,(@1)', 'SYST:ERR?']);
  });

  it('refuses a channel the model does not have', async () => {
    const { instrument } = await connect<Psu>({ id: 'psu1', kind: 'psu', model: 'keysight-e36312a' }, idn);
    const err = (await rejectionOf(instrument.output(4, true))) as InstrumentError;
    expect(err.kind).toBe('invalid');
    expect(err.message).toBe('psu1: channel 4 does not exist (keysight-e36312a has channels 1 to 3)');
  });
});

describe('rigol-dp832 (DP800)', () => {
  it('uses :APPL CHn, the OCP value at the limit, and reads YES/NO trips', async () => {
    const { instrument, peer } = await connect<Psu>({ id: 'psu2', kind: 'psu', model: 'rigol-dp832' }, 'RIGOL TECHNOLOGIES,DP832,DP8C165000001,00.01.14', (p) => {
      p.noErrorText = '0,"No error"';
      p.answers.set(':MEAS:CURR? CH2', '0.1200');
      p.answers.set(':OUTP:OCP:QUES? CH2', 'YES');
    });
    const sent = transcript(peer());
    await instrument.configure(2, { volts: 3.3, currentLimitA: 0.5 });
    expect(sent()).toEqual([':APPL CH2,3.3,0.5', 'SYST:ERR?', ':OUTP:OCP:VAL CH2,0.5', 'SYST:ERR?', ':OUTP:OCP CH2,ON', 'SYST:ERR?']);
    await instrument.output(2, true);
    expect(sent()).toEqual([':OUTP:OCP:CLEAR CH2', 'SYST:ERR?', ':OUTP CH2,ON', 'SYST:ERR?']);
    expect((await instrument.measure(2, 'current')).value).toBe(0.12);
    expect(await instrument.tripped(2)).toBe(true);
    await instrument.configure(1, { volts: 5, currentLimitA: 1, ocp: false });
    expect(sent()).toEqual([':MEAS:CURR? CH2', ':OUTP:OCP:QUES? CH2', ':APPL CH1,5,1', 'SYST:ERR?', ':OUTP:OCP CH1,OFF', 'SYST:ERR?']);
  });
});

describe('siglent-spd3303x', () => {
  it('uses CHn: prefixes and OUTP CHn,ON; over-current protection is not available over SCPI', async () => {
    const { instrument, peer } = await connect<Psu>({ id: 'psu3', kind: 'psu', model: 'siglent-spd3303x' }, 'Siglent Technologies,SPD3303X,SPD3XIDQ2R0001,1.01.01.02.05,V3.0', (p) => {
      p.knowsCls = false;
      p.noErrorText = '0  No Error';
      p.answers.set('MEAS:VOLT? CH1', '12.500');
    });
    expect(peer().received.slice(0, 2)).toEqual(['*IDN?', 'SYST:ERR?']);
    const sent = transcript(peer());
    await instrument.configure(1, { volts: 12.5, currentLimitA: 1.5 });
    expect(sent()).toEqual(['CH1:VOLT 12.5', 'SYST:ERR?', 'CH1:CURR 1.5', 'SYST:ERR?']);
    await instrument.output(1, true);
    expect(sent()).toEqual(['OUTP CH1,ON', 'SYST:ERR?']);
    expect((await instrument.measure(1, 'voltage')).value).toBe(12.5);
    expect(((await rejectionOf(instrument.configure(1, { volts: 5, currentLimitA: 1, ocp: true }))) as InstrumentError).kind).toBe('unsupported');
    expect(((await rejectionOf(instrument.tripped(1))) as InstrumentError).kind).toBe('unsupported');
  });
});

describe('scpi-switch', () => {
  it('routes with ROUT:CLOS/OPEN channel lists', async () => {
    const { instrument, peer } = await connect<Switch>({ id: 'mux1', kind: 'switch', model: 'scpi-switch' }, 'Keysight Technologies,DAQ970A,MY58000001,A.03.01-01.00-03.01-00.02-01-01', (p) => {
      p.answers.set('ROUT:CLOS? (@103)', '1');
    });
    const sent = transcript(peer());
    await instrument.openAll();
    await instrument.close(103);
    expect(await instrument.isClosed(103)).toBe(true);
    await instrument.open(103);
    expect(sent()).toEqual(['ROUT:OPEN:ALL', 'SYST:ERR?', 'ROUT:CLOS (@103)', 'SYST:ERR?', 'ROUT:CLOS? (@103)', 'ROUT:OPEN (@103)', 'SYST:ERR?']);
  });
});

describe('scpi (generic)', () => {
  it('sends raw writes and queries and refuses a command with a line end inside', async () => {
    const { instrument, peer } = await connect<ScpiInstrument>({ id: 'box1', kind: 'scpi', model: 'scpi', idn: { model: '^DAQ97' } }, 'Keysight Technologies,DAQ970A,MY58000001,A.03.01', (p) => {
      p.answers.set('SYST:VERS?', '1999.0');
    });
    const sent = transcript(peer());
    await instrument.write('DISP:TEXT "TESTING"');
    await expect(instrument.query('SYST:VERS?')).resolves.toBe('1999.0');
    expect(sent()).toEqual(['DISP:TEXT "TESTING"', 'SYST:ERR?', 'SYST:VERS?']);
    expect(((await rejectionOf(instrument.write('OUTP ON\nOUTP OFF'))) as InstrumentError).kind).toBe('invalid');
  });
});

describe('model helpers for config checks', () => {
  it('say what each model can do and how many channels it has', () => {
    expect(modelSupports('keysight-34461a', 'current-dc')).toBe(true);
    expect(modelSupports('keysight-34461a', 'sample-count')).toBe(true);
    expect(modelSupports('rigol-dm3058', 'sample-count')).toBe(false);
    expect(modelSupports('keysight-e36312a', 'ocp')).toBe(true);
    expect(modelSupports('rigol-dp832', 'ocp')).toBe(true);
    expect(modelSupports('siglent-spd3303x', 'ocp')).toBe(false);
    expect(modelSupports('siglent-spd3303x', 'output')).toBe(true);
    expect(modelSupports('scpi-switch', 'close')).toBe(true);
    expect(modelSupports('scpi', 'raw')).toBe(true);
    expect(modelSupports('keysight-34461a', 'ocp')).toBe(false);
    expect(modelSupports('no-such-model', 'current-dc')).toBe(false);
    expect(channelCount('keysight-e36312a')).toBe(3);
    expect(channelCount('rigol-dp832')).toBe(3);
    expect(channelCount('siglent-spd3303x')).toBe(2);
    expect(channelCount('scpi-switch')).toBeNull();
    expect(channelCount('keysight-34461a')).toBeNull();
  });
});
