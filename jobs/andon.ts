// The andon: a stack light and its buzzer driven from the station's state (docs/andon.md). The job
// listens to the bus (nests' states, prompts) and the alarm board, decides one light, does the
// blinking and the beeping itself (the devices only ever switch lamps on and off), and writes the
// light to every configured output: a Modbus TCP module, a USB-serial relay board, a USB-HID relay.
//
// The light, worst first (one colour at a time):
//   red    a critical alarm is active, or a nest is stopped (refusing units: halted, held, failed
//          closed). Blinking while a critical alarm is not acknowledged, with the buzzer on; an
//          acknowledge (the dashboard's alarm ack) makes it steady and silences the buzzer.
//   amber  waiting for a person: a prompt is open, a unit waits to be started (manual start), or a
//          warning alarm is active. Blinking while a warning is not acknowledged; with `amberBeep`,
//          a short beep every four blink halves until the person acts (answers, starts, acknowledges).
//   green  units under test, nothing of the above.
//   off    nothing under test and nothing waiting (an idle or starved line).
// Shelved alarms, cleared ones and the andon's own `andon.<id>.unreachable` count for nothing: an
// output that cannot be reached must not change the light the others show (or make it flap).
import type { Logger } from 'pino';
import type { BackoffSettings } from '../lib/backoff.js';
import { ALL_OFF, AndonOutput, lampsText, sameLamps, type AndonOutputStatus, type LampDriver, type Lamps } from '../drivers/andon/lamps.js';
import type { AlarmBoard, AlarmEntry } from '../station/alarms.js';
import type { SlotSnapshot, StationBus } from '../station/events.js';
import { READY_TO_START_REASON } from '../station/line/slot.js';

export type AndonColour = 'red' | 'amber' | 'green' | 'off';

export interface AndonLight {
  colour: AndonColour;
  /** The colour's lamp blinks (something is not acknowledged yet). */
  blink: boolean;
  /** on: steady; beep: one blink half in four; off. */
  buzzer: 'on' | 'beep' | 'off';
  /** Why, in words (the worst cause first). */
  why: string;
}

export interface AndonInputs {
  slots: readonly Pick<SlotSnapshot, 'slot' | 'name' | 'state' | 'reason'>[];
  /** The slots with a prompt open (one entry per open prompt). */
  prompts: readonly number[];
  alarms: readonly AlarmEntry[];
}

const RUNNING = new Set(['identifying', 'blinkup', 'testing', 'blessing']);
/** The andon's own alarms: they never count for the light. */
export const ANDON_ALARM_PREFIX = 'andon.';

export function andonAlarmId(outputId: string): string {
  return `${ANDON_ALARM_PREFIX}${outputId}.unreachable`;
}

/** The light for a state of the station (the mapping of docs/andon.md). */
export function decideLight(i: AndonInputs, opts: { amberBeep: boolean }): AndonLight {
  const live = i.alarms.filter((a) => !a.cleared && !a.shelved && !a.alarmId.startsWith(ANDON_ALARM_PREFIX));
  const critical = live.filter((a) => a.severity === 'critical');
  const stopped = i.slots.filter((s) => s.state === 'refused');
  if (critical.length || stopped.length) {
    const unacked = critical.filter((a) => !a.acknowledged);
    const why = critical.length ? `critical alarm ${critical[0]?.alarmId}` : `${stopped[0]?.name} stopped${stopped[0]?.reason ? ` (${stopped[0].reason})` : ''}`;
    return { colour: 'red', blink: unacked.length > 0, buzzer: unacked.length > 0 ? 'on' : 'off', why };
  }
  const warnings = live.filter((a) => a.severity === 'warning');
  const waitingStart = i.slots.filter((s) => s.state === 'idle' && s.reason === READY_TO_START_REASON);
  if (warnings.length || i.prompts.length || waitingStart.length) {
    const unacked = warnings.some((a) => !a.acknowledged);
    const promptSlot = i.slots.find((s) => s.slot === i.prompts[0]);
    const why = i.prompts.length
      ? `a prompt is open on ${promptSlot?.name ?? `slot ${(i.prompts[0] ?? 0) + 1}`}`
      : waitingStart.length
        ? `${waitingStart[0]?.name} waits to be started`
        : `warning alarm ${warnings[0]?.alarmId}`;
    const needsPerson = unacked || i.prompts.length > 0 || waitingStart.length > 0;
    return { colour: 'amber', blink: unacked, buzzer: opts.amberBeep && needsPerson ? 'beep' : 'off', why };
  }
  const running = i.slots.filter((s) => RUNNING.has(s.state));
  if (running.length) return { colour: 'green', blink: false, buzzer: 'off', why: `${running.length} unit${running.length === 1 ? '' : 's'} under test` };
  return { colour: 'off', blink: false, buzzer: 'off', why: 'nothing under test, nothing waiting' };
}

/** The lamps of a light at blink phase `phase` (one phase per blink half: even on, odd off). */
export function lampsAt(light: AndonLight, phase: number): Lamps {
  const lit = !light.blink || phase % 2 === 0;
  return {
    green: light.colour === 'green' && lit,
    amber: light.colour === 'amber' && lit,
    red: light.colour === 'red' && lit,
    buzzer: light.buzzer === 'on' || (light.buzzer === 'beep' && phase % 4 === 0),
  };
}

export interface AndonStatus {
  colour: AndonColour;
  blink: boolean;
  buzzer: AndonLight['buzzer'];
  why: string;
  /** The lamps as written now (mid-blink: on or off). */
  lamps: string;
  outputs: AndonOutputStatus[];
}

export interface AndonJobOptions {
  bus: StationBus;
  alarms: Pick<AlarmBoard, 'list' | 'onChange'>;
  slots(): readonly SlotSnapshot[];
  /** The prompts open now (the line's prompt broker), read at start; events keep it after. */
  prompts(): readonly { promptId: string; slot: number }[];
  outputs: { id: string; driver: LampDriver; reconnect: BackoffSettings; refreshMs?: number }[];
  blinkMs: number;
  amberBeep: boolean;
  log: Logger;
}

export class AndonJob {
  private readonly outputs: AndonOutput[];
  private readonly prompts = new Map<string, number>();
  private offs: (() => void)[] = [];
  private light: AndonLight = { colour: 'off', blink: false, buzzer: 'off', why: 'not started' };
  private lamps: Lamps = { ...ALL_OFF };
  private phase = 0;
  private ticker: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly opts: AndonJobOptions) {
    this.outputs = opts.outputs.map(
      (o) =>
        new AndonOutput({
          id: o.id,
          driver: o.driver,
          reconnect: o.reconnect,
          refreshMs: o.refreshMs ?? 0,
          log: opts.log,
          onReachability: (problem) => {
            const alarmId = andonAlarmId(o.id);
            if (problem === null) opts.bus.emit('alarm.cleared', { alarmId });
            else opts.bus.emit('alarm.raised', { alarmId, severity: 'warning', message: problem, slot: null });
          },
        }),
    );
  }

  /** The light now and each output's state, for health. */
  status(): AndonStatus {
    return { ...this.light, lamps: lampsText(this.lamps), outputs: this.outputs.map((o) => o.status()) };
  }

  /** For tests: waits until every connected output has taken the light as it is now. */
  async settled(): Promise<void> {
    await Promise.all(this.outputs.map((o) => o.settled()));
  }

  async start(): Promise<void> {
    this.running = true;
    for (const p of this.opts.prompts()) this.prompts.set(p.promptId, p.slot);
    this.offs.push(
      this.opts.bus.on('slot.state', () => this.update()),
      this.opts.bus.on('prompt.opened', (p) => {
        this.prompts.set(p.promptId, p.slot);
        this.update();
      }),
      this.opts.bus.on('prompt.closed', (p) => {
        this.prompts.delete(p.promptId);
        this.update();
      }),
      this.opts.alarms.onChange(() => this.update()),
    );
    this.update();
    await Promise.all(this.outputs.map((o) => o.start()));
  }

  /** Stops following the station; every output is switched off (within a second) and closed. */
  async stop(): Promise<void> {
    this.running = false;
    for (const off of this.offs.splice(0)) off();
    this.stopTicker();
    this.lamps = { ...ALL_OFF };
    this.light = { colour: 'off', blink: false, buzzer: 'off', why: 'the station stopped' };
    await Promise.all(this.outputs.map((o) => o.stop(ALL_OFF, 1000)));
  }

  /** Decides the light again (a state changed); a new light starts its blink with the lamp on. */
  private update(): void {
    if (!this.running) return;
    const next = decideLight({ slots: this.opts.slots(), prompts: [...this.prompts.values()], alarms: this.opts.alarms.list() }, { amberBeep: this.opts.amberBeep });
    const same = next.colour === this.light.colour && next.blink === this.light.blink && next.buzzer === this.light.buzzer;
    if (same) {
      this.light.why = next.why;
      return;
    }
    this.opts.log.info({ part: 'jobs.andon', from: this.light.colour, to: next.colour, blink: next.blink, buzzer: next.buzzer, why: next.why }, `andon ${next.colour}${next.blink ? ' blinking' : ''}`);
    this.light = next;
    this.phase = 0;
    this.stopTicker();
    if (next.blink || next.buzzer === 'beep') {
      this.ticker = setInterval(() => {
        this.phase++;
        this.write();
      }, this.opts.blinkMs);
      this.ticker.unref();
    }
    this.write();
  }

  private write(): void {
    const lamps = lampsAt(this.light, this.phase);
    if (sameLamps(this.lamps, lamps)) return;
    this.lamps = lamps;
    for (const o of this.outputs) o.show(lamps);
  }

  private stopTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }
}
