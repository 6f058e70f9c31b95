import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createInstrument, instrumentConfigSchema, instrumentsConfigSchema } from '../../drivers/instrument/index.js';
import { silentLogger } from '../../station/log.js';

/** The contract's example, as the station config carries it. */
const CONTRACT = [
  { id: 'psu1', kind: 'psu', model: 'keysight-e36312a', transport: { kind: 'tcp', host: '192.0.2.10', port: 5025 } },
  { id: 'dmm1', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'serial', path: '/dev/ttyUSB3', baudRate: 9600 }, calibrationDue: '2027-06-30' },
  { id: 'dmm2', kind: 'dmm', model: 'keysight-34461a', transport: { kind: 'simulated' } },
  { id: 'mux1', kind: 'switch', model: 'scpi-switch', transport: { kind: 'simulated' } },
];

function issues(result: { success: boolean; error?: z.ZodError }): { path: string; message: string }[] {
  return (result.error?.issues ?? []).map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('instrument config schema', () => {
  it('takes the contract example and fills in the defaults', () => {
    const parsed = instrumentsConfigSchema.parse(CONTRACT);
    expect(parsed).toHaveLength(4);
    expect(parsed[0]).toMatchObject({ terminator: 'LF', reconnectInitialMs: 500, reconnectMaxMs: 10_000, transport: { kind: 'tcp', host: '192.0.2.10', port: 5025, connectTimeoutMs: 3000 } });
    expect(parsed[1]).toMatchObject({ calibrationDue: '2027-06-30', transport: { baudRate: 9600 } });
    expect(parsed[2]?.transport).toEqual({ kind: 'simulated', latencyMs: 0 });
    expect(instrumentsConfigSchema.parse(undefined)).toEqual([]);
    // TCP takes 5025 when no port is given (LXI).
    expect(instrumentConfigSchema.parse({ id: 'p', kind: 'psu', model: 'rigol-dp832', transport: { kind: 'tcp', host: 'psu.local' } }).transport).toMatchObject({ port: 5025 });
  });

  it('refuses a kind that does not agree with the model, at the path of the kind', () => {
    const station = z.object({ instruments: instrumentsConfigSchema });
    const result = station.safeParse({ instruments: [CONTRACT[0], { ...CONTRACT[1], kind: 'psu' }] });
    expect(issues(result)).toEqual([{ path: 'instruments.1.kind', message: 'model "keysight-34461a" is a dmm, not a psu' }]);
  });

  it('refuses a repeated id, an unknown model, a bad date, a bad pattern and unknown keys', () => {
    expect(issues(instrumentsConfigSchema.safeParse([CONTRACT[0], { ...CONTRACT[2], id: 'psu1' }]))).toEqual([{ path: '1.id', message: 'instrument id "psu1" is already used by instruments[0]' }]);
    expect(issues(instrumentConfigSchema.safeParse({ ...CONTRACT[1], model: 'fluke-8846a' }))[0]?.path).toBe('model');
    expect(issues(instrumentConfigSchema.safeParse({ ...CONTRACT[1], calibrationDue: '2027-13-01' }))[0]?.path).toBe('calibrationDue');
    expect(issues(instrumentConfigSchema.safeParse({ ...CONTRACT[3], kind: 'switch', idn: { model: '(' } }))).toEqual([{ path: 'idn.model', message: 'not a valid regular expression' }]);
    expect(issues(instrumentConfigSchema.safeParse({ ...CONTRACT[0], transport: { kind: 'tcp', host: 'x', baudRate: 9600 } }))[0]?.path).toBe('transport');
    expect(issues(instrumentConfigSchema.safeParse({ ...CONTRACT[0], reconnectInitialMs: 5000, reconnectMaxMs: 1000 }))[0]?.path).toBe('reconnectMaxMs');
  });

  it('makes createInstrument name the instrument and the key path of a bad entry, and ask for a bench when simulated', () => {
    expect(() => createInstrument({ ...CONTRACT[1], kind: 'switch' } as never, { log: silentLogger() })).toThrow(
      'instrument dmm1: config is invalid: kind: model "keysight-34461a" is a dmm, not a switch',
    );
    expect(() => createInstrument(CONTRACT[2] as never, { log: silentLogger() })).toThrow('instrument dmm2: its transport is "simulated" but no simulated bench was handed to createInstrument');
  });
});
