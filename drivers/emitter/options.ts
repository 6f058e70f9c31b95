// How a slot's BlinkUp emitter is configured (`slots[].emitter`): the station's config schema
// composes this. "simulated" is resolved by the composition root, which hands the drivers the
// simulator's openers; the drivers themselves only know real devices.
import { z } from 'zod';

const serialPath = z.string().min(1).max(300);
const baudRate = z.number().int().min(1200).max(4_000_000).default(115200);

export const emitterDriverSchema = z.discriminatedUnion('kind', [
  /** An LED emitter on a serial port (docs/protocols.md, "Emitter protocol"). */
  z.strictObject({ kind: z.literal('serial-led'), path: serialPath, baudRate }),
  /** An LED emitter as a USB-HID device (node-hid, loaded only when used): the hidraw path. */
  z.strictObject({ kind: z.literal('hid-led'), path: z.string().min(1).max(300) }),
  /** An Imp BlinkUp fixture on a serial port: it sends its own factory token (none from the pool). */
  z.strictObject({
    kind: z.literal('imp-fixture'),
    path: serialPath,
    baudRate,
    /** The fixture's own minimum time between BlinkUps: retriggers wait this long. */
    minRetriggerMs: z.number().int().min(0).max(600_000).default(3000),
    /** The longest one fixture BlinkUp takes, its token fetch included. */
    blinkupTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
  }),
  /** The built-in emitter simulator, shining at the slot's simulated DUT: an LED emitter, or an
   *  Imp fixture that fetches its own tokens from the simulated enrollment service. */
  z.strictObject({
    kind: z.literal('simulated'),
    model: z.enum(['led', 'hid-led', 'imp-fixture']).default('led'),
    /** The emitter's clock error in parts per million (a cheap crystal: a few thousand). */
    driftPpm: z.number().min(-50_000).max(50_000).default(3000),
  }),
]);

export type EmitterDriverConfig = z.output<typeof emitterDriverSchema>;

/** Whether an emitter config draws factory tokens from the station's pool (an LED does; an Imp
 *  fixture brings its own). */
export function drawsFromTokenPool(driver: EmitterDriverConfig): boolean {
  return driver.kind === 'serial-led' || driver.kind === 'hid-led' || (driver.kind === 'simulated' && driver.model !== 'imp-fixture');
}
