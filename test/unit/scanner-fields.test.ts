// Splitting a label's multi-field symbol by its configured rule, checking each field, and naming
// what was expected when a scan does not fit, without quoting the scan or its secret.
import { describe, expect, it } from 'vitest';
import { redactScan, ScanFields } from '../../drivers/scanner/scan-fields.js';

const serialSecret = { separator: ' ' as const, fields: ['serial', 'secret'], patterns: { serial: '^[A-Z0-9]{10}$' }, secretFields: ['secret'] };

describe('scan field splitting', () => {
  it('splits "<serial> <secret>" and checks the serial', () => {
    const f = new ScanFields(serialSecret);
    expect(f.split('AB12345678 9f9f9f9f')).toEqual({ ok: true, fields: { serial: 'AB12345678', secret: '9f9f9f9f' } });
    expect(f.expected).toBe("'<serial> <secret>' with a serial matching ^[A-Z0-9]{10}$");
  });

  it('names the expectation when the serial does not match, and never quotes the scan', () => {
    const f = new ScanFields(serialSecret);
    const result = f.split('ab-123 topsecretvalue');
    expect(result).toEqual({ ok: false, reason: "expected '<serial> <secret>' with a serial matching ^[A-Z0-9]{10}$: the serial does not match" });
    expect(JSON.stringify(result)).not.toContain('topsecretvalue');
  });

  it('refuses the wrong number of fields, and an empty field, by name', () => {
    const f = new ScanFields(serialSecret);
    expect(f.split('AB12345678')).toEqual({ ok: false, reason: "expected '<serial> <secret>' with a serial matching ^[A-Z0-9]{10}$: got 1 field separated by a space, not 2" });
    expect(f.split('AB12345678 s1 extra')).toMatchObject({ ok: false, reason: expect.stringMatching(/got 3 fields separated by a space, not 2$/) });
    expect(f.split('AB12345678 ')).toMatchObject({ ok: false, reason: expect.stringMatching(/: the secret is empty$/) });
  });

  it('splits GS1-style fields at GS (0x1D) and shows the separator as <GS>', () => {
    const f = new ScanFields({ separator: 'GS', fields: ['gtin', 'serial', 'secret'], patterns: { gtin: '01\\d{14}', serial: '21[A-Z0-9]{1,20}' } });
    expect(f.split('0109501101020917\x1d21ABC123\x1dSECRETX')).toEqual({ ok: true, fields: { gtin: '0109501101020917', serial: '21ABC123', secret: 'SECRETX' } });
    expect(f.expected).toBe("'<gtin><GS><serial><GS><secret>' with a gtin matching 01\\d{14} and a serial matching 21[A-Z0-9]{1,20}");
    expect(f.split('0109501101020917 21ABC123 SECRETX')).toMatchObject({ ok: false, reason: expect.stringMatching(/got 1 field separated by GS \(0x1D\), not 3$/) });
    // Patterns are whole-field: a gtin with a digit too many fails though its start matches.
    expect(f.split('01095011010209170\x1d21ABC123\x1dS')).toMatchObject({ ok: false, reason: expect.stringMatching(/the gtin does not match$/) });
  });

  it('splits with a named-groups regular expression', () => {
    const f = new ScanFields({ regex: 'S/N:(?<serial>[A-Z0-9]{10});MS:(?<secret>[0-9a-f]{16})' });
    expect(f.fields).toEqual(['serial', 'secret']);
    expect(f.split('S/N:AB12345678;MS:0123456789abcdef')).toEqual({ ok: true, fields: { serial: 'AB12345678', secret: '0123456789abcdef' } });
    expect(f.split('S/N:AB12345678;MS:0123456789abcdef;extra')).toEqual({ ok: false, reason: 'expected a scan matching S/N:(?<serial>[A-Z0-9]{10});MS:(?<secret>[0-9a-f]{16})' });
  });

  it('refuses rules that cannot work, naming the problem', () => {
    expect(() => new ScanFields({ separator: ' ', fields: ['serial', 'serial'] })).toThrow(/field names must be unique/);
    expect(() => new ScanFields({ separator: ' ', fields: ['serial'], patterns: { sereal: 'x' } })).toThrow(/"sereal" is not one of the fields/);
    expect(() => new ScanFields({ separator: ' ', fields: ['serial', 'secret'], patterns: { serial: '([' } })).toThrow(/must be a valid regular expression/);
    expect(() => new ScanFields({ regex: '[A-Z]+ [0-9]+' })).toThrow(/needs named groups/);
    expect(() => new ScanFields({ separator: '|' as ' ', fields: ['a'] })).toThrow(/scan field rule is invalid/);
  });

  it('redacts the secret fields for logs and screens', () => {
    const f = new ScanFields(serialSecret);
    const split = f.split('AB12345678 9f9f9f9f');
    expect(split.ok && f.redact(split.fields)).toEqual({ serial: 'AB12345678', secret: '[redacted]' });
    expect(redactScan({ serial: 'X', secret: 'Y', pin: '1234' }, ['secret', 'pin'])).toEqual({ serial: 'X', secret: '[redacted]', pin: '[redacted]' });
    expect(redactScan({ serial: 'X', secret: 'Y' })).toEqual({ serial: 'X', secret: '[redacted]' });
  });
});
