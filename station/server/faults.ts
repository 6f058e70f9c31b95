// Simulated faults on demand (POST /api/sim/slots/:slot/faults, the `sim.fault` socket event):
// the kinds the API accepts, and what the server needs from whoever can inject them (the
// simulated world, on a station with simulated slots; nobody on a real one).

export const NEST_FAULTS = ['garbage', 'overlong', 'hang', 'unplug', 'bad-light', 'no-enroll'] as const;
export const EMITTER_FAULTS = { 'emitter-silent': 'silent', 'emitter-garbage': 'garbage' } as const;
export const ENROLL_FAULTS = ['invalid-token', 'expired-token', 'wrong-token-type', 'already-blessed'] as const;
export const FAULT_KINDS = [...NEST_FAULTS, 'emitter-silent', 'emitter-garbage', ...ENROLL_FAULTS] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultInjector {
  /** Whether slot `slot` is simulated (faults can be injected there). */
  simulates(slot: number): boolean;
  /** Injects a fault; returns why not (no such simulated part), or null when done. */
  inject(slot: number, kind: FaultKind): string | null;
}
