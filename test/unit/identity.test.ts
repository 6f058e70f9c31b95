import { describe, expect, it } from 'vitest';
import { Random } from '../../drivers/dut/simulator/random.js';
import { checkDeviceId, checkIccid, checkImei, checkMac } from '../../station/sequence/identity.js';
import { luhnCheckDigit, luhnValid } from '../../lib/luhn.js';

/** Changes one digit of a Luhn-valid number; a single-digit error is always caught by Luhn. */
function corruptDigit(digits: string, index: number): string {
  const d = Number(digits[index]);
  return digits.slice(0, index) + String((d + 1) % 10) + digits.slice(index + 1);
}

describe('luhnValid / luhnCheckDigit', () => {
  it('accepts hand-verified Luhn numbers', () => {
    // 79927398713: the textbook example; 490154203237518: an IMEI; 4111111111111111: a test card.
    for (const n of ['79927398713', '490154203237518', '4111111111111111', '0', '00']) expect(luhnValid(n), n).toBe(true);
  });

  it('rejects a number with a wrong check digit', () => {
    expect(luhnValid('79927398710')).toBe(false);
    expect(luhnValid('490154203237519')).toBe(false);
  });

  it('rejects every single-digit error in a valid number', () => {
    const n = '89014103211118510720';
    for (let i = 0; i < n.length; i++) expect(luhnValid(corruptDigit(n, i)), `digit ${i}`).toBe(false);
  });

  it('rejects empty strings and non-digits rather than treating them as 0', () => {
    for (const s of ['', ' ', '7992739871a', '79927398713 ', '-79927398713', '7992 7398 713']) expect(luhnValid(s), JSON.stringify(s)).toBe(false);
  });

  it('computes the check digit of hand-verified numbers', () => {
    expect(luhnCheckDigit('7992739871')).toBe('3');
    expect(luhnCheckDigit('49015420323751')).toBe('8');
    expect(luhnCheckDigit('8901410321111851072')).toBe('0');
  });

  it('produces a digit that makes random bodies Luhn-valid, and only that digit does', () => {
    const rng = new Random(20240601);
    for (let i = 0; i < 200; i++) {
      const body = rng.digits(1 + rng.int(25));
      const check = luhnCheckDigit(body);
      expect(luhnValid(body + check), body).toBe(true);
      for (let d = 0; d <= 9; d++) if (String(d) !== check) expect(luhnValid(body + d), `${body}+${d}`).toBe(false);
    }
  });

  it('throws for a body that is not all digits', () => {
    expect(() => luhnCheckDigit('12a4')).toThrow(/not all digits/);
  });
});

describe('checkDeviceId', () => {
  it('accepts hex of the configured length and normalises it to lower case', () => {
    expect(checkDeviceId('0C2A69FFEE001234', 16)).toEqual({ ok: true, value: '0c2a69ffee001234' });
    expect(checkDeviceId('  e00fce68a1b2c3d4e5f60718  ', 24)).toEqual({ ok: true, value: 'e00fce68a1b2c3d4e5f60718' });
  });

  it('rejects the wrong length, naming the expected length', () => {
    expect(checkDeviceId('0c2a69ffee00123', 16)).toEqual({ ok: false, reason: 'Device ID must be 16 hex characters' });
    expect(checkDeviceId('0c2a69ffee0012345', 16).ok).toBe(false);
    expect(checkDeviceId('', 16).ok).toBe(false);
  });

  it('rejects non-hex characters', () => {
    expect(checkDeviceId('0c2a69ffee00123g', 16).ok).toBe(false);
    expect(checkDeviceId('0c2a69ff-e001234', 16).ok).toBe(false);
    expect(checkDeviceId('0c2a69ffee0012\u00e94', 16).ok).toBe(false);
  });

  it('rejects an unprogrammed ID of all zeros or all ones', () => {
    const zeros = checkDeviceId('0000000000000000', 16);
    expect(zeros.ok).toBe(false);
    expect(!zeros.ok && zeros.reason).toMatch(/all zeros/);
    expect(checkDeviceId('FFFFFFFFFFFFFFFF', 16).ok).toBe(false);
  });
});

describe('checkMac', () => {
  it('accepts the common separators and normalises to 12 lower-case hex digits', () => {
    for (const raw of ['0C:2A:69:12:34:56', '0c-2a-69-12-34-56', '0c2a.6912.3456', '0C2A69123456', ' 0c:2a:69:12:34:56 ']) {
      expect(checkMac(raw), raw).toEqual({ ok: true, value: '0c2a69123456' });
    }
  });

  it('rejects too few or too many digits and non-hex', () => {
    for (const raw of ['0C:2A:69:12:34', '0C:2A:69:12:34:56:78', '0C:2A:69:12:34:5G', '', '0c 2a 69 12 34 56']) {
      expect(checkMac(raw), raw).toEqual({ ok: false, reason: 'MAC must be 12 hex digits' });
    }
  });

  it('rejects the all-zero and broadcast addresses', () => {
    expect(checkMac('00:00:00:00:00:00')).toEqual({ ok: false, reason: 'MAC is all zeros or broadcast' });
    expect(checkMac('ff:ff:ff:ff:ff:ff').ok).toBe(false);
  });
});

describe('checkIccid', () => {
  it('accepts hand-verified 19- and 20-digit ICCIDs', () => {
    expect(checkIccid('89014103211118510720')).toEqual({ ok: true, value: '89014103211118510720' });
    expect(checkIccid('8944500102198304826')).toEqual({ ok: true, value: '8944500102198304826' });
  });

  it('accepts generated ICCIDs of both lengths whose check digit comes from luhnCheckDigit', () => {
    const rng = new Random(7);
    for (let i = 0; i < 50; i++) {
      const body = `89${rng.digits(i % 2 === 0 ? 16 : 17)}`;
      const iccid = body + luhnCheckDigit(body);
      expect(checkIccid(iccid), iccid).toEqual({ ok: true, value: iccid });
    }
  });

  it('strips the trailing F padding SIMs often carry, in either case', () => {
    expect(checkIccid('8944500102198304826F')).toEqual({ ok: true, value: '8944500102198304826' });
    expect(checkIccid('8944500102198304826f')).toEqual({ ok: true, value: '8944500102198304826' });
  });

  it('rejects a wrong Luhn digit', () => {
    expect(checkIccid('89014103211118510721')).toEqual({ ok: false, reason: 'ICCID check digit is wrong (Luhn)' });
  });

  it('rejects an ICCID that does not start with 89, even with a valid Luhn digit', () => {
    const body = '980141032111185107';
    const iccid = body + luhnCheckDigit(body); // 19 digits
    expect(luhnValid(iccid)).toBe(true);
    expect(checkIccid(iccid)).toEqual({ ok: false, reason: 'ICCID must start with 89' });
  });

  it('rejects lengths other than 19-20 digits and non-digits', () => {
    const short = '89441' + '0'.repeat(12);
    const shortValid = short + luhnCheckDigit(short); // 18 digits, Luhn-valid
    const long = '8944' + '1'.repeat(16);
    const longValid = long + luhnCheckDigit(long); // 21 digits, Luhn-valid
    for (const raw of [shortValid, longValid, '8944500102198304826X', '', 'F', '89445001021983048 6']) {
      expect(checkIccid(raw), raw).toEqual({ ok: false, reason: 'ICCID must be 19-20 digits' });
    }
  });
});

describe('checkImei', () => {
  it('accepts hand-verified IMEIs', () => {
    expect(checkImei('490154203237518')).toEqual({ ok: true, value: '490154203237518' });
    expect(checkImei(' 356938035643809 ')).toEqual({ ok: true, value: '356938035643809' });
  });

  it('accepts IMEIs whose check digit comes from luhnCheckDigit', () => {
    const rng = new Random(99);
    for (let i = 0; i < 50; i++) {
      const body = `35${rng.digits(12)}`;
      expect(checkImei(body + luhnCheckDigit(body)).ok).toBe(true);
    }
  });

  it('rejects a wrong check digit', () => {
    expect(checkImei('490154203237519')).toEqual({ ok: false, reason: 'IMEI check digit is wrong (Luhn)' });
  });

  it('rejects anything but exactly 15 digits', () => {
    for (const raw of ['49015420323751', '4901542032375180', '49015420323751A', '', '490-154203237518']) {
      expect(checkImei(raw), raw).toEqual({ ok: false, reason: 'IMEI must be 15 digits' });
    }
  });
});
