// Scans in a run: the scan prompt (a wrong scan leaves it open, saying what was expected; its
// closing event never carries a secret), label field checks, and the cross-check against the DUT.
import { describe, expect, it } from 'vitest';
import { ScanFields } from '../../drivers/scanner/scan-fields.js';
import { simulatedLabelFields, simulatedLabelText } from '../../drivers/dut/simulator/label.js';
import { StationBus, type StationEvents } from '../../station/events.js';
import { labelMismatch, scanCheck, shownText } from '../../station/sequence/label-scan.js';
import { PromptBroker, PromptError } from '../../station/line/prompts.js';
import { luhnCheckDigit } from '../../lib/luhn.js';

const format = new ScanFields({ separator: ' ', fields: ['deviceId', 'mac', 'serial', 'secret'], patterns: { serial: 'SN[0-9A-F]{8}' }, secretFields: ['secret'] });
const dut = { deviceId: '0c2a69f3a1b2c3d4', mac: '0c2a69f3a1b2', iccid: null, imei: null };

describe('scanCheck: a label in the station format', () => {
  const { check, expected } = scanCheck({ expect: 'label' }, format, 16);

  it('splits, checks and normalises each identity field, and masks the secret in what is shown', () => {
    const r = check('0C2A69F3A1B2C3D4 0c:2a:69:f3:a1:b2 SN1234ABCD s3cr3t-Value');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.fields).toEqual({ deviceId: '0c2a69f3a1b2c3d4', mac: '0c2a69f3a1b2', serial: 'SN1234ABCD', secret: 's3cr3t-Value' });
    expect(r.shown).toContain('secret=•••');
    expect(r.shown).not.toContain('s3cr3t-Value');
    expect(expected).toContain('serial');
  });

  it('refuses a wrong field count, a bad serial, and a Device ID or MAC in the wrong format, naming what was expected', () => {
    const cases: [string, RegExp][] = [
      ['0c2a69f3a1b2c3d4 SN1234ABCD', /expected|fields/i],
      ['0c2a69f3a1b2c3d4 0c2a69f3a1b2 XX1234ABCD secret', /serial/i],
      ['0c2a69f3a1b2c3 0c2a69f3a1b2 SN1234ABCD secret', /Device ID/],
      ['0c2a69f3a1b2c3d4 0c2a69f3a1 SN1234ABCD secret', /MAC/],
    ];
    for (const [text, reason] of cases) {
      const r = check(text);
      expect(r.ok, text).toBe(false);
      if (!r.ok) {
        expect(r.reason).toMatch(reason);
        expect(r.reason).not.toContain('secret=');
      }
    }
  });

  it('checks a single identity field, ICCID padding and Luhn included', () => {
    const body = '894450123456789012';
    const iccid = body + luhnCheckDigit(body);
    const { check: iccidCheck } = scanCheck({ expect: 'iccid' }, format, 16);
    const padded = iccidCheck(`${iccid}F`);
    expect(padded.ok && padded.value.fields.iccid).toBe(iccid);
    const wrongDigit = iccidCheck(body + ((Number(luhnCheckDigit(body)) + 1) % 10));
    expect(wrongDigit.ok).toBe(false);
    const { check: pattern } = scanCheck({ expect: 'pattern', patternRe: /^BOX-\d{6}$/u, pattern: 'BOX-\\d{6}' }, format, 16);
    expect(pattern('BOX-123456').ok).toBe(true);
    const bad = pattern('BOX-12');
    expect(!bad.ok && bad.reason).toContain('BOX-\\d{6}');
  });
});

describe('labelMismatch: the label against the DUT', () => {
  it('names both values when the label belongs to another unit, and nothing when it matches', () => {
    const label = { fields: { deviceId: 'abcdef0123456789', mac: dut.mac }, secretFields: new Set<string>() };
    const why = labelMismatch(label, dut, ['deviceId', 'mac']);
    expect(why).toContain('abcdef0123456789');
    expect(why).toContain(dut.deviceId);
    expect(why).not.toContain('MAC');
    expect(labelMismatch({ fields: { deviceId: dut.deviceId, mac: dut.mac }, secretFields: new Set() }, dut, ['deviceId', 'mac'])).toBeNull();
    expect(labelMismatch({ fields: { deviceId: dut.deviceId }, secretFields: new Set() }, dut, ['mac'])).toContain('carries no MAC');
    expect(labelMismatch({ fields: { iccid: '8944501234567890123' }, secretFields: new Set() }, dut, ['iccid'])).toContain('reported no ICCID');
  });

  it('shows odd characters escaped, and long values cut', () => {
    expect(shownText('a\u202eb\x07')).toBe('a\\u202eb\\u0007');
    expect(shownText('x'.repeat(200)).length).toBeLessThanOrEqual(81);
  });
});

describe('PromptBroker.askScan', () => {
  function broker() {
    const bus = new StationBus();
    const events: { name: string; payload: unknown }[] = [];
    for (const name of ['prompt.opened', 'prompt.closed', 'scan.rejected'] as const) bus.on(name, (p: StationEvents[typeof name]) => events.push({ name, payload: p }));
    return { prompts: new PromptBroker(bus), events };
  }

  it('keeps the prompt open on a wrong scan, resolves on a good one, and never puts the secret in an event', async () => {
    const { prompts, events } = broker();
    const { check, expected } = scanCheck({ expect: 'label' }, format, 16);
    const abort = new AbortController();
    const asked = prompts.askScan({ slot: 2, runId: 'r1', text: 'Scan the label', expected, check, timeoutMs: 10_000, signal: abort.signal });
    const opened = events.find((e) => e.name === 'prompt.opened')?.payload as StationEvents['prompt.opened'];
    expect(opened).toMatchObject({ slot: 2, kind: 'scan', answers: [] });
    expect(prompts.scanPromptAt(2)).toBe(opened.promptId);
    expect(prompts.scanPromptAt(1)).toBeNull();
    expect(() => prompts.answer(opened.promptId, 'nonsense')).toThrow(PromptError);
    expect(events.some((e) => e.name === 'scan.rejected')).toBe(true);
    expect(prompts.scanPromptAt(2)).toBe(opened.promptId);
    const secret = 'Zq9-secret-771';
    prompts.answer(opened.promptId, `${dut.deviceId} ${dut.mac} SN00AA11BB ${secret}`);
    const label = await asked;
    expect(label.fields.secret).toBe(secret);
    expect(prompts.scanPromptAt(2)).toBeNull();
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(JSON.stringify(events.find((e) => e.name === 'prompt.closed'))).toContain('•••');
  });

  it('is withdrawn when the run is interrupted', async () => {
    const { prompts } = broker();
    const { check, expected } = scanCheck({ expect: 'deviceId' }, format, 16);
    const abort = new AbortController();
    const asked = prompts.askScan({ slot: 0, runId: 'r2', text: 'Scan', expected, check, timeoutMs: 10_000, signal: abort.signal });
    abort.abort('cable pulled');
    await expect(asked).rejects.toThrow(/withdrawn/);
    expect(prompts.list()).toEqual([]);
  });
});

describe('the simulated unit label', () => {
  it('lays out the unit identity in the station format, the same for the same unit, and splits back', () => {
    const unit = { deviceId: '0c2a69f3a1b2c3d4', mac: '0c2a69f3a1b2', iccid: null, imei: null };
    const rule = { separator: 'GS' as const, fields: ['deviceId', 'serial', 'secret'], secretFields: ['secret'] };
    const text = simulatedLabelText(unit, rule);
    expect(text).toBe(simulatedLabelText(unit, rule));
    expect(text?.split('\x1d')).toEqual([unit.deviceId, simulatedLabelFields(unit).serial, simulatedLabelFields(unit).secret]);
    const split = new ScanFields(rule).split(text as string);
    expect(split.ok && split.fields.deviceId).toBe(unit.deviceId);
    expect(simulatedLabelText(unit, { separator: ' ', fields: ['iccid'] })).toBeNull();
  });
});
