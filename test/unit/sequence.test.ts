import { describe, expect, it } from 'vitest';
import { shippedConfigRaw } from '../support/configs.js';
import { canonicalJson, loadSequence, SequenceError, type CompiledSequence } from '../../station/sequence/sequence.js';
import { diskReader } from '../../station/sequence/script-sandbox.js';
import { PROJECT_ROOT } from '../../station/paths.js';
import { smallSequenceDef } from '../support/unit-fakes.js';

const identify = { type: 'identify', name: 'Identify' };
const bless = { type: 'bless', name: 'Bless' };
const vbat = (limit: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'measure',
  name: 'VBAT',
  command: 'MEAS VBAT',
  capture: 'v=([0-9.]+)',
  limit,
  ...extra,
});

function seq(steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'test', steps, ...extra };
}

/** The problems loadSequence reports for `raw`; fails the test if it loads. */
function problemsOf(raw: unknown): string[] {
  try {
    loadSequence(raw, 'under-test.json');
  } catch (err) {
    expect(err).toBeInstanceOf(SequenceError);
    const e = err as SequenceError;
    expect(e.source).toBe('under-test.json');
    // The message lists every problem too, for a log line.
    for (const p of e.problems) expect(e.message).toContain(p);
    return e.problems;
  }
  throw new Error('expected loadSequence to throw a SequenceError');
}

/** Asserts that exactly one problem starts with `path` and that it contains `text`. */
function expectProblem(problems: string[], path: string, text: string | RegExp): void {
  const hits = problems.filter((p) => p.startsWith(`${path}: `));
  expect(hits, `no problem at ${path} in:\n${problems.join('\n')}`).not.toHaveLength(0);
  expect(
    hits.some((p) => (typeof text === 'string' ? p.includes(text) : text.test(p))),
    `${path} problems: ${hits.join(' | ')}`,
  ).toBe(true);
}

describe('loadSequence: a good sequence', () => {
  it('loads and compiles the small test sequence with defaults applied', () => {
    const c = loadSequence(smallSequenceDef(), 'small');
    expect(c.def.name).toBe('unit-test-sequence');
    expect(c.steps.map((s) => s.type)).toEqual(['identify', 'measure', 'measure', 'measure', 'bless']);
    const [id, m] = c.steps;
    expect(id?.type === 'identify' && id.command).toBe('IDENT');
    expect(id?.retries).toBe(0);
    expect(c.steps.every((s) => s.timeoutMs === 2000)).toBe(true);
    expect(m?.type === 'measure' && m.captureRe?.exec('v=3.71 unit=V')?.[1]).toBe('3.71');
    expect(c.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('loads the sequence shipped with station.config.json', () => {
    const cfg = shippedConfigRaw<{ sequence: unknown }>({ scripts: true });
    const c = loadSequence(cfg.sequence, 'station.config.json', { scripts: diskReader(PROJECT_ROOT) });
    expect(c.steps[0]?.type).toBe('identify');
    expect(c.steps.filter((s) => s.type === 'script').map((s) => s.name)).toEqual(['Radio self-test', 'RTC calibration']);
    expect(Object.keys(c.scripts).sort()).toEqual(['sequences/calibrate-rtc.ts', 'sequences/lib/stats.ts', 'sequences/radio-selftest.ts']);
    expect(c.steps.at(-1)?.type).toBe('bless');
  });

  it('gives prompts their own default timeout, keeps an explicit one, and times a delay by its length', () => {
    const c = loadSequence(
      seq([identify, { type: 'prompt', name: 'P', text: 'LED green?' }, { type: 'delay', name: 'D', ms: 250 }, { type: 'prompt', name: 'P2', text: 'Box label?', timeoutMs: 7 }, bless]),
      'x',
    );
    expect(c.steps.map((s) => s.timeoutMs)).toEqual([5000, 300_000, 250, 7, 5000]);
    const p = c.steps[1];
    expect(p?.type === 'prompt' && [p.answers, p.pass]).toEqual([['yes', 'no'], ['yes']]);
  });

  it('refuses retries on a bless step and a timeout on a delay, which would mean nothing', () => {
    expect(() => loadSequence(seq([identify, { type: 'delay', name: 'D', ms: 1, timeoutMs: 7 }, { ...bless, retries: 2 }]), 'x')).toThrow(
      /steps\[1\]: Unrecognized key: "timeoutMs"[\s\S]*steps\[2\]: Unrecognized key: "retries"/,
    );
  });

  it('compiles a regex limit once', () => {
    const c = loadSequence(seq([identify, { type: 'measure', name: 'FW', command: 'VER', capture: 'fw=(\\S+)', as: 'string', limit: { kind: 'regex', pattern: '^2\\.' } }, bless]), 'x');
    const m = c.steps[1];
    expect(m?.type === 'measure' && m.limitRe?.test('2.3.1')).toBe(true);
  });
});

describe('loadSequence: rejections name every problem with its path', () => {
  it('rejects an unknown step type at its path', () => {
    const problems = problemsOf(seq([identify, { type: 'teleport', name: 'T' }, bless]));
    expectProblem(problems, 'steps[1].type', /identify.*measure.*prompt.*delay.*bless/);
  });

  it('requires identify first and bless last', () => {
    const problems = problemsOf(
      seq([
        { type: 'delay', name: 'D', ms: 1 },
        { type: 'delay', name: 'E', ms: 1 },
      ]),
    );
    expectProblem(problems, 'steps[0].type', 'the first step must be an identify step');
    expectProblem(problems, 'steps[1].type', 'the last step must be a bless step');
  });

  it('refuses identify anywhere but first and bless anywhere but last', () => {
    const problems = problemsOf(seq([identify, { ...bless, name: 'Early bless' }, { ...identify, name: 'Again' }, bless]));
    expectProblem(problems, 'steps[1].type', 'only the last step may bless');
    expectProblem(problems, 'steps[2].type', 'only the first step may identify the DUT');
  });

  it('refuses duplicate step names, pointing at the later one', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 1 }, { name: 'Same' }), vbat({ kind: 'range', low: 1 }, { name: 'Same' }), bless]));
    expectProblem(problems, 'steps[2].name', 'duplicates the name of step 1');
    expect(problems.some((p) => p.startsWith('steps[1].name'))).toBe(false);
  });

  it('refuses a capture that is not a valid regular expression', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 1 }, { capture: 'v=([0-9.]+' }), bless]));
    expectProblem(problems, 'steps[1].capture', 'is not a valid regular expression');
  });

  it('refuses a capture without a capture group', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 1 }, { capture: 'v=[0-9.]+' }), bless]));
    expectProblem(problems, 'steps[1].capture', 'needs a capture group');
  });

  it('does not count a non-capturing group as a capture group', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 1 }, { capture: 'v=(?:[0-9.]+)' }), bless]));
    expectProblem(problems, 'steps[1].capture', 'needs a capture group');
  });

  it('refuses a limit without a capture to measure against', () => {
    const problems = problemsOf(seq([identify, { type: 'measure', name: 'M', command: 'MEAS X', limit: { kind: 'range', low: 1 } }, bless]));
    expectProblem(problems, 'steps[1].limit', 'a limit needs a capture');
  });

  it('refuses a range with low above high', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 4.2, high: 3.4 }), bless]));
    expectProblem(problems, 'steps[1].limit.low', 'low 4.2 is above high 3.4');
  });

  it('refuses a range with neither low nor high', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range' }), bless]));
    expectProblem(problems, 'steps[1].limit', 'a range needs low, high or both');
  });

  it('refuses marginalLow below low and marginalHigh above high', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 3.4, high: 4.2, marginalLow: 3.3, marginalHigh: 4.3 }), bless]));
    expectProblem(problems, 'steps[1].limit.marginalLow', 'must be at or above low');
    expectProblem(problems, 'steps[1].limit.marginalHigh', 'must be at or below high');
  });

  it('refuses a marginal band without the bound it sits inside', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', high: 4.2, marginalLow: 3.5 }), bless]));
    expectProblem(problems, 'steps[1].limit.marginalLow', 'must be at or above low');
  });

  it('refuses marginalLow above marginalHigh (no clean pass range)', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 3.4, high: 4.2, marginalLow: 4.0, marginalHigh: 3.6 }), bless]));
    expectProblem(problems, 'steps[1].limit.marginalLow', 'marginalLow > marginalHigh');
  });

  it('refuses a range limit on a string measurement and a numeric equals on a string measurement', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'range', low: 1 }, { as: 'string' }), vbat({ kind: 'equals', value: 3 }, { name: 'V2', as: 'string' }), bless]));
    expectProblem(problems, 'steps[1].limit', 'needs "as": "number"');
    expectProblem(problems, 'steps[2].limit.value', 'needs "as": "number"');
  });

  it('refuses a tolerance on a string value', () => {
    const problems = problemsOf(seq([identify, vbat({ kind: 'equals', value: 'PASS', tolerance: 1 }, { as: 'string' }), bless]));
    expectProblem(problems, 'steps[1].limit.tolerance', 'a tolerance needs a numeric value');
  });

  it('refuses a prompt pass answer that is not among its answers', () => {
    const problems = problemsOf(seq([identify, { type: 'prompt', name: 'P', text: 'OK?', answers: ['green', 'red'], pass: ['green', 'yes'] }, bless]));
    expectProblem(problems, 'steps[1].pass[1]', '"yes" is not one of the answers');
    expect(problems.some((p) => p.startsWith('steps[1].pass[0]'))).toBe(false);
  });

  it('refuses commands with a newline, a control character or a leading space', () => {
    const problems = problemsOf(
      seq([
        { ...identify, command: 'IDENT\n@2 BLESS' },
        { type: 'measure', name: 'A', command: 'MEAS\tVBAT' },
        { type: 'measure', name: 'B', command: 'MEAS VBAT\r' },
        { type: 'measure', name: 'C', command: ' MEAS' },
        { type: 'measure', name: 'D', command: 'MEAS \u00e9' },
        { ...bless, command: '' },
      ]),
    );
    for (const i of [0, 1, 2, 3, 4]) expectProblem(problems, `steps[${i}].command`, 'printable ASCII');
    expect(problems.some((p) => p.startsWith('steps[5].command'))).toBe(true);
  });

  it('rejects unknown keys on a step and at the top level', () => {
    const problems = problemsOf({ ...seq([identify, { ...bless, colour: 'red' }]), owner: 'me' });
    expect(problems.some((p) => p.startsWith('steps[1]') && p.includes('colour'))).toBe(true);
    expect(problems.some((p) => p.includes('owner'))).toBe(true);
  });

  it('rejects something that is not a sequence at all', () => {
    expect(problemsOf(null)).not.toHaveLength(0);
    expect(problemsOf(seq([]))).not.toHaveLength(0);
  });

  it('reports many rule problems in one error, each with its own path', () => {
    const problems = problemsOf(
      seq([
        vbat({ kind: 'range', low: 5, high: 1 }, { name: 'X' }),
        { ...identify, name: 'X' },
        { type: 'prompt', name: 'P', text: 't', answers: ['a'], pass: ['b'] },
        { type: 'delay', name: 'D', ms: 1 },
      ]),
    );
    expectProblem(problems, 'steps[0].type', 'the first step must be an identify step');
    expectProblem(problems, 'steps[0].limit.low', 'low 5 is above high 1');
    expectProblem(problems, 'steps[1].type', 'only the first step may identify');
    expectProblem(problems, 'steps[1].name', 'duplicates the name of step 0');
    expectProblem(problems, 'steps[2].pass[0]', 'is not one of the answers');
    expectProblem(problems, 'steps[3].type', 'the last step must be a bless step');
  });

  // A SequenceError promises every problem. An unknown step type in one place must not hide the
  // broken limit and the duplicate name elsewhere: an engineer would fix one and hit the next.
  it('still reports the other steps\u2019 problems when one step has an unknown type', () => {
    const problems = problemsOf(seq([identify, { type: 'teleport', name: 'T' }, vbat({ kind: 'range', low: 5, high: 1 }, { name: 'Identify' }), bless]));
    expectProblem(problems, 'steps[1].type', /Expected/);
    expectProblem(problems, 'steps[2].limit.low', 'low 5 is above high 1');
    expectProblem(problems, 'steps[2].name', 'duplicates the name of step 0');
  });
});

describe('sequence hash', () => {
  const load = (raw: unknown): CompiledSequence => loadSequence(raw, 'x');

  it('is the same for the same content with keys in a different order', () => {
    const a = smallSequenceDef();
    const reordered = JSON.parse(JSON.stringify(a), function (this: unknown, _key: string, value: unknown) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
      return Object.fromEntries(Object.entries(value as Record<string, unknown>).reverse());
    }) as unknown;
    expect(Object.keys(reordered as object)).not.toEqual(Object.keys(a));
    expect(load(reordered).hash).toBe(load(a).hash);
  });

  it('is the same whether defaults are written out or left implicit', () => {
    const implicit = seq([identify, bless]);
    const explicit = seq(
      [
        { ...identify, retries: 0, command: 'IDENT', deviceIdHexLength: 16, requireCellular: false },
        { ...bless, command: 'BLESS' },
      ],
      { stopOnFailure: true, defaultTimeoutMs: 5000 },
    );
    expect(load(explicit).hash).toBe(load(implicit).hash);
  });

  it('changes when any part of a limit changes', () => {
    const base = load(smallSequenceDef()).hash;
    const variants: [string, (steps: Record<string, unknown>[]) => void][] = [
      ['low', (s) => ((s[1]?.limit as Record<string, unknown>).low = 3.41)],
      ['high', (s) => ((s[1]?.limit as Record<string, unknown>).high = 4.19)],
      ['marginalLow', (s) => ((s[1]?.limit as Record<string, unknown>).marginalLow = 3.51)],
      ['marginalHigh', (s) => ((s[1]?.limit as Record<string, unknown>).marginalHigh = 4.09)],
      ['marginal removed', (s) => delete (s[1]?.limit as Record<string, unknown>).marginalHigh],
      ['equals value', (s) => ((s[3]?.limit as Record<string, unknown>).value = 'OK')],
      ['limit kind', (s) => ((s[3] as Record<string, unknown>).limit = { kind: 'regex', pattern: '^PASS$' })],
      ['command', (s) => ((s[1] as Record<string, unknown>).command = 'MEAS VBAT2')],
    ];
    const seen = new Set([base]);
    for (const [label, mutate] of variants) {
      const def = smallSequenceDef();
      mutate(def.steps as Record<string, unknown>[]);
      const hash = load(def).hash;
      expect(hash, label).not.toBe(base);
      seen.add(hash);
    }
    expect(seen.size).toBe(variants.length + 1);
  });

  it('canonical JSON sorts keys, drops undefined and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: undefined, c: 'x' }], e: null })).toBe('{"a":[3,{"c":"x"}],"b":1,"e":null}');
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });
});
