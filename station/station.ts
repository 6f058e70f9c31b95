// The station controller: builds every part in an order you can read top to bottom, starts them,
// and stops them in reverse, each stop bounded so one stuck part cannot hold the others.
import type { Logger } from 'pino';
import type { StationConfig } from './config/load.js';
import { StationBus } from './events.js';
import { Line } from './line/line.js';
import { PROJECT_ROOT, UI_DIR, VERSION } from './paths.js';
import path from 'node:path';
import { Credentials, unsetCredentialMessage } from './auth/credentials.js';
import { SessionStore } from './auth/sessions.js';
import { StationActions } from './server/actions.js';
import { LiveFeed } from './server/live.js';
import { capabilitiesFromConfig } from './server/sequence-check.js';
import { SequenceVersions } from './store/sequence-versions.js';
import { HttpServer } from './server/http.js';
import { createMetrics } from './server/metrics.js';
import { Store } from './store/store.js';
import { DiskBudgetJob } from '../jobs/disk-budget.js';
import { TokenRefillJob } from '../jobs/token-refill.js';
import { createUplinkSink } from '../jobs/uplink/index.js';
import { UplinkJob } from '../jobs/uplink/uplink.js';
import type { IngestServer } from '../drivers/cloud/ingest.js';
import { LabelDecoder } from '../drivers/vision/decoder.js';
import { LabelJob } from '../jobs/labels.js';
import { DeviceSecrets } from './store/device-secrets.js';
import { identityHandlers } from './identity/router.js';
import { ScanFields } from '../drivers/scanner/scan-fields.js';
import { TokenLedger } from './tokens/ledger.js';
import { createTokenSource } from './tokens/sources.js';
import { TokenVault, vaultOptionsFromConfig } from './tokens/vault.js';

export class Station {
  readonly bus: StationBus;
  readonly store: Store;
  readonly line: Line;
  readonly tokenVault: TokenVault;
  readonly tokens: TokenLedger;
  private readonly tokenRefill: TokenRefillJob | null;
  readonly uplink: UplinkJob;
  readonly disk: DiskBudgetJob;
  private readonly demoIngest: IngestServer | null;
  /** Label secrets (the mobile secret), sealed with the token key. */
  readonly secrets: DeviceSecrets;
  readonly labels: LabelJob;
  /** Decodes label images (zxing-wasm), loaded at start so a broken install fails then. */
  decoder: LabelDecoder | null = null;
  /** Settles once the parts that finish loading after "ready" (the label decoder's self-test) are
   *  up; rejects when one cannot start: main.ts stops the station then, within its first second. */
  fullyStarted: Promise<void> = Promise.resolve();
  /** Alarms raised and not cleared, for health and the dashboard. */
  readonly alarms = new Map<string, { severity: string; message: string; slot: number | null; since: number }>();
  private http: HttpServer | null = null;
  /** Dashboard logins (in memory: a restart logs everyone out). */
  readonly sessions = new SessionStore();
  readonly sequences: SequenceVersions;
  /** The dashboard's live state and deltas (station/server/live.ts). */
  readonly feed: LiveFeed;
  private readonly actions: StationActions;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;

  constructor(
    readonly cfg: StationConfig,
    private readonly log: Logger,
  ) {
    this.bus = new StationBus(log.child({ part: 'station.events' }));
    this.store = new Store(cfg.storage.dataDir, log.child({ part: 'station.store' }));
    const tokenLog = log.child({ part: 'station.tokens' });
    // Token alarms matter only where an LED emitter draws from the pool (a fixture brings its own).
    const blinkupInUse =
      cfg.compiledSequence.steps.some((s) => s.type === 'blinkup') &&
      cfg.slots.some((s) => s.emitter && (s.emitter.kind === 'serial-led' || s.emitter.kind === 'hid-led' || (s.emitter.kind === 'simulated' && s.emitter.model !== 'imp-fixture')));
    this.tokenVault = new TokenVault(vaultOptionsFromConfig(cfg, process.env, tokenLog));
    this.tokens = new TokenLedger(this.store, this.tokenVault, this.bus, tokenLog, { lowWater: cfg.tokens.lowWater, targetLevel: cfg.tokens.targetLevel, alarms: blinkupInUse });
    this.secrets = new DeviceSecrets(this.store, this.tokenVault);
    this.line = new Line(cfg, this.store, this.bus, log, this.tokens, (deviceId, runId, secrets) => this.secrets.put(deviceId, runId, secrets));
    this.labels = new LabelJob(cfg, this.store, this.bus, log.child({ part: 'jobs.labels' }));
    const refillLog = log.child({ part: 'jobs.token-refill' });
    const source = createTokenSource(cfg, { log: refillLog, isKnown: (id) => this.tokens.knows(id), simulated: this.line.simulatedTokenSource });
    this.tokenRefill = source
      ? new TokenRefillJob(this.tokens, source, refillLog, { targetLevel: cfg.tokens.targetLevel, lowWater: cfg.tokens.lowWater, intervalMs: cfg.tokens.refillIntervalMs })
      : null;
    const uplinkLog = log.child({ part: 'jobs.uplink' });
    const built = createUplinkSink(cfg, uplinkLog);
    if (built.missing) uplinkLog.warn({ missing: built.missing }, 'uplink not configured: records keep queuing in the outbox');
    this.demoIngest = built.demoIngest;
    this.uplink = new UplinkJob(this.store, built.sink, this.bus, uplinkLog, {
      stationId: cfg.station.id,
      batchMaxRecords: cfg.uplink.batchMaxRecords,
      batchMaxAgeMs: cfg.uplink.batchMaxAgeMs,
      concurrency: cfg.uplink.concurrency,
      backoffInitialMs: cfg.uplink.backoffInitialMs,
      backoffMaxMs: cfg.uplink.backoffMaxMs,
    });
    this.disk = new DiskBudgetJob(
      {
        dataDir: cfg.storage.dataDir,
        budgetBytes: cfg.storage.budgetMb === undefined ? null : cfg.storage.budgetMb * 1048576,
        minFreeBytes: cfg.storage.minFreeMb * 1048576,
        intervalMs: cfg.storage.checkIntervalMs,
        hold: (reason) => this.line.hold('disk', reason),
        release: () => this.line.release('disk'),
        reclaim: () => this.store.checkpoint(),
      },
      this.bus,
      log.child({ part: 'jobs.disk-budget' }),
    );
    this.sequences = new SequenceVersions(this.store, log.child({ part: 'station.sequences' }));
    this.feed = new LiveFeed({
      bus: this.bus,
      line: this.line,
      tokens: this.tokens,
      store: this.store,
      station: { id: cfg.station.id, name: cfg.station.name ?? null, mode: cfg.station.mode, version: VERSION },
      shiftStarts: cfg.line.shiftStarts,
      uplinkStatus: () => this.uplink.status(),
      log: log.child({ part: 'station.live' }),
    });
    this.actions = new StationActions({ line: this.line, feed: this.feed, bus: this.bus, log: log.child({ part: 'station.actions' }) });
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
    // The configuration's sequence, or the one last saved from the console (sequence-versions.ts).
    this.line.setSequence(this.sequences.reconcile(this.cfg.compiledSequence).active);
    this.feed.start();
    const credentials = Credentials.resolve({ mode: this.cfg.station.mode, env: process.env, auth: this.cfg.auth, dataDir: this.cfg.storage.dataDir });
    for (const role of credentials.unsetRoles) this.bus.emit('alarm.raised', { alarmId: `auth.${role}-unset`, severity: 'warning', message: unsetCredentialMessage(role), slot: null });
    if (credentials.credentialsFile) this.log.info({ part: 'station.auth', file: credentials.credentialsFile }, 'test mode: dashboard credentials generated and written to this file');
    // The label image decoder: its .wasm is checked now (a broken install refuses to start), then
    // compiled and self-tested in a worker while the rest starts (see `fullyStarted`).
    LabelDecoder.verifyInstall();
    const decoderLoading = LabelDecoder.load(this.log.child({ part: 'drivers.vision' }));
    this.fullyStarted = decoderLoading.then((d) => {
      this.decoder = d;
    });
    this.fullyStarted.catch(() => undefined); // the caller of start() watches it
    this.sessions.start();
    this.tokenVault.start();
    this.tokens.start();
    this.tokenRefill?.start();
    this.disk.start();
    if (this.demoIngest) {
      await this.demoIngest.start();
      const outage = this.cfg.simulation.ingest;
      if (outage && outage.outageEverySeconds > 0 && outage.outageSeconds > 0) {
        const ingestLog = this.log.child({ part: 'sim.ingest' });
        this.demoIngest.flap({ upMs: outage.outageEverySeconds * 1000, downMs: outage.outageSeconds * 1000 }, (up) =>
          ingestLog.info(up ? 'demo ingest back up' : `demo ingest down for ${outage.outageSeconds} s (a simulated outage)`),
        );
      }
    }
    this.uplink.start();
    await this.labels.start();
    const metrics = createMetrics({ bus: this.bus, store: this.store, line: this.line, stationId: this.cfg.station.id, uplink: this.uplink });
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
      uplink: this.uplink,
      disk: this.disk,
      uiDir: UI_DIR,
      vendorDirs: { '/vendor/uplot': path.join(PROJECT_ROOT, 'node_modules/uplot/dist') },
      bus: this.bus,
      sessions: this.sessions,
      credentials,
      feed: this.feed,
      actions: this.actions,
      versions: this.sequences,
      capabilities: capabilitiesFromConfig(this.cfg),
      allowedOrigins: this.cfg.server.allowedOrigins ?? [],
      extraRoutes: this.identityRoutes(decoderLoading),
    });
    await this.http.listen(this.cfg.server.host, this.cfg.server.port);
    await this.line.start();
    const addr = this.http.address;
    const host = addr?.host === '0.0.0.0' || addr?.host === '::' ? 'localhost' : addr?.host;
    const url = `http://${host?.includes(':') ? `[${host}]` : host}:${addr?.port}/`;
    this.log.info(
      { url, slots: this.cfg.slots.length, sequence: this.line.currentSequence.def.name, sequenceHash: this.line.currentSequence.hash.slice(0, 12), interruptedRuns, mode: this.cfg.station.mode },
      'station ready',
    );
    return { url };
  }

  /** Label images decoded (POST /api/scan/image) and labels reprinted: engineer routes. */
  private identityRoutes(loading: Promise<LabelDecoder>): NonNullable<ConstructorParameters<typeof HttpServer>[0]['extraRoutes']> {
    // A decoded unit label in the station's label format has its secret fields (the mobile
    // secret) masked: an uploaded photo must not turn into a way to read secrets off the API.
    const format = new ScanFields(this.cfg.labels.format);
    const masking = {
      decode: async (image: Uint8Array, opts?: Parameters<LabelDecoder['decode']>[1]) =>
        (await (await loading).decode(image, opts)).map((sym) => {
          const split = format.secretFields.size > 0 ? format.split(sym.text) : null;
          if (!split?.ok) return sym;
          return { ...sym, text: Object.entries(split.fields).map(([k, v]) => (format.secretFields.has(k) ? '•••' : v)).join(' '), masked: [...format.secretFields] };
        }),
    };
    const h = identityHandlers({ decoder: masking, labels: this.labels.reprinter(), log: this.log });
    return [
      { method: 'post', path: '/api/scan/image', access: 'engineer', handlers: h.scanImage },
      { method: 'post', path: '/api/labels/:deviceId/reprint', access: 'engineer', handlers: h.reprintLabel },
    ];
  }

  /** Stops taking DUTs, interrupts runs in flight, closes ports, the server and the database. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.cfg.line.shutdownGraceMs;
      await bounded(this.line.stop(), grace + 2000, 'line', this.log);
      if (this.tokenRefill) await bounded(this.tokenRefill.stop(), 7000, 'token refill', this.log);
      await bounded(this.uplink.stop(), 3000, 'uplink', this.log);
      this.disk.stop();
      await bounded(this.labels.stop(), 3000, 'labels', this.log);
      if (this.decoder) await bounded(this.decoder.close(), 2000, 'label decoder', this.log);
      if (this.demoIngest) await bounded(this.demoIngest.stop(), 2000, 'demo ingest', this.log);
      if (this.http) await bounded(this.http.close(), 2000, 'http server', this.log);
      this.feed.stop();
      this.sessions.stop();
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
