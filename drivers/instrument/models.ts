// The instrument models as data: for each model, how it names itself in *IDN?, the commands for the
// functions the station uses, and its limits. The drivers (dmm.ts, psu.ts, switch.ts) only fill
// these templates in; a new model is a new entry here, never a branch in a driver. The simulators
// read the same table for identities and limits. Every command and its source guide is listed in
// docs/instruments.md; keep the two in step.
//
// Templates: `{ch}` channel number, `{volts}`, `{amps}`, `{range}` (a value, or an index into
// `ranges` when `rangeArgument` is "index"), `{count}`, `{state}` (ON/OFF).

export type InstrumentKind = 'dmm' | 'psu' | 'switch' | 'scpi';
export type DmmFunction = 'voltage-dc' | 'current-dc' | 'resistance';
export type MeasureUnit = 'V' | 'A' | 'Ohm';

export const DMM_FUNCTIONS: readonly DmmFunction[] = ['voltage-dc', 'current-dc', 'resistance'];

/** How an instrument must answer *IDN? (manufacturer and model fields) to be the configured one. */
export interface IdentityRule {
  manufacturer: RegExp;
  model: RegExp;
  /** For "expected X, answered Y". */
  describe: string;
}

interface ModelBase {
  kind: InstrumentKind;
  identity: IdentityRule;
  /** The programming guide the commands come from (docs/instruments.md has the details). */
  guide: string;
  /** Per-command timeout unless the config sets `timeoutMs`. */
  defaultTimeoutMs: number;
  /** Sent after every (re)connect, then the error queue is drained. */
  clearOnConnect: string[];
  /** The error queue query; answers `<code>,"<text>"`, code 0 when empty. */
  errorQuery: string;
  /** Some instruments drop commands sent back to back: the least time between two messages. */
  minCommandGapMs: number;
}

export interface DmmFunctionSpec {
  unit: MeasureUnit;
  /** The instrument's ranges, ascending, in the function's unit. */
  ranges: number[];
  /** How `{range}` is written: the range itself (0.01) or its position in `ranges` (2). */
  rangeArgument: 'value' | 'index';
  configure: string[];
  configureAuto: string[];
  /** The query that takes and returns the reading(s), comma separated when a sample count is set. */
  read: string;
}

export interface DmmModel extends ModelBase {
  kind: 'dmm';
  functions: Partial<Record<DmmFunction, DmmFunctionSpec>>;
  /** The instrument takes N readings per READ? itself; null: the driver reads N times. */
  sampleCount: { command: string; max: number } | null;
  /** Time one reading takes at the settings the configure commands leave (for timeouts). */
  readingMs: number;
}

export interface PsuChannelSpec {
  maxVolts: number;
  maxAmps: number;
}

export interface PsuModel extends ModelBase {
  kind: 'psu';
  channels: PsuChannelSpec[];
  commands: {
    configure: string[];
    /** Over-current protection at the current limit; absent: the model has no remote OCP. */
    ocpOn?: string[];
    ocpOff?: string[];
    /** Turning a channel on first clears a latched protection trip, as the guides require. */
    outputOn: string[];
    outputOff: string[];
    measureVoltage: string;
    measureCurrent: string;
    /** OCP has tripped and not been cleared: a boolean answer (1/0, ON/OFF, YES/NO), or, with
     *  `ocpTrippedMask`, a status register whose bits under the mask say so. */
    ocpTripped?: string;
    ocpTrippedMask?: number;
  };
}

export interface SwitchModel extends ModelBase {
  kind: 'switch';
  /** null: channel numbers are the unit's own (slot + channel, 1001 on a 34980A); up to 9999. */
  channels: number | null;
  commands: { close: string[]; open: string[]; openAll: string[]; isClosed: string };
}

export interface GenericModel extends ModelBase {
  kind: 'scpi';
}

export type InstrumentModel = DmmModel | PsuModel | SwitchModel | GenericModel;

const KEYSIGHT = /^(Keysight|Agilent) Technologies$/i;
const RIGOL = /^Rigol Technologies$/i;
const ANY = /^.+$/;

const SCPI_1999 = { clearOnConnect: ['*CLS'], errorQuery: 'SYST:ERR?', minCommandGapMs: 0 };

export const MODELS = {
  // Keysight Truevolt Series Operating and Service Guide, SCPI Programming Reference (CONFigure,
  // SAMPle:COUNt, READ?); the 3446xA family shares these commands.
  'keysight-34461a': {
    kind: 'dmm',
    identity: { manufacturer: KEYSIGHT, model: /^(34460A|34461A|34465A|34470A)$/i, describe: 'a Keysight Truevolt DMM (34460A, 34461A, 34465A or 34470A)' },
    guide: 'Keysight Truevolt Series Operating and Service Guide (34460A/61A/65A/70A), SCPI Programming Reference',
    defaultTimeoutMs: 2000,
    ...SCPI_1999,
    functions: {
      'voltage-dc': { unit: 'V', ranges: [0.1, 1, 10, 100, 1000], rangeArgument: 'value', configure: ['CONF:VOLT:DC {range}'], configureAuto: ['CONF:VOLT:DC AUTO'], read: 'READ?' },
      'current-dc': { unit: 'A', ranges: [1e-4, 1e-3, 1e-2, 0.1, 1, 3, 10], rangeArgument: 'value', configure: ['CONF:CURR:DC {range}'], configureAuto: ['CONF:CURR:DC AUTO'], read: 'READ?' },
      resistance: { unit: 'Ohm', ranges: [100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8], rangeArgument: 'value', configure: ['CONF:RES {range}'], configureAuto: ['CONF:RES AUTO'], read: 'READ?' },
    },
    // CONFigure sets the count back to 1, so it is sent after every configure.
    sampleCount: { command: 'SAMP:COUN {count}', max: 1000 },
    // CONFigure leaves 10 PLC: 200 ms at 50 Hz mains.
    readingMs: 200,
  },
  // Rigol DM3058/DM3058E Programming Guide, RIGOL command set (:FUNCtion, :MEASure); ranges are
  // chosen by index. No sample count in that command set: the driver reads N times.
  'rigol-dm3058': {
    kind: 'dmm',
    identity: { manufacturer: RIGOL, model: /^DM3058E?$/i, describe: 'a Rigol DM3058 or DM3058E DMM' },
    guide: 'Rigol DM3058/DM3058E Programming Guide, RIGOL command set (:FUNCtion, :MEASure, *IDN?, :SYSTem:ERRor?)',
    defaultTimeoutMs: 3000,
    ...SCPI_1999,
    functions: {
      'voltage-dc': {
        unit: 'V',
        ranges: [0.2, 2, 20, 200, 1000],
        rangeArgument: 'index',
        configure: [':FUNC:VOLT:DC', ':MEAS:VOLT:DC {range}'],
        configureAuto: [':FUNC:VOLT:DC', ':MEAS AUTO'],
        read: ':MEAS:VOLT:DC?',
      },
      'current-dc': {
        unit: 'A',
        ranges: [2e-4, 2e-3, 2e-2, 0.2, 2, 10],
        rangeArgument: 'index',
        configure: [':FUNC:CURR:DC', ':MEAS:CURR:DC {range}'],
        configureAuto: [':FUNC:CURR:DC', ':MEAS AUTO'],
        read: ':MEAS:CURR:DC?',
      },
      resistance: {
        unit: 'Ohm',
        ranges: [200, 2e3, 2e4, 2e5, 1e6, 1e7, 1e8],
        rangeArgument: 'index',
        configure: [':FUNC:RES', ':MEAS:RES {range}'],
        configureAuto: [':FUNC:RES', ':MEAS AUTO'],
        read: ':MEAS:RES?',
      },
    },
    sampleCount: null,
    // Slow rate (the power-on default): 2.5 readings a second.
    readingMs: 400,
  },
  // Keysight E36300 Series Programming Guide: every setting takes a channel list (@n).
  'keysight-e36312a': {
    kind: 'psu',
    identity: { manufacturer: KEYSIGHT, model: /^E3631[123]A$/i, describe: 'a Keysight E36300 supply (E36311A, E36312A or E36313A)' },
    guide: 'Keysight E36300 Series Programming Guide (SOURce, OUTPut, MEASure with channel lists)',
    defaultTimeoutMs: 2000,
    ...SCPI_1999,
    channels: [
      { maxVolts: 6.18, maxAmps: 5.15 },
      { maxVolts: 25.75, maxAmps: 1.03 },
      { maxVolts: 25.75, maxAmps: 1.03 },
    ],
    commands: {
      configure: ['VOLT {volts},(@{ch})', 'CURR {amps},(@{ch})'],
      ocpOn: ['CURR:PROT:STAT ON,(@{ch})'],
      ocpOff: ['CURR:PROT:STAT OFF,(@{ch})'],
      outputOn: ['OUTP:PROT:CLE (@{ch})', 'OUTP ON,(@{ch})'],
      outputOff: ['OUTP OFF,(@{ch})'],
      measureVoltage: 'MEAS:VOLT? (@{ch})',
      measureCurrent: 'MEAS:CURR? (@{ch})',
      ocpTripped: 'CURR:PROT:TRIP? (@{ch})',
    },
  },
  // Keysight N6700 modular power system (N6700C/N6701C/N6702C mainframe, up to 4 output modules;
  // here 4 x N6731B, 8 V / 5 A): the E36300's channel-list commands; an OCP trip is the OC bit (1)
  // of the questionable status condition register (N6700 Series Programmer's Reference, STATus).
  'keysight-n6700': {
    kind: 'psu',
    identity: { manufacturer: KEYSIGHT, model: /^N670[0-2][BC]$/i, describe: 'a Keysight N6700 modular power system (N6700, N6701 or N6702 mainframe)' },
    guide: "Keysight N6700 Series Programmer's Reference (SOURce, OUTPut, MEASure and STATus:QUEStionable with channel lists)",
    defaultTimeoutMs: 2000,
    ...SCPI_1999,
    channels: [
      { maxVolts: 8.16, maxAmps: 5.1 },
      { maxVolts: 8.16, maxAmps: 5.1 },
      { maxVolts: 8.16, maxAmps: 5.1 },
      { maxVolts: 8.16, maxAmps: 5.1 },
    ],
    commands: {
      configure: ['VOLT {volts},(@{ch})', 'CURR {amps},(@{ch})'],
      ocpOn: ['CURR:PROT:STAT ON,(@{ch})'],
      ocpOff: ['CURR:PROT:STAT OFF,(@{ch})'],
      outputOn: ['OUTP:PROT:CLE (@{ch})', 'OUTP ON,(@{ch})'],
      outputOff: ['OUTP OFF,(@{ch})'],
      measureVoltage: 'MEAS:VOLT? (@{ch})',
      measureCurrent: 'MEAS:CURR? (@{ch})',
      ocpTripped: 'STAT:QUES:COND? (@{ch})',
      ocpTrippedMask: 2,
    },
  },
  // Rigol DP800 Programming Guide: channels named CH1..CH3; OCP has its own threshold, set to the
  // current limit.
  'rigol-dp832': {
    kind: 'psu',
    identity: { manufacturer: RIGOL, model: /^DP832A?$/i, describe: 'a Rigol DP832 or DP832A supply' },
    guide: 'Rigol DP800 Series Programming Guide (:APPLy, :OUTPut, :OUTPut:OCP, :MEASure)',
    defaultTimeoutMs: 2000,
    ...SCPI_1999,
    channels: [
      { maxVolts: 32, maxAmps: 3.2 },
      { maxVolts: 32, maxAmps: 3.2 },
      { maxVolts: 5.3, maxAmps: 3.2 },
    ],
    commands: {
      configure: [':APPL CH{ch},{volts},{amps}'],
      ocpOn: [':OUTP:OCP:VAL CH{ch},{amps}', ':OUTP:OCP CH{ch},ON'],
      ocpOff: [':OUTP:OCP CH{ch},OFF'],
      outputOn: [':OUTP:OCP:CLEAR CH{ch}', ':OUTP CH{ch},ON'],
      outputOff: [':OUTP CH{ch},OFF'],
      measureVoltage: ':MEAS:VOLT? CH{ch}',
      measureCurrent: ':MEAS:CURR? CH{ch}',
      ocpTripped: ':OUTP:OCP:QUES? CH{ch}',
    },
  },
  // Siglent SPD3303X/X-E Quick Start (remote control chapter): two programmable channels; no
  // *CLS and no over-current protection over SCPI (a short shows as constant current).
  'siglent-spd3303x': {
    kind: 'psu',
    identity: { manufacturer: /^Siglent Technologies$/i, model: /^SPD3303X(-E)?$/i, describe: 'a Siglent SPD3303X or SPD3303X-E supply' },
    guide: 'Siglent SPD3303X/SPD3303X-E Quick Start, SCPI command chapter',
    defaultTimeoutMs: 2000,
    clearOnConnect: [],
    errorQuery: 'SYST:ERR?',
    // Commands sent back to back are known to be dropped; users space them (about 100 ms).
    minCommandGapMs: 100,
    channels: [
      { maxVolts: 32, maxAmps: 3.2 },
      { maxVolts: 32, maxAmps: 3.2 },
    ],
    commands: {
      configure: ['CH{ch}:VOLT {volts}', 'CH{ch}:CURR {amps}'],
      outputOn: ['OUTP CH{ch},ON'],
      outputOff: ['OUTP CH{ch},OFF'],
      measureVoltage: 'MEAS:VOLT? CH{ch}',
      measureCurrent: 'MEAS:CURR? CH{ch}',
    },
  },
  // Generic SCPI-1999 ROUTe subsystem with channel lists, as a Keysight 34980A, DAQ970A or 34970A
  // mainframe, a Rigol M300 or a Keithley 2750 take it.
  'scpi-switch': {
    kind: 'switch',
    identity: { manufacturer: ANY, model: ANY, describe: 'any SCPI switch unit' },
    guide: 'SCPI-1999 ROUTe subsystem; Keysight 34980A and DAQ970A programming references (ROUTe:CLOSe, ROUTe:OPEN, ROUTe:OPEN:ALL)',
    defaultTimeoutMs: 2000,
    ...SCPI_1999,
    channels: null,
    commands: {
      close: ['ROUT:CLOS (@{ch})'],
      open: ['ROUT:OPEN (@{ch})'],
      openAll: ['ROUT:OPEN:ALL'],
      isClosed: 'ROUT:CLOS? (@{ch})',
    },
  },
  // Any SCPI instrument: raw writes and queries from a sequence.
  scpi: {
    kind: 'scpi',
    identity: { manufacturer: ANY, model: ANY, describe: 'any SCPI instrument' },
    guide: 'IEEE 488.2 common commands (*IDN?, *CLS) and SCPI-1999 SYSTem:ERRor?',
    defaultTimeoutMs: 5000,
    ...SCPI_1999,
  },
} as const satisfies Record<string, InstrumentModel>;

export type ModelName = keyof typeof MODELS;
export const MODEL_NAMES = Object.keys(MODELS) as [ModelName, ...ModelName[]];

/** The highest channel number of a switch whose channels are the unit's own. */
export const MAX_SWITCH_CHANNEL = 9999;

export function isModelName(name: string): name is ModelName {
  return Object.prototype.hasOwnProperty.call(MODELS, name);
}

export function modelOf(name: ModelName): InstrumentModel {
  return MODELS[name];
}

/** What the station's config checks ask about: can this model do that? */
export type InstrumentFunction = DmmFunction | 'sample-count' | 'configure' | 'output' | 'measure-voltage' | 'measure-current' | 'ocp' | 'close' | 'open' | 'open-all' | 'raw';

/** Whether `model` can do `fn` (false for an unknown model or function). */
export function modelSupports(model: string, fn: string): boolean {
  if (!isModelName(model)) return false;
  const m: InstrumentModel = MODELS[model];
  switch (m.kind) {
    case 'dmm':
      if (fn === 'sample-count') return m.sampleCount !== null;
      return (DMM_FUNCTIONS as readonly string[]).includes(fn) && m.functions[fn as DmmFunction] !== undefined;
    case 'psu':
      if (fn === 'ocp') return m.commands.ocpOn !== undefined && m.commands.ocpTripped !== undefined;
      return ['configure', 'output', 'measure-voltage', 'measure-current'].includes(fn);
    case 'switch':
      return ['close', 'open', 'open-all'].includes(fn);
    case 'scpi':
      return fn === 'raw';
  }
}

/** A supply's channel count; a switch's when fixed; null where the model does not fix one. */
export function channelCount(model: string): number | null {
  if (!isModelName(model)) return null;
  const m: InstrumentModel = MODELS[model];
  if (m.kind === 'psu') return m.channels.length;
  if (m.kind === 'switch') return m.channels;
  return null;
}

/** Fills a command template; a placeholder with no value is a programming error. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{([a-z]+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`command template "${template}" needs {${key}}`);
    return typeof value === 'number' ? formatScpiNumber(value) : value;
  });
}

/** A number as SCPI numeric program data: plain where short, with an exponent where tiny or huge. */
export function formatScpiNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`cannot send ${value} to an instrument`);
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1e-3 && abs < 1e9) return String(Number(value.toPrecision(9)));
  return value
    .toExponential(8)
    .replace(/\.?0+e/, 'E')
    .replace('E+', 'E');
}
