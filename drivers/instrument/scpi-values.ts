// Reading what SCPI instruments answer: numbers (NR1/NR2/NR3), the overload value, booleans in
// their three spellings, error queue entries and *IDN? identities. Pure functions, no I/O.

/**
 * SCPI's overload: Keysight, Agilent and Rigol DMMs answer +9.9E37 (`+9.90000000E+37`) for a
 * reading beyond the range, and 9.91E37 is SCPI's "not a number"; both mean "no value".
 */
export const OVERLOAD_THRESHOLD = 9.9e37;

export type ParsedNumber = { kind: 'number'; value: number } | { kind: 'overload'; raw: string } | { kind: 'garbage'; raw: string };

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumber(text: string): ParsedNumber {
  const raw = text.trim();
  if (!NUMBER.test(raw)) return { kind: 'garbage', raw };
  const value = Number(raw);
  if (!Number.isFinite(value)) return { kind: 'garbage', raw };
  if (Math.abs(value) >= OVERLOAD_THRESHOLD * 0.9999) return { kind: 'overload', raw };
  return { kind: 'number', value };
}

/** Several readings in one answer (READ? with a sample count): comma separated. */
export function parseNumberList(text: string): ParsedNumber[] {
  return text.split(',').map(parseNumber);
}

/** 1/0, ON/OFF and YES/NO are all in use (Keysight, Rigol DP800 OUTP?, Rigol :OUTP:OCP:QUES?). */
export function parseBoolean(text: string): boolean | null {
  const word = text.trim().toUpperCase();
  if (word === '1' || word === 'ON' || word === 'YES' || word === '+1') return true;
  if (word === '0' || word === 'OFF' || word === 'NO' || word === '+0') return false;
  return null;
}

/** One SYST:ERR? entry: `-222,"Data out of range"`, `+0,"No error"`, `0,No error`, `0  No Error`. */
export function parseErrorEntry(text: string): { code: number; message: string } | null {
  const match = /^\s*([+-]?\d+)(?:\s*,\s*(.*)|\s+(.*))?$/.exec(text);
  if (!match) return null;
  const message = (match[2] ?? match[3] ?? '').trim().replace(/^"(.*)"$/, '$1');
  return { code: Number(match[1]), message };
}

export interface InstrumentIdentity {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
  /** The *IDN? answer as it came. */
  raw: string;
}

/** `<manufacturer>,<model>,<serial>,<firmware>` (IEEE 488.2 §10.14); extra fields go to firmware. */
export function parseIdentity(text: string): InstrumentIdentity | null {
  const fields = text.split(',').map((f) => f.trim());
  if (fields.length < 2 || !fields[0] || !fields[1]) return null;
  return {
    manufacturer: fields[0],
    model: fields[1],
    serial: fields[2] ?? '',
    firmware: fields.slice(3).join(','),
    raw: text,
  };
}

/** Printable ASCII only: anything else in an answer is line noise, not SCPI. */
export function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code > 0x7e) return false;
  }
  return true;
}
