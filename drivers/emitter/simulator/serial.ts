// The LED emitter simulator on a real serial port (the far end of a socat pair in tests), lit
// at a given optical link.
import { SerialPort } from 'serialport';
import { LedEmitterSim, type EmitterSimOptions } from './led-emitter-sim.js';
import type { OpticalLink } from './optical-link.js';

export interface SerialEmitterSim {
  sim: LedEmitterSim;
  close(): Promise<void>;
}

export function runEmitterOnSerial(opts: { path: string; baudRate?: number; link: OpticalLink } & EmitterSimOptions): Promise<SerialEmitterSim> {
  const sim = new LedEmitterSim(opts.link, { driftPpm: opts.driftPpm, timeScale: opts.timeScale });
  const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 115200, autoOpen: false, lock: false });
  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (err) return reject(new Error(`emitter simulator cannot open ${opts.path}: ${err.message}`));
      sim.attach(port);
      resolve({
        sim,
        close: () =>
          new Promise<void>((done) => {
            sim.detach();
            if (!port.isOpen) return done();
            port.close(() => done());
          }),
      });
    });
  });
}
