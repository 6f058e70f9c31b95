// CI dry-runs the shipped sequences: `npm run sequence -- check FILE` and `... dry-run FILE` (the
// compiled station/sequence-cli.ts, run as `node dist/station/sequence-cli.js` from the project
// root, without the npm pre-script's rebuild). Every sequences/*.json checks clean and dry-runs on
// simulated units speaking the protocol it is written for, with a row in the per-step table for
// every step; broken copies, files that are not JSON and bad flags are refused with the problem
// named (bad flags with the usage, exit 2), and a refused dry-run leaves no data folder.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { waitFor } from '../support/wait.js';

const CLI = path.join(PROJECT_ROOT, 'dist/station/sequence-cli.js');
const SEQUENCES = path.join(PROJECT_ROOT, 'sequences');
const USAGE = /^usage: npm run sequence -- check FILE .*\n\s+npm run sequence -- dry-run FILE \[--units N\] \[--protocol tagged\|at\|shell\]/m;

/** The protocol each shipped sequence is written for (its commands and captures say which). A new
 *  sequence file fails the first test until it is given one here. */
const PROTOCOL: Record<string, 'tagged' | 'at' | 'shell'> = {
  'imp-widget.json': 'tagged', // MEAS VBAT -> v=..., BlinkUp, the fixture's instruments, scripts
  'cellular-module-at.json': 'at', // AT#DEVID, AT+CSQ, AT#BLESS
  'zephyr-shell.json': 'shell', // factory ident, kernel version
};
/** Units per dry-run: imp-widget's BlinkUp takes ~5 s a unit, so one unit per simulated slot (4). */
const UNITS: Record<string, number> = { 'imp-widget.json': 4, 'cellular-module-at.json': 8, 'zephyr-shell.json': 8 };

/** The CLI's temp folder (TMPDIR): a dry-run's data folder goes there, so it can be checked for
 *  what a run leaves behind, and nothing is left in the system's. */
const CLI_TMP = mkdtempSync(path.join(os.tmpdir(), 'sequence-cli-tmp-'));
afterAll(() => rmSync(CLI_TMP, { recursive: true, force: true }));
const leftDataDirs = (): string[] => readdirSync(CLI_TMP).filter((n) => n.startsWith('blinkup-dry-run-'));

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the sequence CLI to its exit, from `cwd` (the project root unless told). */
async function sequenceCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? PROJECT_ROOT, env: { ...process.env, TMPDIR: CLI_TMP }, stdio: ['ignore', 'pipe', 'pipe'] });
  const result: CliResult = { code: null, stdout: '', stderr: '' };
  let exited = false;
  proc.stdout.on('data', (d: Buffer) => (result.stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (result.stderr += d.toString()));
  proc.once('close', (code) => {
    result.code = code;
    exited = true;
  });
  try {
    await waitFor(`sequence-cli ${args.join(' ')} to exit`, () => exited, { timeoutMs: opts.timeoutMs ?? 15_000, intervalMs: 20 });
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return result;
}

interface StepDef {
  type: string;
  name: string;
  steps?: StepDef[];
  module?: string;
  limit?: unknown;
}
interface SequenceFile {
  name: string;
  steps: StepDef[];
}

const readSequence = (file: string): SequenceFile => JSON.parse(readFileSync(file, 'utf8')) as SequenceFile;

/** Every step, groups' steps under their group, in sequence order, with its nesting depth. */
function flatten(steps: StepDef[], depth = 0): { name: string; type: string; depth: number }[] {
  return steps.flatMap((s) => [{ name: s.name, type: s.type, depth }, ...(s.steps ? flatten(s.steps, depth + 1) : [])]);
}

interface TableRow {
  /** The step cell as printed: two spaces of indent per group level. */
  name: string;
  type: string;
  pass: number;
  marginal: number;
  fail: number;
  error: number;
  other: number;
  values: string;
}

/** The dry-run's per-step table: columns cut where the dashed rule under the header puts them. */
function parseTable(stdout: string): TableRow[] {
  const lines = stdout.split('\n');
  const header = lines.findIndex((l) => /^step\s+type\s+pass\s+marginal\s+fail\s+error\s+other\s+values\s+mean ms$/.test(l));
  expect(header, `no step table in:\n${stdout}`).toBeGreaterThanOrEqual(0);
  const rule = lines[header + 1] as string;
  expect(rule).toMatch(/^-+( +-+){8}$/);
  const starts = [...rule.matchAll(/-+/g)].map((m) => m.index);
  const rows: TableRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (line.trim() === '') break;
    const cells = starts.map((start, i) => line.slice(start, starts[i + 1] ?? line.length));
    const n = (i: number): number => Number(cells[i]?.trim() || 0);
    rows.push({ name: (cells[0] as string).trimEnd(), type: (cells[1] as string).trim(), pass: n(2), marginal: n(3), fail: n(4), error: n(5), other: n(6), values: (cells[7] ?? '').trim() });
  }
  return rows;
}

describe('the shipped sequences (sequences/*.json)', () => {
  const files = readdirSync(SEQUENCES)
    .filter((f) => f.endsWith('.json'))
    .sort();

  it('are the ones this test knows the protocol of', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files).toEqual(Object.keys(PROTOCOL).sort());
  });

  for (const file of files) {
    const full = path.join(SEQUENCES, file);
    const seq = readSequence(full);

    it(`${file}: check exits 0 with "ok", its name and its step count`, async () => {
      const r = await sequenceCli(['check', `sequences/${file}`]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^ok: ${seq.name}, ${seq.steps.length} steps, hash [0-9a-f]{12}$`, 'm'));
      // And against the shipped station's configuration, as the station itself would load it.
      const withConfig = await sequenceCli(['check', `sequences/${file}`, '--config', 'station.config.json']);
      expect(withConfig.code, withConfig.stdout + withConfig.stderr).toBe(0);
      expect(withConfig.stdout).toMatch(/^ok: /m);
    });

    it(`${file}: dry-run on ${UNITS[file]} simulated ${PROTOCOL[file]} units prints a row for every step, and blesses units`, async () => {
      const units = UNITS[file] as number;
      const protocol = PROTOCOL[file] as string;
      const leftBefore = leftDataDirs();
      const r = await sequenceCli(['dry-run', `sequences/${file}`, '--units', String(units), '--protocol', protocol, '--seed', '1'], { timeoutMs: 40_000 });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const rows = parseTable(r.stdout);

      // One row per step (a group's steps indented under it), in sequence order, with its type;
      // the only other rows are a script's measurements, under the script.
      const steps = flatten(seq.steps);
      const stepRows = rows.filter((row) => row.type !== '');
      expect(stepRows.map((row) => [row.name, row.type])).toEqual(steps.map((s) => [`${'  '.repeat(s.depth)}${s.name}`, s.type]));
      for (const row of rows.filter((x) => x.type === '')) expect(row.name).toMatch(/^\s*· \S/);
      for (const [i, row] of rows.entries()) {
        if (row.type !== 'script') continue;
        const measured = rows.slice(i + 1).findIndex((x) => x.type !== '');
        expect(measured === -1 ? rows.length - i - 1 : measured, `script step ${row.name} has no measurement rows`).toBeGreaterThan(0);
        expect(row.pass, `script step ${row.name} never passed`).toBeGreaterThan(0);
      }
      // A script's measurement rows in the order its module measures them (ctx.measure('NAME', ...)).
      const defs = (steps: StepDef[]): StepDef[] => steps.flatMap((s) => [s, ...(s.steps ? defs(s.steps) : [])]);
      for (const def of defs(seq.steps).filter((s) => s.type === 'script')) {
        const measured = [...readFileSync(path.join(PROJECT_ROOT, def.module as string), 'utf8').matchAll(/ctx\.measure\('([^']+)'/g)].map((m) => m[1]);
        const at = rows.findIndex((x) => x.name.trim() === def.name);
        const under = rows.slice(at + 1).findIndex((x) => x.type !== '');
        expect(rows.slice(at + 1, under === -1 ? undefined : at + 1 + under).map((x) => x.name.replace(/^\s*· /, ''))).toEqual(measured);
      }

      const summary = /^(\d+) units \((\w+)\) in [\d.]+ s: (\d+) blessed, (\d+) failed, (\d+) interrupted\./m.exec(r.stdout);
      expect(summary, r.stdout).not.toBeNull();
      const [, done, proto, blessed, failed, interrupted] = summary as RegExpExecArray;
      expect(Number(done)).toBe(units);
      expect(proto).toBe(protocol);
      expect(Number(blessed) + Number(failed)).toBe(units);
      expect(Number(interrupted)).toBe(0);
      expect(Number(blessed)).toBeGreaterThan(0);

      // The table agrees with the verdicts: every unit was identified once, every blessed one
      // passed the bless step, and every failure has its reason listed.
      const identify = rows[0] as TableRow;
      expect(identify.type).toBe('identify');
      expect(identify.pass + identify.marginal + identify.fail + identify.error + identify.other).toBe(units);
      const bless = stepRows.filter((row) => row.type === 'bless');
      expect(bless.reduce((n, row) => n + row.pass, 0)).toBe(Number(blessed));
      const reasons = [...r.stdout.matchAll(/^ {2}(\d+) x failed: /gm)].reduce((n, m) => n + Number(m[1]), 0);
      expect(reasons).toBe(Number(failed));
      // The simulated station's data folder is gone with it.
      expect(leftDataDirs()).toEqual(leftBefore);
    });
  }
});

describe('sequence-cli check refuses broken sequences', () => {
  let dir: string;
  /** A station folder of its own: the shipped config and scripts, plus a script that reads the disk. */
  let station: string;
  let stationConfig: string;
  const imp = readSequence(path.join(SEQUENCES, 'imp-widget.json'));
  const groupIndex = imp.steps.findIndex((s) => s.type === 'group');
  const group = imp.steps[groupIndex] as StepDef;
  const innerIndex = (group.steps as StepDef[]).findIndex((s) => (s.limit as { kind?: string } | undefined)?.kind === 'range');

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sequence-cli-'));
    station = path.join(dir, 'station');
    mkdirSync(station);
    cpSync(path.join(PROJECT_ROOT, 'station.config.json'), path.join(station, 'station.config.json'));
    cpSync(SEQUENCES, path.join(station, 'sequences'), { recursive: true, filter: (src) => !src.endsWith('.json') });
    writeFileSync(
      path.join(station, 'sequences', 'reads-disk.ts'),
      "import { readFileSync } from 'node:fs';\nimport type { ScriptContext } from './station-script';\n\nexport default async function readsDisk(ctx: ScriptContext): Promise<void> {\n  ctx.log(readFileSync('/etc/hostname', 'utf8'));\n}\n",
    );
    stationConfig = path.join(station, 'station.config.json');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A copy of imp-widget.json changed by `edit`, written to the temp folder. */
  const brokenCopy = (name: string, edit: (steps: StepDef[]) => void, folder = dir): string => {
    const copy = structuredClone(imp);
    edit(copy.steps);
    const file = path.join(folder, name);
    writeFileSync(file, JSON.stringify(copy, null, 2));
    return file;
  };
  const ghost: StepDef = { type: 'script', name: 'Ghost script', module: 'sequences/does-not-exist.ts' };
  const snoop: StepDef = { type: 'script', name: 'Disk snoop', module: 'sequences/reads-disk.ts' };

  it('names each problem of the definition with its path: a low > high limit inside a group, an unknown step type', async () => {
    expect(groupIndex).toBeGreaterThan(0);
    expect(innerIndex).toBeGreaterThanOrEqual(0);
    const file = brokenCopy('broken.json', (steps) => {
      ((steps[groupIndex] as StepDef).steps as StepDef[])[innerIndex] = { ...(((steps[groupIndex] as StepDef).steps as StepDef[])[innerIndex] as StepDef), limit: { kind: 'range', low: 1, high: 0 } };
      steps.splice(3, 0, { type: 'teleport', name: 'Beam me up' }, ghost, snoop);
    });
    for (const args of [
      ['check', file],
      ['check', file, '--config', stationConfig],
    ]) {
      const r = await sequenceCli(args);
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^steps\[3\]\.type: Invalid discriminator value\. Expected 'identify' \| /m);
      // The group moved down by the three inserted steps.
      expect(r.stdout).toContain(`steps[${groupIndex + 3}].steps[${innerIndex}].limit.low: low 1 is above high 0\n`);
      expect(r.stdout).toMatch(new RegExp(`^\\d+ problems in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
      expect(r.stdout).not.toMatch(/^ok: /m);
    }
    // Script modules are read only once the definition is sound: its script problems come next.
  });

  it('names a script module that does not exist, at its step', async () => {
    const file = brokenCopy('ghost.json', (steps) => steps.splice(3, 0, ghost, snoop));
    const r = await sequenceCli(['check', file, '--config', stationConfig]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^steps\[3\]\.module: cannot read sequences\/does-not-exist\.ts: ENOENT$/m);
    expect(r.stdout).toMatch(/problems? in .*ghost\.json$/m);
  });

  it('names a script that imports node:fs, at its step', async () => {
    const file = brokenCopy('snoop.json', (steps) => steps.splice(4, 0, snoop), station);
    const r = await sequenceCli(['check', file, '--config', stationConfig]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^steps\[4\]\.module: sequences\/reads-disk\.ts imports "node:fs": a script may import only modules of its own folder \(sequences\/\)/m);
    expect(r.stdout).toMatch(/problems? in .*snoop\.json$/m);
  });

  it("reads script modules from the --config file's folder (default: the project's), not the sequence's nor the cwd", async () => {
    // The same file next to the station folder's scripts: without --config, modules come from the
    // project root, which has no reads-disk.ts.
    const file = path.join(station, 'snoop.json');
    const noConfig = await sequenceCli(['check', file]);
    expect(noConfig.code, noConfig.stdout + noConfig.stderr).toBe(1);
    expect(noConfig.stdout).toMatch(/^steps\[4\]\.module: cannot read sequences\/reads-disk\.ts: ENOENT$/m);

    // The shipped sequence with a config in a folder without its scripts: not found there.
    const bare = path.join(dir, 'bare');
    mkdirSync(bare, { recursive: true });
    cpSync(path.join(PROJECT_ROOT, 'station.config.json'), path.join(bare, 'station.config.json'));
    const radio = imp.steps.findIndex((s) => s.type === 'script');
    const elsewhere = await sequenceCli(['check', 'sequences/imp-widget.json', '--config', path.join(bare, 'station.config.json')]);
    expect(elsewhere.code, elsewhere.stdout + elsewhere.stderr).toBe(1);
    expect(elsewhere.stdout).toContain(`steps[${radio}].module: cannot read ${imp.steps[radio]?.module}: ENOENT`);
    // dry-run reads them from the same place, and refuses before running anything.
    const leftBefore = leftDataDirs();
    const dry = await sequenceCli(['dry-run', 'sequences/imp-widget.json', '--units', '1', '--config', path.join(bare, 'station.config.json')]);
    expect(dry.code).toBe(1);
    // The sequence file is what is invalid, its problems at their paths in it (as check prints them).
    expect(dry.stderr).toMatch(/^sequence sequences\/imp-widget\.json is invalid:$/m);
    expect(dry.stderr).toContain(`  - steps[${radio}].module: cannot read ${imp.steps[radio]?.module}: ENOENT`);
    expect(dry.stderr).not.toMatch(/configuration sequences\/imp-widget\.json/);
    expect(dry.stdout).toBe('');
    // A refused dry-run leaves no data folder behind.
    expect(leftDataDirs()).toEqual(leftBefore);

    // From another working directory, no --config: the project's folder still.
    const fromTmp = await sequenceCli(['check', path.join(SEQUENCES, 'imp-widget.json')], { cwd: dir });
    expect(fromTmp.code, fromTmp.stdout + fromTmp.stderr).toBe(0);
    expect(fromTmp.stdout).toMatch(/^ok: imp-widget-factory-test, /m);
  });

  it("dry-run names the configuration when it is the configuration that is invalid, and the sequence when it is the sequence's fault", async () => {
    const config = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'station.config.json'), 'utf8')) as { blinkup: { password: string } };
    config.blinkup.password = 'short';
    const badConfig = path.join(station, 'short-password.config.json');
    writeFileSync(badConfig, JSON.stringify(config, null, 2));
    const leftBefore = leftDataDirs();
    const r = await sequenceCli(['dry-run', 'sequences/zephyr-shell.json', '--units', '1', '--protocol', 'shell', '--config', badConfig]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^configuration ${badConfig.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is invalid:\n  - blinkup\\.password: `, 'm'));
    expect(r.stderr).not.toMatch(/sequences\/zephyr-shell\.json is invalid/);
    expect(r.stdout).toBe('');
    expect(leftDataDirs()).toEqual(leftBefore);

    // A sequence whose limit is wrong: the sequence file is named, its problem at its own path.
    const file = brokenCopy('low-above-high.json', (steps) => {
      ((steps[groupIndex] as StepDef).steps as StepDef[])[innerIndex] = { ...(((steps[groupIndex] as StepDef).steps as StepDef[])[innerIndex] as StepDef), limit: { kind: 'range', low: 1, high: 0 } };
    });
    const seq = await sequenceCli(['dry-run', file, '--units', '1', '--config', stationConfig]);
    expect(seq.code, seq.stdout + seq.stderr).toBe(1);
    expect(seq.stderr).toContain(`sequence ${file} is invalid:\n  - steps[${groupIndex}].steps[${innerIndex}].limit.low: low 1 is above high 0\n`);
    expect(seq.stderr).not.toMatch(/^configuration /m);
    expect(leftDataDirs()).toEqual(leftBefore);
  });

  it('refuses a file that is not JSON, or is missing, naming the file', async () => {
    const file = path.join(dir, 'not-json.json');
    writeFileSync(file, '{ "name": "half a sequence", "steps": [');
    for (const args of [
      ['check', file],
      ['dry-run', file, '--units', '1'],
    ]) {
      const r = await sequenceCli(args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`sequence ${file}: `);
      expect(r.stderr).toMatch(/JSON/);
      expect(r.stdout).toBe('');
    }
    const missing = path.join(dir, 'no-such-sequence.json');
    const r = await sequenceCli(['check', missing]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`sequence ${missing}: ENOENT`);
  });

  it('refuses bad flags and commands with the usage, running nothing', async () => {
    const bad = [
      ['dry-run', 'sequences/zephyr-shell.json', '--units', '0'],
      ['dry-run', 'sequences/zephyr-shell.json', '--units', '2.5'],
      ['dry-run', 'sequences/zephyr-shell.json', '--units', '10001'],
      ['dry-run', 'sequences/zephyr-shell.json', '--units', 'many'],
      ['dry-run', 'sequences/zephyr-shell.json', '--protocol', 'foo'],
      ['dry-run', 'sequences/zephyr-shell.json', '--protocol', 'AT'],
      ['frobnicate', 'sequences/zephyr-shell.json'],
      ['check'],
      [],
    ];
    for (const args of bad) {
      const r = await sequenceCli(args);
      expect(r.code, `sequence-cli ${args.join(' ')}`).toBe(2);
      expect(r.stderr, `sequence-cli ${args.join(' ')}`).toMatch(USAGE);
      expect(r.stdout).toBe('');
    }
    // An unknown flag, a flag without its value and a seed that is not an integer: the usage
    // too, naming the flag, and no stack trace.
    const flags = [
      { args: ['dry-run', 'sequences/zephyr-shell.json', '--unitz', '3'], names: /--unitz/ },
      { args: ['check', 'sequences/zephyr-shell.json', '--verbose'], names: /--verbose/ },
      { args: ['dry-run', 'sequences/zephyr-shell.json', '--units'], names: /--units/ },
      { args: ['check', 'sequences/zephyr-shell.json', '--config'], names: /--config/ },
      { args: ['dry-run', 'sequences/zephyr-shell.json', '--seed', 'abc'], names: /--seed/ },
      { args: ['dry-run', 'sequences/zephyr-shell.json', '--seed', '1.5'], names: /--seed/ },
      { args: ['dry-run', 'sequences/zephyr-shell.json', '--seed', ''], names: /--seed/ },
    ];
    for (const { args, names } of flags) {
      const r = await sequenceCli(args);
      expect(r.code, `sequence-cli ${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, `sequence-cli ${args.join(' ')}`).toMatch(USAGE);
      expect(r.stderr, `sequence-cli ${args.join(' ')}`).toMatch(names);
      expect(r.stderr, `sequence-cli ${args.join(' ')}`).not.toMatch(/ERR_PARSE_ARGS|\n\s+at /);
      expect(r.stdout).toBe('');
    }
    expect(leftDataDirs()).toEqual([]);
  });
});
