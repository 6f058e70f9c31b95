// scan: an operator scan (a scanner routed to the slot, or typed on the dashboard): a label in the
// station's labels.format, one identity field, or text matching a pattern. A scan in the wrong
// format is refused and the prompt stays open, saying what was expected; the `match` fields must
// equal the DUT's.
import { z } from 'zod';
import { checkedScan, shownText } from '../label-scan.js';
import { defineStepKind, identityField, localText, regexSource, stepBase, textOf, translationsOf, type OperatorWords } from '../step-kind.js';

const schema = z.strictObject({
  name: stepBase.name,
  type: z.literal('scan'),
  text: localText(300),
  expect: z.enum(['label', 'deviceId', 'mac', 'iccid', 'imei', 'pattern']).default('label'),
  /** For expect "pattern": the whole scan must match it. */
  pattern: regexSource.optional(),
  /** Fields that must equal the DUT's (for expect "label", or the one field expected). */
  match: z.array(identityField).max(4).default([]),
  /** An example of a good scan, shown to operators ("a code like SN1A2B3C4D") when the step has no operatorText. */
  sample: z.string().min(1).max(100).optional(),
  timeoutMs: z.number().int().min(1000).max(3_600_000).optional(),
});

type Def = z.output<typeof schema>;
type Compiled = Def & OperatorWords & { timeoutMs: number; retries: 0; patternRe: RegExp | null };

export const scanStep = defineStepKind<Def, Compiled>({
  type: 'scan',
  schema,
  compile: (def) => ({ ...def, timeoutMs: def.timeoutMs ?? 300_000, retries: 0, patternRe: def.pattern ? new RegExp(`^(?:${def.pattern})$`, 'u') : null }),
  check(step, path, report) {
    if (step.expect === 'pattern' && step.pattern === undefined) report([...path, 'pattern'], 'is required when expect is "pattern"');
    if (step.expect !== 'pattern' && step.pattern !== undefined) report([...path, 'pattern'], 'is only used with expect "pattern"');
    if (step.expect === 'pattern' && step.pattern !== undefined && step.sample !== undefined) {
      try {
        if (!new RegExp(`^(?:${step.pattern})$`, 'u').test(step.sample)) report([...path, 'sample'], 'does not match the pattern: operators would be shown a wrong example');
      } catch {
        // the pattern's own problem is reported at the pattern
      }
    }
    if (step.expect !== 'label' && step.expect !== 'pattern') {
      for (const [j, f] of step.match.entries()) if (f !== step.expect) report([...path, 'match', j], `a scan of one ${step.expect} can only match ${step.expect}`);
    }
  },
  async execute(ctx, step) {
    const words = textOf(step.operatorText) ?? (step.sample ? `a code like ${step.sample}` : undefined);
    const wordsI18n = translationsOf(step.operatorText);
    const want = { expect: step.expect, patternRe: step.patternRe, ...(step.pattern ? { pattern: step.pattern } : {}), words, ...(wordsI18n ? { wordsI18n } : {}) };
    const scan = await checkedScan(ctx, want, { text: step.text, timeoutMs: step.timeoutMs, match: step.match, failPrefix: 'scan check failed' });
    if (!scan.ok) return { status: 'fail', message: scan.message };
    const shown = Object.entries(scan.label.fields)
      .filter(([k]) => !scan.label.secretFields.has(k))
      .map(([k, v]) => `${k}=${shownText(v)}`)
      .join(' ');
    return { status: 'pass', message: shown ? `scanned ${shown}` : 'scanned' };
  },
});
