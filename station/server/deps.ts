// What the HTTP server and its routes are given by the composition root, the route shape, and
// the edge validation every handler shares. In a file of its own so the server, the route table
// and the engineer's routes all import it and none of them imports another back.
import type { RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { AlarmBoard } from '../alarms.js';
import type { Credentials } from '../auth/credentials.js';
import type { AlarmHistory } from '../store/alarm-history.js';
import type { Access, SessionStore } from '../auth/sessions.js';
import type { UserDirectory } from '../auth/users.js';
import type { PromptAnswerLog } from '../store/people.js';
import type { DiskStatus, RetentionStatus, StationBus, UplinkStatus } from '../events.js';
import type { CalibrationOverrideResult } from '../fixture/fixture.js';
import type { Line } from '../line/line.js';
import type { SequenceVersions } from '../store/sequence-versions.js';
import type { Store } from '../store/store.js';
import type { TokenLedger } from '../tokens/ledger.js';
import type { StationActions } from './actions.js';
import type { FaultInjector } from './faults.js';
import type { LiveFeed } from './live.js';
import type { StationCapabilities } from './sequence-check.js';
import type { FaultLatch } from '../fault-latch.js';

export interface RouteSpec {
  method: 'get' | 'post' | 'delete';
  path: string;
  access: Access;
  /** False only for the login itself: there is no session (and so no CSRF token) yet. */
  csrf?: boolean;
  handlers: RequestHandler[];
}

/** What the server needs of the bench instruments (station/fixture implements it). */
export interface InstrumentsControl {
  views(): object[];
  overrideCalibration(id: string, reason: string, byRole: string): CalibrationOverrideResult;
}

/** What the server needs of the uplink (jobs/uplink implements it). */
export interface UplinkControl {
  status(): UplinkStatus;
  /** Records a sink refused for good (not requeued; of one sink or all), newest first: the last
   *  refused first, those refused together by their outbox seq, highest first (station/store/outbox.ts). */
  deadLetters(limit: number, sinkId: string | null): object[];
  /** Sends dead letters again (to one sink, or to every sink holding them); returns how many records were requeued. */
  requeueDeadLetters(recordIds: string[], sinkId: string | null): number;
}

export interface HttpDeps {
  store: Store;
  line: Line;
  tokens: TokenLedger;
  bus: StationBus;
  /** The alarm board (station/alarms.ts): health lists its active alarms; engineers shelve them. */
  alarms: AlarmBoard;
  /** The alarm history in SQLite (station/store/alarm-history.ts); null before the store opens. */
  alarmHistory?: Pick<AlarmHistory, 'page'> | null;
  metrics: Registry;
  log: Logger;
  stationId: string;
  stationName: string | null;
  mode: string;
  version: string;
  /** When the station started, on the monotonic clock (lib/clock.ts): for uptime. */
  startedAt: number;
  /** The uplink (jobs/uplink): its status is health's `uplink`; engineers see and requeue dead letters. */
  uplink?: UplinkControl | null;
  /** The disk budget (jobs/disk-budget): its status is health's `disk`. */
  disk?: { status(): DiskStatus } | null;
  /** Retention (jobs/retention.ts): its status is health's `retention`. */
  retention?: { status(): RetentionStatus } | null;
  /** The andon (jobs/andon.ts): its light and each output's state are health's `andon`. */
  andon?: { status(): object } | null;
  /** Simulated faults on demand; null on a station with no simulated slot. */
  faults?: FaultInjector | null;
  /** Faults of the machine (station/fault-latch.ts): health reports them; errors of the store met by a route go there. */
  latch?: Pick<FaultLatch, 'status' | 'report'> | null;
  /** The bench instruments (station/fixture): their state in health, and calibration overrides. */
  fixture?: InstrumentsControl | null;
  uiDir: string;
  /** Third-party files the dashboard loads, by URL prefix: { '/vendor/uplot': '<dir>' }. */
  vendorDirs: Record<string, string>;
  sessions: SessionStore;
  credentials: Credentials;
  /** The user accounts (station/auth/users.ts); null: only the built-in logins (a test's station). */
  users?: UserDirectory | null;
  /** Who answered each prompt (station/store/people.ts): a run's detail lists them. */
  promptAnswers?: Pick<PromptAnswerLog, 'ofRun'> | null;
  /** server.lineScreen: /line and its socket namespace answer (default true). */
  lineScreen?: boolean;
  feed: LiveFeed;
  actions: StationActions;
  versions: SequenceVersions;
  capabilities: StationCapabilities;
  allowedOrigins: readonly string[];
  /** server.allowedHosts (null: the default names, station/server/hosts.ts). */
  allowedHosts?: readonly string[] | null;
  /** server.headersTimeoutMs and server.requestTimeoutMs. */
  timeouts?: { headersMs: number; requestMs: number };
  /** Routes other parts bring (the label routes of station/identity, say), each with its access:
   *  they join the route table and its guard like every other route. */
  extraRoutes?: RouteSpec[];
}

/** Parses `value` or answers 400 with every problem; returns null when it answered. */
export function parseOr400<T>(schema: z.ZodType<T>, value: unknown, res: Response, what: 'query' | 'body'): T | null {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  res.status(400).json({ error: `bad ${what}`, problems: parsed.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`) });
  return null;
}
