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
  step: { index: number; count: number; name: string } | null;
  reason: string | null;
  /** What the slot is doing now, in words (BlinkUp progress, say); null when the state says it all. */
  detail: string | null;
  since: number;
}

/** The uplink as the dashboard, health and metrics show it (jobs/uplink). */
export interface UplinkStatus {
  state: 'online' | 'offline' | 'degraded' | 'not configured';
  sink: 'http' | 'file' | 'particle' | null;
  queued: number;
  oldestQueuedAgeSeconds: number | null;
  deadLetters: number;
  lastSuccessAt: string | null;
  /** The wait before the next attempt while backing off; null when not backing off. */
  backoffMs: number | null;
  /** The last failure in words (never a key or a body); null once a batch goes through. */
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
  };
  /** kind "scan": answered with a scanned (or typed) label; `expected` says what a good scan looks like. */
  'prompt.opened': { promptId: string; slot: number; runId: string; text: string; answers: string[]; kind?: 'choice' | 'scan'; expected?: string };
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
