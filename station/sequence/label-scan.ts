// Scans in a run: what a good scan is for a step (a label in the station's labels.format, one
// identity field, or a pattern), checking and normalising its fields, masking its secrets for
// everything that is shown or logged, and cross-checking it against what the DUT reported.
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import type { DeviceIdentity } from '../model.js';
import { checkDeviceId, checkIccid, checkImei, checkMac, type Checked } from './identity.js';
import { textOf, translationsOf, type LocalText } from './fields.js';
import type { IdentityField, ScanCheck, StepContext } from './step-kind.js';

export interface ScannedLabel {
  /** Every field, normalised (MAC as 12 lowercase hex, ICCID without F padding ...). Secrets included: handle with care. */
  fields: Record<string, string>;
  /** Names of the fields that are secrets (sealed before storing, never shown). */
  secretFields: ReadonlySet<string>;
}

const FIELD_WORDS: Record<IdentityField, string> = { deviceId: 'Device ID', mac: 'MAC', iccid: 'ICCID', imei: 'IMEI' };

function checkField(field: string, value: string, deviceIdHexLength: number): Checked {
  switch (field) {
    case 'deviceId':
      return checkDeviceId(value, deviceIdHexLength);
    case 'mac':
      return checkMac(value);
    case 'iccid':
      return checkIccid(value);
    case 'imei':
      return checkImei(value);
    default:
      return { ok: true, value };
  }
}

/** Text safe to show: printable ASCII kept, anything else as \\uXXXX, at most 80 characters. */
export function shownText(text: string): string {
  const out = text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return out.length > 80 ? `${out.slice(0, 80)}…` : out;
}

function masked(fields: Record<string, string>, secrets: ReadonlySet<string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${secrets.has(k) ? '•••' : shownText(v)}`)
    .join(' ');
}

export interface ScanExpectation {
  expect: 'label' | 'deviceId' | 'mac' | 'iccid' | 'imei' | 'pattern';
  patternRe?: RegExp | null;
  pattern?: string;
  /** What the operator is told to scan, in plain words (a step's operatorText, or its sample). */
  words?: string | undefined;
  /** The same in other languages, by language tag (a step's operatorText given in several). */
  wordsI18n?: Record<string, string> | undefined;
}

/**
 * The check a scan prompt runs: a refused scan leaves the prompt open with the reason. `expected`
 * is the format as an engineer reads it (a regex, the label's layout); `words` is what operators
 * are shown: the step's own words, else plain words for the kind of scan (never a regex).
 */
export function scanCheck(want: ScanExpectation, labelFormat: ScanFields, deviceIdHexLength: number): { check: ScanCheck<ScannedLabel>; expected: string; words: string } {
  const checked = scanCheckOf(want, labelFormat, deviceIdHexLength);
  const plain = want.expect === 'pattern' ? 'the code this step asks for' : want.expect === 'label' ? 'the unit’s label' : checked.expected;
  return { ...checked, words: want.words ?? plain };
}

function scanCheckOf(want: ScanExpectation, labelFormat: ScanFields, deviceIdHexLength: number): { check: ScanCheck<ScannedLabel>; expected: string } {
  if (want.expect === 'pattern') {
    const re = want.patternRe as RegExp;
    return {
      expected: `text matching ${want.pattern ?? re.source}`,
      check: (text) =>
        re.test(text) ? { ok: true, value: { fields: { scan: text }, secretFields: new Set() }, shown: shownText(text) } : { ok: false, reason: `expected text matching ${want.pattern ?? re.source}` },
    };
  }
  if (want.expect !== 'label') {
    const field = want.expect;
    const expected = field === 'deviceId' ? `a Device ID (${deviceIdHexLength} hex characters)` : `a${field === 'imei' || field === 'iccid' ? 'n' : ''} ${FIELD_WORDS[field]}`;
    return {
      expected,
      check: (text) => {
        const c = checkField(field, text, deviceIdHexLength);
        return c.ok ? { ok: true, value: { fields: { [field]: c.value }, secretFields: new Set() }, shown: `${field}=${c.value}` } : { ok: false, reason: `expected ${expected}: ${c.reason}` };
      },
    };
  }
  return {
    expected: labelFormat.expected,
    check: (text) => {
      const split = labelFormat.split(text);
      if (!split.ok) return { ok: false, reason: split.reason };
      const fields: Record<string, string> = {};
      for (const [k, v] of Object.entries(split.fields)) {
        const c = checkField(k, v, deviceIdHexLength);
        if (!c.ok) return { ok: false, reason: `the label's ${FIELD_WORDS[k as IdentityField] ?? k} is not valid: ${c.reason}` };
        fields[k] = c.value;
      }
      return { ok: true, value: { fields, secretFields: labelFormat.secretFields }, shown: masked(fields, labelFormat.secretFields) };
    },
  };
}

/** Why the scanned label does not belong to this DUT (both values named), or null when it does. */
export function labelMismatch(label: ScannedLabel, identity: DeviceIdentity, match: readonly IdentityField[]): string | null {
  const problems: string[] = [];
  for (const f of match) {
    const onLabel = label.fields[f];
    const onDut = identity[f];
    if (onLabel === undefined) problems.push(`the label carries no ${FIELD_WORDS[f]}`);
    else if (onDut === null || onDut === undefined) problems.push(`the DUT reported no ${FIELD_WORDS[f]} to compare with the label's ${shownText(onLabel)}`);
    else if (onLabel !== onDut) problems.push(`label ${FIELD_WORDS[f]} ${shownText(onLabel)} does not match the DUT's ${shownText(onDut)}`);
  }
  return problems.length > 0 ? problems.join('; ') : null;
}

/** The default label: just the Device ID. */
export function defaultLabelFormat(): ScanFields {
  return new ScanFields({ separator: ' ', fields: ['deviceId'], secretFields: [] });
}

/** Asks the operator for a scan checked as `want` expects; resolves with the scan's fields. */
export function askForScan(ctx: StepContext, want: ScanExpectation, text: LocalText, timeoutMs: number): Promise<ScannedLabel> {
  const { check, expected, words } = scanCheck(want, ctx.labelFormat, ctx.deviceIdHexLength);
  const texts = translationsOf(text);
  const i18n = texts || want.wordsI18n ? { ...(texts ? { text: texts } : {}), ...(want.wordsI18n ? { expected: want.wordsI18n } : {}) } : undefined;
  return ctx.prompts.askScan({ slot: ctx.slot, runId: ctx.runId, text: textOf(text), expected: words, format: expected, check, timeoutMs, signal: ctx.signal, ...(i18n ? { i18n } : {}) });
}

/** Stores the scan's secret fields (sealed) for the device; nothing when it has none. */
export function keepSecrets(ctx: StepContext, deviceId: string, label: ScannedLabel): void {
  const secrets = Object.fromEntries(Object.entries(label.fields).filter(([k]) => label.secretFields.has(k)));
  if (Object.keys(secrets).length > 0) ctx.storeSecrets(deviceId, secrets);
}

/**
 * The one label check, used by identify (its `label`) and by scan steps: asks for the scan, checks
 * the `match` fields against the DUT's identity, keeps the scan's secrets. Fails naming both values.
 */
export async function checkedScan(
  ctx: StepContext,
  want: ScanExpectation,
  opts: { text: LocalText; timeoutMs: number; match: readonly IdentityField[]; failPrefix: string },
): Promise<{ ok: true; label: ScannedLabel } | { ok: false; message: string }> {
  const label = await askForScan(ctx, want, opts.text, opts.timeoutMs);
  const identity = ctx.state.identity;
  if (opts.match.length > 0) {
    if (!identity) return { ok: false, message: 'nothing to match the scan against: the DUT is not identified' };
    const mismatch = labelMismatch(label, identity, opts.match);
    if (mismatch) return { ok: false, message: `${opts.failPrefix}: ${mismatch}` };
  }
  if (identity) keepSecrets(ctx, identity.deviceId, label);
  return { ok: true, label };
}
