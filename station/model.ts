// The station's shared words: what a run, a step and a device are, as every part speaks of them
// (the runner writes them, the store keeps them, the bus carries them, the API shows them).
// One definition each; parts import them from here.

/** How a run ended. A run without a verdict yet is "running" (RunStatus). */
export type Verdict = 'blessed' | 'failed' | 'interrupted';

export type RunStatus = 'running' | Verdict;

/** How a step ended: pass and marginal pass the step; interrupted means the run was cut short. */
export type StepStatus = 'pass' | 'marginal' | 'fail' | 'error' | 'skipped' | 'interrupted';

/** A device as the DUT reported it, checked and normalised (station/line/identity.ts). */
export interface DeviceIdentity {
  deviceId: string;
  mac: string;
  iccid: string | null;
  imei: string | null;
}
