// identify: the first step of every sequence. Asks the DUT who it is (IDENT: id, mac, and for
// cellular units iccid and imei), checks each format (station/sequence/identity.ts), links the
// device to the run (attempt number, rework), and optionally scans the unit's label and requires it
// to match what the DUT reported.
import { z } from 'zod';
import { escapeForDisplay } from '../../../lib/text.js';
import { parseFields } from '../../../drivers/console/tagged-protocol.js';
import { checkDeviceId, checkIccid, checkImei, checkMac } from '../identity.js';
import { checkedScan } from '../label-scan.js';
import { defineStepKind, dutCommand, identityField, stepBase, type StepContext, type StepOutcome } from '../step-kind.js';

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('identify'),
  command: dutCommand.default('IDENT'),
  /** Hex characters in a Device ID: 16 for imp modules, 24 for Particle devices. */
  deviceIdHexLength: z.number().int().min(8).max(64).default(16),
  requireCellular: z.boolean().default(false),
  /** Other key=value fields the firmware reports in its IDENT answer (model, fw, ...): a product
   *  variant can be chosen by them. Declared so a variant on a field nothing reports is caught. */
  fields: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/)).max(20).optional(),
  /** Also scan the unit's label (station labels.format) and require it to match what the DUT
   *  reports: a mismatch fails the DUT with both values named. */
  label: z
    .strictObject({
      text: z.string().min(1).max(300).default('Scan the unit label'),
      match: z.array(identityField).min(1).max(4).default(['deviceId']),
      timeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    })
    .optional(),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number };

/** Checks the IDENT answer's fields and fills in the run's identity; the outcome says why not. */
function identityFrom(ctx: StepContext, step: Compiled, answer: string): StepOutcome {
  const f = parseFields(answer);
  const problems: string[] = [];
  const id = f.id === undefined ? null : checkDeviceId(f.id, step.deviceIdHexLength);
  const mac = f.mac === undefined ? null : checkMac(f.mac);
  if (!id) problems.push('no Device ID (id=) in the answer');
  else if (!id.ok) problems.push(`${id.reason}, got ${escapeForDisplay(f.id ?? '')}`);
  if (!mac) problems.push('no MAC (mac=) in the answer');
  else if (!mac.ok) problems.push(`${mac.reason}, got ${escapeForDisplay(f.mac ?? '')}`);
  let iccid: string | null = null;
  let imei: string | null = null;
  if (f.iccid !== undefined || f.imei !== undefined || step.requireCellular) {
    const ic = f.iccid === undefined ? null : checkIccid(f.iccid);
    const im = f.imei === undefined ? null : checkImei(f.imei);
    if (!ic) problems.push('no ICCID (iccid=) in the answer');
    else if (!ic.ok) problems.push(`${ic.reason}, got ${escapeForDisplay(f.iccid ?? '')}`);
    else iccid = ic.value;
    if (!im) problems.push('no IMEI (imei=) in the answer');
    else if (!im.ok) problems.push(`${im.reason}, got ${escapeForDisplay(f.imei ?? '')}`);
    else imei = im.value;
  }
  if (problems.length > 0 || !id?.ok || !mac?.ok) return { status: 'fail', message: `identity rejected: ${problems.join('; ')}` };
  const state = ctx.state;
  state.identity = { deviceId: id.value, mac: mac.value, iccid, imei };
  // Every field the DUT reported (model=, fw=, ...) with the checked identity over its raw forms.
  state.fields = { ...f, deviceId: id.value, mac: mac.value, ...(iccid ? { iccid } : {}), ...(imei ? { imei } : {}) };
  const { attempt, previouslyBlessed } = ctx.attachDevice(id.value);
  state.attempt = attempt;
  state.rework = previouslyBlessed || f.blessed === '1';
  ctx.onIdentified(state.identity, attempt, state.rework);
  return { status: 'pass', message: state.rework ? `already blessed: rework (attempt ${attempt})` : attempt > 1 ? `retest (attempt ${attempt})` : null };
}

export const identifyStep = defineStepKind<Def, Compiled>({
  type: 'identify',
  schema,
  role: 'identity',
  compile: (def, d) => ({ ...def, timeoutMs: def.timeoutMs ?? d.defaultTimeoutMs }),
  async execute(ctx, step) {
    const outcome = identityFrom(ctx, step, await ctx.request(step.command, step.timeoutMs));
    if (outcome.status !== 'pass' || !step.label || !ctx.state.identity) return outcome;
    const scan = await checkedScan(ctx, { expect: 'label' }, { text: step.label.text, timeoutMs: step.label.timeoutMs, match: step.label.match, failPrefix: 'label check failed' });
    if (!scan.ok) return { status: 'fail', message: scan.message };
    // The label's fields (never its secrets) can choose a product variant too; the DUT's win.
    for (const [k, v] of Object.entries(scan.label.fields)) if (!scan.label.secretFields.has(k) && ctx.state.fields[k] === undefined) ctx.state.fields[k] = v;
    return { status: 'pass', message: [outcome.message, `label matches the DUT (${step.label.match.join(', ')})`].filter(Boolean).join('; ') };
  },
});
