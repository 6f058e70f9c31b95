import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, configPathFrom, loadConfigFile, parseConfig, type StationConfig } from '../../station/config/load.js';
import { SCHEMA_FILE, schemaText } from '../../station/config/write-schema.js';
import { shippedConfigRaw } from '../support/configs.js';
import { TempDirs } from '../support/unit-fakes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASE_TEXT = JSON.stringify(shippedConfigRaw());

/** A fresh deep copy of the committed station.config.json. */
function baseConfig(): Record<string, unknown> & { sequence: Record<string, unknown> } {
  return JSON.parse(BASE_TEXT) as Record<string, unknown> & { sequence: Record<string, unknown> };
}

function parse(raw: unknown, env: NodeJS.ProcessEnv = {}): StationConfig {
  return parseConfig(raw, { source: '/etc/station/test.json', baseDir: '/etc/station', env });
}

/** The ConfigError problems for `raw`; fails the test if it parses. */
function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parse(raw, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.source).toBe('/etc/station/test.json');
    expect(e.problems.length).toBeGreaterThan(0);
    for (const p of e.problems) expect(e.message).toContain(p);
    return e.problems;
  }
  throw new Error('expected parseConfig to throw a ConfigError');
}

function expectProblemAt(problems: string[], keyPath: string, text?: string | RegExp): void {
  const hits = problems.filter((p) => p.startsWith(`${keyPath}: `));
  expect(hits, `no problem at ${keyPath} in:\n${problems.join('\n')}`).not.toHaveLength(0);
  if (text !== undefined) {
    expect(
      hits.some((p) => (typeof text === 'string' ? p.includes(text) : text.test(p))),
      hits.join(' | '),
    ).toBe(true);
  }
}

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

describe('parseConfig: valid configuration', () => {
  it('loads the committed station.config.json with its values and a compiled sequence', () => {
    const cfg = parse(baseConfig());
    expect(cfg.station.id).toBe('line1-station1');
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 8080, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, lineScreen: true });
    expect(cfg.slots).toHaveLength(4);
    expect(cfg.configPath).toBe('/etc/station/test.json');
    expect(cfg.compiledSequence.def.name).toBe('imp-widget-factory-test');
    expect(cfg.compiledSequence.steps).toHaveLength(16);
    expect(cfg.compiledSequence.steps[1]?.type).toBe('blinkup');
    expect(cfg.tokens.source).toBe('simulated');
  });

  it('loads station.config.json from its folder, its sequence file and the scripts that sequence names', () => {
    const cfg = loadConfigFile({ argv: ['--config', path.join(ROOT, 'station.config.json')] });
    expect(cfg.compiledSequence.steps).toHaveLength(18);
    expect(cfg.compiledSequence.steps.filter((s) => s.type === 'script').map((s) => s.name)).toEqual(['Radio self-test', 'RTC calibration']);
    expect(Object.keys(cfg.compiledSequence.scripts).sort()).toEqual(['sequences/calibrate-rtc.ts', 'sequences/lib/stats.ts', 'sequences/radio-selftest.ts']);
  });

  it('resolves a relative dataDir against the config file folder', () => {
    expect(parse(baseConfig()).storage.dataDir).toBe(path.resolve('/etc/station', 'data'));
  });

  it('fills defaults for omitted sections', () => {
    const { server: _s, storage: _st, log: _l, line: _li, dut: _d, simulation: _si, uplink: _u, ...minimal } = baseConfig();
    const cfg = parse(minimal);
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 8080, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, lineScreen: true });
    expect(cfg.dut).toEqual({ maxLineBytes: 512, reconnectInitialMs: 200, reconnectMaxMs: 5000 });
    expect(cfg.line.autoStart).toBe('on-boot');
    expect(cfg.storage.dataDir).toBe(path.resolve('/etc/station/data'));
  });
});

describe('parseConfig: environment overrides', () => {
  it('STATION_PORT overrides server.port and keeps server.host', () => {
    const cfg = parse(baseConfig(), { STATION_PORT: '9123' });
    expect(cfg.server).toEqual({ host: '127.0.0.1', port: 9123, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, lineScreen: true });
  });

  it('STATION_DATA_DIR overrides storage.dataDir', () => {
    const dir = dirs.make();
    expect(parse(baseConfig(), { STATION_DATA_DIR: dir }).storage.dataDir).toBe(dir);
  });

  it('rejects a STATION_PORT that is not a port number, naming the variable', () => {
    for (const bad of ['http', '65536', '-1', '80.5']) {
      const problems = problemsOf(baseConfig(), { STATION_PORT: bad });
      expect(
        problems.some((p) => p.startsWith('STATION_PORT: ') && p.includes(`"${bad}"`)),
        `STATION_PORT=${JSON.stringify(bad)}: ${problems.join(' | ')}`,
      ).toBe(true);
    }
  });

  // Number('') is 0: an empty STATION_PORT (a typo in a unit file, `STATION_PORT= npm start`) would
  // silently put the API on a random free port. It must be refused like an empty STATION_DATA_DIR.
  it('rejects an empty STATION_PORT instead of treating it as port 0', () => {
    const problems = problemsOf(baseConfig(), { STATION_PORT: '' });
    expect(
      problems.some((p) => p.startsWith('STATION_PORT: ')),
      problems.join(' | '),
    ).toBe(true);
  });

  it('rejects an empty STATION_DATA_DIR', () => {
    expectProblemAt(problemsOf(baseConfig(), { STATION_DATA_DIR: '' }), 'STATION_DATA_DIR', 'is empty');
  });
});

describe('parseConfig: invalid configuration names key paths', () => {
  it('names server.port when it is out of range', () => {
    const raw = baseConfig();
    raw.server = { port: 70000 };
    expectProblemAt(problemsOf(raw), 'server.port');
  });

  it('names station.id when it is malformed or missing', () => {
    const raw = baseConfig();
    raw.station = { id: '-line 1' };
    expectProblemAt(problemsOf(raw), 'station.id', 'letters, digits');
    raw.station = {};
    expectProblemAt(problemsOf(raw), 'station.id');
  });

  it('names slots[0].dut.path when a serial slot has an empty path', () => {
    const raw = baseConfig();
    raw.slots = [{ dut: { kind: 'serial', path: '' } }];
    expectProblemAt(problemsOf(raw), 'slots[0].dut.path');
  });

  it('names unknown keys, at the top level and inside a section', () => {
    const raw = baseConfig();
    raw.colour = 'blue';
    raw.server = { port: 8080, hots: 'x' };
    const problems = problemsOf(raw);
    expect(
      problems.some((p) => p.includes('colour')),
      problems.join(' | '),
    ).toBe(true);
    expectProblemAt(problems, 'server', 'hots');
  });

  it('refuses both an inline sequence and a sequenceFile', () => {
    const raw = baseConfig();
    raw.sequenceFile = 'seq.json';
    expectProblemAt(problemsOf(raw), 'sequence', 'exactly one');
  });

  it('refuses neither an inline sequence nor a sequenceFile', () => {
    const { sequence: _seq, ...raw } = baseConfig();
    expectProblemAt(problemsOf(raw), 'sequence', 'exactly one');
  });

  it('refuses two slots on the same serial port, naming the later slot and the earlier one', () => {
    const raw = baseConfig();
    raw.slots = [{ dut: { kind: 'serial', path: '/dev/ttyUSB0' } }, { dut: { kind: 'serial', path: '/dev/ttyUSB1' } }, { dut: { kind: 'serial', path: '/dev/ttyUSB0' } }];
    const problems = problemsOf(raw);
    expectProblemAt(problems, 'slots[2].dut.path', 'slot 0');
    expect(problems.some((p) => p.startsWith('slots[1]'))).toBe(false);
  });

  it('prefixes problems in an inline sequence with "sequence."', () => {
    const raw = baseConfig();
    (raw.sequence.steps as unknown[]).shift();
    expectProblemAt(problemsOf(raw), 'sequence.steps[0].type', 'identify');
  });

  it('reports the other steps of an inline sequence even when one step has an unknown type', () => {
    const raw = baseConfig();
    const steps = raw.sequence.steps as Record<string, unknown>[];
    steps.splice(2, 0, { type: 'teleport', name: 'Beam' });
    (steps[3] as Record<string, unknown>).name = (steps[1] as Record<string, unknown>).name;
    const problems = problemsOf(raw);
    expectProblemAt(problems, 'sequence.steps[2].type');
    expectProblemAt(problems, 'sequence.steps[3].name', 'duplicates the name of step 1');
    expect(problems.filter((p) => p.startsWith('sequence.steps[2].type'))).toHaveLength(1);
  });

  it('refuses a factory network that cannot go in a BlinkUp frame, naming the key', () => {
    const raw = baseConfig();
    raw.blinkup = { ssid: 'factory', password: 'short' };
    const problems = problemsOf(raw);
    expectProblemAt(problems, 'blinkup.password', 'WPA2');
  });

  it('reports every problem at once', () => {
    const raw = baseConfig();
    raw.server = { port: -1 };
    raw.slots = [];
    raw.station = { id: '' };
    const problems = problemsOf(raw);
    expectProblemAt(problems, 'server.port');
    expectProblemAt(problems, 'slots');
    expectProblemAt(problems, 'station.id');
  });

  it('rejects a config that is not an object', () => {
    for (const raw of [null, [], 'station', 42]) expect(problemsOf(raw).length).toBeGreaterThan(0);
  });
});

describe('loadConfigFile and the config path', () => {
  function writeConfig(dir: string, name: string, raw: unknown): string {
    const file = path.join(dir, name);
    writeFileSync(file, typeof raw === 'string' ? raw : JSON.stringify(raw));
    return file;
  }

  it('reads --config FILE and --config=FILE', () => {
    const dir = dirs.make();
    const file = writeConfig(dir, 'a.json', baseConfig());
    expect(loadConfigFile({ argv: ['--config', file] }).configPath).toBe(file);
    expect(loadConfigFile({ argv: [`--config=${file}`] }).configPath).toBe(file);
  });

  it('resolves a relative --config against the working folder', () => {
    const dir = dirs.make();
    const file = writeConfig(dir, 'rel.json', baseConfig());
    expect(loadConfigFile({ argv: ['--config', 'rel.json'], cwd: dir }).configPath).toBe(file);
  });

  it('uses STATION_CONFIG when there is no --config, and --config wins over it', () => {
    const dir = dirs.make();
    const a = baseConfig();
    (a.station as Record<string, unknown>).id = 'from-env';
    const b = baseConfig();
    (b.station as Record<string, unknown>).id = 'from-arg';
    const envFile = writeConfig(dir, 'env.json', a);
    const argFile = writeConfig(dir, 'arg.json', b);
    expect(loadConfigFile({ env: { STATION_CONFIG: envFile } }).station.id).toBe('from-env');
    expect(loadConfigFile({ argv: ['--config', argFile], env: { STATION_CONFIG: envFile } }).station.id).toBe('from-arg');
  });

  it('defaults to station.config.json in the working folder', () => {
    expect(configPathFrom({ cwd: '/srv/line1' })).toBe('/srv/line1/station.config.json');
  });

  it('refuses --config with no file after it', () => {
    expect(() => configPathFrom({ argv: ['--config'] })).toThrow(/--config needs a file path/);
  });

  // "--config=" is the same mistake as "--config" with nothing after it; today it resolves to the
  // working folder itself and fails later with a confusing EISDIR.
  it('refuses --config= with an empty file name', () => {
    expect(() => configPathFrom({ argv: ['--config='], cwd: '/srv/line1' })).toThrow(/--config needs a file path/);
  });

  it('applies environment overrides passed to loadConfigFile', () => {
    const dir = dirs.make();
    const file = writeConfig(dir, 'c.json', baseConfig());
    const dataDir = path.join(dir, 'elsewhere');
    const cfg = loadConfigFile({ argv: ['--config', file], env: { STATION_PORT: '0', STATION_DATA_DIR: dataDir } });
    expect(cfg.server.port).toBe(0);
    expect(cfg.storage.dataDir).toBe(dataDir);
  });

  it('resolves dataDir and sequenceFile relative to the config file, not the working folder', () => {
    const dir = dirs.make();
    const raw = baseConfig();
    const sequence = raw.sequence;
    delete (raw as Record<string, unknown>).sequence;
    raw.sequenceFile = 'sequences/widget.json';
    raw.storage = { dataDir: 'var/data' };
    const seqDir = path.join(dir, 'sequences');
    mkdirSync(seqDir);
    writeFileSync(path.join(seqDir, 'widget.json'), JSON.stringify(sequence));
    const file = writeConfig(dir, 'station.json', raw);
    const cfg = loadConfigFile({ argv: ['--config', file], cwd: '/' });
    expect(cfg.compiledSequence.def.name).toBe('imp-widget-factory-test');
    expect(cfg.storage.dataDir).toBe(path.join(dir, 'var/data'));
  });

  it('names the sequence file and the step path when the sequenceFile is invalid', () => {
    const dir = dirs.make();
    const raw = baseConfig();
    const sequence = raw.sequence;
    (sequence.steps as unknown[]).pop();
    delete (raw as Record<string, unknown>).sequence;
    raw.sequenceFile = 'seq.json';
    writeFileSync(path.join(dir, 'seq.json'), JSON.stringify(sequence));
    const file = writeConfig(dir, 'station.json', raw);
    const err = (() => {
      try {
        loadConfigFile({ argv: ['--config', file] });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(
      problems.some((p) => p.includes(path.join(dir, 'seq.json')) && p.includes(`steps[${(sequence.steps as unknown[]).length - 1}].type`) && p.includes('bless')),
      problems.join(' | '),
    ).toBe(true);
  });

  it('names a missing sequenceFile', () => {
    const dir = dirs.make();
    const raw = baseConfig();
    delete (raw as Record<string, unknown>).sequence;
    raw.sequenceFile = 'nope.json';
    const file = writeConfig(dir, 'station.json', raw);
    expect(() => loadConfigFile({ argv: ['--config', file] })).toThrow(/sequenceFile: cannot load .*nope\.json/);
  });

  it('names the file when it is not valid JSON', () => {
    const dir = dirs.make();
    const file = writeConfig(dir, 'broken.json', '{ "station": { "id": "x" }, }');
    try {
      loadConfigFile({ argv: ['--config', file] });
      expect.unreachable('a broken file must not load');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const e = err as ConfigError;
      expect(e.source).toBe(file);
      expect(e.message).toContain(file);
      expect(e.problems[0]).toMatch(/^not valid JSON/);
    }
  });

  it('names the file when it cannot be read', () => {
    const dir = dirs.make();
    const file = path.join(dir, 'missing.json');
    expect(() => loadConfigFile({ argv: ['--config', file] })).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\s\\S]*ENOENT`));
  });
});

describe('the committed JSON Schema', () => {
  it('equals what write-schema generates from the zod schema (run `npm run schema` if this fails)', () => {
    const committed = readFileSync(path.join(ROOT, SCHEMA_FILE), 'utf8');
    expect(committed).toBe(schemaText());
  });
});
