// What the sequence editor knows about each step kind: the settings it has a field for, the step a
// new one starts as, and where a kind may stand. The daemon's schema (station/sequence/steps/) is
// the authority: a setting missing here is still kept and sent back as it was (the editor shows it
// as "kept as it is"), and a wrong value is named by the daemon at its field.

/** Every kind the form can edit. `script` is opaque here: its module path and timeout. */
export const STEP_TYPES = ['identify', 'interlock', 'blinkup', 'measure', 'prompt', 'scan', 'delay', 'group', 'power', 'instrument', 'script', 'bless'];

/** Kinds that belong to the run as a whole: never inside a group. */
export const NOT_IN_A_GROUP = new Set(['identify', 'interlock', 'blinkup', 'bless']);

/** Kinds the "add step" choice offers at the top level (identify and bless are there once, first and last;
 *  an interlock stands right after identify: a step there is turned into one with its type). */
export const ADDABLE = ['measure', 'prompt', 'scan', 'delay', 'group', 'power', 'instrument', 'script', 'blinkup'];
export const ADDABLE_IN_GROUP = ADDABLE.filter((t) => !NOT_IN_A_GROUP.has(t));

/**
 * The settings of each step type: [key, kind, label, shownWhen?]. `key` is a key of the step or a
 * path under it (['repeat', 'max']). kind: text | int | num | bool | list (comma-separated) |
 * lines (one per line) | textarea | instrument (an instrument id) | select:a|b (with a default) |
 * choice:a|b (one of these, no default) | limit | source (a measure's command or instrument,
 * DUT_VALUE_FIELDS or SOURCE_FIELDS) | reads | steps | no-command.
 */
export const STEP_FIELDS = {
  identify: [
    ['command', 'text', 'command', (s) => s.command !== null],
    ['command', 'no-command', 'no identity command: every field comes from "read"'],
    ['read', 'reads', 'fields read one command each'],
    ['fields', 'list', 'other fields it reports (comma-separated: model, fw)'],
    ['deviceIdHexLength', 'int', 'Device ID hex length'],
    ['requireCellular', 'bool', 'require cellular (ICCID + IMEI)'],
    ['timeoutMs', 'int', 'timeout (ms)'],
    ['retries', 'int', 'retries'],
  ],
  interlock: [],
  blinkup: [
    ['timeoutMs', 'int', 'enrollment timeout (ms)'],
    ['tokenRetries', 'int', 'token retries'],
    ['noAnswerRetries', 'int', 'no-answer retries'],
  ],
  measure: [
    ['source', 'source', 'value from'],
    ['measurement', 'text', 'measurement name'],
    ['unit', 'text', 'unit'],
    ['timeoutMs', 'int', 'timeout (ms)'],
    ['retries', 'int', 'retries'],
    ['limit', 'limit', 'limit'],
  ],
  prompt: [
    ['text', 'words', 'prompt text (one line; or a line per language: "de: ...")'],
    ['answers', 'list', 'answers (comma-separated)'],
    ['pass', 'list', 'passing answers'],
    ['timeoutMs', 'int', 'timeout (ms)'],
    ['retries', 'int', 'retries'],
  ],
  scan: [
    ['text', 'words', 'prompt text (one line; or a line per language: "de: ...")'],
    ['expect', 'select:label|deviceId|mac|iccid|imei|pattern', 'expect'],
    ['pattern', 'text', 'pattern (regex, for expect "pattern")'],
    ['match', 'list', 'must match the DUT (comma-separated: deviceId, mac, iccid, imei)'],
    ['sample', 'text', 'a sample scan, shown to operators (SN1A2B3C4D)'],
    ['timeoutMs', 'int', 'timeout (ms)'],
  ],
  delay: [['ms', 'int', 'delay (ms)']],
  group: [
    [['repeat', 'max'], 'int', 'attempts at most (repeat.max)'],
    ['steps', 'steps', 'steps'],
  ],
  power: [
    ['action', 'choice:on|off|cycle', 'action'],
    ['settleMs', 'int', 'settle (ms)'],
    ['offMs', 'int', 'off time for a cycle (ms)'],
    ['timeoutMs', 'int', 'boot timeout (ms)'],
  ],
  instrument: [
    ['instrument', 'instrument', 'instrument id'],
    ['write', 'lines', 'writes (one SCPI command a line)'],
    ['query', 'text', 'query'],
    ['capture', 'text', 'capture (regex)'],
    ['as', 'select:number|string', 'value as'],
    ['measurement', 'text', 'measurement name'],
    ['unit', 'text', 'unit'],
    ['timeoutMs', 'int', 'timeout (ms)'],
    ['retries', 'int', 'retries'],
    ['limit', 'limit', 'limit'],
  ],
  script: [
    ['module', 'text', 'module (sequences/x.ts)'],
    ['timeoutMs', 'int', 'timeout (ms)'],
  ],
  bless: [
    ['command', 'text', 'command'],
    ['timeoutMs', 'int', 'timeout (ms)'],
  ],
};

export const LIMIT_FIELDS = {
  range: [
    ['low', 'num', 'low'],
    ['high', 'num', 'high'],
    ['marginalLow', 'num', 'marginal low'],
    ['marginalHigh', 'num', 'marginal high'],
  ],
  equals: [
    ['value', 'value', 'value'],
    ['tolerance', 'num', 'tolerance'],
  ],
  regex: [['pattern', 'text', 'pattern']],
};

/** Where a measure step's value comes from: the DUT's answer (these settings of the step), or an instrument's `source`. */
export const DUT_VALUE_FIELDS = [
  ['command', 'text', 'command'],
  ['capture', 'text', 'capture (regex)'],
  ['as', 'select:number|string', 'value as'],
];

/** An instrument source's settings, by what reads it. */
export const SOURCE_FIELDS = {
  dmm: [
    ['instrument', 'instrument', 'DMM id'],
    ['function', 'choice:voltage-dc|current-dc|resistance', 'function'],
    ['range', 'num', 'range (largest value expected)'],
    ['samples', 'int', 'samples (mean of)'],
    ['intervalMs', 'int', 'between samples (ms)'],
  ],
  supply: [
    ['instrument', 'instrument', 'supply id'],
    ['function', 'choice:voltage|current', 'function'],
    ['channel', 'int', "channel (empty: the slot's own)"],
  ],
};
export const SUPPLY_FUNCTIONS = new Set(['voltage', 'current']);

export const NEW_STEP = {
  identify: { type: 'identify', deviceIdHexLength: 16 },
  interlock: { type: 'interlock' },
  blinkup: { type: 'blinkup' },
  measure: { type: 'measure', command: 'MEAS VBAT', capture: 'v=(-?[0-9.]+)', unit: 'V', limit: { kind: 'range', low: 0, high: 1 } },
  prompt: { type: 'prompt', text: 'Is it right?', answers: ['yes', 'no'], pass: ['yes'] },
  scan: { type: 'scan', text: 'Scan the box label', expect: 'label' },
  delay: { type: 'delay', ms: 100 },
  group: { type: 'group', repeat: { max: 2, until: 'pass' }, steps: [{ type: 'delay', name: 'Wait', ms: 100 }] },
  power: { type: 'power', action: 'cycle', settleMs: 300, offMs: 500 },
  instrument: { type: 'instrument', instrument: 'scpi1', write: [], query: '*IDN?', capture: '(.*)', as: 'string' },
  script: { type: 'script', module: 'sequences/script.ts', timeoutMs: 10000 },
  bless: { type: 'bless' },
};

/** A new source when the value is to come from a DMM or a supply channel (the first such instrument the station has). */
export function newSource(mode, instruments) {
  const first = (kind, fallback) => (instruments.find((i) => i.kind === kind) || { id: fallback }).id;
  return mode === 'dmm' ? { instrument: first('dmm', 'dmm1'), function: 'voltage-dc' } : { instrument: first('psu', 'psu1'), function: 'voltage' };
}

/** The keys of a step the form has a field for (the rest are kept as they are). */
export function editedKeys(type) {
  const fields = [...(STEP_FIELDS[type] || []), ...(type === 'measure' ? DUT_VALUE_FIELDS : [])];
  return new Set(['type', 'name', 'operatorText', 'onFail', ...fields.map(([key]) => (Array.isArray(key) ? key[0] : key))]);
}

/** Every step with a name, the steps inside groups included, in order. */
export function allSteps(steps) {
  if (!Array.isArray(steps)) return [];
  return steps.flatMap((s) => (s && typeof s === 'object' ? [s, ...allSteps(s.steps)] : []));
}

/** The steps a product variant can give a limit to: those that judge a value. */
export function judgedSteps(def) {
  return allSteps(def && def.steps).filter((s) => (s.type === 'measure' || s.type === 'instrument') && typeof s.name === 'string');
}
