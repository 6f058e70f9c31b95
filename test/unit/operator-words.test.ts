// Operator words on steps: operatorText and onFail are accepted on any step kind, checked, carried
// into the compiled step, and turned into the tile's guidance after a failure (the inner step of a
// group when it has its own); a scan step's sample must match its pattern and becomes the words
// the prompt shows instead of the regex. Any of these words may be given per language
// ({"en": "...", "de": "..."}): the screens get the sequence's own words and the translations beside them.
import { describe, expect, it } from 'vitest';
import { loadSequence, SequenceError } from '../../station/sequence/sequence.js';
import { failGuidance } from '../../station/line/slot.js';
import { scanCheck, defaultLabelFormat } from '../../station/sequence/label-scan.js';
import { textOf, translationsOf } from '../../station/sequence/fields.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { StationBus, type StationEvents } from '../../station/events.js';

const identify = { type: 'identify', name: 'Identify', operatorText: 'Reading the unit' };
const bless = { type: 'bless', name: 'Bless' };

function problemsOf(raw: unknown): string[] {
  try {
    loadSequence(raw, 'words.json');
  } catch (err) {
    expect(err).toBeInstanceOf(SequenceError);
    return (err as SequenceError).problems;
  }
  throw new Error('expected a SequenceError');
}

describe('operator words on steps', () => {
  const vbat = {
    type: 'measure',
    name: 'VBAT',
    command: 'MEAS VBAT',
    capture: 'v=([0-9.]+)',
    limit: { kind: 'range', low: 3.4, high: 4.2 },
    operatorText: 'Battery check',
    onFail: { action: 'retest', text: 'Reseat the battery, then test again' },
  };
  const group = {
    type: 'group',
    name: 'Radio',
    operatorText: 'Radio check',
    onFail: { action: 'call-engineer' },
    steps: [
      { type: 'delay', name: 'Settle', ms: 1 },
      { type: 'prompt', name: 'LED', text: 'Is the LED green?', operatorText: 'LED check', onFail: { action: 'reject-bin', text: 'Red tray' } },
    ],
  };

  it('accepts operatorText and onFail on any kind and keeps them in the compiled steps', () => {
    const seq = loadSequence({ name: 't', steps: [identify, vbat, group, bless] }, 'words.json');
    expect(seq.steps[0]?.operatorText).toBe('Reading the unit');
    expect(seq.steps[1]?.onFail).toEqual({ action: 'retest', text: 'Reseat the battery, then test again' });
    const inner = (seq.steps[2] as unknown as { steps: { operatorText?: string }[] }).steps[1];
    expect(inner?.operatorText).toBe('LED check');
  });

  it('refuses an unknown action, empty words and an unknown key in onFail, at their fields', () => {
    const problems = problemsOf({
      name: 't',
      steps: [identify, { ...vbat, operatorText: '  ', onFail: { action: 'scrap', note: 'x' } }, bless],
    });
    expect(problems.some((p) => p.startsWith('steps[1].operatorText: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('steps[1].onFail.action: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('steps[1].onFail: ') && /note/.test(p))).toBe(true);
  });

  it('gives the failing step’s words and next action; an inner step of a group speaks for itself; no onFail means the reject bin', () => {
    const seq = loadSequence({ name: 't', steps: [identify, vbat, group, { type: 'delay', name: 'Wait', ms: 1 }, bless] }, 'words.json');
    expect(failGuidance(seq, 'VBAT', 'v=2.1 below 3.4')).toEqual({ step: 'VBAT', words: 'Battery check', action: 'retest', text: 'Reseat the battery, then test again' });
    expect(failGuidance(seq, 'Radio', 'LED: operator answered "no"')).toEqual({ step: 'LED', words: 'LED check', action: 'reject-bin', text: 'Red tray' });
    expect(failGuidance(seq, 'Radio', 'Settle: timed out')).toEqual({ step: 'Settle', words: 'Radio check', action: 'call-engineer', text: null });
    expect(failGuidance(seq, 'Wait', 'x')).toEqual({ step: 'Wait', words: null, action: 'reject-bin', text: null });
  });

  it('shows a scan step’s sample, not its regex, and refuses a sample the pattern would refuse', () => {
    const scan = { type: 'scan', name: 'Serial', text: 'Scan the serial', expect: 'pattern', pattern: 'SN[0-9A-F]{8}', sample: 'SN1A2B3C4D' };
    expect(() => loadSequence({ name: 't', steps: [identify, scan, bless] }, 'words.json')).not.toThrow();
    const problems = problemsOf({ name: 't', steps: [identify, { ...scan, sample: 'SN12' }, bless] });
    expect(problems.some((p) => p.startsWith('steps[1].sample: ') && /does not match/.test(p))).toBe(true);
    const c = scanCheck({ expect: 'pattern', pattern: 'SN[0-9A-F]{8}', patternRe: /^(?:SN[0-9A-F]{8})$/u, words: 'a code like SN1A2B3C4D' }, defaultLabelFormat(), 16);
    expect(c.words).toBe('a code like SN1A2B3C4D');
    expect(c.expected).toContain('SN[0-9A-F]{8}');
    const plain = scanCheck({ expect: 'pattern', pattern: 'SN[0-9A-F]{8}', patternRe: /^(?:SN[0-9A-F]{8})$/u }, defaultLabelFormat(), 16);
    expect(plain.words).not.toMatch(/[[\]{}]/);
  });
});

describe('operator words in several languages', () => {
  const words = { en: 'Battery check', de: 'Akku prüfen', 'zh-CN': '电池检查', es: 'Revisar batería' };
  const vbat = {
    type: 'measure',
    name: 'VBAT',
    command: 'MEAS VBAT',
    capture: 'v=([0-9.]+)',
    limit: { kind: 'range', low: 3.4, high: 4.2 },
    operatorText: words,
    onFail: { action: 'retest', text: { de: 'Akku neu einsetzen', en: 'Reseat the battery' } },
  };
  const led = { type: 'prompt', name: 'LED', text: { en: 'Is the LED green?', de: 'Leuchtet die LED grün?' }, answers: ['yes', 'no'] };
  const serial = { type: 'scan', name: 'Serial', text: { 'zh-CN': '扫描序列号' }, expect: 'pattern', pattern: 'SN[0-9]{4}', operatorText: { en: 'the serial label', es: 'la etiqueta de serie' } };

  it('accepts a text per language tag wherever a plain text is accepted, and keeps plain strings valid', () => {
    const seq = loadSequence({ name: 't', steps: [identify, vbat, led, serial, bless] }, 'words.json');
    expect(seq.steps[1]?.operatorText).toEqual(words);
    expect(seq.steps[0]?.operatorText).toBe('Reading the unit');
  });

  it('gives the screens the sequence’s own words (English, else the first language) and the translations beside them', () => {
    const seq = loadSequence({ name: 't', steps: [identify, vbat, bless] }, 'words.json');
    expect(failGuidance(seq, 'VBAT', 'v=2.1 below 3.4')).toEqual({
      step: 'VBAT',
      words: 'Battery check',
      action: 'retest',
      text: 'Reseat the battery',
      i18n: { words, text: { de: 'Akku neu einsetzen', en: 'Reseat the battery' } },
    });
    expect(textOf({ 'zh-CN': '扫描序列号', de: 'Seriennummer scannen' })).toBe('扫描序列号');
    expect(textOf('plain')).toBe('plain');
    expect(translationsOf('plain')).toBeUndefined();
  });

  it('refuses a bad language tag, an empty object and an empty translation, at their fields', () => {
    const problems = problemsOf({
      name: 't',
      steps: [identify, { ...vbat, operatorText: { German: 'Akku' }, onFail: { action: 'retest', text: {} } }, { ...led, text: { en: 'ok', de: ' ' } }, bless],
    });
    expect(problems.find((p) => p.startsWith('steps[1].operatorText'))).toMatch(/language tag/);
    expect(problems.find((p) => p.startsWith('steps[1].onFail.text'))).toBeDefined();
    expect(problems.find((p) => p.startsWith('steps[2].text'))).toBeDefined();
  });

  it('sends a prompt’s translations with it: the question, and for a scan what to scan', async () => {
    const bus = new StationBus();
    const opened: StationEvents['prompt.opened'][] = [];
    bus.on('prompt.opened', (p) => opened.push(p));
    const prompts = new PromptBroker(bus);
    const abort = new AbortController();
    const asked = prompts.ask({ slot: 0, runId: 'r', text: 'Is the LED green?', answers: ['yes', 'no'], timeoutMs: 60_000, signal: abort.signal, i18n: { text: { de: 'Leuchtet die LED grün?' } } });
    expect(opened[0]?.i18n).toEqual({ text: { de: 'Leuchtet die LED grün?' } });
    expect(opened[0]?.text).toBe('Is the LED green?');
    abort.abort();
    await expect(asked).rejects.toThrow(/withdrawn/);
  });
});
