// DOM helpers for the dashboard and the engineer console. Every value that came from a DUT, a
// scanner, the network or the store is put into the page as text (textContent, attribute values),
// never parsed as HTML: there is no innerHTML anywhere in ui/.

/**
 * Makes an element. `props`: className, text (textContent), attrs (attribute values, set as
 * text), dataset, on (event listeners), and any other writable DOM property (value, disabled, ...).
 * Children are nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'className') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'attrs')
      for (const [a, v] of Object.entries(value)) {
        if (v !== undefined && v !== null && v !== false) node.setAttribute(a, v === true ? '' : String(v));
      }
    else if (key === 'dataset')
      for (const [d, v] of Object.entries(value)) {
        if (v !== undefined && v !== null) node.dataset[d] = String(v);
      }
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces an element's children. */
export function setChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Sets text only when it changed (no layout work for the ticks that change nothing). */
export function setText(node, text) {
  const value = text === undefined || text === null ? '' : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no element #${id}`);
  return node;
}

/** 0.9333 -> "93.3%"; null -> "–". */
export function percent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
  const tenths = Math.round(ratio * 1000) / 10;
  return tenths === 100 ? '100%' : `${tenths.toFixed(1)}%`;
}

/** Milliseconds -> "m:ss" or "h:mm:ss". */
export function duration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Seconds -> "45 s", "12 min", "3.5 h". */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** An ISO time or epoch ms -> local "HH:MM:SS" (today) or "YYYY-MM-DD HH:MM". */
export function clock(t) {
  if (t === null || t === undefined) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const today = new Date();
  const hhmmss = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  if (d.toDateString() === today.toDateString()) return hhmmss;
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${hhmmss.slice(0, 5)}`;
}

export function shortHash(hash) {
  return typeof hash === 'string' ? hash.slice(0, 12) : '–';
}

/** Any value as display text: JSON for objects, the string itself for strings. */
export function show(value) {
  if (value === undefined) return '(none)';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
