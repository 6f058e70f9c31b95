// OpenHTF's record rules, written from OpenHTF's own source (google/openhtf at efec5c72), each
// citing where it comes from; used by the tests of GET /api/runs/:id?format=openhtf
// (test/unit/openhtf.test.ts) and of the openhtf file sink (test/unit/record-sinks.test.ts):
//   openhtf/core/test_record.py   TestRecord.as_base_types, Outcome, PhaseOutcome, PhaseRecord,
//                                 SubtestRecord, SubtestOutcome, OutcomeDetails
//   openhtf/core/measurements.py  Outcome, Measurement.as_base_types
//   openhtf/core/test_state.py    finalize_normally, abort, _measurements_pass, _set_prediagnosis_phase_outcome
//   openhtf/util/units.py         UnitDescriptor(name, code, suffix)
//   openhtf/util/validators.py    InRange.__str__, RegexMatcher.__str__, equals()
//   openhtf/util/logs.py          LogRecord, RECORD_LOGGER_PREFIX
//   openhtf/util/data.py          convert_to_base_types(json_safe=True)
import type { OpenHtfRecord } from '../../station/records/openhtf.js';

// ---- OpenHTF's record rules ------------------------------------------------------------------

/** test_record.py TestRecord.as_base_types: the keys of a record, `station_id` and `code_info` from its cache. */
const RECORD_KEYS = [
  'dut_id',
  'start_time_millis',
  'end_time_millis',
  'outcome',
  'outcome_details',
  'marginal',
  'metadata',
  'phases',
  'subtests',
  'branches',
  'diagnosers',
  'diagnoses',
  'log_records',
  'station_id',
  'code_info',
];
/** test_record.py class Outcome. */
const OUTCOMES = ['PASS', 'FAIL', 'ERROR', 'TIMEOUT', 'ABORTED'];
/** test_record.py PhaseRecord: attr.asdict(recurse=False) of its attributes (descriptor_id, name, codeinfo added back). */
const PHASE_KEYS = [
  'measurements',
  'options',
  'diagnosers',
  'subtest_name',
  'start_time_millis',
  'end_time_millis',
  'attachments',
  'diagnosis_results',
  'failure_diagnosis_results',
  'result',
  'outcome',
  'marginal',
  'descriptor_id',
  'name',
  'codeinfo',
];
/** test_record.py class PhaseOutcome. */
const PHASE_OUTCOMES = ['PASS', 'FAIL', 'SKIP', 'ERROR'];
/** measurements.py class Outcome; PARTIALLY_SET only before a dimensioned measurement's phase ends. */
const MEASUREMENT_OUTCOMES_AFTER_PHASE = ['PASS', 'FAIL', 'UNSET', 'SKIPPED'];
/** measurements.py Measurement.as_base_types: name and outcome always, the rest when the measurement has them. */
const MEASUREMENT_KEYS = ['name', 'outcome', 'validators', 'conditional_validators', 'dimensions', 'units', 'docstring', 'measured_value'];
/** test_record.py class SubtestOutcome, and SubtestRecord's attributes. */
const SUBTEST_OUTCOMES = ['PASS', 'FAIL', 'STOP'];
const SUBTEST_KEYS = ['name', 'start_time_millis', 'end_time_millis', 'outcome', 'marginal'];
/** logs.py LogRecord fields; RECORD_LOGGER_PREFIX. */
const LOG_KEYS = ['level', 'logger_name', 'source', 'lineno', 'timestamp_millis', 'message'];

const sorted = (keys: string[]): string[] => [...keys].sort();
const isInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);

/** Every way `record` breaks OpenHTF's record rules; [] for a good one. */
export function openHtfProblems(record: OpenHtfRecord): string[] {
  const p: string[] = [];
  const r = record as unknown as Record<string, unknown>;
  if (JSON.stringify(sorted(Object.keys(r))) !== JSON.stringify(sorted(RECORD_KEYS))) p.push(`record keys ${Object.keys(r).join(',')}`);
  // data.py json_safe: the record is plain JSON (no NaN, no Infinity, nothing JSON cannot say).
  if (JSON.stringify(JSON.parse(JSON.stringify(record))) !== JSON.stringify(record)) p.push('not plain JSON');
  if (!OUTCOMES.includes(record.outcome as string)) p.push(`outcome ${record.outcome}`);
  if (record.dut_id !== null && typeof record.dut_id !== 'string') p.push('dut_id');
  if (typeof record.station_id !== 'string') p.push('station_id');
  if (!isInt(record.start_time_millis) || !isInt(record.end_time_millis) || (record.end_time_millis as number) < record.start_time_millis) p.push('record times');
  for (const d of record.outcome_details) if (JSON.stringify(sorted(Object.keys(d))) !== '["code","description"]' || typeof d.description !== 'string') p.push('outcome_details item');
  if (typeof record.metadata.test_name !== 'string') p.push('metadata.test_name');
  if ('config' in record.metadata) p.push('metadata.config: the station never puts its configuration in a record');
  if (JSON.stringify(sorted(Object.keys(record.code_info))) !== '["docstring","name","sourcecode"]') p.push('code_info');

  const subtestNames = new Set(record.subtests.map((s) => s.name));
  for (const s of record.subtests) {
    if (JSON.stringify(sorted(Object.keys(s))) !== JSON.stringify(sorted(SUBTEST_KEYS))) p.push(`subtest ${s.name} keys`);
    if (!SUBTEST_OUTCOMES.includes(s.outcome)) p.push(`subtest ${s.name} outcome ${s.outcome}`);
  }
  for (const [i, phase] of record.phases.entries()) {
    const at = `phases[${i}] (${phase.name})`;
    if (JSON.stringify(sorted(Object.keys(phase))) !== JSON.stringify(sorted(PHASE_KEYS))) p.push(`${at} keys`);
    if (!PHASE_OUTCOMES.includes(phase.outcome)) p.push(`${at} outcome ${phase.outcome}`);
    if (!isInt(phase.start_time_millis) || !isInt(phase.end_time_millis) || phase.end_time_millis < phase.start_time_millis) p.push(`${at} times`);
    if (phase.start_time_millis < record.start_time_millis || phase.end_time_millis > (record.end_time_millis as number) + 1) p.push(`${at} outside the record's times`);
    if (phase.subtest_name !== null && !subtestNames.has(phase.subtest_name)) p.push(`${at} names no subtest`);
    if (typeof phase.marginal !== 'boolean' || !isInt(phase.descriptor_id) || typeof phase.result !== 'object') p.push(`${at} fields`);
    const ms = Object.entries(phase.measurements);
    for (const [key, m] of ms) {
      if (key !== m.name) p.push(`${at} measurement keyed ${key} is named ${m.name}`);
      if (Object.keys(m).some((k) => !MEASUREMENT_KEYS.includes(k))) p.push(`${at} ${key} keys ${Object.keys(m).join(',')}`);
      if (!MEASUREMENT_OUTCOMES_AFTER_PHASE.includes(m.outcome)) p.push(`${at} ${key} outcome ${m.outcome}`);
      if ((m.outcome === 'UNSET') === 'measured_value' in m) p.push(`${at} ${key}: measured_value must be there exactly when the value was set`);
      if (m.validators && (!Array.isArray(m.validators) || m.validators.some((v) => typeof v !== 'string'))) p.push(`${at} ${key} validators`);
      if (m.units && JSON.stringify(sorted(Object.keys(m.units))) !== '["code","name","suffix"]') p.push(`${at} ${key} units`);
    }
    // test_state.py _measurements_pass: a PASS phase has no FAIL measurement (allow_fail aside);
    // a phase that CONTINUEd and FAILed did so by a measurement.
    if (phase.outcome === 'PASS' && ms.some(([, m]) => m.outcome === 'FAIL')) p.push(`${at} PASS with a failed measurement`);
    if (phase.outcome === 'FAIL' && phase.result.phase_result === 'CONTINUE' && !ms.some(([, m]) => m.outcome === 'FAIL')) p.push(`${at} FAIL without a failed measurement`);
  }
  // test_state.py finalize_normally: any FAIL phase fails the test; all SKIP is an ERROR; a FAIL subtest fails it; marginal is set on PASS only.
  if (record.outcome === 'PASS') {
    if (record.phases.some((ph) => ph.outcome === 'FAIL' || ph.outcome === 'ERROR')) p.push('PASS with a FAIL or ERROR phase');
    if (record.phases.length > 0 && record.phases.every((ph) => ph.outcome === 'SKIP')) p.push('PASS with every phase skipped');
    if (record.subtests.some((s) => s.outcome === 'FAIL')) p.push('PASS with a failed subtest');
    if (record.marginal !== record.phases.some((ph) => ph.marginal)) p.push('marginal is not any(phase.marginal)');
  } else if (record.marginal !== null) p.push('marginal set on a record that did not pass');
  // test_state.py abort: add_outcome_details('ABORTED', ...); an ERROR always says why.
  if (record.outcome === 'ABORTED' && !record.outcome_details.some((d) => d.code === 'ABORTED')) p.push('ABORTED without its outcome detail');
  if ((record.outcome === 'ERROR' || record.outcome === 'FAIL') && record.outcome_details.length === 0) p.push(`${record.outcome} without outcome_details`);
  for (const log of record.log_records) {
    if (JSON.stringify(sorted(Object.keys(log))) !== JSON.stringify(sorted(LOG_KEYS))) p.push('log record keys');
    if (!log.logger_name.startsWith('openhtf.test_record.') || !isInt(log.level) || !isInt(log.timestamp_millis)) p.push('log record fields');
  }
  return p;
}
