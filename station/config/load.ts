// Loading the configuration: file, environment overrides (SPEC §6), validation, resolved paths.
// Every problem is reported with its key path; nothing starts on an invalid config.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ScanFields, type ScanFieldRule } from '../../drivers/scanner/scan-fields.js';
import { sequenceFixtureProblems, slotFixtureProblems } from './fixture-check.js';
import { configSchema, type ParsedConfig } from './schema.js';
import type { ParticleSinkConfig } from '../../drivers/particle/options.js';
import { cloudCredentials, particleSinkOf as uplinkParticleSink } from './uplink.js';
import { encodeFrame, FrameError } from '../../drivers/emitter/frame.js';
import { diskReader } from '../sequence/script-sandbox.js';
import { formatIssuePath, loadSequence, SequenceError, sequenceWarnings, type CompiledSequence } from '../sequence/sequence.js';

export interface StationConfig extends ParsedConfig {
  /** Absolute path of the file this came from (null when built in code). */
  configPath: string | null;
  /** The sequence, validated and compiled. */
  compiledSequence: CompiledSequence;
  /** What is doubtful but not wrong (a product variant no unit can match, say): logged at start. */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`configuration ${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** `--config FILE` beats STATION_CONFIG beats ./station.config.json. */
export function configPathFrom({ argv = [], env = {}, cwd = process.cwd() }: ConfigSources): string {
  const i = argv.indexOf('--config');
  const fromArg = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith('--config='))?.slice('--config='.length);
  if ((i >= 0 || fromArg !== undefined) && !fromArg) throw new ConfigError('(command line)', ['--config needs a file path']);
  return path.resolve(cwd, fromArg ?? env.STATION_CONFIG ?? 'station.config.json');
}

export function loadConfigFile(sources: ConfigSources = {}): StationConfig {
  const file = configPathFrom(sources);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, { source: file, baseDir: path.dirname(file), env: sources.env ?? {} });
}

export function parseConfig(raw: unknown, opts: { source: string; baseDir: string; env?: NodeJS.ProcessEnv }): StationConfig {
  const env = opts.env ?? {};
  const problems: string[] = [];
  const withEnv = applyEnvOverrides(raw, env, problems);
  const parsed = configSchema.safeParse(withEnv);
  if (!parsed.success) {
    const inline = raw !== null && typeof raw === 'object' ? (raw as { sequence?: unknown }).sequence : undefined;
    let sequenceProblems: string[] | null = null;
    if (inline !== undefined) {
      // The sequence loader reports every step's problems, even past a step zod gave up on.
      try {
        loadSequence(inline, 'sequence', { scripts: diskReader(opts.baseDir) });
        sequenceProblems = [];
      } catch (err) {
        if (err instanceof SequenceError) sequenceProblems = err.problems.map((p) => `sequence.${p}`);
      }
    }
    for (const issue of parsed.error.issues) {
      if (sequenceProblems && issue.path[0] === 'sequence' && issue.path.length > 1) continue;
      problems.push(`${formatIssuePath('', issue.path)}: ${issue.message}`);
    }
    if (sequenceProblems) problems.push(...sequenceProblems);
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(opts.source, problems);
  const cfg = parsed.data;
  cfg.storage.dataDir = path.resolve(opts.baseDir, cfg.storage.dataDir);
  if (cfg.storage.retention?.archive !== undefined) {
    cfg.storage.retention.archive = path.resolve(opts.baseDir, cfg.storage.retention.archive);
    const archiveProblem = retentionArchiveProblem(cfg.storage.retention.archive, cfg.storage.dataDir, cfg.uplink.dir === undefined ? null : path.resolve(opts.baseDir, cfg.uplink.dir));
    if (archiveProblem) throw new ConfigError(opts.source, [`storage.retention.archive: ${archiveProblem}`]);
  }

  let compiledSequence: CompiledSequence;
  try {
    if (cfg.sequenceFile !== undefined) {
      const seqPath = path.resolve(opts.baseDir, cfg.sequenceFile);
      let seqRaw: unknown;
      try {
        seqRaw = JSON.parse(readFileSync(seqPath, 'utf8'));
      } catch (err) {
        throw new ConfigError(opts.source, [`sequenceFile: cannot load ${seqPath}: ${(err as Error).message}`]);
      }
      compiledSequence = loadSequence(seqRaw, seqPath, { scripts: diskReader(opts.baseDir) });
    } else {
      compiledSequence = loadSequence(raw !== null && typeof raw === 'object' ? (raw as { sequence: unknown }).sequence : undefined, 'sequence', { scripts: diskReader(opts.baseDir) });
    }
  } catch (err) {
    if (err instanceof SequenceError) {
      const prefix = cfg.sequenceFile !== undefined ? `sequenceFile (${err.source}) ` : 'sequence.';
      throw new ConfigError(
        opts.source,
        err.problems.map((p) => `${prefix}${p}`),
      );
    }
    throw err;
  }
  // The factory network must fit a BlinkUp frame (WPA2 password rules, field lengths).
  if (cfg.blinkup) {
    try {
      encodeFrame({ ssid: cfg.blinkup.ssid, password: cfg.blinkup.password, token: 'x'.repeat(64), tokenType: 'factory', apn: cfg.blinkup.apn ?? null });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      const key = /password/i.test(err.message) ? 'password' : /ssid/i.test(err.message) ? 'ssid' : /apn/i.test(err.message) ? 'apn' : '';
      throw new ConfigError(opts.source, [`blinkup${key ? `.${key}` : ''}: ${err.message}`]);
    }
  }
  // What a blinkup step needs, checked before anything starts.
  if (compiledSequence.steps.some((s) => s.type === 'blinkup')) {
    const missing: string[] = [];
    if (!cfg.blinkup) missing.push('blinkup: the sequence has a blinkup step, so the factory network (ssid, password) is required');
    cfg.slots.forEach((slot, i) => {
      if (!slot.emitter) missing.push(`slots[${i}].emitter: the sequence has a blinkup step, so every slot needs an emitter`);
      if (slot.emitter?.kind === 'simulated' && slot.dut.kind !== 'simulated') {
        missing.push(`slots[${i}].emitter: a simulated emitter can only light a simulated DUT`);
      }
    });
    const ledSlots = cfg.slots.filter((s) => s.emitter && s.emitter.kind !== 'imp-fixture' && !(s.emitter.kind === 'simulated' && s.emitter.model === 'imp-fixture'));
    if (ledSlots.length > 0 && cfg.tokens.source === 'none') {
      missing.push('tokens.source: the sequence has a blinkup step and LED emitters, so factory tokens need a source (cloud, file or simulated)');
    }
    if (missing.length > 0) throw new ConfigError(opts.source, missing);
  }
  // An interlock step asks the MES: the station must know which.
  if (compiledSequence.steps.some((s) => s.type === 'interlock') && !cfg.mes) {
    throw new ConfigError(opts.source, ['mes: the sequence has an interlock step, so the MES it asks is required (mes.url, mes.operation; docs/mes.md)']);
  }
  // A Particle product takes 24-character Device IDs only: the identify step must read them so.
  const particle = particleSinkOf(cfg);
  const identify = compiledSequence.steps[0];
  if (particle && identify?.type === 'identify' && identify.deviceIdHexLength !== 24) {
    throw new ConfigError(opts.source, [
      `${cfg.sequenceFile !== undefined ? 'sequenceFile ' : 'sequence.'}steps[0].deviceIdHexLength: a Particle product (the uplink's particle sink) takes 24-character Device IDs; set it to 24`,
    ]);
  }
  // The fixture: the slots' power and routes, and what the sequence asks of the instruments.
  const fixture = { instruments: cfg.instruments, slots: cfg.slots };
  const fixtureProblems = [
    ...slotFixtureProblems(fixture),
    ...sequenceFixtureProblems(compiledSequence.def.steps, fixture).map((p) => ({ ...p, path: `${cfg.sequenceFile !== undefined ? 'sequenceFile ' : 'sequence.'}${p.path}` })),
  ];
  if (fixtureProblems.length > 0)
    throw new ConfigError(
      opts.source,
      fixtureProblems.map((p) => `${p.path}: ${p.message}`),
    );
  if (cfg.tokens.source === 'cloud') {
    const cloud = cloudCredentials(cfg.uplink);
    if ('missing' in cloud)
      throw new ConfigError(
        opts.source,
        cloud.missing.map((k) => `${k}: tokens.source is "cloud", which needs it`),
      );
  }
  if (cfg.tokens.source === 'simulated' && !cfg.slots.some((s) => s.dut.kind === 'simulated')) {
    throw new ConfigError(opts.source, ['tokens.source: "simulated" tokens only enroll simulated DUTs; no slot is simulated']);
  }
  return {
    ...cfg,
    configPath: opts.source,
    compiledSequence,
    warnings: sequenceWarnings(compiledSequence, labelFieldNames(cfg.labels.format)).map((w) => `${cfg.sequenceFile !== undefined ? 'sequenceFile ' : 'sequence.'}${w}`),
  };
}

/** The station's Particle sink, when its uplink goes to a Particle product (docs/particle.md). */
export function particleSinkOf(cfg: ParsedConfig): ParticleSinkConfig | null {
  return uplinkParticleSink(cfg.uplink);
}

/** Why the retention archive folder cannot be where it is, or null. */
function retentionArchiveProblem(archive: string, dataDir: string, uplinkDir: string | null): string | null {
  const within = (dir: string, parent: string): boolean => {
    const rel = path.relative(parent, dir);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  if (within(archive, dataDir) || within(dataDir, archive)) {
    return `${archive} is in the data folder ${dataDir} (or holds it): the disk budget counts the data folder, so an archive there would fill the budget retention relieves; give a folder outside it`;
  }
  if (uplinkDir !== null && (within(archive, uplinkDir) || within(uplinkDir, archive))) {
    return `${archive} overlaps uplink.dir ${uplinkDir}, where the file sink writes its batches; give a folder of its own`;
  }
  return null;
}

/** The fields a unit label carries (secrets left out: a variant is never chosen by a secret). */
function labelFieldNames(format: ScanFieldRule): string[] {
  const fields = new ScanFields(format);
  return fields.fields.filter((f) => !fields.secretFields.has(f));
}

function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv, problems: string[]): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const out = { ...(raw as Record<string, unknown>) };
  if (env.STATION_PORT !== undefined) {
    const port = env.STATION_PORT.trim() === '' ? NaN : Number(env.STATION_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`STATION_PORT: "${env.STATION_PORT}" is not a port number (0-65535)`);
    out.server = { ...(out.server as object | undefined), port };
  }
  if (env.STATION_DATA_DIR !== undefined) {
    if (env.STATION_DATA_DIR === '') problems.push('STATION_DATA_DIR: is empty');
    out.storage = { ...(out.storage as object | undefined), dataDir: path.resolve(env.STATION_DATA_DIR) };
  }
  return out;
}
