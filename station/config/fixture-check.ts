// What a sequence may ask of the fixture, checked against the station's instruments and slots
// when the configuration is loaded and when a sequence is saved from the console: an instrument
// the configuration lacks, a function its model lacks, a channel out of range, a power step on a
// station whose slots have no DUT power. Every problem names the field's path.
import { channelCount, MAX_SWITCH_CHANNEL, MODELS, modelSupports, type InstrumentConfig } from '../../drivers/instrument/index.js';

export interface FixtureShape {
  instruments: Pick<InstrumentConfig, 'id' | 'kind' | 'model'>[];
  /** Per slot: its power supply channel, and its route (the switch channel to the meters). */
  slots: { power?: { instrument: string; channel: number } | undefined; route?: { instrument: string; channel: number } | undefined }[];
}

export interface Problem {
  path: string;
  message: string;
}

type AnyStep = { type: string; name: string; steps?: unknown; source?: unknown; instrument?: string };

/** Problems of the slots' own fixture config (slots[i].power, slots[i].route). */
export function slotFixtureProblems(f: FixtureShape): Problem[] {
  const byId = new Map(f.instruments.map((i) => [i.id, i]));
  const problems: Problem[] = [];
  const channels = new Map<string, number>();
  f.slots.forEach((slot, i) => {
    if (slot.power) {
      const at = `slots[${i}].power`;
      const psu = byId.get(slot.power.instrument);
      if (!psu) problems.push({ path: `${at}.instrument`, message: `names no instrument of the configuration ("${slot.power.instrument}")` });
      else if (psu.kind !== 'psu') problems.push({ path: `${at}.instrument`, message: `${psu.id} is a ${psu.kind}, not a power supply` });
      else {
        const count = channelCount(psu.model) ?? 0;
        if (slot.power.channel > count) problems.push({ path: `${at}.channel`, message: `${psu.id} (${psu.model}) has channels 1 to ${count}` });
        const key = `${psu.id}/${slot.power.channel}`;
        const other = channels.get(key);
        if (other !== undefined) problems.push({ path: `${at}.channel`, message: `channel ${slot.power.channel} of ${psu.id} already powers slots[${other}]` });
        channels.set(key, i);
      }
    }
    if (slot.route) {
      const at = `slots[${i}].route`;
      const sw = byId.get(slot.route.instrument);
      if (!sw) problems.push({ path: `${at}.instrument`, message: `names no instrument of the configuration ("${slot.route.instrument}")` });
      else if (sw.kind !== 'switch') problems.push({ path: `${at}.instrument`, message: `${sw.id} is a ${sw.kind}, not a switch` });
      else if (slot.route.channel > (channelCount(sw.model) ?? MAX_SWITCH_CHANNEL)) problems.push({ path: `${at}.channel`, message: `${sw.id} (${sw.model}) has no channel ${slot.route.channel}` });
    }
  });
  return problems;
}

/** Problems of a sequence's fixture steps against the station (paths inside the sequence: steps[3].source.function). */
export function sequenceFixtureProblems(steps: readonly AnyStep[], f: FixtureShape): Problem[] {
  const byId = new Map(f.instruments.map((i) => [i.id, i]));
  const problems: Problem[] = [];
  const visit = (list: readonly AnyStep[], prefix: string): void => {
    list.forEach((step, i) => {
      const at = `${prefix}steps[${i}]`;
      if (Array.isArray(step.steps)) visit(step.steps as AnyStep[], `${at}.`);
      if (step.type === 'power') {
        const unpowered = f.slots.map((s, n) => (s.power ? null : n)).filter((n): n is number => n !== null);
        if (unpowered.length > 0)
          problems.push({
            path: `${at}.type`,
            message: `slots ${unpowered.map((n) => n + 1).join(', ')} have no DUT power (slots[].power), so no slot of this station can run a power step on all of them`,
          });
      }
      if (step.type === 'measure' && step.source) {
        const src = step.source as { instrument: string; function: string; channel?: number };
        const inst = byId.get(src.instrument);
        if (!inst) {
          problems.push({ path: `${at}.source.instrument`, message: `names no instrument of the configuration ("${src.instrument}")` });
          return;
        }
        const psuFunction = src.function === 'voltage' || src.function === 'current';
        if (psuFunction && inst.kind !== 'psu') problems.push({ path: `${at}.source.function`, message: `${src.function} is read from a power supply; ${inst.id} is a ${inst.kind}` });
        else if (!psuFunction && (inst.kind !== 'dmm' || !modelSupports(inst.model, src.function))) {
          problems.push({ path: `${at}.source.function`, message: `${inst.id} (${inst.model}) cannot measure ${src.function}` });
        }
        if (psuFunction && inst.kind === 'psu') {
          const count = channelCount(inst.model) ?? 0;
          if (src.channel !== undefined && src.channel > count) problems.push({ path: `${at}.source.channel`, message: `${inst.id} (${inst.model}) has channels 1 to ${count}` });
          if (src.channel === undefined && f.slots.some((s) => s.power?.instrument !== inst.id)) {
            problems.push({ path: `${at}.source.channel`, message: `is needed: ${inst.id} does not power every slot, so "the slot's own channel" is not defined everywhere` });
          }
        }
      }
      if (step.type === 'instrument' && step.instrument !== undefined) {
        const inst = byId.get(step.instrument);
        if (!inst) problems.push({ path: `${at}.instrument`, message: `names no instrument of the configuration ("${step.instrument}")` });
        else if (inst.kind !== 'scpi')
          problems.push({ path: `${at}.instrument`, message: `${inst.id} is a ${inst.kind} (${MODELS[inst.model].kind}); raw SCPI steps are for instruments of kind "scpi"` });
      }
    });
  };
  visit(steps, '');
  return problems;
}
