// How the andon is configured (the station config's `andon` section, docs/andon.md): how fast the
// job blinks, whether amber beeps, and the outputs that show the light, several at once.
import { z } from 'zod';

const lampNumber = (min: number, max: number) => z.number().int().min(min).max(max);

/** Which coil (Modbus) or channel (relay boards) lights each lamp; no two lamps may share one. */
function lampMap(min: number, max: number, what: string) {
  return z.strictObject({ green: lampNumber(min, max), amber: lampNumber(min, max), red: lampNumber(min, max), buzzer: lampNumber(min, max).optional() }).superRefine((m, ctx) => {
    const seen = new Map<number, string>();
    for (const [lamp, n] of Object.entries(m)) {
      if (n === undefined) continue;
      const other = seen.get(n);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path: [lamp], message: `${what} ${n} is also ${other}'s: each lamp needs its own ${what}` });
      else seen.set(n, lamp);
    }
  });
}

const id = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, "_" or "-" (it names the alarm andon.<id>.unreachable)');
const reconnect = {
  /** The first wait before reconnecting to a device that went away; it doubles up to reconnectMaxMs. */
  reconnectInitialMs: z.number().int().min(50).max(60_000).default(500),
  reconnectMaxMs: z.number().int().min(100).max(600_000).default(10_000),
};

export const andonOutputSchema = z.discriminatedUnion('kind', [
  /** A Modbus TCP I/O module driving the stack light's lamps from coils (function 15, one request). */
  z.strictObject({
    kind: z.literal('modbus-tcp'),
    id: id.optional(),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(502),
    unitId: z.number().int().min(0).max(255).default(1),
    coils: lampMap(0, 65535, 'coil'),
    /** A write the module does not answer within this long counts as the module gone. */
    timeoutMs: z.number().int().min(100).max(30_000).default(2000),
    /** A steady light is written again this often (feeds the module's communication watchdog,
     *  finds a module that stopped answering); 0: never. */
    refreshMs: z.number().int().min(0).max(600_000).default(2000),
    ...reconnect,
  }),
  /** A USB-serial relay board (LCUS type: `A0 <channel> <state> <sum>` frames), channels from 1. */
  z.strictObject({
    kind: z.literal('serial-relay'),
    id: id.optional(),
    path: z.string().min(1).max(300),
    baudRate: z.number().int().min(1200).max(115200).default(9600),
    channels: lampMap(1, 8, 'channel'),
    ...reconnect,
  }),
  /** A USB-HID relay (dcttech "USBRelayN", 16c0:05df): its hidraw path, relays from 1. */
  z.strictObject({
    kind: z.literal('hid-relay'),
    id: id.optional(),
    path: z.string().min(1).max(300),
    channels: lampMap(1, 8, 'relay'),
    /** A steady light's relays are read back this often (finds an unplugged board); 0: never. */
    refreshMs: z.number().int().min(0).max(600_000).default(2000),
    ...reconnect,
  }),
]);

export const andonConfigSchema = z
  .strictObject({
    /** One half of a blink: a lamp that blinks is on this long, then off this long. */
    blinkMs: z.number().int().min(100).max(5000).default(500),
    /** Beep (one blink half every four) while amber waits for a person; off: amber is silent. */
    amberBeep: z.boolean().default(false),
    outputs: z.array(andonOutputSchema).min(1).max(16),
  })
  .superRefine((a, ctx) => {
    const ids = new Map<string, number>();
    a.outputs.forEach((o, i) => {
      if (o.reconnectInitialMs > o.reconnectMaxMs) ctx.addIssue({ code: 'custom', path: ['outputs', i, 'reconnectInitialMs'], message: `must not be above reconnectMaxMs (${o.reconnectMaxMs})` });
      const name = o.id ?? o.kind;
      const other = ids.get(name);
      if (other !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['outputs', i, 'id'], message: `outputs[${other}] is also called "${name}": give each output its own id` });
      } else ids.set(name, i);
    });
  })
  .transform((a) => ({ ...a, outputs: a.outputs.map((o) => ({ ...o, id: o.id ?? o.kind })) }));

export type AndonConfig = z.output<typeof andonConfigSchema>;
export type AndonOutputConfig = AndonConfig['outputs'][number];
