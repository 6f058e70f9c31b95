// package-lock.json is complete: `npm ci` installs exactly the lockfile and refuses one that lacks
// a package some locked package asks for (issue 17: rollup's optional platform packages were
// missing, "Missing: @rollup/rollup-android-arm-eabi@4.68.7 from lock file", and npm ci failed on
// every fresh clone). Every dependency of package.json and every dependency, optional ones
// included, of every locked package must resolve in the lockfile the way node resolves it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';

interface LockedPackage {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  link?: boolean;
  bin?: Record<string, string>;
}

/** Where node would find `name` from the package installed at `from` (a lockfile key), or null. */
function resolveInLock(packages: Record<string, LockedPackage>, from: string, name: string): string | null {
  let dir = from;
  for (;;) {
    const key = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[key]) return key;
    if (dir === '') return null;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i >= 0 ? dir.slice(0, i) : '';
  }
}

function missingFromLock(lock: { packages: Record<string, LockedPackage> }): string[] {
  const missing: string[] = [];
  for (const [key, pkg] of Object.entries(lock.packages)) {
    if (pkg.link) continue;
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies, ...(key === '' ? pkg.devDependencies : {}) };
    for (const name of Object.keys(deps)) if (!resolveInLock(lock.packages, key, name)) missing.push(`${name} (for ${key || 'the project'})`);
  }
  return missing;
}

describe('package-lock.json', () => {
  const lock = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion: number; packages: Record<string, LockedPackage> };
  const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;

  it('holds every package that package.json and every locked package ask for, optional platform packages included', () => {
    expect(lock.lockfileVersion).toBe(3);
    expect(missingFromLock(lock)).toEqual([]);
  });

  it("records package.json's dependencies and bin as they are written there (else npm ci refuses, or npm install rewrites it)", () => {
    const root = lock.packages[''] as LockedPackage;
    expect(root.devDependencies).toEqual(pkg.devDependencies);
    expect(root.optionalDependencies).toEqual(pkg.optionalDependencies);
    expect(root.dependencies).toEqual(pkg.dependencies);
    expect(root.bin).toEqual(pkg.bin);
  });

  it('finds a missing optional package (the failure npm ci met)', () => {
    const broken = {
      packages: {
        '': { devDependencies: { rollup: '^4' } },
        'node_modules/rollup': { version: '4.68.7', optionalDependencies: { '@rollup/rollup-android-arm-eabi': '4.68.7', fsevents: '~2.3.2' } },
        'node_modules/fsevents': { version: '2.3.3' },
      },
    };
    expect(missingFromLock(broken)).toEqual(['@rollup/rollup-android-arm-eabi (for node_modules/rollup)']);
  });
});
