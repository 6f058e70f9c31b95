// Where the engineer password and operator PIN come from, in each station mode: the environment,
// the configuration's scrypt hashes, nothing (production: that role cannot log in), or generated
// at start (test mode: written to <dataDir>/credentials.txt, readable by the owner only).
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Credentials, CredentialsError, unsetCredentialMessage } from '../../station/auth/credentials.js';
import { hashSecret } from '../../station/auth/passwords.js';
import { parseConfig } from '../../station/config/load.js';
import { coreConfig } from '../support/configs.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
afterAll(() => dirs.cleanup());

describe('credentials', () => {
  it('in production with nothing set, nobody can log in, and the alarm says how to fix it', async () => {
    const dataDir = dirs.make();
    const c = Credentials.resolve({ mode: 'production', env: {}, auth: {}, dataDir });
    expect(c.unsetRoles).toEqual(['engineer', 'operator']);
    expect(await c.check('engineer', '')).toBe(false);
    expect(await c.check('engineer', 'admin')).toBe(false);
    expect(await c.check('operator', '0000')).toBe(false);
    expect(c.credentialsFile).toBeNull();
    expect(existsSync(path.join(dataDir, 'credentials.txt'))).toBe(false);
    expect(unsetCredentialMessage('engineer')).toMatch(/STATION_ENGINEER_PASSWORD.*auth\.engineerPasswordHash.*npm run passwd/);
    expect(unsetCredentialMessage('operator')).toMatch(/STATION_OPERATOR_PIN.*auth\.operatorPinHash/);
  });

  it("takes the environment first, then the configuration's hashes", async () => {
    const pinHash = await hashSecret('4321', { N: 2 ** 14, r: 8, p: 1 });
    const pwHash = await hashSecret('from-config-pw', { N: 2 ** 14, r: 8, p: 1 });
    const c = Credentials.resolve({
      mode: 'production',
      env: { STATION_ENGINEER_PASSWORD: 'from-env-pw' },
      auth: { engineerPasswordHash: pwHash, operatorPinHash: pinHash },
      dataDir: dirs.make(),
    });
    expect(c.sources).toEqual({ engineer: 'env', operator: 'config' });
    expect(c.unsetRoles).toEqual([]);
    expect(await c.check('engineer', 'from-env-pw')).toBe(true);
    expect(await c.check('engineer', 'from-config-pw')).toBe(false);
    expect(await c.check('operator', '4321')).toBe(true);
    expect(await c.check('operator', '4322')).toBe(false);
    // a role's secret is never the other role's
    expect(await c.check('operator', 'from-env-pw')).toBe(false);
  });

  it('in test mode generates what is unset and writes it to credentials.txt, mode 0600, anew at each start', async () => {
    const dataDir = dirs.make();
    const first = Credentials.resolve({ mode: 'test', env: { STATION_OPERATOR_PIN: '98765' }, auth: {}, dataDir });
    expect(first.sources).toEqual({ engineer: 'generated', operator: 'env' });
    const file = path.join(dataDir, 'credentials.txt');
    expect(first.credentialsFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    const password = /engineer password: (\S+)/.exec(text)?.[1];
    expect(password).toBeDefined();
    expect(text).not.toMatch(/^operator PIN:/m); // the operator's came from the environment: named, not copied
    expect(text).toMatch(/^# operator PIN: from STATION_OPERATOR_PIN$/m);
    expect(text).not.toContain('98765');
    expect(await first.check('engineer', password as string)).toBe(true);
    expect(await first.check('operator', '98765')).toBe(true);

    const second = Credentials.resolve({ mode: 'test', env: {}, auth: {}, dataDir });
    const text2 = readFileSync(file, 'utf8');
    const password2 = /engineer password: (\S+)/.exec(text2)?.[1] as string;
    const pin2 = /operator PIN: (\d+)/.exec(text2)?.[1] as string;
    expect(password2).not.toBe(password);
    expect(await second.check('engineer', password as string)).toBe(false);
    expect(await second.check('engineer', password2)).toBe(true);
    expect(await second.check('operator', pin2)).toBe(true);
  });

  it("never leaves an earlier start's PIN in credentials.txt: rewritten when both logins are given, removed in production", async () => {
    const dataDir = dirs.make();
    const file = path.join(dataDir, 'credentials.txt');
    Credentials.resolve({ mode: 'test', env: {}, auth: {}, dataDir });
    const stalePin = /^operator PIN: (\d+)$/m.exec(readFileSync(file, 'utf8'))?.[1] as string;
    expect(stalePin).toMatch(/^\d{6}$/);

    const pinHash = await hashSecret('4321', { N: 2 ** 14, r: 8, p: 1 });
    const given = Credentials.resolve({ mode: 'test', env: { STATION_ENGINEER_PASSWORD: 'from-env-pw' }, auth: { operatorPinHash: pinHash }, dataDir });
    expect(given.sources).toEqual({ engineer: 'env', operator: 'config' });
    expect(given.credentialsFile).toBe(file);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(stalePin);
    expect(text).not.toContain('from-env-pw');
    expect(text).not.toMatch(/^(engineer password|operator PIN):/m);
    expect(text).toMatch(/^# engineer password: from STATION_ENGINEER_PASSWORD$/m);
    expect(text).toMatch(/^# operator PIN: from the configuration \(auth\.operatorPinHash\)$/m);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    Credentials.resolve({ mode: 'test', env: {}, auth: {}, dataDir });
    expect(existsSync(file)).toBe(true);
    const production = Credentials.resolve({ mode: 'production', env: { STATION_OPERATOR_PIN: '2468' }, auth: {}, dataDir });
    expect(production.credentialsFile).toBeNull();
    expect(existsSync(file)).toBe(false);
  });

  it('refuses an operator PIN that is not 4 to 12 digits', () => {
    expect(() => Credentials.resolve({ mode: 'production', env: { STATION_OPERATOR_PIN: '12a4' }, auth: {}, dataDir: dirs.make() })).toThrow(CredentialsError);
    expect(() => Credentials.resolve({ mode: 'production', env: { STATION_OPERATOR_PIN: '123' }, auth: {}, dataDir: dirs.make() })).toThrow(/4 to 12 digits/);
  });

  it('the configuration refuses a hash that is not one `npm run passwd` makes', () => {
    const raw = { ...coreConfig(), auth: { engineerPasswordHash: 'hunter2' } };
    expect(() => parseConfig(raw, { source: 'test', baseDir: dirs.make() })).toThrow(/auth\.engineerPasswordHash: is not a scrypt hash/);
  });
});
