// A run as an OpenHTF test record: the JSON that OpenHTF's own OutputToJSON writes
// (openhtf/output/callbacks/json_factory.py: TestRecord → data.convert_to_base_types), so tools
// that read OpenHTF records read the station's. A pure function of the run as GET /api/runs/:id
// shows it: the API serves it (?format=openhtf) and a file sink can write it.
//
// Field names and value shapes follow google/openhtf (read at commit efec5c72, 2026-07-23):
// - openhtf/core/test_record.py: TestRecord.as_base_types (dut_id, station_id, start_time_millis,
//   end_time_millis, outcome PASS|FAIL|ERROR|TIMEOUT|ABORTED, outcome_details [{code,
//   description}], marginal, metadata, phases, subtests, branches, diagnosers, diagnoses,
//   log_records, code_info), PhaseRecord.as_base_types (every attribute; outcome
//   PASS|FAIL|SKIP|ERROR), SubtestRecord (outcome PASS|FAIL|STOP);
// - openhtf/core/measurements.py: Measurement.as_base_types ({name, outcome, validators?, units?,
//   measured_value?}: validators and units only when the measurement has them; outcome
//   PASS|FAIL|UNSET|PARTIALLY_SET|SKIPPED, PARTIALLY_SET never after its phase);
// - openhtf/util/units.py: a unit is a UnitDescriptor namedtuple, {name, code, suffix} (UNECE);
// - openhtf/util/validators.py: a validator is recorded as its str(): InRange "0.005 <= x <= 0.03"
//   (with "Marginal:" bounds), equals(number) as InRange "x == 5", equals(text) and
//   matches_regex as "'x' matches /^PASS$/";
// - openhtf/core/phase_executor.py: PhaseExecutionOutcome {phase_result}, ExceptionInfo
//   {exc_type, exc_val, exc_tb}; openhtf/util/logs.py: LogRecord {level, logger_name, source,
//   lineno, timestamp_millis, message};
// - openhtf/core/test_state.py: finalize_normally (a FAIL phase fails the test; a repeated phase is
//   SKIP; marginal only on PASS) and abort (outcome_details ABORTED).
//
// How a run maps: each recorded step is a phase, in the order it ran. A group is a subtest, and
// its steps are phases carrying its name as subtest_name; the steps of an attempt the group ran
// again are SKIP (phase_result REPEAT), as OpenHTF records a repeated phase. Outcomes: blessed
// PASS, failed FAIL (ERROR when the step that failed the unit errored: no answer, a station error),
// interrupted ABORTED. A step's message is a log record. Nothing of the station's configuration is
// in the record (OpenHTF puts its config in metadata.config; the station does not: secrets).
import type { StepStatus } from '../model.js';
import type { Limit } from '../sequence/limits.js';

/** A measurement as GET /api/runs/:id shows it. */
export interface MeasurementView {
  name: string;
  value: number | string | null;
  unit: string | null;
  outcome: 'pass' | 'marginal' | 'fail';
  limit: Limit | null;
  instrument?: { id: string; serial: string | null } | null;
}

/** A step as GET /api/runs/:id shows it (a group's steps under it, every attempt). */
export interface StepView {
  index: number;
  name: string;
  type: string;
  status: StepStatus;
  attempts: number;
  startedAt: string;
  durationMs: number;
  message: string | null;
  groupAttempt?: number;
  measurements: MeasurementView[];
  steps?: StepView[];
}

/** A run as GET /api/runs/:id shows it (station/store/store.ts getRun). */
export interface RunView {
  runId: string;
  slot: number;
  deviceId: string | null;
  status: 'running' | 'blessed' | 'failed' | 'interrupted';
  mode: string;
  attempt: number | null;
  rework: boolean;
  sequence: { name: string; hash: string };
  startedAt: string;
  endedAt: string | null;
  failStep: string | null;
  reason: string | null;
  variant: string | null;
  steps: StepView[];
  /** The MES's answer (GET /api/runs/:id adds it for a run with an interlock step). */
  mes?: { allowed: boolean | null; reason: string; review: string | null } | null;
}

export type OpenHtfOutcome = 'PASS' | 'FAIL' | 'ERROR' | 'TIMEOUT' | 'ABORTED';
export type OpenHtfPhaseOutcome = 'PASS' | 'FAIL' | 'SKIP' | 'ERROR';
export type OpenHtfMeasurementOutcome = 'PASS' | 'FAIL' | 'UNSET' | 'PARTIALLY_SET' | 'SKIPPED';

export interface OpenHtfUnit {
  name: string;
  code: string | null;
  suffix: string | null;
}

export interface OpenHtfMeasurement {
  name: string;
  outcome: OpenHtfMeasurementOutcome;
  validators?: string[];
  units?: OpenHtfUnit;
  measured_value?: number | string | null;
}

export interface OpenHtfPhase {
  measurements: Record<string, OpenHtfMeasurement>;
  options: Record<string, unknown>;
  diagnosers: unknown[];
  subtest_name: string | null;
  start_time_millis: number;
  end_time_millis: number;
  attachments: Record<string, unknown>;
  diagnosis_results: unknown[];
  failure_diagnosis_results: unknown[];
  result: { phase_result: string | { exc_type: string; exc_val: string; exc_tb: string } };
  outcome: OpenHtfPhaseOutcome;
  marginal: boolean;
  descriptor_id: number;
  name: string;
  codeinfo: { name: string; docstring: string | null; sourcecode: string };
}

export interface OpenHtfSubtest {
  name: string;
  start_time_millis: number;
  end_time_millis: number;
  outcome: 'PASS' | 'FAIL' | 'STOP';
  marginal: boolean;
}

export interface OpenHtfLogRecord {
  level: number;
  logger_name: string;
  source: string;
  lineno: number;
  timestamp_millis: number;
  message: string;
}

export interface OpenHtfRecord {
  dut_id: string | null;
  station_id: string;
  start_time_millis: number;
  end_time_millis: number | null;
  outcome: OpenHtfOutcome | null;
  outcome_details: { code: string; description: string }[];
  marginal: boolean | null;
  metadata: Record<string, unknown>;
  phases: OpenHtfPhase[];
  subtests: OpenHtfSubtest[];
  branches: unknown[];
  diagnosers: unknown[];
  diagnoses: unknown[];
  log_records: OpenHtfLogRecord[];
  code_info: { name: string; docstring: string | null; sourcecode: string };
}

// ---- units -----------------------------------------------------------------------------------

/** [name, UNECE code, suffix] as openhtf/util/units.py has them, for the units a test station measures in. */
const UNITS: [string, string, string][] = [
  ['volt', 'VLT', 'V'],
  ['millivolt', '2Z', 'mV'],
  ['microvolt', 'D82', 'µV'],
  ['kilovolt', 'KVT', 'kV'],
  ['ampere', 'AMP', 'A'],
  ['milliampere', '4K', 'mA'],
  ['microampere', 'B84', 'µA'],
  ['nanoampere', 'C39', 'nA'],
  ['ohm', 'OHM', '\u2126'],
  ['milliohm', 'E45', 'm\u2126'],
  ['kiloohm', 'B49', 'k\u2126'],
  ['megaohm', 'B75', 'M\u2126'],
  ['gigaohm', 'A87', 'G\u2126'],
  ['hertz', 'HTZ', 'Hz'],
  ['kilohertz', 'KHZ', 'kHz'],
  ['megahertz', 'MHZ', 'MHz'],
  ['gigahertz', 'A86', 'GHz'],
  ['second [unit of time]', 'SEC', 's'],
  ['millisecond', 'C26', 'ms'],
  ['microsecond', 'B98', 'µs'],
  ['nanosecond', 'C47', 'ns'],
  ['minute [unit of time]', 'MIN', 'min'],
  ['hour', 'HUR', 'h'],
  ['decibel', '2N', 'dB'],
  ['Decibel-milliwatts', 'DBM', 'dBm'],
  ['Decibel watt', 'DBW', 'dBW'],
  ['degree Celsius', 'CEL', '°C'],
  ['degree Fahrenheit', 'FAH', '°F'],
  ['kelvin', 'KEL', 'K'],
  ['percent', 'P1', '%'],
  ['part per million', '59', 'ppm'],
  ['watt', 'WTT', 'W'],
  ['milliwatt', 'C31', 'mW'],
  ['microwatt', 'D80', 'µW'],
  ['lux', 'LUX', 'lx'],
  ['lumen', 'LUM', 'lm'],
  ['candela', 'CDL', 'cd'],
  ['farad', 'FAR', 'F'],
  ['microfarad', '4O', 'µF'],
  ['nanofarad', 'C41', 'nF'],
  ['picofarad', '4T', 'pF'],
  ['henry', '81', 'H'],
  ['millihenry', 'C14', 'mH'],
  ['microhenry', 'B90', 'µH'],
  ['ampere hour', 'AMH', 'A·h'],
  ['milliampere hour', 'E09', 'mA·h'],
  ['watt hour', 'WHR', 'W·h'],
  ['metre', 'MTR', 'm'],
  ['millimetre', 'MMT', 'mm'],
  ['gram', 'GRM', 'g'],
  ['kilogram', 'KGM', 'kg'],
  ['newton', 'NEW', 'N'],
  ['pascal', 'PAL', 'Pa'],
  ['kilopascal', 'KPA', 'kPa'],
  ['revolutions per minute', 'RPM', 'r/min'],
  ['bit per second', 'B10', 'bit/s'],
  ['byte', 'AD', 'byte'],
];

/** Spellings the station's drivers and sequences use that OpenHTF's lookup does not know. */
const UNIT_ALIASES: Record<string, string> = { Ohm: 'ohm', Ω: 'ohm', uA: 'µA', uV: 'µV', us: 'µs', uF: 'µF', uH: 'µH', uW: 'µW', rpm: 'r/min', degC: '°C', lux: 'lux' };

/** OpenHTF's units.Unit(): by suffix or by name (UNITS_BY_ALL). */
const UNIT_LOOKUP = new Map<string, OpenHtfUnit>();
for (const [name, code, suffix] of UNITS) {
  const unit = { name, code, suffix };
  UNIT_LOOKUP.set(name, unit);
  UNIT_LOOKUP.set(suffix, unit);
}

/**
 * A station unit as OpenHTF records units: the UnitDescriptor it names (by suffix or name, as
 * units.Unit() finds it). A unit OpenHTF has no descriptor for here (a coulomb "C" the station would
 * not guess is a temperature, say) keeps its text as name and suffix, with no code.
 */
export function openHtfUnit(unit: string): OpenHtfUnit {
  return UNIT_LOOKUP.get(unit) ?? UNIT_LOOKUP.get(UNIT_ALIASES[unit] ?? '') ?? { name: unit, code: null, suffix: unit };
}

// ---- validators --------------------------------------------------------------------------------

/**
 * A number as Python's str() writes it (validators are recorded as str(validator), and Python
 * formats their bounds): the shortest digits that read back, in scientific form below 1e-4 and
 * from 1e16 ("1e-05", "2.5e+16"). A whole number is written as the int JSON gave it ("5").
 */
export function pythonNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  const [mantissa, exp] = n.toExponential().split('e') as [string, string];
  const e = Number(exp);
  if (e < -4 || e >= 16) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = e + 1;
  const body = point <= 0 ? `0.${'0'.repeat(-point)}${digits}` : point >= digits.length ? `${digits}${'0'.repeat(point - digits.length)}.0` : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${negative ? '-' : ''}${body}`;
}

/** Python's re.escape (3.7+): the characters it escapes. */
function pythonReEscape(text: string): string {
  return text.replace(/[()[\]{}?*+\-|^$\\.&~# \t\n\r\v\f]/g, (c) => `\\${c}`);
}

/** InRange's str(), openhtf/util/validators.py. */
function inRange(low: number | undefined, high: number | undefined, marginalLow?: number, marginalHigh?: number): string {
  if (low !== undefined && high !== undefined && low === high) return `x == ${pythonNumber(low)}`;
  let s = '';
  if (low !== undefined) s += `${pythonNumber(low)} <= `;
  if (marginalLow !== undefined) s += `Marginal:${pythonNumber(marginalLow)} <= `;
  s += 'x';
  if (marginalHigh !== undefined) s += ` <= Marginal:${pythonNumber(marginalHigh)}`;
  if (high !== undefined) s += ` <= ${pythonNumber(high)}`;
  return s;
}

/** A station limit as the OpenHTF validator that judges the same way, recorded as its str(). */
export function openHtfValidators(limit: Limit | null): string[] {
  if (!limit) return [];
  switch (limit.kind) {
    case 'range':
      return [inRange(limit.low, limit.high, limit.marginalLow, limit.marginalHigh)];
    case 'equals':
      if (typeof limit.value === 'number') {
        const tolerance = limit.tolerance ?? 0;
        return [tolerance === 0 ? inRange(limit.value, limit.value) : inRange(limit.value - tolerance, limit.value + tolerance)];
      }
      return [`'x' matches /^${pythonReEscape(limit.value)}$/`];
    case 'regex':
      return [`'x' matches /${limit.pattern}/`];
  }
}

// ---- the record --------------------------------------------------------------------------------

const ms = (iso: string): number => Date.parse(iso);

/** convert_to_base_types(json_safe=True): a float that JSON cannot hold is written as Python's str(). */
function baseValue(value: number | string | null): number | string | null {
  return typeof value === 'number' && !Number.isFinite(value) ? pythonNumber(value) : value;
}

function measurementOf(m: MeasurementView): OpenHtfMeasurement {
  const validators = openHtfValidators(m.limit);
  return {
    name: m.name,
    outcome: m.outcome === 'fail' ? 'FAIL' : 'PASS',
    ...(validators.length > 0 ? { validators } : {}),
    ...(m.unit ? { units: openHtfUnit(m.unit) } : {}),
    measured_value: baseValue(m.value),
  };
}

/** The Python logging level of a step's message: INFO, WARNING for a marginal step, ERROR for one that did not pass. */
function levelOf(status: StepStatus): number {
  return status === 'pass' || status === 'skipped' ? 20 : status === 'marginal' ? 30 : 40;
}

interface Walk {
  runId: string;
  phases: OpenHtfPhase[];
  subtests: OpenHtfSubtest[];
  logs: OpenHtfLogRecord[];
}

function phaseOf(step: StepView, subtest: string | null, repeated: boolean): OpenHtfPhase {
  const start = ms(step.startedAt);
  const measurements = Object.fromEntries(step.measurements.map((m) => [m.name, measurementOf(m)]));
  const failedMeasurement = step.measurements.some((m) => m.outcome === 'fail');
  let outcome: OpenHtfPhaseOutcome;
  let phaseResult: OpenHtfPhase['result']['phase_result'];
  if (repeated) {
    outcome = 'SKIP';
    phaseResult = 'REPEAT';
  } else {
    switch (step.status) {
      case 'pass':
      case 'marginal':
        outcome = 'PASS';
        phaseResult = 'CONTINUE';
        break;
      case 'fail':
        outcome = 'FAIL';
        // A phase fails by a failed measurement (CONTINUE) or by saying so (FAIL_AND_CONTINUE).
        phaseResult = failedMeasurement ? 'CONTINUE' : 'FAIL_AND_CONTINUE';
        break;
      case 'skipped':
        outcome = 'SKIP';
        phaseResult = 'SKIP';
        break;
      case 'error':
        outcome = 'ERROR';
        phaseResult = { exc_type: "<class 'StepError'>", exc_val: step.message ?? 'error', exc_tb: '' };
        break;
      case 'interrupted':
        // An abort ends the phase with a ThreadTerminationError, recorded as its str().
        outcome = 'ERROR';
        phaseResult = step.message ?? 'interrupted';
        break;
    }
  }
  return {
    measurements,
    options: {
      name: step.name,
      timeout_s: null,
      run_if: null,
      requires_state: false,
      force_repeat: false,
      repeat_on_measurement_fail: false,
      repeat_on_timeout: false,
      repeat_limit: null,
      run_under_pdb: false,
      phase_name_case: 'KEEP',
      stop_on_measurement_fail: false,
    },
    diagnosers: [],
    subtest_name: subtest,
    start_time_millis: start,
    end_time_millis: Math.round(start + step.durationMs),
    attachments: {},
    diagnosis_results: [],
    failure_diagnosis_results: [],
    result: { phase_result: phaseResult },
    outcome,
    marginal: !repeated && (step.status === 'marginal' || step.measurements.some((m) => m.outcome === 'marginal')),
    descriptor_id: step.index,
    name: step.name,
    codeinfo: { name: step.type, docstring: null, sourcecode: '' },
  };
}

/** Adds `steps` (in the order they ran) to the record; `repeated`: they belong to an attempt that was run again. */
function walk(w: Walk, steps: readonly StepView[], subtest: string | null, repeated: boolean): void {
  for (const step of steps) {
    if (step.type === 'group') {
      const inner = step.steps ?? [];
      const lastAttempt = Math.max(1, ...inner.map((s) => s.groupAttempt ?? 1));
      const start = ms(step.startedAt);
      const sub: OpenHtfSubtest = {
        name: step.name,
        start_time_millis: start,
        end_time_millis: Math.round(start + step.durationMs),
        outcome: step.status === 'pass' || step.status === 'marginal' ? 'PASS' : step.status === 'interrupted' ? 'STOP' : 'FAIL',
        marginal: step.status === 'marginal',
      };
      w.subtests.push(sub);
      for (const s of inner) walk(w, [s], step.name, repeated || (s.groupAttempt ?? 1) !== lastAttempt);
      log(w, step, sub.end_time_millis);
      continue;
    }
    const phase = phaseOf(step, subtest, repeated);
    w.phases.push(phase);
    log(w, step, phase.end_time_millis);
  }
}

/** A step's message as the log line its phase (or group) wrote when it ended. */
function log(w: Walk, step: StepView, at: number): void {
  if (!step.message) return;
  w.logs.push({ level: levelOf(step.status), logger_name: `openhtf.test_record.${w.runId}.phase.${step.name}`, source: `${step.type}.ts`, lineno: 0, timestamp_millis: at, message: step.message });
}

/** The step that decided a failed run, as recorded (a group's own record, not its inner steps). */
function failingStep(run: RunView): StepView | undefined {
  return run.failStep ? run.steps.find((s) => s.name === run.failStep) : undefined;
}

/**
 * The OpenHTF test record of a finished run. A run still running has no outcome yet (outcome and
 * end_time_millis null, as an OpenHTF record in progress); callers serve finished runs.
 */
export function openHtfRecord(run: RunView, station: { id: string; name?: string | null; version?: string }): OpenHtfRecord {
  const w: Walk = { runId: run.runId, phases: [], subtests: [], logs: [] };
  walk(w, run.steps, null, false);
  let outcome: OpenHtfOutcome | null = null;
  const details: OpenHtfRecord['outcome_details'] = [];
  if (run.status === 'blessed') outcome = 'PASS';
  else if (run.status === 'interrupted') {
    outcome = 'ABORTED';
    details.push({ code: 'ABORTED', description: run.reason ?? 'the run was interrupted' });
  } else if (run.status === 'failed') {
    const errored = run.failStep === '(station)' || failingStep(run)?.status === 'error';
    outcome = errored ? 'ERROR' : 'FAIL';
    details.push({ code: run.failStep ?? outcome, description: run.reason ?? '' });
  }
  return {
    dut_id: run.deviceId,
    station_id: station.id,
    start_time_millis: ms(run.startedAt),
    end_time_millis: run.endedAt ? ms(run.endedAt) : null,
    outcome,
    outcome_details: details,
    // OpenHTF sets it when the test passes: marginal if any phase was.
    marginal: outcome === 'PASS' ? w.phases.some((p) => p.marginal) : null,
    metadata: {
      test_name: run.sequence.name,
      sequence_name: run.sequence.name,
      sequence_hash: run.sequence.hash,
      run_id: run.runId,
      slot: run.slot,
      mode: run.mode,
      attempt: run.attempt,
      rework: run.rework,
      variant: run.variant,
      fail_step: run.failStep,
      reason: run.reason,
      ...(run.mes ? { mes: run.mes } : {}),
      ...(station.name ? { station_name: station.name } : {}),
      ...(station.version ? { station_version: station.version } : {}),
    },
    phases: w.phases,
    subtests: w.subtests,
    branches: [],
    diagnosers: [],
    diagnoses: [],
    log_records: w.logs,
    code_info: { name: '', docstring: null, sourcecode: '' },
  };
}
