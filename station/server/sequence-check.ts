// Validation for the sequence editor: every problem with its field path (steps[2].limit.high), from
// the schema and the load-time rules of station/sequence/sequence.ts, plus what this station can run
// (a blinkup step needs BlinkUp configured and an emitter on every slot; an interlock step needs
// the MES; fixture steps need the instruments, functions and channels they name).
import { sequenceFixtureProblems, type FixtureShape } from '../config/fixture-check.js';
import type { StationConfig } from '../config/load.js';
import path from 'node:path';
import { diskReader, type ScriptReader } from '../sequence/script-sandbox.js';
import { formatIssuePath, loadSequence, SequenceError, sequenceSchema, type CompiledSequence } from '../sequence/sequence.js';

export interface Problem {
  path: string;
  message: string;
}

export interface StationCapabilities {
  /** Why this station cannot run a blinkup step, or null when it can. */
  blinkupUnavailable: string | null;
  /** Why this station cannot run an interlock step (no MES configured), or null when it can. */
  mesUnavailable?: string | null;
  /** The instruments and the slots' power and routes, which fixture steps must fit. */
  fixture: FixtureShape;
  /** Where script steps' modules are read from (the station's folder: the config file's). */
  scripts: ScriptReader;
}

export type SequenceCheck = { ok: true; compiled: CompiledSequence } | { ok: false; problems: Problem[] };

export function checkSequence(raw: unknown, station: StationCapabilities): SequenceCheck {
  const parsed = sequenceSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: Problem[] = parsed.error.issues.map((i) => ({ path: formatIssuePath('', i.path), message: i.message }));
    // loadSequence also runs the cross-step rules over the steps that did parse; keep what it adds.
    try {
      loadSequence(raw, 'editor');
    } catch (err) {
      if (!(err instanceof SequenceError)) throw err;
      const seen = new Set(problems.map((p) => `${p.path}: ${p.message}`));
      for (const text of err.problems) {
        if (seen.has(text)) continue;
        const at = text.indexOf(': ');
        problems.push(at < 0 ? { path: '(root)', message: text } : { path: text.slice(0, at), message: text.slice(at + 2) });
      }
    }
    return { ok: false, problems };
  }
  let compiled: CompiledSequence;
  try {
    compiled = loadSequence(raw, 'editor', { scripts: station.scripts });
  } catch (err) {
    if (!(err instanceof SequenceError)) throw err;
    return {
      ok: false,
      problems: err.problems.map((text) => {
        const at = text.indexOf(': ');
        return at < 0 ? { path: '(root)', message: text } : { path: text.slice(0, at), message: text.slice(at + 2) };
      }),
    };
  }
  const problems: Problem[] = [];
  if (station.blinkupUnavailable) {
    compiled.def.steps.forEach((step, i) => {
      if (step.type === 'blinkup') problems.push({ path: `steps[${i}].type`, message: `this station cannot run a blinkup step: ${station.blinkupUnavailable}` });
    });
  }
  if (station.mesUnavailable) {
    compiled.def.steps.forEach((step, i) => {
      if (step.type === 'interlock') problems.push({ path: `steps[${i}].type`, message: `this station cannot run an interlock step: ${station.mesUnavailable}` });
    });
  }
  problems.push(...sequenceFixtureProblems(compiled.def.steps, station.fixture));
  return problems.length > 0 ? { ok: false, problems } : { ok: true, compiled };
}

/** What this station's configuration lets a saved sequence use (the same rules as config load). */
export function capabilitiesFromConfig(cfg: StationConfig): StationCapabilities {
  let blinkupUnavailable: string | null = null;
  const noEmitter = cfg.slots.findIndex((s) => !s.emitter);
  const ledSlots = cfg.slots.some((s) => s.emitter && s.emitter.kind !== 'imp-fixture' && !(s.emitter.kind === 'simulated' && s.emitter.model === 'imp-fixture'));
  if (!cfg.blinkup) blinkupUnavailable = 'the configuration has no factory network (blinkup section)';
  else if (noEmitter >= 0) blinkupUnavailable = `slot ${noEmitter} has no emitter`;
  else if (ledSlots && cfg.tokens.source === 'none') blinkupUnavailable = 'LED emitters need a factory token source (tokens.source)';
  const mesUnavailable = cfg.mes ? null : 'the configuration has no MES (mes section)';
  return { blinkupUnavailable, mesUnavailable, fixture: { instruments: cfg.instruments, slots: cfg.slots }, scripts: diskReader(cfg.configPath ? path.dirname(cfg.configPath) : process.cwd()) };
}
