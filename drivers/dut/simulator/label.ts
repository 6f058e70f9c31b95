// The label on a simulated unit: its identity laid out in the station's label format, as a label
// printer at the unit's factory would have printed it. A serial number and a mobile secret are
// derived from the Device ID, so the same unit always carries the same label.
import { createHash } from 'node:crypto';
import { SEPARATORS, type ScanFieldRule } from '../../scanner/scan-fields.js';
import type { UnitIdentity } from './firmware.js';

/** Field values a simulated unit's label can carry. */
export function simulatedLabelFields(unit: UnitIdentity): Record<string, string> {
  const digest = createHash('sha256').update(`label:${unit.deviceId}`).digest();
  return {
    deviceId: unit.deviceId,
    mac: unit.mac,
    ...(unit.iccid ? { iccid: unit.iccid } : {}),
    ...(unit.imei ? { imei: unit.imei } : {}),
    serial: `SN${unit.deviceId.slice(-8).toUpperCase()}`,
    secret: digest.subarray(0, 12).toString('base64url'),
  };
}

/** The text a scanner reads from the unit's label; null when the format needs a field the unit lacks
 *  or has no separator to lay it out with (a regex format). */
export function simulatedLabelText(unit: UnitIdentity, format: ScanFieldRule): string | null {
  if (!('separator' in format)) return null;
  const values = simulatedLabelFields(unit);
  const parts = format.fields.map((f) => values[f]);
  if (parts.some((p) => p === undefined)) return null;
  return parts.join(SEPARATORS[format.separator]);
}
