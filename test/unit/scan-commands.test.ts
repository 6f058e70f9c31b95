// Command barcodes scanned on a station's own scanner: CMD:PASS / CMD:FAIL answer the slot's yes/no
// question with its own yes or no answer, CMD:START[:n] starts a slot, anything the slot cannot take
// is refused with the reason (a scan.rejected event) and changes nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { StationBus } from '../../station/events.js';
import { silentLogger } from '../../station/log.js';
import { PromptBroker } from '../../station/line/prompts.js';
import { ScanDesk } from '../../station/line/scan-desk.js';
import { answerFor, parseScanCommand } from '../../station/line/scan-commands.js';
import type { StationConfig } from '../../station/config/load.js';

const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort('test over');
});

function rig() {
  const bus = new StationBus();
  const prompts = new PromptBroker(bus);
  const started: number[] = [];
  const rejected: { slot: number | null; reason: string }[] = [];
  bus.on('scan.rejected', (r) => rejected.push({ slot: r.slot, reason: r.reason }));
  const desk = new ScanDesk({
    cfg: {} as StationConfig,
    scanners: [],
    prompts,
    bus,
    log: silentLogger(),
    requestStart: (i) => {
      if (i > 2) return `there is no slot ${i + 1}`;
      started.push(i);
      return null;
    },
  });
  const ask = (slot: number, answers: string[]) => {
    const abort = new AbortController();
    aborts.push(abort);
    const asked = prompts.ask({ slot, runId: `r${slot}`, text: 'Is the LED green?', answers, timeoutMs: 10_000, signal: abort.signal });
    asked.catch(() => undefined);
    return asked;
  };
  return { desk, prompts, started, rejected, ask };
}

describe('command barcodes', () => {
  it('reads CMD:PASS, CMD:YES, CMD:FAIL, CMD:NO, CMD:START and CMD:CLEAR, with an optional 1-based nest, in any case', () => {
    expect(parseScanCommand('CMD:PASS')).toEqual({ verb: 'pass', slot: null });
    expect(parseScanCommand('cmd:yes')).toEqual({ verb: 'pass', slot: null });
    expect(parseScanCommand('CMD:FAIL:2')).toEqual({ verb: 'fail', slot: 1 });
    expect(parseScanCommand('CMD:NO')).toEqual({ verb: 'fail', slot: null });
    expect(parseScanCommand(' CMD:START:12 ')).toEqual({ verb: 'start', slot: 11 });
    expect(parseScanCommand('CMD:CLEAR')).toEqual({ verb: 'clear', slot: null });
    for (const other of ['CMD:PASSED', 'CMD:START:123', 'SN0001', 'CMD:', 'XCMD:PASS']) expect(parseScanCommand(other)).toBeNull();
    expect(answerFor(['OK', 'retry'], 'pass')).toBe('OK');
    expect(answerFor(['OK', 'retry'], 'fail')).toBeNull();
  });

  it('answers the slot’s yes/no question with its yes or its no answer', async () => {
    const { desk, ask, rejected } = rig();
    const first = ask(0, ['yes', 'no']);
    expect(desk.deliver(0, 'CMD:PASS')).toEqual({ ok: true });
    await expect(first).resolves.toBe('yes');
    const second = ask(1, ['Green', 'Red']);
    // Scanned at nest 1's scanner, naming nest 2.
    expect(desk.deliver(0, 'CMD:FAIL:2')).toEqual({ ok: true });
    await expect(second).resolves.toBe('Red');
    expect(rejected).toEqual([]);
  });

  it('refuses a command the slot cannot take, and leaves its question open', () => {
    const { desk, ask, prompts, rejected } = rig();
    void ask(0, ['ok', 'retry']);
    const refused = desk.deliver(0, 'CMD:FAIL');
    expect(refused.ok).toBe(false);
    expect(prompts.list()).toHaveLength(1);
    expect(desk.deliver(2, 'CMD:PASS')).toMatchObject({ ok: false, reason: 'slot 3 is not asking a yes/no question' });
    expect(desk.deliver(0, 'CMD:CLEAR').ok).toBe(false);
    expect(rejected.map((r) => r.slot)).toEqual([0, 2, 0]);
    expect(rejected[0]?.reason).toMatch(/no "?no"? answer|has no no answer/);
  });

  it('clears a slot’s kept verdict with CMD:CLEAR, and refuses one with none to clear', () => {
    const bus = new StationBus();
    const kept = new Set([1]);
    const rejected: string[] = [];
    bus.on('scan.rejected', (r) => rejected.push(r.reason));
    const desk = new ScanDesk({ cfg: {} as StationConfig, scanners: [], prompts: new PromptBroker(bus), bus, log: silentLogger(), requestStart: () => null, clearVerdict: (i) => kept.delete(i) });
    expect(desk.deliver(0, 'CMD:CLEAR:2')).toEqual({ ok: true });
    expect(kept.size).toBe(0);
    expect(desk.deliver(1, 'CMD:CLEAR')).toEqual({ ok: false, reason: 'slot 2 has no verdict to clear' });
    expect(rejected).toEqual(['slot 2 has no verdict to clear']);
  });

  it('starts a slot with CMD:START, its own or the one it names', () => {
    const { desk, started, rejected } = rig();
    expect(desk.deliver(1, 'CMD:START')).toEqual({ ok: true });
    expect(desk.deliver(1, 'CMD:START:3')).toEqual({ ok: true });
    expect(desk.deliver(1, 'CMD:START:9')).toMatchObject({ ok: false, reason: 'slot 9 cannot start: there is no slot 9' });
    expect(started).toEqual([1, 2]);
    expect(rejected).toHaveLength(1);
  });
});
