// A structural diff of two JSON values, for the sequence editor's "what changed" view: one entry
// per leaf that differs, named by its path the way validation problems are (steps[2].limit.high).
// Arrays are compared index by index: a step inserted in the middle shows as changes to every step
// after it, which is what a reviewer of a limits change needs to see anyway.
//
// A sequence version's diff (versionDiff) adds its script modules: one entry per module added,
// removed or changed, scripts["sequences/calibrate-rtc.ts"], with the first 12 hex digits of the
// SHA-256 of its source as before and after (the sources themselves are in the version).
import { createHash } from 'node:crypto';

export interface DiffEntry {
  path: string;
  /** Absent when the path was added. */
  before?: unknown;
  /** Absent when the path was removed. */
  after?: unknown;
}

function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? (base ? `${base}.${key}` : key) : `${base}[${JSON.stringify(key)}]`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function jsonDiff(before: unknown, after: unknown, path = '', out: DiffEntry[] = []): DiffEntry[] {
  if (Array.isArray(before) && Array.isArray(after)) {
    const n = Math.max(before.length, after.length);
    for (let i = 0; i < n; i++) {
      const p = joinPath(path, i);
      if (i >= after.length) out.push({ path: p, before: before[i] });
      else if (i >= before.length) out.push({ path: p, after: after[i] });
      else jsonDiff(before[i], after[i], p, out);
    }
    return out;
  }
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      const p = joinPath(path, key);
      const inBefore = Object.hasOwn(before, key) && before[key] !== undefined;
      const inAfter = Object.hasOwn(after, key) && after[key] !== undefined;
      if (!inAfter && inBefore) out.push({ path: p, before: before[key] });
      else if (!inBefore && inAfter) out.push({ path: p, after: after[key] });
      else if (inBefore && inAfter) jsonDiff(before[key], after[key], p, out);
    }
    return out;
  }
  if (before !== after) out.push({ path: path || '(root)', before, after });
  return out;
}

/** What a version's diff compares: its definition and its script modules' sources (path to source). */
export interface VersionContent {
  definition: unknown;
  scripts: Readonly<Record<string, string>>;
}

/** The first 12 hex digits of the SHA-256 of a script module's source: what a diff shows of it. */
export function sourceDigest(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 12);
}

/** One entry per module added (no `before`), removed (no `after`) or changed, in path order. */
export function scriptsDiff(before: VersionContent['scripts'], after: VersionContent['scripts']): DiffEntry[] {
  const out: DiffEntry[] = [];
  for (const module of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const from = Object.hasOwn(before, module) ? before[module] : undefined;
    const to = Object.hasOwn(after, module) ? after[module] : undefined;
    if (from === to) continue;
    out.push({ path: joinPath('scripts', module), ...(from !== undefined ? { before: sourceDigest(from) } : {}), ...(to !== undefined ? { after: sourceDigest(to) } : {}) });
  }
  return out;
}

/** A sequence version against the one before it: the definition's changes, then the scripts'. */
export function versionDiff(before: VersionContent, after: VersionContent): DiffEntry[] {
  return [...jsonDiff(before.definition, after.definition), ...scriptsDiff(before.scripts, after.scripts)];
}
