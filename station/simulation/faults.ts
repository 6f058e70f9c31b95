// Faults on demand in the simulated world: the next command, frame or enrollment of a simulated
// slot goes wrong in the way asked for (station/server/faults.ts lists the kinds).
import { EMITTER_FAULTS, ENROLL_FAULTS, type FaultInjector, type NEST_FAULTS } from '../server/faults.js';
import type { SimulatedWorld } from './world.js';

export function worldFaults(world: SimulatedWorld): FaultInjector {
  return {
    simulates: (slot) => Number.isInteger(slot) && world.slot(slot) !== null,
    inject: (slot, kind) => {
      const sim = world.slot(slot);
      if (!sim) return `slot ${JSON.stringify(String(slot).slice(0, 16))} is not a simulated slot`;
      if (kind === 'emitter-silent' || kind === 'emitter-garbage') {
        const emitter = world.emitter(slot);
        if (!emitter) return `slot ${slot} has no simulated emitter`;
        if (!('injectFault' in emitter)) return `slot ${slot}'s simulated emitter has no such fault (serial LED emitters only)`;
        emitter.injectFault(EMITTER_FAULTS[kind]);
      } else if ((ENROLL_FAULTS as readonly string[]).includes(kind)) {
        world.enrollment.forceNext(kind as (typeof ENROLL_FAULTS)[number]);
      } else {
        sim.nest.injectFault(kind as (typeof NEST_FAULTS)[number]);
      }
      return null;
    },
  };
}
