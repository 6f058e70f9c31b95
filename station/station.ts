// The station controller: builds every part in an order you can read top to bottom, starts them,
// and stops them in reverse, each stop bounded so one stuck part cannot hold the others.
import type { Logger } from 'pino';
import type { StationConfig } from './config/load.js';
import { EventBus } from './events.js';
import { Line } from './line/line.js';
import { UI_DIR, VERSION } from './paths.js';
import { HttpServer } from './server/http.js';
import { createMetrics } from './server/metrics.js';
import { Store } from './store/store.js';
import { TokenRefillJob } from '../jobs/token-refill.js';
import { TokenLedger } from './tokens/ledger.js';
import { createTokenSource } from './tokens/sources.js';
import { TokenVault, vaultOptionsFromConfig } from './tokens/vault.js';

export class Station {
  readonly bus: EventBus;
  readonly store: Store;
  readonly line: Line;
  readonly tokenVault: TokenVault;
  readonly tokens: TokenLedger;
  private readonly tokenRefill: TokenRefillJob | null;
  /** Alarms raised and not cleared, for health and the dashboard. */
  readonly alarms = new Map<string, { severity: string; message: string; slot: number | null; since: number }>();
  private http: HttpServer | null = null;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;

  constructor(
    readonly cfg: StationConfig,
    private readonly log: Logger,
  ) {
    this.bus = new EventBus(log.child({ part: 'station.events' }));
    this.store = new Store(cfg.storage.dataDir, log.child({ part: 'station.store' }));
    const tokenLog = log.child({ part: 'station.tokens' });
    // Token alarms matter only where an LED emitter draws from the pool (a fixture brings its own).
    const blinkupInUse =
      cfg.compiledSequence.steps.some((s) => s.type === 'blinkup') &&
      cfg.slots.some((s) => s.emitter && (s.emitter.kind === 'serial-led' || s.emitter.kind === 'hid-led' || (s.emitter.kind === 'simulated' && s.emitter.model !== 'imp-fixture')));
    this.tokenVault = new TokenVault(vaultOptionsFromConfig(cfg, process.env, tokenLog));
    this.tokens = new TokenLedger(this.store, this.tokenVault, this.bus, tokenLog, { lowWater: cfg.tokens.lowWater, targetLevel: cfg.tokens.targetLevel, alarms: blinkupInUse });
    this.line = new Line(cfg, this.store, this.bus, log, this.tokens);
    const refillLog = log.child({ part: 'jobs.token-refill' });
    const source = createTokenSource(cfg, { log: refillLog, isKnown: (id) => this.tokens.knows(id), simulated: this.line.simulatedTokenSource });
    this.tokenRefill = source
      ? new TokenRefillJob(this.tokens, source, refillLog, { targetLevel: cfg.tokens.targetLevel, lowWater: cfg.tokens.lowWater, intervalMs: cfg.tokens.refillIntervalMs })
      : null;
    this.bus.on('alarm.raised', (a) => {
      this.alarms.set(a.alarmId, { severity: a.severity, message: a.message, slot: a.slot, since: Date.now() });
      log.warn({ part: 'station.alarms', alarmId: a.alarmId, slot: a.slot }, a.message);
    });
    this.bus.on('alarm.cleared', (a) => {
      if (this.alarms.delete(a.alarmId)) log.info({ part: 'station.alarms', alarmId: a.alarmId }, 'alarm cleared');
    });
  }

  /** Resolves once the station is serving and every slot is running. */
  async start(): Promise<{ url: string }> {
    const { interruptedRuns } = this.store.open();
    this.store.registerSequence(this.cfg.compiledSequence);
    this.tokenVault.start();
    this.tokens.start();
    this.tokenRefill?.start();
    const metrics = createMetrics({ bus: this.bus, store: this.store, line: this.line, stationId: this.cfg.station.id });
    this.http = new HttpServer({
      store: this.store,
      line: this.line,
      tokens: this.tokens,
      alarms: this.alarms,
      metrics,
      log: this.log.child({ part: 'station.http' }),
      stationId: this.cfg.station.id,
      stationName: this.cfg.station.name ?? null,
      mode: this.cfg.station.mode,
      version: VERSION,
      startedAt: this.startedAt,
      uplinkConfigured: Boolean(this.cfg.uplink.url && this.cfg.uplink.apiKey),
      uiDir: UI_DIR,
    });
    await this.http.listen(this.cfg.server.host, this.cfg.server.port);
    await this.line.start();
    const addr = this.http.address;
    const host = addr?.host === '0.0.0.0' || addr?.host === '::' ? 'localhost' : addr?.host;
    const url = `http://${host?.includes(':') ? `[${host}]` : host}:${addr?.port}/`;
    this.log.info(
      { url, slots: this.cfg.slots.length, sequence: this.cfg.compiledSequence.def.name, sequenceHash: this.cfg.compiledSequence.hash.slice(0, 12), interruptedRuns, mode: this.cfg.station.mode },
      'station ready',
    );
    return { url };
  }

  /** Stops taking DUTs, interrupts runs in flight, closes ports, the server and the database. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.cfg.line.shutdownGraceMs;
      await bounded(this.line.stop(), grace + 2000, 'line', this.log);
      if (this.tokenRefill) await bounded(this.tokenRefill.stop(), 7000, 'token refill', this.log);
      if (this.http) await bounded(this.http.close(), 2000, 'http server', this.log);
      this.tokens.stop();
      this.tokenVault.stop();
      this.store.close();
      this.log.info('station stopped');
    })();
    return this.stopping;
  }
}

async function bounded(work: Promise<unknown>, ms: number, part: string, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    const result = await Promise.race([work.then(() => 'done' as const), timeout]);
    if (result === 'timeout') log.error({ part, ms }, 'stopping this part took too long; going on without it');
  } catch (err) {
    log.error({ err, part }, 'stopping this part failed; going on');
  } finally {
    clearTimeout(timer);
  }
}
