// The `tokens` section of the station config: defaults that keep existing configs valid, and the
// mistakes it refuses with the key path named.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../station/config/load.js';
import { silentLogger } from '../../station/log.js';
import { vaultOptionsFromConfig } from '../../station/tokens/vault.js';
import { coreConfig } from '../support/configs.js';

// The core configuration: no blinkup step, so the tokens section is free to vary.
const BASE = coreConfig() as Record<string, unknown>;

function parse(tokens: unknown) {
  const raw = tokens === undefined ? { ...BASE } : { ...BASE, tokens };
  return parseConfig(raw, { source: '/etc/station/station.json', baseDir: '/etc/station', env: {} });
}

function problems(tokens: unknown): string[] {
  try {
    parse(tokens);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config: tokens', () => {
  it('defaults to no source, target 50, low water 10, a refill every 30 s, when the section is absent', () => {
    expect(parse(undefined).tokens).toEqual({ source: 'none', targetLevel: 50, lowWater: 10, refillIntervalMs: 30_000 });
    expect(parse({ source: 'file', file: 'tokens.ndjson' }).tokens).toEqual({ source: 'file', file: 'tokens.ndjson', targetLevel: 50, lowWater: 10, refillIntervalMs: 30_000 });
  });

  it('needs a file for the file source, low water at or under target, and no unknown keys', () => {
    expect(problems({ source: 'file' })).toContain('tokens.file: is required when source is "file"');
    expect(problems({ targetLevel: 5, lowWater: 6 })).toContain('tokens.lowWater: must not be above targetLevel (5)');
    expect(problems({ source: 'ftp' }).some((p) => p.startsWith('tokens.source: '))).toBe(true);
    expect(problems({ refillIntervalMs: 10 }).some((p) => p.startsWith('tokens.refillIntervalMs: '))).toBe(true);
    expect(problems({ token: 'ft_x' }).some((p) => p.startsWith('tokens: '))).toBe(true);
  });

  it('resolves keyFile against the config file folder, and defaults to <dataDir>/token.key', () => {
    const withKey = vaultOptionsFromConfig(parse({ keyFile: 'secrets/token.key' }), {}, silentLogger());
    expect(withKey.keyFile).toBe('/etc/station/secrets/token.key');
    const plain = vaultOptionsFromConfig(parse(undefined), {}, silentLogger());
    expect(plain.keyFile).toBeNull();
    expect(plain.dataDir).toBe(path.resolve('/etc/station', 'data'));
  });
});
