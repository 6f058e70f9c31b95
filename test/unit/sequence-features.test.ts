// Sequences that meet real firmware (issue 12): groups that repeat, product variants, identity
// read one command a field, the fail command, and scripted steps in their fence. Runs the real
// runner and store against a scripted DUT; scripts are real modules in a temporary folder.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { luhnCheckDigit } from '../../lib/luhn.js';
import { StationFault } from '../../station/sequence/run-errors.js';
import { StationBus } from '../../station/events.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { SequenceRunner, type RunOutcome } from '../../station/line/runner.js';
import { silentLogger } from '../../station/log.js';
import { diskReader, storedReader } from '../../station/sequence/script-sandbox.js';
import { loadSequence, SequenceError, sequenceWarnings, type CompiledSequence } from '../../station/sequence/sequence.js';
import { Store } from '../../station/store/store.js';
import { waitFor } from '../support/wait.js';
import { ScriptedConsole, TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
  dirs.cleanup();
});

const IDENT = 'id=0123456789abcdef mac=0c2a69000001 fw=factory-2.3.1 model=WE1 blessed=0';

function rig(): { store: Store; run(console: ScriptedConsole, seq: CompiledSequence, extra?: object): Promise<RunOutcome & { runId: string; detail: RunDetail }> } {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  cleanups.push(() => store.close());
  const bus = new StationBus();
  const prompts = new PromptBroker(bus);
  const runner = new SequenceRunner({ store, bus, prompts, log: silentLogger(), stationId: 'unit', mode: 'production', failCommandTimeoutMs: 200 });
  return {
    store,
    async run(console, seq, extra = {}) {
      store.registerSequence(seq);
      const runId = randomUUID();
      const outcome = await runner.run({
        runId,
        slot: 0,
        console,
        sequence: seq,
        signal: new AbortController().signal,
        onStep: () => undefined,
        onIdentified: () => undefined,
        onVerdictSent: () => undefined,
        ...extra,
      });
      store.flush();
      return { ...outcome, runId, detail: store.getRun(runId) as RunDetail };
    },
  };
}

interface StepView {
  name: string;
  type: string;
  status: string;
  message: string | null;
  groupAttempt?: number;
  steps?: StepView[];
  measurements: { name: string; value: number | string; unit: string | null; outcome: string; limit: unknown }[];
}
interface RunDetail {
  status: string;
  variant: string | null;
  steps: StepView[];
}

const seq = (steps: object[], extra: object = {}, scripts?: string): CompiledSequence =>
  loadSequence({ name: 'features', steps: [{ type: 'identify', name: 'Identify' }, ...steps, { type: 'bless', name: 'Bless' }], ...extra }, 'test', scripts ? { scripts: diskReader(scripts) } : {});

describe('step groups', () => {
  it('runs its steps again until they pass, recording every attempt under the group', async () => {
    const r = rig();
    const dut = new ScriptedConsole({ IDENT, BLESS: 'blessed=1' }).on('MEAS RSSI', 'v=-90', 'v=-88', 'v=-50');
    const s = seq([
      { type: 'group', name: 'Radio', repeat: { max: 3 }, steps: [{ type: 'measure', name: 'RSSI', command: 'MEAS RSSI', capture: 'v=(-?[0-9]+)', limit: { kind: 'range', low: -75, high: -20 } }] },
    ]);
    const out = await r.run(dut, s);
    expect(out.verdict).toBe('blessed');
    const group = out.detail.steps.find((x) => x.name === 'Radio') as StepView;
    expect(group.status).toBe('pass');
    expect(group.message).toMatch(/^passed on attempt 3 of 3/);
    expect(group.steps?.map((x) => [x.groupAttempt, x.status, x.measurements[0]?.value])).toEqual([
      [1, 'fail', -90],
      [2, 'fail', -88],
      [3, 'pass', -50],
    ]);
  });

  it('fails as a whole when every attempt fails, and the unit is not blessed', async () => {
    const r = rig();
    const dut = new ScriptedConsole({ IDENT, 'MEAS RSSI': 'v=-90', FAIL: 'led=RED' });
    const s = seq([
      { type: 'group', name: 'Radio', repeat: { max: 2 }, steps: [{ type: 'measure', name: 'RSSI', command: 'MEAS RSSI', capture: 'v=(-?[0-9]+)', limit: { kind: 'range', low: -75 } }] },
    ]);
    const out = await r.run(dut, s);
    expect(out.verdict).toBe('failed');
    expect(out.failStep).toBe('Radio');
    expect(out.reason).toMatch(/RSSI: -90 below low -75 \(all 2 attempts failed\)/);
    expect(dut.commands).not.toContain('BLESS');
  });

  it('refuses identify, blinkup and bless inside a group, naming the path', () => {
    expect(() => seq([{ type: 'group', name: 'G', steps: [{ type: 'bless', name: 'B2' }] }])).toThrow(SequenceError);
    try {
      seq([{ type: 'group', name: 'G', steps: [{ type: 'bless', name: 'B2' }] }]);
    } catch (err) {
      expect((err as SequenceError).problems).toContain('steps[1].steps[0].type: a bless step cannot be inside a group');
    }
  });
});

describe('product variants', () => {
  const battery = { type: 'measure', name: 'Battery voltage', command: 'MEAS VBAT', capture: 'v=([0-9.]+)', unit: 'V', limit: { kind: 'range', low: 3.4, high: 4.2 } };
  const variants = { variants: [{ name: 'widget-eu', when: { field: 'model', equals: 'WE1' }, limits: { 'Battery voltage': { kind: 'range', low: 3.5, high: 4.2 } } }] };

  it('judges a unit by its variant’s limits and keeps the variant with the run', async () => {
    const r = rig();
    const out = await r.run(new ScriptedConsole({ IDENT, 'MEAS VBAT': 'v=3.45', FAIL: 'led=RED' }), seq([battery], variants));
    expect(out.verdict).toBe('failed');
    expect(out.reason).toBe('3.45 V below low 3.5 V');
    expect(out.detail.variant).toBe('widget-eu');
    expect(out.detail.steps[1]?.measurements[0]?.limit).toEqual({ kind: 'range', low: 3.5, high: 4.2 });
  });

  it('uses the base limits for a unit no variant matches', async () => {
    const r = rig();
    const other = IDENT.replace('model=WE1', 'model=WUS');
    const out = await r.run(new ScriptedConsole({ IDENT: other, 'MEAS VBAT': 'v=3.45', BLESS: 'blessed=1' }), seq([battery], variants));
    expect(out.verdict).toBe('blessed');
    expect(out.detail.variant).toBeNull();
  });

  it('refuses a variant naming no step (without script steps), and warns of one chosen by a field nothing declares', () => {
    expect(() => seq([battery], { variants: [{ name: 'x', when: { field: 'model', equals: 'A' }, limits: { Nope: { kind: 'range', low: 1 } } }] })).toThrow(
      /variants\[0\]\.limits\.Nope: names no step/,
    );
    // A variant's limit is checked like a step's, its problems named at the limit's own fields.
    expect(() => seq([battery], { variants: [{ name: 'x', when: { field: 'model', equals: 'A' }, limits: { 'Battery voltage': { kind: 'range', low: 5, high: 1 } } }] })).toThrow(
      /variants\[0\]\.limits\.Battery voltage\.low: low 5 is above high 1/,
    );
    // The field is not declared, but firmware may report it anyway: the variant matches only then.
    const unreported = seq([battery], { variants: [{ name: 'eu', when: { field: 'model', equals: 'A' }, limits: { 'Battery voltage': { kind: 'range', low: 3.5 } } }] });
    expect(sequenceWarnings(unreported)).toEqual([
      'variants[0].when.field: no field "model" is declared by the identify step or the label: the variant "eu" matches only if the DUT reports "model" anyway, although the identify step does not declare it (declare it in its "fields" to silence this)',
    ]);
    expect(sequenceWarnings(unreported, ['model'])).toEqual([]);
  });

  describe('with script steps', () => {
    const rtcScript =
      "export default async (ctx: any) => { await ctx.measure('RTC error', Number((await ctx.dut.expect('RTC PPM', 'v=(-?[0-9.]+)'))[1]), { unit: 'ppm', limit: { kind: 'range', low: -5, high: 5 } }); };";
    const scripted = (limits: object): CompiledSequence => {
      const base = dirs.make();
      mkdirSync(path.join(base, 'sequences'));
      writeFileSync(path.join(base, 'sequences', 'rtc.ts'), rtcScript);
      return seq([battery, { type: 'script', name: 'RTC calibration', module: 'sequences/rtc.ts' }], { variants: [{ name: 'widget-eu', when: { field: 'model', equals: 'WE1' }, limits }] }, base);
    };

    it('accepts a variant limit naming no step, with a warning that it applies only to a script measuring that name', () => {
      const s = scripted({ 'RTC error': { kind: 'range', low: -2, high: 2 }, 'Battery voltage': { kind: 'range', low: 3.5, high: 4.2 } });
      expect(sequenceWarnings(s, ['model'])).toEqual(['variants[0].limits.RTC error: names no step; it applies only if a script measures "RTC error"']);
      // Its limit is still checked like any other.
      expect(() => scripted({ 'RTC error': { kind: 'range', low: 2, high: -2 } })).toThrow(/variants\[0\]\.limits\.RTC error\.low: low 2 is above high -2/);
      // A script step itself has no limit to replace.
      expect(() => scripted({ 'RTC calibration': { kind: 'range', low: 1 } })).toThrow(/variants\[0\]\.limits\.RTC calibration: a script step has no limit to replace/);
    });

    it('judges the script’s measurement of that name by the variant’s limit', async () => {
      const s = scripted({ 'RTC error': { kind: 'range', low: -2, high: 2 } });
      const out = await rig().run(new ScriptedConsole({ IDENT, 'MEAS VBAT': 'v=3.7', 'RTC PPM': 'v=3.1', FAIL: 'led=RED' }), s);
      expect(out.detail.variant).toBe('widget-eu');
      expect(out.verdict).toBe('failed');
      expect(out.detail.steps[2]?.measurements[0]).toMatchObject({ name: 'RTC error', value: 3.1, outcome: 'fail', limit: { kind: 'range', low: -2, high: 2 } });
      // A unit of no variant: the script's own limit.
      const other = await rig().run(new ScriptedConsole({ IDENT: IDENT.replace('model=WE1', 'model=WUS'), 'MEAS VBAT': 'v=3.7', 'RTC PPM': 'v=3.1', BLESS: 'blessed=1' }), s);
      expect(other.verdict).toBe('blessed');
    });
  });
});

describe('firmware that is not the tagged kind', () => {
  it('reads the identity one command a field (an AT module) and tells a failed unit with the sequence’s fail command', async () => {
    const iccidBody = '8944500102198304826';
    const iccid = iccidBody;
    const imeiBody = '35209900176148';
    const imei = imeiBody + luhnCheckDigit(imeiBody);
    const dut = new ScriptedConsole({
      'AT#DEVID': '#DEVID: 0123456789ABCDEF',
      'AT#MAC': '#MAC: 0c2a69000002',
      'AT+CCID': `+CCID: ${iccid}`,
      'AT+CGSN': imei,
      'AT#MEAS': '#MEAS: 3.1,V',
      'AT#FAIL': '#LED: RED',
    });
    const s = loadSequence(
      {
        name: 'at',
        failCommand: 'AT#FAIL {code}',
        steps: [
          {
            type: 'identify',
            name: 'Identify',
            command: null,
            read: [
              { field: 'deviceId', command: 'AT#DEVID', capture: '#DEVID: ([0-9a-fA-F]+)' },
              { field: 'mac', command: 'AT#MAC', capture: '#MAC: ([0-9a-f]+)' },
              { field: 'iccid', command: 'AT+CCID', capture: '\\+CCID: ([0-9F]+)' },
              { field: 'imei', command: 'AT+CGSN', capture: '^([0-9]{15})$' },
            ],
          },
          { type: 'measure', name: 'Battery voltage', command: 'AT#MEAS VBAT', capture: '#MEAS: ([0-9.]+)', limit: { kind: 'range', low: 3.4 } },
          { type: 'bless', name: 'Bless', command: 'AT#BLESS' },
        ],
      },
      'test',
    );
    const r = rig();
    const out = await r.run(dut, s);
    expect(out.identity).toEqual({ deviceId: '0123456789abcdef', mac: '0c2a69000002', iccid, imei });
    expect(out.verdict).toBe('failed');
    expect(dut.commands.at(-1)).toBe('AT#FAIL BATTERY_VOLTAGE');
  });
});

describe('scripted steps', () => {
  function folder(files: Record<string, string>): string {
    const base = dirs.make();
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(base, name)), { recursive: true });
      writeFileSync(path.join(base, name), text);
    }
    return base;
  }
  const scriptStep = (module: string, timeoutMs = 2000): object => ({ type: 'script', name: 'Trim', module, timeoutMs });

  it('measures, computes, writes and verifies, its measurements judged and recorded like a measure step’s', async () => {
    const base = folder({
      'sequences/trim.ts': `import { half } from './lib/half';
export default async function (ctx: { dut: { expect(c: string, p: string): Promise<string[]>; send(c: string): Promise<string> }; measure(n: string, v: number, o?: object): Promise<string> }): Promise<void> {
  const before: number = Number((await ctx.dut.expect('RTC PPM', 'v=(-?[0-9.]+)'))[1]);
  await ctx.measure('before', before, { unit: 'ppm' });
  await ctx.dut.send('RTC TRIM ' + half(before * 2));
  const after = Number((await ctx.dut.expect('RTC PPM', 'v=(-?[0-9.]+)'))[1]);
  await ctx.measure('after', after, { unit: 'ppm', limit: { kind: 'range', low: -2, high: 2 } });
}`,
      'sequences/lib/half.ts': 'export function half(x: number): number { return x / 2; }',
    });
    const dut = new ScriptedConsole({ IDENT, BLESS: 'blessed=1', 'RTC TRIM 7.5': 'trim=7.5' }).on('RTC PPM', 'v=7.5', 'v=0.3');
    const out = await rig().run(dut, seq([scriptStep('sequences/trim.ts')], {}, base));
    expect(out.verdict).toBe('blessed');
    expect(dut.commands).toContain('RTC TRIM 7.5');
    // In the order the script measured them.
    expect(out.detail.steps[1]?.measurements.map((m) => [m.name, m.value, m.outcome])).toEqual([
      ['before', 7.5, 'pass'],
      ['after', 0.3, 'pass'],
    ]);
  });

  it('fails the step with the script’s own message when it throws, and when a measurement fails', async () => {
    const base = folder({
      'sequences/boom.ts': "export default async function () { throw new Error('the trim register did not take'); }",
      'sequences/low.ts': "export default async (ctx: any) => { await ctx.measure('x', 1, { limit: { kind: 'range', low: 2 } }); };",
    });
    const a = await rig().run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), seq([scriptStep('sequences/boom.ts')], {}, base));
    expect(a.reason).toBe('script failed: the trim register did not take');
    const b = await rig().run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), seq([scriptStep('sequences/low.ts')], {}, base));
    expect(b.verdict).toBe('failed');
    expect(b.reason).toBe('x: 1 below low 2');
  });

  it('abandons a script past its timeout (its ctx says aborted) and the step errors', async () => {
    const base = folder({ 'sequences/slow.ts': 'export default async (ctx: any) => { while (!ctx.aborted) await ctx.sleep(20); };' });
    const out = await rig().run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), seq([scriptStep('sequences/slow.ts', 150)], {}, base));
    expect(out.detail.steps[1]?.status).toBe('error');
    expect(out.reason).toBe('script sequences/slow.ts did not finish within 150 ms: abandoned');
  });

  it('cannot bless, reach the station, the process or node, or make code from strings', async () => {
    const base = folder({
      'sequences/bless.ts': "export default async (ctx: any) => { await ctx.dut.send('BLESS'); };",
      'sequences/proc.ts': 'export default async () => { (globalThis as any).process.exit(1); };',
      'sequences/escape.ts': "export default async (ctx: any) => { const f = (ctx.measure as any).constructor('return process'); f(); };",
      'sequences/require.ts': "export default async () => { const g = globalThis as any; g['req' + 'uire']('fs'); };",
    });
    const outcomes = await Promise.all(
      ['bless', 'proc', 'escape', 'require'].map(async (name) => {
        const dut = new ScriptedConsole({ IDENT, BLESS: 'blessed=1', FAIL: 'led=RED' });
        const out = await rig().run(dut, seq([scriptStep(`sequences/${name}.ts`)], {}, base));
        return { name, verdict: out.verdict, reason: out.reason, blessSent: dut.commands.includes('BLESS') };
      }),
    );
    for (const o of outcomes) expect(o.verdict, o.name).toBe('failed');
    expect(outcomes.every((o) => !o.blessSent)).toBe(true);
    expect(outcomes.find((o) => o.name === 'bless')?.reason).toMatch(/a script cannot send "BLESS"/);
    expect(outcomes.find((o) => o.name === 'escape')?.reason).toMatch(/Code generation from strings disallowed/);
    expect(outcomes.find((o) => o.name === 'proc')?.reason).toMatch(/Cannot read properties of undefined \(reading 'exit'\)/);
    expect(outcomes.find((o) => o.name === 'require')?.reason).toMatch(/not a function/);
  });

  it('refuses at load a module that imports node:fs, the station or a package, does not export a function, or does not compile', () => {
    const base = folder({
      'sequences/fs.ts': "import { readFileSync } from 'node:fs';\nexport default async () => readFileSync('/etc/passwd');",
      'sequences/store.ts': "import { Store } from '../station/store/store.js';\nexport default async () => new Store('x', null as never);",
      'sequences/pkg.ts': "import express from 'express';\nexport default async () => express;",
      'sequences/nodefault.ts': 'export const x = 1;',
      'sequences/broken.ts': 'export default async (ctx: any) => { ctx.send(( };',
      'sequences/computed.ts': "const m = 'f' + 's';\nexport default async () => require(m);",
    });
    const problem = (module: string): string => {
      try {
        seq([scriptStep(module)], {}, base);
      } catch (err) {
        return (err as SequenceError).problems.join(' | ');
      }
      return 'loaded';
    };
    expect(problem('sequences/fs.ts')).toMatch(/steps\[1\]\.module: sequences\/fs\.ts imports "node:fs": a script may import only modules of its own folder/);
    expect(problem('sequences/store.ts')).toMatch(/outside its folder/);
    expect(problem('sequences/pkg.ts')).toMatch(/imports "express"/);
    expect(problem('sequences/nodefault.ts')).toMatch(/does not export a default function/);
    expect(problem('sequences/broken.ts')).toMatch(/sequences\/broken\.ts\(1,\d+\): /);
    expect(problem('sequences/computed.ts')).toMatch(/require\(\) with a computed name/);
    expect(problem('sequences/missing.ts')).toMatch(/cannot read sequences\/missing\.ts: ENOENT/);
    expect(problem('../outside.ts')).toMatch(/plain relative path/);
  });

  it('makes a changed script a new version, and runs a stored version with the source it was saved with', async () => {
    const base = folder({ 'sequences/v.ts': "export default async (ctx: any) => { await ctx.measure('v', 1); };" });
    const first = seq([scriptStep('sequences/v.ts')], {}, base);
    writeFileSync(path.join(base, 'sequences/v.ts'), "export default async (ctx: any) => { await ctx.measure('v', 2); };");
    const second = seq([scriptStep('sequences/v.ts')], {}, base);
    expect(second.hash).not.toBe(first.hash);
    expect(first.scripts['sequences/v.ts']).toMatch(/'v', 1/);
    const stored = loadSequence(first.def, 'stored', { scripts: storedReader(first.scripts) });
    expect(stored.hash).toBe(first.hash);
    const out = await rig().run(new ScriptedConsole({ IDENT, BLESS: 'blessed=1' }), stored);
    expect(out.detail.steps[1]?.measurements[0]?.value).toBe(1);
  });
});

describe('the script worker', () => {
  function folder(files: Record<string, string>): string {
    const base = dirs.make();
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(base, name)), { recursive: true });
      writeFileSync(path.join(base, name), text);
    }
    return base;
  }
  const step = (name: string, module: string, timeoutMs = 2000): object => ({ type: 'script', name, module, timeoutMs });

  it('keeps the station turning while a script loops for ever after an await, stops it, and runs the next script in a fresh worker', async () => {
    const base = folder({
      'sequences/spin.ts': 'export default async (ctx: any) => { await ctx.sleep(5); for (;;) { /* never yields, never looks at ctx.aborted */ } };',
      'sequences/spin-at-once.ts': 'export default async () => { for (;;) { /* never yields */ } };',
      'sequences/fine.ts': "export default async (ctx: any) => { await ctx.measure('x', 1, { limit: { kind: 'range', low: 0, high: 2 } }); };",
    });
    const s = seq([step('Spin', 'sequences/spin.ts', 300), step('Spin at once', 'sequences/spin-at-once.ts', 300), step('Fine', 'sequences/fine.ts')], {}, base);
    // The station's own event loop: a timer that must keep ticking while the script spins.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    cleanups.push(() => clearInterval(timer));
    const r = rig();
    const spin = await r.run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), s);
    expect(spin.detail.steps[1]?.status).toBe('error');
    expect(spin.reason).toBe('script sequences/spin.ts did not finish within 300 ms: abandoned');
    expect(ticks).toBeGreaterThan(5);
    // The same for a script that never yields at all, then a script that works, on the same engine.
    const once = loadSequence(
      { name: 'once', steps: [{ type: 'identify', name: 'Identify' }, step('Spin at once', 'sequences/spin-at-once.ts', 300), step('Fine', 'sequences/fine.ts'), { type: 'bless', name: 'Bless' }] },
      'test',
      { scripts: diskReader(base) },
    );
    const second = await r.run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), once);
    expect(second.reason).toBe('script sequences/spin-at-once.ts did not finish within 300 ms: abandoned');
    const fine = loadSequence({ name: 'fine', steps: [{ type: 'identify', name: 'Identify' }, step('Fine', 'sequences/fine.ts'), { type: 'bless', name: 'Bless' }] }, 'test', {
      scripts: diskReader(base),
    });
    const blessed = await r.run(new ScriptedConsole({ IDENT, BLESS: 'blessed=1' }), fine);
    expect(blessed.verdict).toBe('blessed');
    expect(blessed.detail.steps[1]?.measurements.map((m) => [m.name, m.value])).toEqual([['x', 1]]);
  });

  it('ends the other scripts of a stopped worker in error, naming the one that would not stop', async () => {
    const base = folder({
      'sequences/spin.ts': 'export default async (ctx: any) => { await ctx.sleep(5); for (;;) { /* spins */ } };',
      // Long enough that the spinning script's worker is stopped (200 ms + 1000 ms of grace) while
      // this one still waits, however slowly a loaded machine starts the worker.
      'sequences/wait.ts': "export default async (ctx: any) => { await ctx.dut.send('WAITING'); await ctx.sleep(8000); };",
    });
    // Two slots on one sequence (one engine, one worker), at different steps: the waiting script started first.
    const both = seq([step('Wait', 'sequences/wait.ts', 10_000), step('Spin', 'sequences/spin.ts', 200)], {}, base);
    const [identify, waitStep, spinStep, bless] = both.steps;
    const waitSeq = { ...both, steps: [identify, waitStep, bless] } as CompiledSequence;
    const spinSeq = { ...both, steps: [identify, spinStep, bless] } as CompiledSequence;
    const r = rig();
    const waitingDut = new ScriptedConsole({ IDENT, FAIL: 'led=RED', WAITING: 'ok' });
    const waiting = r.run(waitingDut, waitSeq);
    // The spinning script starts only once the waiting one runs in the worker (a loaded machine
    // could otherwise start the waiting script after the worker was stopped, in a new one).
    await waitFor('the waiting script to run', () => waitingDut.commands.includes('WAITING'));
    const spinning = await r.run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), spinSeq);
    expect(spinning.reason).toMatch(/did not finish within 200 ms: abandoned/);
    const other = await waiting;
    expect(other.detail.steps[1]?.status).toBe('error');
    expect(other.reason).toBe('script sequences/wait.ts: sequences/spin.ts kept running 1000 ms after it was abandoned, so its worker was stopped');
  });

  it('errors a script that runs its worker out of memory, and the line goes on', async () => {
    const base = folder({
      'sequences/hog.ts': 'export default async () => { const keep: number[][] = []; for (;;) keep.push(new Array(1e6).fill(1)); };',
      'sequences/fine.ts': "export default async (ctx: any) => { await ctx.dut.send('PING'); };",
    });
    const r = rig();
    const hog = await r.run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), seq([step('Hog', 'sequences/hog.ts', 20_000)], {}, base));
    expect(hog.detail.steps[1]?.status).toBe('error');
    expect(hog.reason).toMatch(/^script sequences\/hog\.ts: the scripts ran out of memory \(128 MB\)|^script sequences\/hog\.ts: the script worker (failed|exited)/);
    const fine = await r.run(new ScriptedConsole({ IDENT, BLESS: 'blessed=1', PING: 'ok' }), seq([step('Fine', 'sequences/fine.ts')], {}, base));
    expect(fine.verdict).toBe('blessed');
  });

  it('refuses only the verdict commands by their whole words: a shell firmware\u2019s other "factory" commands are the script\u2019s', async () => {
    const base = folder({
      'sequences/meas.ts': "export default async (ctx: any) => { const m = await ctx.dut.expect('factory meas vbat', 'v=([0-9.]+)'); await ctx.measure('vbat', Number(m[1])); };",
      'sequences/fail.ts': "export default async (ctx: any) => { await ctx.dut.send('Factory  Fail RADIO'); };",
      'sequences/bless.ts': "export default async (ctx: any) => { await ctx.dut.send('factory bless'); };",
    });
    const extra = { failCommand: 'factory fail {code}', steps: [] };
    const withVerdicts = (module: string): CompiledSequence =>
      loadSequence(
        { name: 'shell', failCommand: extra.failCommand, steps: [{ type: 'identify', name: 'Identify' }, step('S', module), { type: 'bless', name: 'Bless', command: 'factory bless' }] },
        'test',
        { scripts: diskReader(base) },
      );
    const dut = (): ScriptedConsole => new ScriptedConsole({ IDENT, 'factory meas vbat': 'v=3.9', 'factory bless': 'blessed=1', 'factory fail S': 'led=RED' });
    const meas = await rig().run(dut(), withVerdicts('sequences/meas.ts'));
    expect(meas.verdict).toBe('blessed');
    for (const [module, refused] of [
      ['sequences/fail.ts', 'Factory  Fail RADIO'],
      ['sequences/bless.ts', 'factory bless'],
    ] as const) {
      const d = dut();
      const out = await rig().run(d, withVerdicts(module));
      expect(out.verdict).toBe('failed');
      expect(out.reason).toBe(`script failed: a script cannot send "${refused}": blessing and failing the unit are the runner's`);
      expect(d.commands.filter((c) => c.toLowerCase().replace(/\s+/g, ' ') === refused.toLowerCase().replace(/\s+/g, ' ') && c !== 'factory bless')).toEqual([]);
    }
  });

  it('errors the step when the DUT does not answer a script (the sequence default timeout), and interrupts the run on a fault of the fixture', async () => {
    const base = folder({
      'sequences/ask.ts': "export default async (ctx: any) => { await ctx.dut.expect('MEAS VBAT', 'v=([0-9.]+)'); };",
      'sequences/dmm.ts':
        "export default async (ctx: any) => { try { await ctx.instruments.measure({ instrument: 'dmm1', function: 'voltage-dc' }); } catch { /* a script may not swallow a fault of the fixture */ } };",
    });
    const silent = await rig().run(new ScriptedConsole({ IDENT, FAIL: 'led=RED' }), seq([step('Ask', 'sequences/ask.ts', 5000)], { defaultTimeoutMs: 100 }, base));
    expect(silent.detail.steps[1]?.status).toBe('error');
    expect(silent.reason).toMatch(/^script sequences\/ask\.ts: .*MEAS VBAT/);
    const fixture = { measure: async () => Promise.reject(new StationFault('dmm1 stopped answering', true)), scpi: async () => Promise.reject(new Error('unused')) };
    const d = new ScriptedConsole({ IDENT, FAIL: 'led=RED' });
    const faulted = await rig().run(d, seq([step('Dmm', 'sequences/dmm.ts')], {}, base), { fixture });
    expect(faulted.verdict).toBe('interrupted');
    expect(faulted.reason).toMatch(/dmm1 stopped answering/);
    expect(d.commands.some((c) => c.startsWith('FAIL'))).toBe(false);
  });

  it('resolves an import as TypeScript does: ./lib/stats is lib/stats.ts before lib/stats/index.ts', async () => {
    const base = folder({
      'sequences/uses.ts': "import { which } from './lib/stats';\nexport default async (ctx: any) => { await ctx.measure(which(), 1); };",
      'sequences/lib/stats.ts': "export const which = (): string => 'file';",
      'sequences/lib/stats/index.ts': "export const which = (): string => 'folder';",
    });
    const s = seq([step('Uses', 'sequences/uses.ts')], {}, base);
    expect(Object.keys(s.scripts).sort()).toEqual(['sequences/lib/stats.ts', 'sequences/uses.ts']);
    const out = await rig().run(new ScriptedConsole({ IDENT, BLESS: 'blessed=1' }), s);
    expect(out.detail.steps[1]?.measurements[0]?.name).toBe('file');
  });
});
