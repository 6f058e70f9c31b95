// The simulated world a simulated station runs in: the factory around the station, built from the
// config's "simulated" entries and handed to the drivers as openers, exactly as real ports would be.
// It holds the simulated nests (factory firmware on an in-memory cable), their light sensors and
// the emitters shining at them, the enrollment service behind them (which also issues the tokens
// of tokens.source "simulated"), the simulated scanners, the label printer, the demo ingest (the
// cloud, when no uplink.url is set), and the simulated operator. Only the composition root
// (station/station.ts, station/hardware.ts) uses it; no other part asks whether it is simulated.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Part } from '../../lib/lifecycle.js';
import type { DutPort } from '../../drivers/dut/index.js';
import { SimulatedEnrollmentService, SimulatedTokenSource } from '../../drivers/dut/simulator/enrollment.js';
import { SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { Random } from '../../drivers/dut/simulator/random.js';
import { NestStreamAdapter } from '../../drivers/dut/simulator/stream-adapter.js';
import type { EmitterPort } from '../../drivers/emitter/index.js';
import { HidEmitterSim } from '../../drivers/emitter/simulator/hid-emitter-sim.js';
import { ImpFixtureSim } from '../../drivers/emitter/simulator/imp-fixture-sim.js';
import { LedEmitterSim } from '../../drivers/emitter/simulator/led-emitter-sim.js';
import { OpticalLink } from '../../drivers/emitter/simulator/optical-link.js';
import { IngestServer } from '../../drivers/cloud/ingest.js';
import { SimulatedBench } from '../../drivers/instrument/simulator/bench.js';
import type { LabelOutputConfig } from '../../drivers/label/output.js';
import { uplinkDescribed } from '../config/uplink.js';
import { PrinterSimulator } from '../../drivers/label/simulator/printer-sim.js';
import type { ScannerPort, ScannerSimulation } from '../../drivers/scanner/index.js';
import { simulatedScanner } from '../../drivers/scanner/simulator/index.js';
import { MemoryLink, type CableEnd } from '../../drivers/transport/memory-link.js';
import { NestAtAdapter } from '../../drivers/dut/simulator/at-adapter.js';
import { NestShellAdapter } from '../../drivers/dut/simulator/shell-adapter.js';
import { particleSinkOf, type StationConfig } from '../config/load.js';

/** A simulated nest behind a slot's DUT port, and its cable (for faults). */
export interface SimulatedSlot {
  nest: SimulatedNest;
  link: MemoryLink;
}

/** A simulated emitter, for faults on demand. */
export type SimulatedEmitter = LedEmitterSim | ImpFixtureSim | HidEmitterSim;

export class SimulatedWorld {
  /** The cloud simulated DUTs enroll with; it issues the tokens of tokens.source "simulated". */
  readonly enrollment = new SimulatedEnrollmentService();
  readonly seed: number;
  private readonly slots: (SimulatedSlot | null)[];
  private readonly emitters: (SimulatedEmitter | null)[] = [];
  private readonly scanners = new Map<string, { slot: number | null; simulation: ScannerSimulation }>();
  private ingest: IngestServer | null = null;
  private ingestCredentials: { apiKey: string; hmacSecret: string } | null = null;
  private printer: PrinterSimulator | null = null;
  private printerAddress: { host: string; port: number } | null = null;
  /** The simulated bench (supplies, DMMs, switches) when any instrument is simulated. */
  readonly bench: SimulatedBench | null;

  constructor(
    private readonly cfg: StationConfig,
    private readonly log: Logger,
  ) {
    const sim = cfg.simulation;
    this.seed = sim.seed ?? Math.floor(Math.random() * 2 ** 31);
    const identify = cfg.compiledSequence.steps[0];
    const deviceIdHexLength = identify?.type === 'identify' ? identify.deviceIdHexLength : 16;
    const platform = simulatedPlatform(cfg);
    this.slots = cfg.slots.map((slot, index) => {
      if (slot.dut.kind !== 'simulated') return null;
      const protocol = slot.dut.protocol?.kind ?? 'tagged';
      const nest = new SimulatedNest(
        `sim:${index}`,
        {
          deviceIdHexLength,
          bootMs: sim.bootMs,
          handlingMs: sim.handlingMs,
          // A unit that answers AT commands is a cellular module: it has an ICCID and an IMEI.
          cellularRate: protocol === 'at' ? 1 : sim.cellularRate,
          retestRate: sim.retestRate,
          failureRates: sim.failureRates,
          faultRates: sim.faultRates,
          ...platform,
        },
        this.seed + index * 7919,
        { event: () => undefined, raw: () => undefined, unplug: () => undefined },
      );
      const seed = this.seed + index * 7919;
      const far: CableEnd =
        protocol === 'at'
          ? new NestAtAdapter(nest, { latencyMs: sim.commandLatencyMs, chatterEveryMs: 5000, seed })
          : protocol === 'shell'
            ? new NestShellAdapter(nest, { latencyMs: sim.commandLatencyMs, chatterEveryMs: 5000, seed })
            : {
                attach: (stream, unplug) => new NestStreamAdapter(nest, stream, { latencyMs: sim.commandLatencyMs, onUnplug: unplug }),
                // Powered through the same cable: the unit boots once the port is back.
                replugged: () => nest.replugged(),
              };
      const link = new MemoryLink(`sim:${index}`, far);
      return { nest, link };
    });
    this.bench = this.buildBench();
    if (!uplinkDescribed(cfg.uplink) && sim.ingest) {
      this.ingestCredentials = { apiKey: randomBytes(18).toString('base64url'), hmacSecret: randomBytes(32).toString('base64url') };
    }
  }

  /**
   * The bench of the config's simulated instruments, with the simulated nests wired to it: a nest
   * powered by a simulated supply channel (slots[].power) boots only when that channel is on, and
   * every simulated DMM reads it through the slot's route (a switch channel) or straight.
   */
  private buildBench(): SimulatedBench | null {
    const simulated = this.cfg.instruments.filter((i) => i.transport.kind === 'simulated');
    if (simulated.length === 0) return null;
    const bench = new SimulatedBench({ seed: this.seed });
    for (const i of simulated) bench.add(i.id, i.model);
    const simIds = new Set(simulated.map((i) => i.id));
    const dmms = simulated.filter((i) => i.kind === 'dmm').map((i) => i.id);
    this.cfg.slots.forEach((slotCfg, index) => {
      const nest = this.slots[index]?.nest;
      if (!nest) return;
      if (slotCfg.power && simIds.has(slotCfg.power.instrument)) {
        nest.setExternalPower(true);
        bench.wire(nest.power, { supply: { psu: slotCfg.power.instrument, channel: slotCfg.power.channel } });
      }
      const route = slotCfg.route && simIds.has(slotCfg.route.instrument) ? { switch: slotCfg.route.instrument, channel: slotCfg.route.channel } : undefined;
      for (const dmm of dmms) bench.wire(nest.power, { dmm, ...(route ? { via: route } : {}) });
    });
    return bench;
  }

  /** The simulated nest behind slot `index`, or null for a real DUT. */
  slot(index: number): SimulatedSlot | null {
    return this.slots[index] ?? null;
  }

  /** The simulated emitter of slot `index`, or null. */
  emitter(index: number): SimulatedEmitter | null {
    return this.emitters[index] ?? null;
  }

  /** The simulated scanner fixed to slot `index`, if there is one (the simulated operator scans with it). */
  scannerFor(index: number): ScannerSimulation | null {
    for (const s of this.scanners.values()) if (s.slot === index) return s.simulation;
    return null;
  }

  /** Slot `index`'s simulated DUT console port (the slot's dut is "simulated"). */
  dutPort(index: number): DutPort {
    const sim = this.slots[index];
    if (!sim) throw new Error(`slot ${index} has no simulated DUT`);
    return { label: sim.link.label, open: sim.link.open };
  }

  /** Slot `index`'s simulated emitter, shining at its simulated DUT through an optical link. */
  emitterPort(index: number, model: 'led' | 'hid-led' | 'imp-fixture', driftPpm: number): EmitterPort {
    const nest = this.slots[index]?.nest;
    if (!nest) throw new Error(`slot ${index}: a simulated emitter can only light a simulated DUT`);
    const optics = new OpticalLink();
    nest.attachOptics({ link: optics, enrollment: this.enrollment, ...this.cfg.simulation.optics });
    if (model === 'hid-led') {
      const sim = new HidEmitterSim(optics, driftPpm);
      this.emitters[index] = sim;
      return { kind: 'hid-led', label: `sim-hid:${index}`, open: async () => sim };
    }
    if (model === 'imp-fixture') {
      const blinkup = this.cfg.blinkup;
      if (!blinkup) throw new Error(`slot ${index}: a simulated Imp fixture needs the blinkup settings`);
      const sim = new ImpFixtureSim(optics, this.enrollment, { ssid: blinkup.ssid, password: blinkup.password, symbolRateHz: blinkup.symbolRateHz, minIntervalMs: 1000, driftPpm });
      this.emitters[index] = sim;
      const link = this.cable(`sim-fixture:${index}`, sim);
      return { kind: 'imp-fixture', label: link.label, open: link.open, minRetriggerMs: 1000, blinkupTimeoutMs: 60_000 };
    }
    const sim = new LedEmitterSim(optics, { driftPpm });
    this.emitters[index] = sim;
    const link = this.cable(`sim-emitter:${index}`, sim);
    return { kind: 'serial-led', label: link.label, open: link.open };
  }

  /** A simulated scanner's port: the real driver reads the simulator's bytes or reports. */
  scannerPort(id: string, slot: number | null, model: 'hid-keyboard' | 'hid-pos' | 'serial'): ScannerPort {
    const { port, simulation } = simulatedScanner(id, model);
    this.scanners.set(id, { slot, simulation });
    return port;
  }

  /** Tokens for tokens.source "simulated", issued by the simulated enrollment service. */
  tokenSource(): SimulatedTokenSource {
    return new SimulatedTokenSource(this.enrollment);
  }

  /** The demo ingest's endpoint (no uplink.url, simulation.ingest set), or null. Its URL is
   *  known once the "sim.services" part has started. */
  demoIngest(): { url: () => string; apiKey: string; hmacSecret: string } | null {
    const creds = this.ingestCredentials;
    if (!creds) return null;
    return { url: () => this.ingest?.url ?? 'http://127.0.0.1:0', ...creds };
  }

  /** The label output for labels.output "simulated": ZPL to the printer simulator, once started. */
  printerOutput(stock: Extract<LabelOutputConfig, { kind: 'zpl' }>['stock']): LabelOutputConfig {
    const addr = this.printerAddress;
    if (!addr) throw new Error('the printer simulator has not started');
    return { kind: 'zpl', host: addr.host, port: addr.port, connectTimeoutMs: 3000, ioTimeoutMs: 5000, checkStatus: true, stock };
  }

  /** The simulated services the station talks to over the network (the cloud, the printer):
   *  started before the parts that use them. */
  servicesPart(): Part {
    return {
      name: 'sim.services',
      stopCapMs: 2000,
      start: async () => {
        const creds = this.ingestCredentials;
        if (creds) {
          this.ingest = new IngestServer({ dbPath: path.join(this.cfg.storage.dataDir, 'demo-ingest', 'ingest.db'), ...creds, host: '127.0.0.1', port: 0 });
          await this.ingest.start();
          this.log.info({ url: this.ingest.url }, 'no uplink.url: uploading to the demo ingest started with the station (simulation.ingest)');
          const outage = this.cfg.simulation.ingest;
          if (outage && outage.outageEverySeconds > 0 && outage.outageSeconds > 0) {
            const ingestLog = this.log.child({ part: 'sim.ingest' });
            this.ingest.flap({ upMs: outage.outageEverySeconds * 1000, downMs: outage.outageSeconds * 1000 }, (up) =>
              ingestLog.info(up ? 'demo ingest back up' : `demo ingest down for ${outage.outageSeconds} s (a simulated outage)`),
            );
          }
        }
        if (this.cfg.labels.output?.kind === 'simulated') {
          this.printer = new PrinterSimulator({ port: 0, log: this.log.child({ part: 'sim.printer' }) });
          this.printerAddress = await this.printer.start();
        }
      },
      stop: async () => {
        await Promise.allSettled([this.ingest?.stop(), this.printer?.stop()]);
      },
    };
  }

  /** The units in the nests: powered on once the line is listening, stopped before it stops. */
  unitsPart(): Part {
    return {
      name: 'sim.units',
      stopCapMs: 1000,
      start: () => {
        for (const s of this.slots) s?.nest.start();
      },
      stop: () => {
        for (const s of this.slots) s?.nest.stop();
        this.bench?.stop();
      },
    };
  }

  /** The printer simulator, for tests: its captured jobs. */
  get printerSimulator(): PrinterSimulator | null {
    return this.printer;
  }

  /** A random source for the simulated operator, from the world's seed. */
  operatorRandom(): Random {
    return new Random(this.seed ^ 0x5eed);
  }

  private cable(label: string, sim: { attach(stream: import('node:stream').Duplex): void; detach(): void }): MemoryLink {
    return new MemoryLink(label, {
      attach: (stream) => {
        sim.attach(stream);
        return { detach: () => sim.detach() };
      },
    });
  }
}

/** The platform simulated units report: simulation.platform, else the Particle product's, else none. */
function simulatedPlatform(cfg: StationConfig): { platformId: number | null; otherPlatformId: number | null; otherPlatformRate: number } {
  const p = cfg.simulation.platform;
  const platformId = p?.id ?? particleSinkOf(cfg)?.platformId ?? null;
  // Another platform by default: a Boron on an Argon line, an Argon on any other.
  const otherPlatformId = p?.otherId ?? (platformId === 12 ? 13 : 12);
  return { platformId, otherPlatformId, otherPlatformRate: p?.otherRate ?? 0 };
}
