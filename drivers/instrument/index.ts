// Builds a bench instrument from its config entry: the driver for its kind (Dmm, Psu, Switch,
// ScpiInstrument) on an SCPI session over the transport the config names. A `simulated` transport
// gets its opener from the simulated bench the caller hands in (drivers/instrument/simulator/),
// the same seam a TCP socket or a serial port goes through; nothing here asks whether it is
// simulated. docs/instruments.md is the station's guide to all of it.
import type { Logger } from 'pino';
import type { PortOpener } from '../transport/port.js';
import { serialOpener, type SerialOpenOptions } from '../transport/serial.js';
import { tcpOpener, type TcpOpenOptions } from '../transport/tcp.js';
import { Dmm } from './dmm.js';
import { ScpiInstrument } from './generic.js';
import { MODELS, type IdentityRule, type ModelName } from './models.js';
import { instrumentConfigSchema, timeoutOf, type InstrumentConfig, type InstrumentConfigInput } from './options.js';
import { Psu } from './psu.js';
import { ScpiSession, type Terminator } from './scpi-session.js';
import { Switch } from './switch.js';

export { Dmm, MAX_SAMPLES, type DmmMeasureRequest, type DmmMeasurement } from './dmm.js';
export { Psu, type PsuCommandOptions, type PsuQuantity, type PsuReading, type PsuSettings } from './psu.js';
export { Switch, type SwitchCommandOptions } from './switch.js';
export { ScpiInstrument, MAX_RAW_COMMAND_CHARS } from './generic.js';
export { Instrument, type InstrumentEvents, type InstrumentIdentity, type InstrumentState } from './instrument.js';
export { InstrumentError, type InstrumentErrorKind } from './instrument-error.js';
export { InstrumentLock, acquireAll, type LockHandle } from './lock.js';
export { channelCount, MAX_SWITCH_CHANNEL, modelSupports, MODEL_NAMES, MODELS, type DmmFunction, type InstrumentFunction, type InstrumentKind, type ModelName } from './models.js';
export { instrumentConfigSchema, instrumentsConfigSchema, instrumentTransportSchema, type InstrumentConfig, type InstrumentConfigInput } from './options.js';
export { ScpiSession, type CommandOptions, type ScpiExchange, type Terminator } from './scpi-session.js';

export type AnyInstrument = Dmm | Psu | Switch | ScpiInstrument;

/** What a simulated world offers the factory: an opener per simulated instrument (SimulatedBench). */
export interface InstrumentSimulation {
  /** The in-memory cable to the simulated instrument `id` of `model`, created on first use. */
  connect(instrument: { id: string; model: ModelName; latencyMs: number; terminator: Terminator }): { open: PortOpener; label: string };
}

export interface CreateInstrumentOptions {
  log: Logger;
  /** Where `tcp` and `serial` transports are opened (default: the real openers); tests hand in others. */
  openers?: {
    tcp?: (opts: TcpOpenOptions) => PortOpener;
    serial?: (opts: SerialOpenOptions) => PortOpener;
  };
  /** Required when any instrument's transport is `simulated`. */
  simulation?: InstrumentSimulation;
}

/** Builds (does not start) the instrument a config entry describes; throws on an invalid entry. */
export function createInstrument(config: InstrumentConfigInput | InstrumentConfig, opts: CreateInstrumentOptions): AnyInstrument {
  const parsed = instrumentConfigSchema.safeParse(config);
  if (!parsed.success) {
    const id = typeof (config as { id?: unknown }).id === 'string' ? (config as { id: string }).id : '(no id)';
    throw new Error(`instrument ${id}: config is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  const cfg = parsed.data;
  const model = MODELS[cfg.model];
  const log = opts.log.child({ part: 'drivers.instrument', instrument: cfg.id });
  const { open, label } = openerFor(cfg, opts);
  const session = new ScpiSession({
    id: cfg.id,
    what: WHAT[model.kind],
    label,
    open,
    log,
    terminator: cfg.terminator,
    timeoutMs: timeoutOf(cfg),
    reconnect: { initialMs: cfg.reconnectInitialMs, maxMs: cfg.reconnectMaxMs },
    identity: identityRule(cfg),
    clearOnConnect: [...model.clearOnConnect],
    errorQuery: model.errorQuery,
    minCommandGapMs: model.minCommandGapMs,
  });
  const init = { id: cfg.id, model: cfg.model, session, log, calibrationDue: cfg.calibrationDue ?? null };
  switch (model.kind) {
    case 'dmm':
      return new Dmm(init);
    case 'psu':
      return new Psu(init);
    case 'switch':
      return new Switch(init);
    case 'scpi':
      return new ScpiInstrument(init);
  }
}

const WHAT = { dmm: 'DMM', psu: 'power supply', switch: 'switch unit', scpi: 'instrument' } as const;

function openerFor(cfg: InstrumentConfig, opts: CreateInstrumentOptions): { open: PortOpener; label: string } {
  const t = cfg.transport;
  switch (t.kind) {
    case 'tcp':
      return { open: (opts.openers?.tcp ?? tcpOpener)({ host: t.host, port: t.port, connectTimeoutMs: t.connectTimeoutMs }), label: `${t.host}:${t.port}` };
    case 'serial':
      return { open: (opts.openers?.serial ?? serialOpener)({ path: t.path, baudRate: t.baudRate }), label: t.path };
    case 'simulated':
      if (!opts.simulation) throw new Error(`instrument ${cfg.id}: its transport is "simulated" but no simulated bench was handed to createInstrument`);
      return opts.simulation.connect({ id: cfg.id, model: cfg.model, latencyMs: t.latencyMs, terminator: cfg.terminator });
  }
}

/** The model's *IDN? rule, narrowed by the config's `idn` patterns when given. */
function identityRule(cfg: InstrumentConfig): IdentityRule {
  const base = MODELS[cfg.model].identity;
  if (!cfg.idn) return base;
  const manufacturer = cfg.idn.manufacturer ? new RegExp(cfg.idn.manufacturer, 'i') : base.manufacturer;
  const model = cfg.idn.model ? new RegExp(cfg.idn.model, 'i') : base.model;
  const parts = [cfg.idn.manufacturer ? `manufacturer /${cfg.idn.manufacturer}/` : null, cfg.idn.model ? `model /${cfg.idn.model}/` : null].filter(Boolean);
  return { manufacturer, model, describe: `${base.describe} with ${parts.join(' and ')}` };
}
