import { describe, expect, it } from 'vitest';
import { createSimulatedInstrument } from '../../drivers/instrument/simulator/devices.js';
import { compilePattern, matchHeader, parseChannelList, parseProgramMessage } from '../../drivers/instrument/simulator/scpi-parser.js';
import type { SimulatedScpiDevice } from '../../drivers/instrument/simulator/scpi-device.js';

/** Sends each line and returns the answers (null: none), then the error queue. */
async function run(device: SimulatedScpiDevice, lines: string[]): Promise<{ answers: (string | null)[]; errors: string[] }> {
  const answers: (string | null)[] = [];
  for (const line of lines) answers.push(await device.execute(line));
  return { answers, errors: device.errorQueue };
}

describe('the simulators’ SCPI parser', () => {
  it('splits a program message into units, keeping quoted text and channel lists whole', () => {
    expect(parseProgramMessage('VOLT 5,(@1,2);:OUTP ON,(@1:3);DISP:TEXT "A;B,C"')).toEqual([
      { common: false, root: false, nodes: ['VOLT'], query: false, params: ['5', '(@1,2)'] },
      { common: false, root: true, nodes: ['OUTP'], query: false, params: ['ON', '(@1:3)'] },
      { common: false, root: false, nodes: ['DISP', 'TEXT'], query: false, params: ['"A;B,C"'] },
    ]);
    expect(parseProgramMessage('*idn?')).toEqual([{ common: true, root: true, nodes: ['*IDN'], query: true, params: [] }]);
  });

  it('matches headers in either form, any case, with optional nodes and numeric suffixes', () => {
    const volt = compilePattern('[SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]');
    for (const header of ['VOLT', 'volt', 'Voltage', 'SOUR:VOLT', 'source:voltage:level:immediate:amplitude', 'SOUR2:VOLT:LEV']) {
      expect(matchHeader(volt, header.split(':')), header).not.toBeNull();
    }
    expect(matchHeader(volt, ['SOUR2', 'VOLT'])?.[0]).toBe(2);
    for (const header of ['VOL', 'VOLTAG', 'SOURC:VOLT', 'VOLT:LEV:LEV']) expect(matchHeader(volt, header.split(':')), header).toBeNull();
    const ch = compilePattern('CH#:VOLTage');
    expect(matchHeader(ch, ['CH2', 'VOLT'])).toEqual([2, 1]);
    expect(matchHeader(compilePattern('CONFigure:CURRent[:DC]'), ['CONF', 'CURR', 'DC'])).not.toBeNull();
    expect(matchHeader(compilePattern('CONFigure[:VOLTage]:DC'), ['CONF', 'CURR', 'DC'])).toBeNull();
  });

  it('reads channel lists with ranges', () => {
    expect(parseChannelList('(@1)')).toEqual([1]);
    expect(parseChannelList('(@101:103,201)')).toEqual([101, 102, 103, 201]);
    expect(parseChannelList('(@3:1)')).toEqual([3, 2, 1]);
    expect(parseChannelList('CH1')).toBeNull();
  });
});

describe('a simulated instrument', () => {
  it('answers *IDN? with its model and serial, and queues -113 for an unknown header', async () => {
    const dmm = createSimulatedInstrument('keysight-34461a', { seed: 42, readingMs: 0 });
    const { answers, errors } = await run(dmm, ['*IDN?', 'CONF:FROB 1', 'VOLTAG?']);
    expect(answers[0]).toBe(`Keysight Technologies,34461A,${dmm.identity.serial},${dmm.identity.firmware}`);
    expect(dmm.identity.serial).toMatch(/^MY57\d{6}$/);
    expect(errors).toEqual(['-113,"Undefined header"', '-113,"Undefined header"']);
    expect(await dmm.execute('SYST:ERR?')).toBe('-113,"Undefined header"');
    expect(await dmm.execute('syst:err?')).toBe('-113,"Undefined header"');
    expect(await dmm.execute('SYSTem:ERRor:NEXT?')).toBe('+0,"No error"');
  });

  it('queues -222 for a value out of range, continues a header path after ";", and joins query answers', async () => {
    const psu = createSimulatedInstrument('keysight-e36312a', { seed: 1 });
    const { answers, errors } = await run(psu, ['VOLT 40,(@1)', 'SOUR:VOLT 5,(@2);CURR 0.25,(@2)', 'VOLT? (@2);CURR? (@2)', 'volt 3.3,(@1:3);:outp on,(@1);*OPC?', 'OUTP? (@1,2)']);
    expect(errors).toEqual(['-222,"Data out of range"']);
    expect(answers[2]).toBe('+5.00000E+00;+2.50000E-01');
    expect(answers[3]).toBe('1');
    expect(answers[4]).toBe('1,0');
  });

  it('keeps 20 errors and marks an overflow with -350', async () => {
    const sw = createSimulatedInstrument('scpi-switch', { seed: 1 });
    for (let i = 0; i < 25; i++) await sw.execute('ROUT:FOO');
    expect(sw.errorQueue).toHaveLength(20);
    expect(sw.errorQueue.at(-1)).toBe('-350,"Queue overflow"');
    await sw.execute('*CLS');
    expect(sw.errorQueue).toEqual([]);
  });

  it('speaks each model’s dialect and error format', async () => {
    const rigol = createSimulatedInstrument('rigol-dp832', { seed: 1 });
    expect((await run(rigol, [':APPL CH1,5,1', ':APPL? CH1', ':OUTP:OCP? CH1', ':OUTP CH1,ON', ':OUTP? CH1', ':APPL CH3,12', 'SYST:ERR?'])).answers).toEqual([
      null,
      'CH1,5.000,1.0000',
      'OFF',
      null,
      'ON',
      null,
      '-222,"Data out of range"',
    ]);
    const siglent = createSimulatedInstrument('siglent-spd3303x', { seed: 1 });
    expect((await run(siglent, ['CH2:VOLT 12', 'CH2:VOLT?', 'OUTP CH2,ON', 'SYST:STAT?', '*CLS', 'SYST:ERR?', 'SYST:ERR?'])).answers).toEqual([
      null,
      '12.000',
      null,
      '0x0024',
      null,
      '-113  Undefined header',
      '0  No Error',
    ]);
    const dm3058 = createSimulatedInstrument('rigol-dm3058', { seed: 1, readingMs: 0 });
    expect((await run(dm3058, [':FUNC:CURR:DC', ':MEAS:CURR:DC 9', ':FUNC?', 'SYST:ERR?'])).answers).toEqual([null, null, 'DCI', '-222,"Data out of range"']);
  });

  it('reads an open circuit as the overload value, and nothing routed as zero', async () => {
    const dmm = createSimulatedInstrument('keysight-34461a', { seed: 1, readingMs: 0 });
    expect(await dmm.execute('MEAS:RES?')).toBe('+9.90000000E+37');
    const zero = Number(await dmm.execute('MEAS:CURR:DC?'));
    expect(Math.abs(zero)).toBeLessThan(1e-8);
    await dmm.execute('CONF:VOLT:DC 10;:SAMP:COUN 3');
    expect((await dmm.execute('READ?'))?.split(',')).toHaveLength(3);
  });
});
