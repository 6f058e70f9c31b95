// Field paths as the server writes them in validation problems and diffs: "steps[2].limit.high".
// The editor names each input by its path, so a problem lands next to its field.

/** "steps[2].limit.high" -> ['steps', 2, 'limit', 'high']. */
export function parsePath(path) {
  const parts = [];
  const re = /([^.[\]]+)|\[(\d+)\]/g;
  let m;
  while ((m = re.exec(path)) !== null) parts.push(m[2] !== undefined ? Number(m[2]) : m[1]);
  return parts;
}

/** ['steps', 2, 'limit', 'high'] -> "steps[2].limit.high". */
export function formatPath(parts) {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

export function getAt(obj, parts) {
  let cur = obj;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[p];
  }
  return cur;
}

/** Sets a value, making objects on the way; `undefined` removes the key. */
export function setAt(obj, parts, value) {
  let cur = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i];
    if (cur[p] === null || typeof cur[p] !== 'object') cur[p] = typeof parts[i + 1] === 'number' ? [] : {};
    cur = cur[p];
  }
  const last = parts[parts.length - 1];
  if (value === undefined) {
    if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 1);
    else delete cur[last];
  } else {
    cur[last] = value;
  }
}

/** The longest prefix of `path` for which `has(prefix)` is true, or null. */
export function nearestPath(path, has) {
  const parts = parsePath(path);
  for (let n = parts.length; n > 0; n--) {
    const candidate = formatPath(parts.slice(0, n));
    if (has(candidate)) return candidate;
  }
  return null;
}
