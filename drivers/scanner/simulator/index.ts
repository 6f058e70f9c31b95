// A simulated scanner and the port the real driver reads it through: a serial scanner simulator
// on an in-memory cable, or a HID scanner simulator standing in for the node-hid device. Used by
// the simulated world (station/simulation/) and by tests; the driver is the real one either way.
import { MemoryLink } from '../../transport/memory-link.js';
import type { ScannerPort, ScannerSimulation } from '../index.js';
import { HidKeyboardScannerSim } from './hid-keyboard-sim.js';
import { HidPosScannerSim } from './hid-pos-sim.js';
import { SerialScannerSim } from './serial-scanner-sim.js';

export function simulatedScanner(id: string, model: 'hid-keyboard' | 'hid-pos' | 'serial'): { port: ScannerPort; simulation: ScannerSimulation } {
  if (model === 'serial') {
    const sim = new SerialScannerSim({ delimiter: 'CR' });
    const link = new MemoryLink(`sim-scanner:${id}`, {
      attach: (stream) => {
        sim.attach(stream);
        return { detach: () => sim.detach() };
      },
    });
    return {
      port: { kind: 'serial', label: link.label, open: link.open, delimiter: 'CR' },
      simulation: { inject: (text, o) => sim.scan(text, o), fault: (kind, text) => sim.fault(kind, text), unplug: (ms = 1000) => link.unplug(ms) },
    };
  }
  const sim = model === 'hid-keyboard' ? new HidKeyboardScannerSim() : new HidPosScannerSim();
  return {
    port: {
      kind: model,
      label: `sim-hid:${id}`,
      open: async () => {
        sim.closed = false; // plugged back in
        return sim;
      },
    },
    simulation: { inject: (text, o) => sim.scan(text, o), fault: (kind, text) => sim.fault(kind, text), unplug: () => sim.unplug() },
  };
}
