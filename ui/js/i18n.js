// The operator screens' languages: message catalogues (ui/i18n/<tag>.json, served as static files),
// t(key, params) with {placeholders} and plural forms (Intl.PluralRules), numbers, percentages,
// times and dates in the chosen locale (Intl.NumberFormat, Intl.DateTimeFormat).
//
// The language is chosen per screen: a page names its screen on <html data-i18n-screen="...">
// ("dashboard", "line"); the choice is kept in this browser's localStorage under
// "station.lang.<screen>"; without one, the first of navigator.languages this station speaks, else
// English. A page without a screen name (the engineer console) stays in English.
//
// A catalogue entry is a string or, for a count, an object of plural forms keyed by the
// Intl.PluralRules category ("one", "other", ...), picked by params.count. A missing key falls
// back to English, then to the key itself (never a blank on a tile).
//
// Operator texts from the sequence (a step's operatorText, onFail.text, a prompt's text) may carry
// translations: the station sends the sequence's own text and, when it has any, the translations
// beside it (`i18n: { words: { de: "..." } }`); localText() picks the one for this screen.
/* global localStorage, navigator */

/** The languages there are catalogues for: tag (file name), the word on the picker, its own name, the locale for dates and numbers. */
export const LANGUAGES = [
  { tag: 'en', short: 'EN', name: 'English', locale: 'en-GB' },
  { tag: 'de', short: 'DE', name: 'Deutsch', locale: 'de-DE' },
  { tag: 'zh-CN', short: '中文', name: '简体中文', locale: 'zh-CN' },
  { tag: 'es', short: 'ES', name: 'Español', locale: 'es-ES' },
];
const TAGS = LANGUAGES.map((l) => l.tag);

const screen = document.documentElement.dataset.i18nScreen || null;
const storageKey = screen ? `station.lang.${screen}` : null;
const catalogues = new Map();
const listeners = new Set();
let lang = 'en';
let formats = null;

/**
 * The language this station speaks that best matches a list of BCP 47 tags (navigator.languages):
 * the exact tag, else the same language ("de-AT" -> de, any Chinese -> zh-CN, "es-MX" -> es);
 * null when none matches.
 */
export function match(tags) {
  for (const raw of tags || []) {
    if (typeof raw !== 'string' || !raw) continue;
    const tag = raw.trim();
    const exact = TAGS.find((t) => t.toLowerCase() === tag.toLowerCase());
    if (exact) return exact;
    const base = tag.split('-')[0].toLowerCase();
    const same = TAGS.find((t) => t.split('-')[0].toLowerCase() === base);
    if (same) return same;
  }
  return null;
}

function stored() {
  if (!storageKey) return null;
  try {
    return match([localStorage.getItem(storageKey)]);
  } catch {
    return null;
  }
}

async function load(tag) {
  if (catalogues.has(tag)) return catalogues.get(tag);
  const res = await fetch(`/i18n/${tag}.json`, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`no catalogue for ${tag} (HTTP ${res.status})`);
  const cat = await res.json();
  catalogues.set(tag, cat);
  return cat;
}

function makeFormats(tag) {
  const locale = (LANGUAGES.find((l) => l.tag === tag) || LANGUAGES[0]).locale;
  return {
    locale,
    plural: new Intl.PluralRules(locale),
    number: new Intl.NumberFormat(locale, { maximumFractionDigits: 1 }),
    percent1: new Intl.NumberFormat(locale, { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    percent0: new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 }),
    // The locale's own hour cycle: 24-hour in every language here (English is en-GB, as the station's clock).
    time: new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
    hourMinute: new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }),
    dateMinute: new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }),
  };
}

/** The screen's language tag ("en", "de", "zh-CN", "es"). */
export function language() {
  return lang;
}

/** Switches the screen's language (kept for this screen in this browser) and tells the page to redraw. */
export async function setLanguage(tag) {
  const next = match([tag]) || 'en';
  await load(next);
  lang = next;
  formats = makeFormats(next);
  document.documentElement.lang = next;
  if (storageKey) {
    try {
      localStorage.setItem(storageKey, next);
    } catch {
      // private mode: the choice lasts until the page closes
    }
  }
  translateStatic(document);
  for (const fn of listeners) fn(next);
}

/** Runs `fn(tag)` after every language switch (the page redraws its texts). */
export function onLanguageChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function lookup(key) {
  const cat = catalogues.get(lang);
  if (cat && Object.prototype.hasOwnProperty.call(cat, key)) return cat[key];
  const en = catalogues.get('en');
  if (en && Object.prototype.hasOwnProperty.call(en, key)) return en[key];
  return undefined;
}

/**
 * The text for `key` in the screen's language, {placeholders} filled from `params` (numbers in the
 * locale's digits and separators). A plural entry picks its form by params.count.
 */
export function t(key, params = {}) {
  let msg = lookup(key);
  if (msg === undefined) return key;
  if (typeof msg === 'object' && msg !== null) {
    const count = Number(params.count ?? 0);
    msg = msg[formats.plural.select(count)] ?? msg.other ?? '';
  }
  return String(msg).replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.prototype.hasOwnProperty.call(params, name)) return whole;
    const v = params[name];
    return typeof v === 'number' ? formats.number.format(v) : String(v ?? '');
  });
}

/** A number in the locale (one decimal at most): 1400 -> "1,400" / "1.400" / "1 400". */
export function number(n) {
  return typeof n === 'number' && Number.isFinite(n) ? formats.number.format(n) : '–';
}

/** 0.9333 -> "93.3%" ("93,3 %" in German); 1 -> "100%"; null -> "–". */
export function percent(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
  const tenths = Math.round(ratio * 1000) / 1000;
  return tenths === 1 ? formats.percent0.format(1) : formats.percent1.format(tenths);
}

/** Seconds -> "45 s", "12 min", "3.5 h" in the locale. */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 90) return t('unit.seconds', { n: Math.round(seconds) });
  if (seconds < 5400) return t('unit.minutes', { n: Math.round(seconds / 60) });
  return t('unit.hours', { n: Math.round(seconds / 360) / 10 });
}

/** An ISO time or epoch ms -> the locale's time of day ("17:04:09") today, else its date and time. */
export function clock(value) {
  if (value === null || value === undefined) return '–';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  if (d.toDateString() === new Date().toDateString()) return formats.time.format(d);
  return formats.dateMinute.format(d);
}

/** Epoch ms -> "HH:MM" in the locale (the chart's axis). */
export function hourMinute(ms) {
  return formats.hourMinute.format(new Date(ms));
}

/**
 * A text from the sequence in the screen's language: `obj[field]` (the sequence's own words), or
 * its translation from `obj.i18n[field][tag]` when the engineer gave one (the exact tag, else the
 * same language).
 */
export function localText(obj, field) {
  if (!obj) return null;
  const own = obj[field] ?? null;
  const all = obj.i18n && typeof obj.i18n === 'object' ? obj.i18n[field] : null;
  if (!all || typeof all !== 'object') return own;
  if (typeof all[lang] === 'string') return all[lang];
  const base = lang.split('-')[0].toLowerCase();
  const near = Object.keys(all).find((k) => k.split('-')[0].toLowerCase() === base && typeof all[k] === 'string');
  return near ? all[near] : own;
}

/**
 * Sets the texts of static markup: data-i18n (textContent), data-i18n-title, data-i18n-aria-label
 * (each a catalogue key).
 */
export function translateStatic(root) {
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-title]')) node.title = t(node.dataset.i18nTitle);
  for (const node of root.querySelectorAll('[data-i18n-aria-label]')) node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
}

/**
 * A <select> to pick the screen's language (each language by its own name), switching live. Only
 * on a page with a screen name.
 */
export function languagePicker(select) {
  select.replaceChildren(
    ...LANGUAGES.map((l) => {
      const o = document.createElement('option');
      o.value = l.tag;
      o.textContent = l.short;
      o.title = l.name;
      o.lang = l.tag;
      return o;
    }),
  );
  select.value = lang;
  select.addEventListener('change', () => setLanguage(select.value).catch(() => (select.value = lang)));
  onLanguageChange((tag) => {
    if (select.value !== tag) select.value = tag;
  });
  return select;
}

// The first language, before any module renders: kept choice, else the browser's, else English.
// A catalogue that does not load leaves English (or, without even that, the keys): the page still works.
const first = screen ? stored() || match(navigator.languages || [navigator.language]) || 'en' : 'en';
await Promise.all([...new Set(['en', first])].map((tag) => load(tag).catch(() => null)));
lang = catalogues.has(first) ? first : 'en';
formats = makeFormats(lang);
document.documentElement.lang = lang;
