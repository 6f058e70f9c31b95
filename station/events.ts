// The station's backbone: the typed events the line emits and the server, the uplink and the UI
// listen to, on the generic bus of lib/event-bus.ts.
import { EventBus } from '../lib/event-bus.js';
import type { StepStatus, Verdict } from './model.js';

export type SlotStateName =
  | 'offline' // the DUT console is not connected
  | 'idle' // waiting for a DUT
  | 'identifying'
  | 'blinkup' // factory BlinkUp: token over light, waiting for enrollment
  | 'testing'
  | 'blessing'
  | 'pass'
  | 'fail'
  | 'interrupted'
  | 'refused'; // the station refuses new DUTs (stopping, or an alarm)

export interface SlotSnapshot {
  slot: number;
  name: string;
  state: SlotStateName;
  connected: boolean;
  runId: string | null;
  deviceId: string | null;
  /** The step in progress; `words`: its operatorText (what operators are shown instead of the name), or null;
   *  `i18n.words`: the same by language tag, when the sequence gives it in several. */
  step: { index: number; count: number; name: string; words?: string | null; i18n?: { words?: Record<string, string> } } | null;
  reason: string | null;
  /** After a failed unit: the failing step's words for operators and the next action (its onFail;
   *  reject bin when the step names none). Null otherwise. */
  guidance?: {
    step: string;
    words: string | null;
    action: 'reject-bin' | 'retest' | 'call-engineer';
    text: string | null;
    /** `words` and `text` by language tag, when the sequence gives them in several. */
    i18n?: { words?: Record<string, string>; text?: Record<string, string> };
  } | null;
  /** What the slot is doing now, in words (BlinkUp progress, say); null when the state says it all. */
  detail: string | null;
  since: number;
  /** The slot's last PASS or FAIL, kept (so every screen, and one reloaded, still shows it) until
   *  the next run starts on the slot or an operator clears it; null when there is none. */
  lastVerdict?: KeptVerdict | null;
}

/** A slot's kept verdict: `finishedAt` in ms since the epoch (as `since`); `guidance`, `reason` and
 *  `step` as the slot showed them when the run ended. */
export interface KeptVerdict {
  runId: string;
  verdict: 'pass' | 'fail';
  deviceId: string | null;
  guidance: SlotSnapshot['guidance'];
  reason: string | null;
  step: SlotSnapshot['step'];
  finishedAt: number;
}

/** The uplink as the dashboard, health and metrics show it (jobs/uplink): the station's whole
 *  queue (records waiting for at least one sink) and each sink's own state. */
export interface UplinkStatus {
  /** The worst sink's: online when every sink is, offline when every sink is, degraded between. */
  state: UplinkState;
  /** The sinks' kinds ("http", "file", "http+mqtt"); null with none. */
  sink: string | null;
  queued: number;
  oldestQueuedAgeSeconds: number | null;
  /** Records some sink refused for good (each counted once). */
  deadLetters: number;
  /** The least recent of the sinks' last successes (null until every sink has had one). */
  lastSuccessAt: string | null;
  /** The longest wait before a sink's next attempt while backing off; null when none backs off. */
  backoffMs: number | null;
  /** The last failure in words (never a key or a body), prefixed with the sink's id when there are several. */
  lastError: string | null;
  sinks: SinkStatus[];
}

export type UplinkState = 'online' | 'offline' | 'degraded' | 'not configured';

/** One sink of the uplink (no secret in any field). */
export interface SinkStatus {
  id: string;
  kind: string;
  /** Where it delivers, in words: the ingest's URL, the folder, the broker's URL. */
  target: string;
  state: Exclude<UplinkState, 'not configured'>;
  queued: number;
  oldestQueuedAgeSeconds: number | null;
  deadLetters: number;
  lastSuccessAt: string | null;
  backoffMs: number | null;
  lastError: string | null;
  /** Records this sink acknowledged since the station started. */
  delivered: number;
  /** An MQTT sink with `"sparkplug": true`: its Sparkplug B edge node's own connection. */
  sparkplug?: SparkplugStatus;
}

/** A Sparkplug B edge node's connection as health shows it (jobs/uplink/sparkplug-node.ts). Never a password. */
export interface SparkplugStatus {
  connected: boolean;
  /** The bdSeq of the connection now, or of the last one while disconnected; null before the first. */
  bdSeq: number | null;
  /** When the last NBIRTH went out (ISO 8601), or null. */
  lastBirthAt: string | null;
  /** Since when it has been disconnected (ISO 8601); null while connected. */
  disconnectedSince: string | null;
  /** The last connection problem in words (kept after it reconnects), or null. */
  lastError: string | null;
}

/** The data folder against its budget, as health shows it (jobs/disk-budget.ts). */
export interface DiskStatus {
  usedBytes: number;
  budgetBytes: number | null;
  freeBytes: number;
  /** used / budget (0..1+), or null without a budget. */
  level: number | null;
  state: 'ok' | 'warning' | 'full';
}

/** Rows deleted by retention, per table (jobs/retention.ts, station/store/retention.ts). */
export interface RetentionCounts {
  runs: number;
  steps: number;
  measurements: number;
  outbox: number;
  deadLetters: number;
  batches: number;
}

/** Retention (storage.retention) as health shows it (jobs/retention.ts). */
export interface RetentionStatus {
  /** False without storage.retention: nothing is deleted (the disk budget still vacuums). */
  enabled: boolean;
  days: number | null;
  /** The archive folder (absolute), or null without an archive. */
  archiveDir: string | null;
  /** off (not configured), idle, pruning (a pass is under way), failing (the last pass failed). */
  state: 'off' | 'idle' | 'pruning' | 'failing';
  /** When the last pass ended (ISO), null before the first. */
  lastPruneAt: string | null;
  /** Rows the last pass deleted. */
  lastPruned: RetentionCounts | null;
  /** Rows deleted since the daemon started. */
  prunedSinceStart: RetentionCounts;
  /** Runs past the cutoff the last pass kept because a record of theirs is not acknowledged yet
   *  (not delivered, in a batch still open, or a dead letter not resolved). */
  heldUndelivered: number | null;
  /** Bytes the last pass (or the disk budget's vacuum) gave back to the file system. */
  lastVacuumBytes: number | null;
  /** When the oldest run still in the store started (ISO), or null. */
  oldestKeptRunAt: string | null;
  /** When the next scheduled pass starts (ISO), or null. */
  nextPruneAt: string | null;
  /** The last archive file written (its name), or null. */
  lastArchiveFile: string | null;
  /** Why the last pass failed, in words; null once a pass succeeds. */
  lastError: string | null;
}

export interface StepResultEvent {
  index: number;
  name: string;
  type: string;
  status: StepStatus;
  attempts: number;
  durationMs: number;
  message: string | null;
}

export interface StationEvents {
  'slot.state': SlotSnapshot;
  'run.started': { runId: string; slot: number; sequenceHash: string };
  'run.step': { runId: string; slot: number; result: StepResultEvent };
  'run.finished': {
    runId: string;
    slot: number;
    verdict: Verdict;
    deviceId: string | null;
    rework: boolean;
    attempt: number;
    reason: string | null;
    recordId: string | null;
    /** The record's per-station sequence number in the outbox (null: no record). */
    seq: number | null;
  };
  /** kind "scan": answered with a scanned (or typed) label; `expected` says what a good scan looks like. */
  /** For a scan: `expected` in the operator's words, `format` as an engineer reads it (a regex, a label layout). */
  /** `i18n`: the text (and for a scan, what to scan) by language tag, when the sequence gives them in several. */
  'prompt.opened': {
    promptId: string;
    slot: number;
    runId: string;
    text: string;
    answers: string[];
    kind?: 'choice' | 'scan';
    expected?: string;
    format?: string;
    i18n?: { text?: Record<string, string>; expected?: Record<string, string> };
  };
  /** For a scan, `answer` is the scan with its secret fields masked; never the secret itself. */
  'prompt.closed': { promptId: string; slot: number; answer: string | null };
  /** A scan the station could not use (wrong format for the open prompt, or no prompt): the prompt stays open. */
  'scan.rejected': { slot: number | null; promptId: string | null; reason: string };
  'alarm.raised': { alarmId: string; severity: 'warning' | 'critical'; message: string; slot: number | null };
  'alarm.cleared': { alarmId: string };
  /** Sent when the uplink's state changes and after each batch settles (at most a few a second). */
  'uplink.status': UplinkStatus;
  /** A saved sequence became the active one: the next run on every slot uses it (station/server). */
  'sequence.changed': { name: string; hash: string; stepCount: number };
}

/** The station's bus: the typed event map above on the generic bus (a throwing listener is caught there). */
export class StationBus extends EventBus<StationEvents> {}
