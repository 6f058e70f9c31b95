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

export class Station {
  readonly bus: EventBus;
  readonly store: Store;
  readonly line: Line;
  private http: HttpServer | null = null;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;

  constructor(
    readonly cfg: StationConfig,
    private readonly log: Logger,
  ) {
    this.bus = new EventBus(log.child({ part: 'station.events' }));
    this.store = new Store(cfg.storage.dataDir, log.child({ part: 'station.store' }));
    this.line = new Line(cfg, this.store, this.bus, log);
  }

  /** Resolves once the station is serving and every slot is running. */
  async start(): Promise<{ url: string }> {
    const { interruptedRuns } = this.store.open();
    this.store.registerSequence(this.cfg.compiledSequence);
    const metrics = createMetrics({ bus: this.bus, store: this.store, line: this.line, stationId: this.cfg.station.id });
    this.http = new HttpServer({
      store: this.store,
      line: this.line,
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
      if (this.http) await bounded(this.http.close(), 2000, 'http server', this.log);
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
