// The composition root: builds every part of the station from the configuration, in an order you
// can read top to bottom, and lists them as parts of one lifecycle (lib/lifecycle.ts): they start
// in that order and stop in the reverse, each stop bounded by its own cap. Nothing is opened,
// bound or read here: constructors assign, start() acts.
//
// The simulated world (station/simulation/) is built here too and handed to the drivers as openers
// (station/hardware.ts) for the config's "simulated" entries; no other part knows of it.
import path from 'node:path';
import type { Logger } from 'pino';
import { monotonicMs } from '../lib/clock.js';
import { Lifecycle } from '../lib/lifecycle.js';
import { LabelDecoder } from '../drivers/vision/decoder.js';
import { ScanFields } from '../drivers/scanner/scan-fields.js';
import { DiskBudgetJob } from '../jobs/disk-budget.js';
import { DAY_MS, RetentionJob } from '../jobs/retention.js';
import { LabelPrinting } from '../jobs/labels.js';
import { AndonJob } from '../jobs/andon.js';
import { lampDriver } from '../drivers/andon/index.js';
import { TokenRefillJob } from '../jobs/token-refill.js';
import { createUplinkSinks } from '../jobs/uplink/index.js';
import { MqttLivePublisher, stationMetrics } from '../jobs/uplink/mqtt-live.js';
import { SparkplugNode } from '../jobs/uplink/sparkplug-node.js';
import { UplinkJob } from '../jobs/uplink/uplink.js';
import { AlarmBoard } from './alarms.js';
import { AlarmHistory } from './store/alarm-history.js';
import { UplinkWatch } from './uplink-watch.js';
import { Credentials, unsetCredentialMessage } from './auth/credentials.js';
import { ClockWatch, newestRecordAt } from './clock-watch.js';
import { FaultLatch } from './fault-latch.js';
import { SessionStore } from './auth/sessions.js';
import { UserDirectory } from './auth/users.js';
import { PromptAnswerLog, SessionTable, UserTable } from './store/people.js';
import type { StationConfig } from './config/load.js';
import { StationBus } from './events.js';
import { buildScanners, buildSlotHardware } from './hardware.js';
import { maskingDecoder } from './identity/masking.js';
import { identityHandlers } from './identity/router.js';
import { Line } from './line/line.js';
import { PROJECT_ROOT, UI_DIR, VERSION } from './paths.js';
import { StationActions } from './server/actions.js';
import type { RouteSpec } from './server/deps.js';
import { HttpServer } from './server/http.js';
import { LiveFeed } from './server/live.js';
import { createMetrics } from './server/metrics.js';
import { capabilitiesFromConfig } from './server/sequence-check.js';
import { worldFaults } from './simulation/faults.js';
import { simulatedOperatorPart } from './simulation/operator.js';
import { SimulatedWorld } from './simulation/world.js';
import { DeviceSecrets } from './identity/device-secrets.js';
import { Fixture } from './fixture/fixture.js';
import { instrumentsOf } from './sequence/sequence.js';
import { SequenceVersions } from './store/sequence-versions.js';
import { Store } from './store/store.js';
import { TokenLedger } from './tokens/ledger.js';
import { createTokenSource } from './tokens/sources.js';
import { TokenVault, vaultOptionsFromConfig } from './tokens/vault.js';
import { drawsFromTokenPool } from '../drivers/emitter/index.js';
import { MesClient } from '../drivers/mes/client.js';
import type { MesRouting } from './sequence/step-kind.js';
import type { RunView } from './records/openhtf.js';
import { mesAnswerOfRun } from './sequence/steps/interlock.js';

/** The device secret a claim code is stored under (station/identity/device-secrets.ts). */
const CLAIM_CODE_FIELD = 'claimCode';

export class Station {
  readonly bus: StationBus;
  readonly store: Store;
  readonly alarms: AlarmBoard;
  readonly line: Line;
  /** The bench instruments and each slot's power and route. */
  readonly fixture: Fixture;
  readonly tokens: TokenLedger;
  readonly uplink: UplinkJob;
  /** The alarm history and shelves in SQLite, once the store is open. */
  alarmHistory: AlarmHistory | null = null;
  /** The live topics of each MQTT sink (state, slots, alarms, metrics). */
  readonly mqttLive: MqttLivePublisher[];
  /** The Sparkplug B edge node of each MQTT sink with `"sparkplug": true`. */
  readonly sparkplug: SparkplugNode[];
  readonly disk: DiskBudgetJob;
  readonly retention: RetentionJob;
  readonly labels: LabelPrinting;
  /** The stack light and buzzer (jobs/andon.ts); null without an `andon` section. */
  readonly andon: AndonJob | null;
  readonly feed: LiveFeed;
  /** Fails the station closed on a fault of the machine (station/fault-latch.ts); main.ts hands it uncaught errors. */
  readonly faults: FaultLatch;
  /** Dashboard logins (kept in SQLite once the store is open: a restart logs nobody out). */
  readonly sessions = new SessionStore();
  /** The user accounts, once the store is open. */
  users: UserDirectory | null = null;
  /** Who answered each prompt, once the store is open. */
  promptAnswers: PromptAnswerLog | null = null;
  /** The factory around a simulated station (nests, emitters, scanners, printer, cloud). */
  readonly world: SimulatedWorld;
  /** Settles once the parts that finish loading after "ready" (the label decoder's self-test) are
   *  up; rejects when one cannot start: main.ts stops the station then, within its first second. */
  fullyStarted: Promise<void> = Promise.resolve();
  private readonly lifecycle: Lifecycle;
  private http: HttpServer | null = null;
  private url = '';

  constructor(
    readonly cfg: StationConfig,
    private readonly log: Logger,
  ) {
    const startedAt = monotonicMs();
    this.bus = new StationBus(log.child({ part: 'station.events' }));
    this.alarms = new AlarmBoard({ onDelayMs: cfg.alarms.onDelayMs });
    this.world = new SimulatedWorld(cfg, log.child({ part: 'sim' }));
    this.store = new Store(cfg.storage.dataDir, log.child({ part: 'station.store' }));
    const sequences = new SequenceVersions(this.store, log.child({ part: 'station.sequences' }));

    // Factory tokens: the encrypted pool and its ledger. Token alarms matter only where an LED
    // emitter draws from the pool (an Imp fixture brings its own tokens).
    const tokenLog = log.child({ part: 'station.tokens' });
    const blinkupInUse = cfg.compiledSequence.steps.some((s) => s.type === 'blinkup') && cfg.slots.some((s) => s.emitter && drawsFromTokenPool(s.emitter));
    const vault = new TokenVault(vaultOptionsFromConfig(cfg, process.env, tokenLog));
    this.tokens = new TokenLedger(this.store, vault, this.bus, tokenLog, { lowWater: cfg.tokens.lowWater, targetLevel: cfg.tokens.targetLevel, alarms: blinkupInUse });
    const refillLog = log.child({ part: 'jobs.token-refill' });
    const source = createTokenSource(cfg, { log: refillLog, isKnown: (id) => this.tokens.knows(id), simulated: cfg.tokens.source === 'simulated' ? this.world.tokenSource() : null });
    const tokenRefill = source
      ? new TokenRefillJob(this.tokens, source, refillLog, { targetLevel: cfg.tokens.targetLevel, lowWater: cfg.tokens.lowWater, intervalMs: cfg.tokens.refillIntervalMs })
      : null;
    const secrets = new DeviceSecrets(this.store, vault);

    // The plant's MES, which the interlock step asks (docs/mes.md); its outage is an alarm.
    const mes = cfg.mes ? this.mesRouting(cfg.mes, log.child({ part: 'drivers.mes' })) : null;

    // The line, its drivers and its fixture (DUT power, bench instruments).
    const slotHardware = buildSlotHardware(cfg, this.world, this.bus, log);
    this.fixture = new Fixture({
      instruments: cfg.instruments,
      slots: cfg.slots,
      consoles: slotHardware.map((h) => h.console),
      mode: cfg.station.mode,
      bus: this.bus,
      store: this.store,
      log: log.child({ part: 'station.fixture' }),
      simulation: this.world.bench ?? undefined,
      busy: (i) => this.line.busy(i),
      sequenceInstruments: () => instrumentsOf(this.line.currentSequence.def),
      refusalMayHaveCleared: () => this.line.retryRefused(),
    });
    this.line = new Line({
      cfg,
      store: this.store,
      bus: this.bus,
      log,
      tokens: this.tokens,
      storeSecrets: (deviceId, runId, s) => secrets.put(deviceId, runId, s),
      slots: slotHardware,
      scanners: buildScanners(cfg, this.world, this.bus, log),
      fixture: this.fixture,
      mes,
    });

    // A failed disk under the store (or an error nothing caught) stops the line from taking DUTs.
    this.faults = new FaultLatch({ bus: this.bus, log: log.child({ part: 'station.faults' }), hold: (key, reason) => this.line.hold(key, reason), dataDir: cfg.storage.dataDir });
    this.faults.watchStore(this.store.faults);
    const reportFault = this.faults.report;

    // Jobs: labels after blessing, the uplink, the disk budget.
    const labelsCfg = cfg.labels.output;
    this.labels = new LabelPrinting(
      cfg,
      this.store,
      this.bus,
      log.child({ part: 'jobs.labels' }),
      () => (!labelsCfg ? null : labelsCfg.kind === 'simulated' ? this.world.printerOutput(labelsCfg.stock) : labelsCfg),
      (deviceId) => secrets.reveal(deviceId, CLAIM_CODE_FIELD),
    );
    const uplinkLog = log.child({ part: 'jobs.uplink' });
    // Claim codes from the cloud (the particle sink): sealed like the mobile secret, then the box's claim label.
    const claimCodes = {
      get: (deviceId: string) => secrets.reveal(deviceId, CLAIM_CODE_FIELD),
      put: (deviceId: string, runId: string, code: string) => {
        secrets.put(deviceId, runId, { [CLAIM_CODE_FIELD]: code });
        this.labels.printClaim(deviceId, runId, code);
      },
    };
    // The mes, openhtf and tofupilot sinks send a record's run as GET /api/runs/:id shows it.
    const runs = (runId: string): RunView | null => {
      const run = this.store.getRun(runId) as RunView | null;
      return run ? { ...run, mes: mesAnswerOfRun(run.steps) } : null;
    };
    const built = createUplinkSinks(cfg, { log: uplinkLog, version: VERSION, fallback: this.world.demoIngest(), claimCodes, runs });
    if (built.missing) uplinkLog.warn({ missing: built.missing }, 'uplink not configured: records keep queuing in the outbox');
    this.uplink = new UplinkJob(this.store, built.sinks, this.bus, uplinkLog, {
      stationId: cfg.station.id,
      batchMaxRecords: cfg.uplink.batchMaxRecords,
      batchMaxAgeMs: cfg.uplink.batchMaxAgeMs,
      concurrency: cfg.uplink.concurrency,
      backoffInitialMs: cfg.uplink.backoffInitialMs,
      backoffMaxMs: cfg.uplink.backoffMaxMs,
      reportFault,
    });
    // Each MQTT sink's broker connection also carries the station's live state (the event bus).
    this.mqttLive = built.brokers.map(
      (b) =>
        new MqttLivePublisher(
          b.connection,
          b.topics,
          {
            bus: this.bus,
            stationId: cfg.station.id,
            version: VERSION,
            slots: () => this.line.snapshots(),
            sequence: () => ({ name: this.line.currentSequence.def.name, hash: this.line.currentSequence.hash }),
            alarms: () => this.alarms.active(),
            metrics: () => this.mqttMetrics(),
          },
          uplinkLog.child({ sink: b.sinkId, part: 'jobs.uplink.mqtt-live' }),
        ),
    );
    this.sparkplug = built.brokers.flatMap((b) =>
      b.sparkplug
        ? [
            new SparkplugNode(
              b.sparkplug,
              {
                bus: this.bus,
                version: VERSION,
                slots: () => this.line.snapshots(),
                sequence: () => ({ name: this.line.currentSequence.def.name, hash: this.line.currentSequence.hash }),
                counters: () => this.feed.counters(),
                uplink: () => this.uplink.status(),
                alarms: () => this.alarms.active(),
              },
              uplinkLog.child({ sink: b.sinkId, part: 'jobs.uplink.sparkplug' }),
            ),
          ]
        : [],
    );
    // Retention: old, acknowledged history deleted (and archived), hourly and when the disk budget
    // is reached; without storage.retention it only vacuums for the disk budget.
    const retentionCfg = cfg.storage.retention;
    this.retention = new RetentionJob(this.store, this.bus, log.child({ part: 'jobs.retention' }), {
      retentionMs: retentionCfg ? retentionCfg.days * DAY_MS : null,
      days: retentionCfg?.days ?? null,
      archiveDir: retentionCfg?.archive ?? null,
      intervalMs: (retentionCfg?.intervalMinutes ?? 60) * 60_000,
      stationId: cfg.station.id,
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
        reportFault,
        relieve: () => this.retention.relieve(),
      },
      this.bus,
      log.child({ part: 'jobs.disk-budget' }),
    );

    // The stack light: green running, amber waiting for a person, red stopped (docs/andon.md).
    this.andon = cfg.andon
      ? new AndonJob({
          bus: this.bus,
          alarms: this.alarms,
          slots: () => this.line.snapshots(),
          prompts: () => this.line.prompts.list(),
          outputs: cfg.andon.outputs.map((o) => ({
            id: o.id,
            driver: lampDriver(o),
            reconnect: { initialMs: o.reconnectInitialMs, maxMs: o.reconnectMaxMs },
            refreshMs: 'refreshMs' in o ? o.refreshMs : 0,
          })),
          blinkMs: cfg.andon.blinkMs,
          amberBeep: cfg.andon.amberBeep,
          log: log.child({ part: 'jobs.andon' }),
        })
      : null;

    // What people see and do: the live feed, actions, the HTTP server.
    this.feed = new LiveFeed({
      bus: this.bus,
      line: this.line,
      tokens: this.tokens,
      store: this.store,
      alarms: this.alarms,
      station: { id: cfg.station.id, name: cfg.station.name ?? null, mode: cfg.station.mode, version: VERSION, slotBarcodePattern: cfg.labels.slotBarcodePattern ?? '^SLOT:(\\d{1,2})$' },
      shiftStarts: cfg.line.shiftStarts,
      uplinkStatus: () => this.uplink.status(),
      log: log.child({ part: 'station.live' }),
      reportFault,
    });
    const faults = cfg.slots.some((_, i) => this.world.slot(i)) ? worldFaults(this.world) : null;
    const actions = new StationActions({ line: this.line, alarms: this.alarms, faults, bus: this.bus, log: log.child({ part: 'station.actions' }) });
    const clockWatch = new ClockWatch({ bus: this.bus, log: log.child({ part: 'station.clock' }) });
    const uplinkWatch = new UplinkWatch({
      bus: this.bus,
      status: () => this.uplink.status(),
      alarmAfterMs: cfg.uplink.alarmAfterMs,
      alarmBacklog: cfg.uplink.alarmBacklog,
      log: log.child({ part: 'station.uplink-watch' }),
    });
    let credentials: Credentials | null = null;
    let decoder: LabelDecoder | null = null;
    let decoderLoading: Promise<LabelDecoder> | null = null;

    this.lifecycle = new Lifecycle(log.child({ part: 'station.lifecycle' }))
      .add({
        name: 'alarms',
        stopCapMs: 100,
        start: () => {
          this.alarms.attach(this.bus);
          this.bus.on('alarm.raised', (a) => log.warn({ part: 'station.alarms', alarmId: a.alarmId, slot: a.slot }, a.message));
          this.bus.on('alarm.cleared', (a) => log.info({ part: 'station.alarms', alarmId: a.alarmId }, 'alarm cleared'));
        },
        stop: () => this.alarms.detach(),
      })
      .add({
        name: 'store',
        stopCapMs: 2000,
        start: () => {
          const { interruptedRuns } = this.store.open();
          if (interruptedRuns > 0) log.info({ interruptedRuns }, 'runs left open by an earlier stop were marked interrupted');
          this.store.registerSequence(cfg.compiledSequence);
          // The configuration's sequence, or the one last saved from the console (sequence-versions.ts).
          this.line.setSequence(sequences.reconcile(cfg.compiledSequence).active);
          // The alarm history and the shelves engineers set (migration 7).
          this.alarmHistory = new AlarmHistory(this.store);
          this.alarms.useRecorder(this.alarmHistory);
        },
        stop: () => this.store.close(),
      })
      .add({
        // The wall clock against the newest record (a dead RTC battery raises clock.behind).
        name: 'clock watch',
        stopCapMs: 100,
        start: () => clockWatch.start(newestRecordAt(this.store.database)),
        stop: () => clockWatch.stop(),
      })
      .add({ name: 'live feed', stopCapMs: 100, start: () => this.feed.start(), stop: () => this.feed.stop() })
      .add({
        name: 'auth',
        stopCapMs: 100,
        start: () => {
          credentials = Credentials.resolve({ mode: cfg.station.mode, env: process.env, auth: cfg.auth, dataDir: cfg.storage.dataDir });
          for (const role of credentials.unsetRoles) this.bus.emit('alarm.raised', { alarmId: `auth.${role}-unset`, severity: 'warning', message: unsetCredentialMessage(role), slot: null });
          if (credentials.credentialsFile)
            log.info(
              { part: 'station.auth', file: credentials.credentialsFile, generated: (['engineer', 'operator'] as const).filter((r) => credentials?.sources[r] === 'generated') },
              'test mode: dashboard credentials written to this file',
            );
          // Logins per person and sessions that outlast a restart (migration 10).
          this.users = new UserDirectory(new UserTable(this.store), credentials);
          const restored = this.sessions.persistTo(new SessionTable(this.store));
          if (restored > 0) log.info({ part: 'station.auth', sessions: restored }, 'login sessions kept from before the restart');
          const answers = new PromptAnswerLog(this.store);
          this.line.prompts.useRecorder((e) => answers.record(e));
          this.promptAnswers = answers;
          this.sessions.start();
        },
        stop: () => this.sessions.stop(),
      })
      .add({
        // The label image decoder: its .wasm is checked now (a broken install refuses to start),
        // then compiled and self-tested in a worker while the rest starts (see `fullyStarted`).
        name: 'label decoder',
        stopCapMs: 2000,
        start: () => {
          LabelDecoder.verifyInstall();
          decoderLoading = LabelDecoder.load(log.child({ part: 'drivers.vision' }));
          this.fullyStarted = decoderLoading.then((d) => {
            decoder = d;
          });
          this.fullyStarted.catch(() => undefined); // the caller of start() watches it
        },
        stop: async () => {
          await decoder?.close();
        },
      })
      .add({ name: 'token vault', stopCapMs: 100, start: () => vault.start(), stop: () => vault.stop() })
      .add({ name: 'token ledger', stopCapMs: 100, start: () => this.tokens.start(), stop: () => this.tokens.stop() })
      .add({ name: 'jobs.token-refill', stopCapMs: 7000, start: () => tokenRefill?.start(), stop: () => tokenRefill?.stop() })
      .add({ name: 'jobs.disk-budget', stopCapMs: 100, start: () => this.disk.start(), stop: () => this.disk.stop() })
      .add(this.world.servicesPart())
      .add(this.fixture.part())
      // Labels before the uplink: a claim code the uplink stores prints its claim label at once.
      .add({ name: 'jobs.labels', stopCapMs: 3000, start: () => this.labels.start(), stop: () => this.labels.stop() })
      .add({ name: 'jobs.uplink', stopCapMs: 3000, start: () => this.uplink.start(), stop: () => this.uplink.stop() })
      .add({ name: 'uplink watch', stopCapMs: 100, start: () => uplinkWatch.start(), stop: () => uplinkWatch.stop() })
      // After the uplink (whose MQTT sinks open the connections): stopped before it, so `offline` goes out first.
      .add({
        name: 'jobs.mqtt-live',
        stopCapMs: 2000,
        start: () => {
          this.mqttLive.forEach((p) => p.start());
          this.sparkplug.forEach((n) => n.start());
        },
        stop: async () => {
          await Promise.all([...this.mqttLive.map((p) => p.stop()), ...this.sparkplug.map((n) => n.stop())]);
        },
      })
      .add({ name: 'jobs.retention', stopCapMs: 3000, start: () => this.retention.start(), stop: () => this.retention.stop() })
      // Stopped after the line: the light goes dark last.
      .add({ name: 'jobs.andon', stopCapMs: 1500, start: () => this.andon?.start(), stop: () => this.andon?.stop() })
      .add({
        name: 'http',
        stopCapMs: 2000,
        start: async () => {
          this.http = new HttpServer({
            store: this.store,
            line: this.line,
            tokens: this.tokens,
            alarms: this.alarms,
            metrics: createMetrics({ bus: this.bus, store: this.store, line: this.line, tokens: this.tokens, stationId: cfg.station.id, uplink: this.uplink }),
            log: log.child({ part: 'station.http' }),
            stationId: cfg.station.id,
            stationName: cfg.station.name ?? null,
            mode: cfg.station.mode,
            version: VERSION,
            startedAt,
            uplink: this.uplink,
            alarmHistory: this.alarmHistory,
            disk: this.disk,
            retention: this.retention,
            andon: this.andon,
            faults,
            latch: this.faults,
            fixture: this.fixture,
            uiDir: UI_DIR,
            vendorDirs: { '/vendor/uplot': path.join(PROJECT_ROOT, 'node_modules/uplot/dist'), '/vendor/bwip-js': path.join(PROJECT_ROOT, 'node_modules/bwip-js/dist') },
            bus: this.bus,
            sessions: this.sessions,
            credentials: credentials as Credentials,
            users: this.users,
            promptAnswers: this.promptAnswers,
            lineScreen: cfg.server.lineScreen,
            feed: this.feed,
            actions,
            versions: sequences,
            capabilities: capabilitiesFromConfig(cfg),
            allowedOrigins: cfg.server.allowedOrigins ?? [],
            allowedHosts: cfg.server.allowedHosts ?? null,
            timeouts: { headersMs: cfg.server.headersTimeoutMs, requestMs: cfg.server.requestTimeoutMs },
            extraRoutes: this.identityRoutes(() => decoderLoading as Promise<LabelDecoder>),
          });
          await this.http.listen(cfg.server.host, cfg.server.port);
          const addr = this.http.address;
          const host = addr?.host === '0.0.0.0' || addr?.host === '::' ? 'localhost' : addr?.host;
          this.url = `http://${host?.includes(':') ? `[${host}]` : host}:${addr?.port}/`;
        },
        stop: () => this.http?.close(),
      })
      .add({ name: 'line', stopCapMs: cfg.line.shutdownGraceMs + 2000, start: () => this.line.start(), stop: () => this.line.stop() })
      .add(
        simulatedOperatorPart({
          cfg,
          world: this.world,
          bus: this.bus,
          prompts: this.line.prompts,
          requestStart: (i) => this.line.slot(i)?.requestStart() ?? 'no such slot',
          busy: (i) => this.line.busy(i),
          log: log.child({ part: 'sim.operator' }),
        }),
      )
      .add(this.world.unitsPart());
  }

  /** The MES client the interlock step asks; an outage raises the `mes.unreachable` alarm until it answers again. */
  private mesRouting(mes: NonNullable<StationConfig['mes']>, log: Logger): MesRouting {
    const client = new MesClient({
      url: mes.url,
      apiKey: mes.apiKey,
      stationId: this.cfg.station.id,
      operation: mes.operation,
      timeoutMs: mes.timeoutMs,
      retries: mes.retries,
      log,
      onOutage: (outage) => {
        if (!outage) return this.bus.emit('alarm.cleared', { alarmId: 'mes.unreachable' });
        const effect = mes.offlinePolicy === 'block' ? 'units fail untested ("MES unreachable")' : 'units are tested and flagged for review';
        this.bus.emit('alarm.raised', {
          alarmId: 'mes.unreachable',
          severity: mes.offlinePolicy === 'block' ? 'critical' : 'warning',
          message: `MES unreachable (${outage.cause}): ${effect}`,
          slot: null,
        });
      },
    });
    return { operation: mes.operation, offlinePolicy: mes.offlinePolicy, route: (deviceId, opts) => client.route(deviceId, opts) };
  }

  /** The parts in start order (they stop in the reverse). */
  get parts(): string[] {
    return this.lifecycle.names;
  }

  /** The longest a stop can take: every part's cap. main.ts gives up after this (and a margin). */
  get stopDeadlineMs(): number {
    return this.lifecycle.stopDeadlineMs;
  }

  /** Resolves once the station is serving and every slot is running. */
  async start(): Promise<{ url: string }> {
    for (const warning of this.cfg.warnings) this.log.warn({ part: 'station.config' }, warning);
    await this.lifecycle.start();
    this.log.info(
      { url: this.url, slots: this.cfg.slots.length, sequence: this.line.currentSequence.def.name, sequenceHash: this.line.currentSequence.hash.slice(0, 12), mode: this.cfg.station.mode },
      'station ready',
    );
    return { url: this.url };
  }

  /** Stops taking DUTs, interrupts runs in flight, closes ports, the server and the database. */
  async stop(): Promise<void> {
    await this.lifecycle.stop();
    this.log.info('station stopped');
  }

  /** The figures of the MQTT `metrics` topic: the shift's counts and yield, the backlog, the pool. */
  private mqttMetrics(): object {
    let tokens: number | null = null;
    try {
      tokens = this.tokens.level().available;
    } catch {
      // the ledger is not started yet
    }
    return stationMetrics({ shift: this.feed.counters(), uplink: this.uplink.status(), tokensAvailable: tokens, slots: this.line.snapshots() });
  }

  /** The engineer routes this station adds to the route table: label images decoded
   *  (POST /api/scan/image) and labels reprinted. Public for the role tests. */
  identityRoutes(loading: () => Promise<LabelDecoder>): RouteSpec[] {
    const h = identityHandlers({
      decoder: maskingDecoder(new ScanFields(this.cfg.labels.format), loading, this.cfg.labels.claim?.urlTemplate ?? null),
      labels: this.labels.reprinter(),
      log: this.log,
    });
    return [
      { method: 'post', path: '/api/scan/image', access: 'engineer', handlers: h.scanImage },
      { method: 'post', path: '/api/labels/:deviceId/reprint', access: 'engineer', handlers: h.reprintLabel },
    ];
  }
}
