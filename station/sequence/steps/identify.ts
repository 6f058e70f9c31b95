// identify: the first step of every sequence. Asks the DUT who it is, checks each format
// (station/sequence/identity.ts), links the device to the run (attempt number, rework), and
// optionally scans the unit's label and requires it to match what the DUT reported. The tagged
// firmware answers one command (IDENT: id=, mac=, and for cellular units iccid= and imei=); a shell
// answers `key: value` lines, read the same way; firmware that reports each field to its own
// command (an AT module: AT+CGSN, AT+CCID, AT#DEVID) is read with `read`, a command and a capture
// per field. For a Particle product (the uplink's particle sink), the Device ID must be 24 hex
// characters and the unit must report its platform (platform=13, say) and it must be the
// product's: a Boron cannot join an Argon product, and is failed here, before anything is spent.
import { z } from 'zod';
import { parsePlatform, platformWords } from '../../../lib/particle-platforms.js';
import { escapeForDisplay } from '../../../lib/text.js';
import { parseFields } from '../../../drivers/console/tagged-protocol.js';
import { checkDeviceId, checkIccid, checkImei, checkMac } from '../identity.js';
import { checkedScan } from '../label-scan.js';
import { captureGroupCount, defineStepKind, dutCommand, identityField, localText, regexSource, stepBase, type StepContext, type StepOutcome } from '../step-kind.js';

const schema = z.strictObject({
  ...stepBase,
  type: z.literal('identify'),
  /** The command whose answer reports the identity; null: none (every field comes from `read`). */
  command: dutCommand.nullable().default('IDENT'),
  /** Fields read one command each: the capture's first group is the field's value (id or
   *  deviceId, mac, iccid, imei, or any other field a variant may be chosen by). */
  read: z
    .array(z.strictObject({ field: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/), command: dutCommand, capture: regexSource }))
    .min(1)
    .max(10)
    .optional(),
  /** Hex characters in a Device ID: 16 for imp modules, 24 for Particle devices. */
  deviceIdHexLength: z.number().int().min(8).max(64).default(16),
  requireCellular: z.boolean().default(false),
  /** Other key=value fields the firmware reports in its IDENT answer (model, fw, ...): a product
   *  variant can be chosen by them. Declared so a variant on a field nothing reports is caught. */
  fields: z
    .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,39}$/))
    .max(20)
    .optional(),
  /** Also scan the unit's label (station labels.format) and require it to match what the DUT
   *  reports: a mismatch fails the DUT with both values named. */
  label: z
    .strictObject({
      text: localText(300).default('Scan the unit label'),
      match: z.array(identityField).min(1).max(4).default(['deviceId']),
      timeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
    })
    .optional(),
});

type Def = z.output<typeof schema>;
type Compiled = Def & { timeoutMs: number };

/** The fields in an answer: `key=value` tokens (tagged firmware) and `key: value` lines (a shell). */
export function reportedFields(answer: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of answer.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z][A-Za-z0-9_]{0,39})\s*:\s*(\S+)\s*$/.exec(line);
    if (m) fields[m[1] as string] = m[2] as string;
    else Object.assign(fields, parseFields(line.trim()));
  }
  return fields;
}

/** Everything the DUT reports about itself: the identify command's fields, then each `read`. */
async function readFields(ctx: StepContext, step: Compiled): Promise<{ ok: true; fields: Record<string, string> } | { ok: false; message: string }> {
  const fields: Record<string, string> = step.command === null ? {} : reportedFields(await ctx.request(step.command, step.timeoutMs));
  for (const r of step.read ?? []) {
    const answer = await ctx.request(r.command, step.timeoutMs);
    const m = new RegExp(r.capture).exec(answer);
    if (!m || m[1] === undefined) return { ok: false, message: `identity rejected: the answer to "${r.command}", ${escapeForDisplay(answer)}, does not match /${r.capture}/` };
    fields[r.field] = m[1];
  }
  return { ok: true, fields };
}

/** Checks the reported fields and fills in the run's identity; the outcome says why not. */
function identityFrom(ctx: StepContext, step: Compiled, reported: Record<string, string>): StepOutcome {
  const f: Record<string, string> = { ...reported, ...(reported.id === undefined && reported.deviceId !== undefined ? { id: reported.deviceId } : {}) };
  const problems: string[] = [];
  const particle = ctx.particle ?? null;
  const id = f.id === undefined ? null : checkDeviceId(f.id, particle ? 24 : step.deviceIdHexLength);
  const mac = f.mac === undefined ? null : checkMac(f.mac);
  if (!id) problems.push('no Device ID (id=) in the answer');
  else if (!id.ok) problems.push(`${id.reason}${particle ? ` (Particle product ${particle.product})` : ''}, got ${escapeForDisplay(f.id ?? '')}`);
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
  const wrongPlatform = particle ? platformProblem(f, particle) : null;
  if (wrongPlatform) return { status: 'fail', message: wrongPlatform };
  return { status: 'pass', message: state.rework ? `already blessed: rework (attempt ${attempt})` : attempt > 1 ? `retest (attempt ${attempt})` : null };
}

/** Why a unit cannot join the Particle product (its reported platform is missing or another); null when it can. */
function platformProblem(f: Record<string, string>, particle: { product: number | string; platformId: number }): string | null {
  const wanted = `Particle product ${particle.product} takes ${platformWords(particle.platformId)} units only`;
  const raw = f.platform ?? f.platformId ?? f.platform_id;
  if (raw === undefined) return `wrong or unknown device type: the unit did not report its platform (platform=), and ${wanted}`;
  const platform = parsePlatform(raw);
  if (platform === null) return `wrong or unknown device type: the unit reported platform ${escapeForDisplay(raw)}, and ${wanted}`;
  if (platform !== particle.platformId) return `wrong device type for this line: the unit is a ${platformWords(platform)}, and ${wanted}; set it aside for its own line`;
  return null;
}

export const identifyStep = defineStepKind<Def, Compiled>({
  type: 'identify',
  schema,
  role: 'identity',
  compile: (def, d) => ({ ...def, timeoutMs: def.timeoutMs ?? d.defaultTimeoutMs }),
  check(step, path, report) {
    if (step.command === null && !step.read) report([...path, 'command'], 'with no command, give the fields to `read`');
    step.read?.forEach((r, i) => {
      if (captureGroupCount(r.capture) < 1) report([...path, 'read', i, 'capture'], 'needs a capture group, for example "(\\d{15})"');
    });
  },
  async execute(ctx, step) {
    const reported = await readFields(ctx, step);
    if (!reported.ok) return { status: 'fail', message: reported.message };
    const outcome = identityFrom(ctx, step, reported.fields);
    if (outcome.status !== 'pass' || !step.label || !ctx.state.identity) return outcome;
    const scan = await checkedScan(ctx, { expect: 'label' }, { text: step.label.text, timeoutMs: step.label.timeoutMs, match: step.label.match, failPrefix: 'label check failed' });
    if (!scan.ok) return { status: 'fail', message: scan.message };
    // The label's fields (never its secrets) can choose a product variant too; the DUT's win.
    for (const [k, v] of Object.entries(scan.label.fields)) if (!scan.label.secretFields.has(k) && ctx.state.fields[k] === undefined) ctx.state.fields[k] = v;
    return { status: 'pass', message: [outcome.message, `label matches the DUT (${step.label.match.join(', ')})`].filter(Boolean).join('; ') };
  },
});
