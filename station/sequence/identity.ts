// Identity formats, checked at the edge before anything is stored: Device ID, MAC, ICCID, IMEI.
// Each check returns the normalised value or a reason a person can act on.

import { luhnValid } from '../../lib/luhn.js';

export type Checked = { ok: true; value: string } | { ok: false; reason: string };

export function checkDeviceId(raw: string, hexLength: number): Checked {
  const value = raw.trim().toLowerCase();
  if (value.length !== hexLength || !/^[0-9a-f]+$/.test(value)) {
    return { ok: false, reason: `Device ID must be ${hexLength} hex characters` };
  }
  if (/^0+$/.test(value) || /^f+$/.test(value)) return { ok: false, reason: 'Device ID is all zeros or all ones (unprogrammed)' };
  return { ok: true, value };
}

/** MAC: 12 hex digits, any of the common separators (":", "-", ".") accepted and removed. */
export function checkMac(raw: string): Checked {
  const value = raw.trim().toLowerCase().replace(/[:.-]/g, '');
  if (!/^[0-9a-f]{12}$/.test(value)) return { ok: false, reason: 'MAC must be 12 hex digits' };
  if (value === '000000000000' || value === 'ffffffffffff') return { ok: false, reason: 'MAC is all zeros or broadcast' };
  return { ok: true, value };
}

/** ICCID: 19-20 digits starting 89 (telecom), Luhn check digit; SIMs often pad with a trailing F. */
export function checkIccid(raw: string): Checked {
  const value = raw.trim().toUpperCase().replace(/F$/, '');
  if (!/^\d{19,20}$/.test(value)) return { ok: false, reason: 'ICCID must be 19-20 digits' };
  if (!value.startsWith('89')) return { ok: false, reason: 'ICCID must start with 89' };
  if (!luhnValid(value)) return { ok: false, reason: 'ICCID check digit is wrong (Luhn)' };
  return { ok: true, value };
}

export function checkImei(raw: string): Checked {
  const value = raw.trim();
  if (!/^\d{15}$/.test(value)) return { ok: false, reason: 'IMEI must be 15 digits' };
  if (!luhnValid(value)) return { ok: false, reason: 'IMEI check digit is wrong (Luhn)' };
  return { ok: true, value };
}
