// A structural diff of two JSON values, for the sequence editor's "what changed" view: one entry
// per leaf that differs, named by its path the way validation problems are (steps[2].limit.high).
// Arrays are compared index by index: a step inserted in the middle shows as changes to every step
// after it, which is what a reviewer of a limits change needs to see anyway.

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
