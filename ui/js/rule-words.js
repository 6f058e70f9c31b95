// Settings the sequence form has no field for, in words beside their JSON: the identify step's
// label rule ("label": scan the unit's label and check it against the DUT) for now. Anything
// else gets no sentence (null) and is shown as JSON only.

const FIELD_WORDS = { deviceId: 'Device ID', mac: 'MAC', iccid: 'ICCID', imei: 'IMEI' };

function seconds(ms) {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

function list(words) {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

/** A sentence for setting `key` of a step of type `stepType` with value `value`, or null. */
export function ruleInWords(key, value, stepType) {
  if (stepType === 'identify' && key === 'label' && value && typeof value === 'object' && !Array.isArray(value)) {
    const match = Array.isArray(value.match) && value.match.length ? value.match : ['deviceId'];
    const text = typeof value.text === 'string' ? value.text : 'Scan the unit label';
    const timeout = typeof value.timeoutMs === 'number' ? value.timeoutMs : 120_000;
    const fields = list(match.map((f) => FIELD_WORDS[f] || String(f)));
    return (
      `Label rule: once the DUT is identified, the operator is asked "${text}" and scans the unit's label (in the station's label format, labels.format). ` +
      `The label's ${fields} must equal what the DUT reports, else the unit fails with both values named. The prompt waits up to ${seconds(timeout)}.`
    );
  }
  return null;
}
