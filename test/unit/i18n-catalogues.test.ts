// The operator screens' message catalogues (ui/i18n/<tag>.json): every language has exactly the
// keys of en.json with the same {placeholders}; plural entries use the language's own plural
// categories (Intl.PluralRules) and always have "other"; every key the operator screens' scripts
// and pages name is in en.json; every catalogue is one of the languages the picker offers.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';

const DIR = path.join(PROJECT_ROOT, 'ui/i18n');
type Entry = string | Record<string, string>;
const read = (file: string): Record<string, Entry> => JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as Record<string, Entry>;
const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
const en = read('en.json');

/** The {placeholders} of an entry (all its plural forms together), sorted. */
function placeholders(entry: Entry): string[] {
  const texts = typeof entry === 'string' ? [entry] : Object.values(entry);
  return [...new Set(texts.flatMap((t) => [...t.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string)))].sort();
}

/** The languages ui/js/i18n.js offers on the picker. */
function offered(): string[] {
  const src = readFileSync(path.join(PROJECT_ROOT, 'ui/js/i18n.js'), 'utf8');
  return [...src.matchAll(/\{ tag: '([^']+)'/g)].map((m) => m[1] as string);
}

describe('message catalogues', () => {
  it('has English, German, Simplified Chinese and Spanish, each offered on the picker, and nothing the picker does not offer', () => {
    expect(files.sort()).toEqual(['de.json', 'en.json', 'es.json', 'zh-CN.json']);
    expect(offered().sort()).toEqual(files.map((f) => f.replace(/\.json$/, '')).sort());
  });

  for (const file of files) {
    it(`${file}: exactly the keys of en.json, the same {placeholders}, plural forms of its language, no empty text`, () => {
      const cat = read(file);
      const tag = file.replace(/\.json$/, '');
      expect(Object.keys(cat).sort()).toEqual(Object.keys(en).sort());
      const rules = new Intl.PluralRules(tag).resolvedOptions().pluralCategories as string[];
      const problems: string[] = [];
      for (const [key, entry] of Object.entries(cat)) {
        const want = en[key] as Entry;
        if (JSON.stringify(placeholders(entry)) !== JSON.stringify(placeholders(want)))
          problems.push(`${key}: placeholders ${placeholders(entry).join(',')} where en.json has ${placeholders(want).join(',')}`);
        if (typeof entry === 'string') {
          if (!entry.trim()) problems.push(`${key} is empty`);
          continue;
        }
        if (typeof entry !== 'object' || entry === null) {
          problems.push(`${key} is neither a text nor plural forms`);
          continue;
        }
        if (!('other' in entry)) problems.push(`${key} has no "other" form`);
        for (const [form, text] of Object.entries(entry)) {
          if (!rules.includes(form)) problems.push(`${key}: "${form}" is not a plural form of ${tag} (${rules.join(', ')})`);
          if (typeof text !== 'string' || !text.trim()) problems.push(`${key}.${form} is empty`);
        }
        if (!placeholders(entry).includes('count')) problems.push(`${key} has plural forms but no {count}`);
      }
      expect(problems).toEqual([]);
    });
  }

  it('has every key the operator screens name (t("...") in their scripts, data-i18n* in their pages)', () => {
    const used = new Set<string>();
    for (const f of ['dashboard.js', 'tiles.js', 'panels.js', 'line.js', 'login.js', 'sound.js', 'chart.js', 'live.js', 'i18n.js']) {
      const src = readFileSync(path.join(PROJECT_ROOT, 'ui/js', f), 'utf8');
      for (const m of src.matchAll(/\bt\(\s*'([^']+)'/g)) used.add(m[1] as string);
      // keys picked by a condition: t(x ? 'a.b' : 'c.d')
      for (const m of src.matchAll(/\bt\(([^()]*\?[^()]*)\)/g)) for (const k of (m[1] as string).matchAll(/'([a-z]+\.[\w-]+)'/g)) used.add(k[1] as string);
    }
    for (const f of ['index.html', 'line.html']) {
      const src = readFileSync(path.join(PROJECT_ROOT, 'ui', f), 'utf8');
      for (const m of src.matchAll(/data-i18n(?:-title|-aria-label)?="([^"]+)"/g)) used.add(m[1] as string);
    }
    // keys made from a name: state.<slot state>, action.<onFail action>, tokens.<level>, answer.<word>
    for (const s of ['offline', 'idle', 'waiting', 'identifying', 'blinkup', 'testing', 'blessing', 'pass', 'fail', 'interrupted', 'refused']) used.add(`state.${s}`);
    for (const a of ['reject-bin', 'retest', 'call-engineer']) used.add(`action.${a}`);
    for (const l of ['empty', 'low', 'ok']) used.add(`tokens.${l}`);
    expect(used.size).toBeGreaterThan(100);
    expect([...used].filter((k) => !(k in en))).toEqual([]);
  });
});
