// The reprint behind POST /api/labels/:deviceId/reprint: find the blessed device, make its label
// from its identity (labelFromIdentity, which never prints a mobile secret) and send it to the
// station's label output.
import type { LabelIdentity } from '../../drivers/label/layout.js';
import { labelFromIdentity } from '../../drivers/label/layout.js';
import type { LabelOutput } from '../../drivers/label/output.js';
import type { LabelReprinter } from './router.js';

export interface BlessedLabelSource {
  /** The blessed device with this (lower-case) Device ID and the run that blessed it; null if none. */
  findBlessed(deviceId: string): (LabelIdentity & { runId: string }) | null;
}

export function labelReprinter(output: LabelOutput, devices: BlessedLabelSource): LabelReprinter {
  return {
    async reprint(deviceId) {
      const device = devices.findBlessed(deviceId);
      if (!device) return null;
      await output.print({ ...labelFromIdentity(device), runId: device.runId });
      return { output: output.kind };
    },
  };
}
