// `npm run sequence -- check FILE` and `npm run sequence -- dry-run FILE [--units N] [--protocol
// tagged|at|shell] [--config CONFIG] [--seed N]`: try a test sequence before the line exists.
//
// check: loads the sequence (a JSON file holding the sequence), as the station would, and prints
// every problem with its path (exit 1), or "ok" and any warnings (exit 0). With --config, the
// sequence is also checked against that station's configuration (its label format, and whatever
// else the station checks at start).
//
// dry-run: runs the sequence on a simulated station (the real station, with simulated nests
// speaking the chosen protocol, simulated emitters when it does BlinkUp, the simulated operator
// answering its prompts) until N units have a verdict, then prints a table per step: how many
// passed, were marginal, failed or errored, the values measured (min, mean, max) and the mean time.
// A sequence or configuration it cannot load: the problems under the file they are in, exit 1; its
// temporary data folder is removed however it ends.
//
// An unknown flag, a flag without its value, or a value that is not one (--units 0, --seed abc):
// the usage, exit 2.
// Part of the composition root: it builds a Station.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, parseConfig } from './config/load.js';
import { silentLogger } from './log.js';
import { PROJECT_ROOT } from './paths.js';
import { diskReader } from './sequence/script-sandbox.js';
import { loadSequence, SequenceError, sequenceWarnings } from './sequence/sequence.js';
import { Station } from './station.js';

/** Prints what was wrong with the command line (when told), then the usage, and exits 2. */
function usage(problem?: string): never {
  if (problem) process.stderr.write(`${problem}\n`);
  process.stderr.write('usage: npm run sequence -- check FILE [--config CONFIG]\n' + '       npm run sequence -- dry-run FILE [--units N] [--protocol tagged|at|shell] [--config CONFIG] [--seed N]\n');
  process.exit(2);
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`${what} ${file}: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

interface StepRow {
  name: string;
  type: string;
  depth: number;
  counts: Record<string, number>;
  values: number[];
  texts: Set<string>;
  unit: string | null;
  ms: number[];
}

/** A station config around `sequence` with simulated slots: the base config's other settings. */
export function dryRunConfig(base: Record<string, unknown>, sequence: unknown, opts: { units: number; protocol: 'tagged' | 'at' | 'shell'; seed: number; dataDir: string }): Record<string, unknown> {
  const steps = (sequence as { steps?: { type?: string }[] }).steps ?? [];
  const blinkup = steps.some((s) => s.type === 'blinkup');
  // The base's bench instruments, all simulated, and each slot's power and route as the base has them.
  const baseSlots = (base.slots as { power?: unknown; route?: unknown }[] | undefined) ?? [];
  const instruments = ((base.instruments as { transport?: unknown }[] | undefined) ?? []).map((i) => ({ ...i, transport: { kind: 'simulated' } }));
  const fixtureSlots = baseSlots.length > 0 && instruments.length > 0 ? baseSlots.length : 4;
  const slots = Math.max(1, Math.min(opts.units, 4, fixtureSlots));
  const sim = (base.simulation as Record<string, unknown> | undefined) ?? {};
  return {
    ...base,
    station: { ...(base.station as object), mode: 'test' },
    server: { host: '127.0.0.1', port: 0 },
    storage: { dataDir: opts.dataDir },
    log: { level: 'silent' },
    instruments,
    slots: Array.from({ length: slots }, (_, i) => ({
      name: `Dry run ${i + 1}`,
      dut: { kind: 'simulated', ...(opts.protocol === 'tagged' ? {} : { protocol: { kind: opts.protocol } }) },
      ...(blinkup ? { emitter: { kind: 'simulated', model: 'led' } } : {}),
      ...(instruments.length > 0 && baseSlots[i]?.power ? { power: baseSlots[i]?.power } : {}),
      ...(instruments.length > 0 && baseSlots[i]?.route ? { route: baseSlots[i]?.route } : {}),
    })),
    sequence,
    sequenceFile: undefined,
    scanners: [],
    labels: { ...((base.labels as object | undefined) ?? {}), output: undefined },
    uplink: undefined,
    ...(blinkup ? { tokens: { source: 'simulated', targetLevel: 20, lowWater: 5 } } : { tokens: undefined }),
    simulation: {
      failureRates: sim.failureRates ?? {},
      cellularRate: sim.cellularRate ?? 0.3,
      commandLatencyMs: 2,
      bootMs: 20,
      // An operator takes seconds to swap a unit; 100 ms keeps the run fast and the next unit's
      // boot after the last one's verdict, as on a line.
      handlingMs: 100,
      retestRate: 0,
      operator: 'simulated-slots',
      promptAnswerMs: 5,
      promptFailRate: 0,
      seed: opts.seed,
    },
  };
}

async function dryRun(file: string, configFile: string, opts: { units: number; protocol: 'tagged' | 'at' | 'shell'; seed: number }): Promise<number> {
  const base = readJson(configFile, 'config') as Record<string, unknown>;
  const sequence = readJson(file, 'sequence');
  // The simulated station's data folder: removed however the dry-run ends, refused or not.
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'blinkup-dry-run-'));
  try {
    return await dryRunIn(dataDir, base, sequence, file, configFile, opts);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A refused dry-run's problems, each under the file it is in: the sequence's (at their paths in
 *  that file, as check prints them) and the configuration's (everything else). */
function refusal(err: ConfigError, file: string, configFile: string): string {
  const inSequence = err.problems.filter((p) => p.startsWith('sequence.')).map((p) => p.slice('sequence.'.length));
  const inConfig = err.problems.filter((p) => !p.startsWith('sequence.'));
  const part = (what: string, problems: string[]): string => (problems.length > 0 ? `${what} is invalid:\n${problems.map((p) => `  - ${p}\n`).join('')}` : '');
  return part(`sequence ${file}`, inSequence) + part(`configuration ${configFile}`, inConfig);
}

async function dryRunIn(
  dataDir: string,
  base: Record<string, unknown>,
  sequence: unknown,
  file: string,
  configFile: string,
  opts: { units: number; protocol: 'tagged' | 'at' | 'shell'; seed: number },
): Promise<number> {
  let cfg;
  try {
    cfg = parseConfig(dryRunConfig(base, sequence, { ...opts, dataDir }), { source: configFile, baseDir: path.dirname(path.resolve(configFile)) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(refusal(err, file, configFile));
      return 1;
    }
    throw err;
  }
  const station = new Station(cfg, silentLogger());
  const rows = new Map<string, StepRow>();
  const order: string[] = [];
  // One row per step in sequence order (a group's steps under it), whatever order runs meet them.
  const addRows = (steps: readonly { type: string; name: string; steps?: unknown }[], depth: number, prefix: string): void => {
    for (const s of steps) {
      const key = `${prefix}${s.name}`;
      rows.set(key, { name: `${'  '.repeat(depth)}${s.name}`, type: s.type, depth, counts: {}, values: [], texts: new Set(), unit: null, ms: [] });
      order.push(key);
      if (Array.isArray(s.steps)) addRows(s.steps as typeof steps, depth + 1, `${key} › `);
    }
  };
  addRows(cfg.compiledSequence.def.steps, 0, '');
  const verdicts: Record<string, number> = { blessed: 0, failed: 0, interrupted: 0 };
  const reasons = new Map<string, number>();
  let done = 0;
  const t0 = performance.now();
  const finished = new Promise<void>((resolve) => {
    station.bus.on('run.finished', (r) => {
      if (done >= opts.units) return;
      done++;
      verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1;
      if (r.reason) reasons.set(`${r.verdict}: ${r.reason}`, (reasons.get(`${r.verdict}: ${r.reason}`) ?? 0) + 1);
      const run = station.store.getRun(r.runId) as {
        steps: { name: string; type: string; status: string; durationMs: number; measurements: { name: string; value: number | string; unit: string | null }[]; steps?: unknown[] }[];
      } | null;
      const visit = (steps: NonNullable<typeof run>['steps'], depth: number, prefix: string): void => {
        for (const s of steps) {
          const key = `${prefix}${s.name}`;
          const row = rows.get(key);
          if (!row) continue;
          row.counts[s.status] = (row.counts[s.status] ?? 0) + 1;
          row.ms.push(s.durationMs);
          for (const m of s.measurements) {
            // A step that records several measurements (a script) gets a row for each under it.
            let into = row;
            if (m.name !== s.name) {
              const sub = `${key} · ${m.name}`;
              if (!rows.has(sub)) {
                rows.set(sub, { name: `${'  '.repeat(depth + 1)}· ${m.name}`, type: 'value', depth: depth + 1, counts: {}, values: [], texts: new Set(), unit: null, ms: [] });
                order.splice(order.indexOf(key) + 1 + [...rows.keys()].filter((k) => k.startsWith(`${key} · `)).length - 1, 0, sub);
              }
              into = rows.get(sub) as StepRow;
            }
            if (typeof m.value === 'number') into.values.push(m.value);
            else into.texts.add(String(m.value));
            into.unit ??= m.unit;
          }
          if (s.steps) visit(s.steps as typeof steps, depth + 1, `${key} › `);
        }
      };
      if (run) visit(run.steps, 0, '');
      if (done >= opts.units) resolve();
    });
  });
  try {
    await station.start();
    await finished;
  } finally {
    await station.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const table: string[][] = [['step', 'type', 'pass', 'marginal', 'fail', 'error', 'other', 'values', 'mean ms']];
  for (const key of order) {
    const r = rows.get(key) as StepRow;
    const c = r.counts;
    const other = Object.entries(c)
      .filter(([k]) => !['pass', 'marginal', 'fail', 'error'].includes(k))
      .reduce((n, [, v]) => n + v, 0);
    if (r.type === 'value') {
      table.push([r.name, '', '', '', '', '', '', valuesOf(r), '']);
      continue;
    }
    const values = valuesOf(r);
    const ms = r.ms.length > 0 ? (r.ms.reduce((a, b) => a + b, 0) / r.ms.length).toFixed(1) : '';
    table.push([r.name, r.type, String(c.pass ?? 0), String(c.marginal ?? 0), String(c.fail ?? 0), String(c.error ?? 0), String(other), values, ms]);
  }
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] as string).length))) ?? [];
  for (const [n, row] of table.entries()) {
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`,
    );
    if (n === 0) process.stdout.write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  }
  process.stdout.write(
    `\n${done} units (${opts.protocol}) in ${seconds.toFixed(1)} s: ${verdicts.blessed} blessed, ${verdicts.failed} failed, ${verdicts.interrupted} interrupted. Values: min / mean / max.\n`,
  );
  if (reasons.size > 0) {
    process.stdout.write('Why units were not blessed (most frequent first):\n');
    for (const [reason, n] of [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 10)) process.stdout.write(`  ${n} x ${reason.length > 160 ? `${reason.slice(0, 160)}…` : reason}\n`);
  }
  return 0;
}

/** min / mean / max of a row's numbers, or its texts. */
function valuesOf(r: StepRow): string {
  if (r.values.length > 0) {
    const mean = r.values.reduce((a, b) => a + b, 0) / r.values.length;
    const fmt = (v: number): string => String(Number(v.toPrecision(4)));
    return `${fmt(Math.min(...r.values))} / ${fmt(mean)} / ${fmt(Math.max(...r.values))}${r.unit ? ` ${r.unit}` : ''}`;
  }
  return r.texts.size > 0 ? [...r.texts].slice(0, 4).join(', ') : '';
}

function check(file: string, configFile: string | undefined): number {
  const raw = readJson(file, 'sequence');
  try {
    // Script modules are read from the station's folder: the config file's (by default the project's).
    const seq = loadSequence(raw, file, { scripts: diskReader(path.dirname(path.resolve(configFile ?? path.join(PROJECT_ROOT, 'station.config.json')))) });
    let warnings = sequenceWarnings(seq);
    if (configFile) {
      const base = readJson(configFile, 'config') as Record<string, unknown>;
      const cfg = parseConfig({ ...base, sequence: raw, sequenceFile: undefined }, { source: configFile, baseDir: path.dirname(path.resolve(configFile)) });
      warnings = cfg.warnings;
    }
    for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`ok: ${seq.def.name}, ${seq.steps.length} steps, hash ${seq.hash.slice(0, 12)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof SequenceError || err instanceof ConfigError) {
      for (const p of err.problems) process.stdout.write(`${p}\n`);
      process.stdout.write(`${err.problems.length} problem${err.problems.length === 1 ? '' : 's'} in ${file}\n`);
      return 1;
    }
    throw err;
  }
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { units: { type: 'string', default: '20' }, protocol: { type: 'string', default: 'tagged' }, config: { type: 'string' }, seed: { type: 'string', default: '1' } },
    });
  } catch (err) {
    // An unknown flag, or one without its value: node's first sentence names it ("Unknown option
    // '--unitz'.", "Option '--units <value>' argument missing").
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) usage((err as Error).message.split(/(?<=\.) /)[0]);
    throw err;
  }
  const { positionals, values } = parsed;
  const [command, file] = positionals;
  if (!file || (command !== 'check' && command !== 'dry-run')) usage();
  if (command === 'check') process.exit(check(file, values.config));
  const units = Number(values.units);
  const protocol = values.protocol as 'tagged' | 'at' | 'shell';
  if (!Number.isInteger(units) || units < 1 || units > 10_000) usage(`--units ${values.units}: a whole number from 1 to 10000`);
  if (!['tagged', 'at', 'shell'].includes(protocol)) usage(`--protocol ${values.protocol}: tagged, at or shell`);
  const seed = /^-?\d+$/.test(values.seed) ? Number(values.seed) : NaN;
  if (!Number.isSafeInteger(seed)) usage(`--seed ${values.seed}: a whole number`);
  const configFile = values.config ?? path.join(PROJECT_ROOT, 'station.config.json');
  process.exit(await dryRun(file, configFile, { units, protocol, seed }));
}

void main();
