// A simulated generic SCPI instrument for the `scpi` model: the common commands, the error queue,
// a display text to write and read back, and SYST:VERS?; enough for raw writes and queries from a
// sequence to be tried before the real instrument is on the bench.
import { ScpiCommandError } from './scpi-parser.js';
import { SimulatedScpiDevice, type DeviceIdentity, type SimCommand } from './scpi-device.js';

export class SimulatedGenericInstrument extends SimulatedScpiDevice {
  private text = '';

  constructor(identity: DeviceIdentity) {
    super('scpi', identity, 'signed');
  }

  protected reset(): void {
    this.text = '';
  }

  protected commands(): SimCommand[] {
    return [
      {
        pattern: 'DISPlay[:WINDow]:TEXT[:DATA]',
        run: ({ params }) => {
          const m = /^"(.{0,40})"$/.exec(params[0] ?? '');
          if (!m) throw new ScpiCommandError(params.length === 0 ? '-109' : '-104');
          this.text = m[1] as string;
        },
      },
      { pattern: 'DISPlay[:WINDow]:TEXT[:DATA]?', run: () => `"${this.text}"` },
      { pattern: 'DISPlay[:WINDow]:TEXT:CLEar', run: () => void (this.text = '') },
      { pattern: 'SYSTem:VERSion?', run: () => '1999.0' },
    ];
  }
}
