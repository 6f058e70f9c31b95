// Multi-field symbols: a unit's label Data Matrix carries more than one value ("<serial> <secret>",
// or GS1-style fields separated by GS, 0x1D). A configured rule splits a scan into named fields
// and checks each against its pattern; a scan that does not fit gets a reason naming what was
// expected, never quoting the scan. Fields marked secret (the mobile secret) are for sealing, never
// for logs or screens: `redactScan` is what may be logged or shown.
import { z } from 'zod';

const fieldName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/, 'a field name is a letter then letters, digits or _ (up to 32)');

const regexSource = z
  .string()
  .min(1)
  .max(500)
  .refine(
    (p) => {
      try {
        new RegExp(p, 'u');
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be a valid regular expression' },
  );

const common = {
  /** Per field: the whole field must match this (it is anchored for you). */
  patterns: z.record(z.string(), regexSource).default({}),
  /** Fields never logged or shown (sealed by the caller). */
  secretFields: z.array(fieldName).default(['secret']),
};

export const SEPARATORS = { ' ': ' ', ',': ',', ';': ';', '\t': '\t', GS: '\x1d' } as const;

export const scanFieldRuleSchema = z.union([
  z.strictObject({
    separator: z.enum([' ', ',', ';', '\t', 'GS']),
    fields: z
      .array(fieldName)
      .min(1)
      .max(16)
      .refine((f) => new Set(f).size === f.length, { message: 'field names must be unique' }),
    ...common,
  }),
  z.strictObject({
    /** A regular expression with a named group per field, matched against the whole scan. */
    regex: regexSource.refine((p) => namedGroups(p).length > 0, { message: 'needs named groups, one per field: (?<serial>...)' }),
    ...common,
  }),
]);

export type ScanFieldRule = z.input<typeof scanFieldRuleSchema>;

export type SplitResult = { ok: true; fields: Record<string, string> } | { ok: false; reason: string };

function namedGroups(pattern: string): string[] {
  try {
    const groups = new RegExp(`${pattern}|`, 'u').exec('')?.groups;
    return groups ? Object.keys(groups) : [];
  } catch {
    return [];
  }
}

const SEPARATOR_NAMES: Record<keyof typeof SEPARATORS, { shown: string; words: string }> = {
  ' ': { shown: ' ', words: 'a space' },
  ',': { shown: ',', words: 'a comma' },
  ';': { shown: ';', words: 'a semicolon' },
  '\t': { shown: '<TAB>', words: 'a Tab' },
  GS: { shown: '<GS>', words: 'GS (0x1D)' },
};

export class ScanFields {
  readonly fields: readonly string[];
  readonly secretFields: ReadonlySet<string>;
  /** What a good scan looks like, for prompts and rejections: "'<serial> <secret>' with a serial matching ^[A-Z0-9]{10}$". */
  readonly expected: string;
  private readonly patterns: ReadonlyMap<string, { source: string; re: RegExp }>;
  private readonly separator: { key: keyof typeof SEPARATORS; char: string } | null;
  private readonly whole: RegExp | null;

  constructor(rule: ScanFieldRule) {
    const parsed = scanFieldRuleSchema.safeParse(rule);
    if (!parsed.success) {
      throw new Error(`scan field rule is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    }
    const r = parsed.data;
    if ('regex' in r) {
      this.fields = namedGroups(r.regex);
      this.separator = null;
      this.whole = new RegExp(`^(?:${r.regex})$`, 'u');
    } else {
      this.fields = r.fields;
      this.separator = { key: r.separator, char: SEPARATORS[r.separator] };
      this.whole = null;
    }
    for (const name of [...Object.keys(r.patterns), ...r.secretFields]) {
      if (!this.fields.includes(name)) throw new Error(`scan field rule is invalid: "${name}" is not one of the fields (${this.fields.join(', ')})`);
    }
    this.secretFields = new Set(r.secretFields);
    this.patterns = new Map(Object.entries(r.patterns).map(([name, source]) => [name, { source, re: new RegExp(`^(?:${source})$`, 'u') }]));
    const shape = this.separator ? `'${this.fields.map((f) => `<${f}>`).join(SEPARATOR_NAMES[this.separator.key].shown)}'` : `a scan matching ${(r as { regex: string }).regex}`;
    const withPatterns = [...this.patterns].map(([name, p]) => `a ${name} matching ${p.source}`);
    this.expected = withPatterns.length ? `${shape} with ${withPatterns.join(' and ')}` : shape;
  }

  split(text: string): SplitResult {
    const expected = `expected ${this.expected}`;
    let fields: Record<string, string>;
    if (this.separator) {
      const parts = text.split(this.separator.char);
      if (parts.length !== this.fields.length) {
        const sep = SEPARATOR_NAMES[this.separator.key].words;
        return { ok: false, reason: `${expected}: got ${parts.length} field${parts.length === 1 ? '' : 's'} separated by ${sep}, not ${this.fields.length}` };
      }
      fields = Object.fromEntries(this.fields.map((name, i) => [name, parts[i] as string]));
    } else {
      const groups = (this.whole as RegExp).exec(text)?.groups;
      if (!groups) return { ok: false, reason: expected };
      fields = Object.fromEntries(this.fields.map((name) => [name, groups[name] ?? '']));
    }
    for (const name of this.fields) {
      if (fields[name] === '') return { ok: false, reason: `${expected}: the ${name} is empty` };
      const pattern = this.patterns.get(name);
      if (pattern && !pattern.re.test(fields[name] as string)) return { ok: false, reason: `${expected}: the ${name} does not match` };
    }
    return { ok: true, fields };
  }

  /** The fields as they may be logged or shown: every secret field replaced. */
  redact(fields: Record<string, string>): Record<string, string> {
    return redactScan(fields, this.secretFields);
  }
}

export const REDACTED = '[redacted]';

/** A copy of `fields` with the secret ones (default: "secret") replaced by "[redacted]". */
export function redactScan(fields: Record<string, string>, secretFields: Iterable<string> = ['secret']): Record<string, string> {
  const secret = new Set(secretFields);
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, secret.has(k) ? REDACTED : v]));
}
