// Schema pieces the step kinds and the limits share: a DUT command, a regex source, the fields
// every step has, identity field names.
import { z } from 'zod';

/** A DUT command: printable ASCII, no line breaks (the protocols are line-framed). */
export const dutCommand = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be printable ASCII with no line breaks and not start with a space');

export const regexSource = z
  .string()
  .min(1)
  .max(500)
  .superRefine((src, ctx) => {
    try {
      new RegExp(src);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `is not a valid regular expression: ${(err as Error).message}` });
    }
  });

export const stepBase = {
  name: z.string().min(1).max(80),
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  retries: z.number().int().min(0).max(10).default(0),
};

/** What an operator is told to do with a unit that failed a step (the tile's next action). */
export const ON_FAIL_ACTIONS = ['reject-bin', 'retest', 'call-engineer'] as const;
export type OnFailAction = (typeof ON_FAIL_ACTIONS)[number];

/** A language tag for a translation: "de", "zh-CN", "es-MX" (BCP 47: a language, then optional subtags). */
export const languageTag = z.string().regex(/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$/, 'is not a language tag such as "en", "de" or "zh-CN"');

/**
 * Words for operators in one language or several: a plain string, or the text per language tag
 * (`{"en": "Scan the label", "de": "Etikett scannen"}`). The operator screens show the one for
 * their language (docs/configuration.md, "Languages"); records, logs and other clients get the
 * sequence's own text (textOf: English, else the first given).
 */
export function localText(max: number) {
  const text = z.string().trim().min(1).max(max);
  return z.union([text, z.record(languageTag, text).refine((r) => Object.keys(r).length > 0, 'needs the text in at least one language')], {
    error: `must be a text of 1-${max} characters, or an object of such texts by language tag ({"en": "...", "de": "..."})`,
  });
}
export type LocalText = string | Readonly<Record<string, string>>;

/** The sequence's own text of a LocalText: the string, or its English, else its first language. */
export function textOf(v: LocalText): string;
export function textOf(v: LocalText | undefined | null): string | undefined;
export function textOf(v: LocalText | undefined | null): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  return v.en ?? Object.values(v)[0];
}

/** The translations of a LocalText by language tag (undefined for a plain string): what the operator screens pick from. */
export function translationsOf(v: LocalText | undefined | null): Record<string, string> | undefined {
  return v !== undefined && v !== null && typeof v === 'object' ? { ...v } : undefined;
}

/**
 * Words for operators, any step may carry them (docs/sequences.md): `operatorText` is shown on the
 * tile instead of the step's technical name (and, on a scan step, instead of the expected format);
 * `onFail` is the next action when a unit fails at the step, with optional words of the engineer's.
 */
export const operatorWords = {
  operatorText: localText(200).optional(),
  onFail: z.strictObject({ action: z.enum(ON_FAIL_ACTIONS), text: localText(200).optional() }).optional(),
};
export interface OperatorWords {
  operatorText?: LocalText | undefined;
  onFail?: { action: OnFailAction; text?: LocalText | undefined } | undefined;
}

/** Identity fields a label can carry and a step can cross-check against the DUT's answer. */
export const identityField = z.enum(['deviceId', 'mac', 'iccid', 'imei']);
export type IdentityField = z.infer<typeof identityField>;
