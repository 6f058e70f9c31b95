// Operator prompts: a step asks, the dashboard (or the simulated operator) answers. Owns the open
// prompts and their timeouts; answers are checked against the prompt's own choices.
import { randomUUID } from 'node:crypto';
import type { StationBus } from '../events.js';
import type { Prompts, PromptTranslations, ScanCheck } from '../sequence/step-kind.js';
import type { PromptAnswerEvent } from '../store/people.js';

export class PromptError extends Error {}

interface OpenPrompt {
  slot: number;
  runId: string;
  text: string;
  answers: string[];
  /** For scan prompts: checks a scan; a failing scan leaves the prompt open. */
  check?: ScanCheck<unknown>;
  expected?: string;
  format?: string;
  settle(answer: string | null, err?: Error, value?: unknown): void;
}

export class PromptBroker implements Prompts {
  private readonly open = new Map<string, OpenPrompt>();
  /** Where answered prompts are recorded, with who answered (station/store/people.ts). */
  private recorder: ((e: PromptAnswerEvent) => void) | null = null;

  constructor(private readonly bus: StationBus) {}

  /** Records every answered prompt from now on (the station sets it once the store is open). */
  useRecorder(recorder: (e: PromptAnswerEvent) => void): void {
    this.recorder = recorder;
  }

  ask(req: { slot: number; runId: string; text: string; answers: string[]; timeoutMs: number; signal: AbortSignal; i18n?: PromptTranslations | undefined }): Promise<string> {
    const promptId = randomUUID();
    return new Promise<string>((resolve, reject) => {
      const settle = (answer: string | null, err?: Error): void => {
        if (!this.open.delete(promptId)) return;
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
        this.bus.emit('prompt.closed', { promptId, slot: req.slot, answer });
        if (err) reject(err);
        else resolve(answer as string);
      };
      const onAbort = (): void => settle(null, new PromptError('the prompt was withdrawn: the run was interrupted'));
      const timer = setTimeout(() => settle(null, new PromptError(`no answer from the operator within ${req.timeoutMs} ms`)), req.timeoutMs);
      req.signal.addEventListener('abort', onAbort, { once: true });
      this.open.set(promptId, { slot: req.slot, runId: req.runId, text: req.text, answers: req.answers, settle });
      this.bus.emit('prompt.opened', { promptId, slot: req.slot, runId: req.runId, text: req.text, answers: req.answers, ...(req.i18n ? { i18n: req.i18n } : {}) });
    });
  }

  /**
   * Asks for a scan: resolves with the checked value of the first scan that passes `check`. A scan
   * that fails it is refused (PromptError naming what was expected, and a scan.rejected event) and
   * the prompt stays open. The prompt.closed event carries `shown` (secrets masked), never the scan.
   */
  askScan<T>(req: {
    slot: number;
    runId: string;
    text: string;
    expected: string;
    format?: string;
    check: ScanCheck<T>;
    timeoutMs: number;
    signal: AbortSignal;
    i18n?: PromptTranslations | undefined;
  }): Promise<T> {
    const promptId = randomUUID();
    return new Promise<T>((resolve, reject) => {
      const settle = (shown: string | null, err?: Error, value?: unknown): void => {
        if (!this.open.delete(promptId)) return;
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
        this.bus.emit('prompt.closed', { promptId, slot: req.slot, answer: shown });
        if (err) reject(err);
        else resolve(value as T);
      };
      const onAbort = (): void => settle(null, new PromptError('the prompt was withdrawn: the run was interrupted'));
      const timer = setTimeout(() => settle(null, new PromptError(`no scan within ${req.timeoutMs} ms`)), req.timeoutMs);
      req.signal.addEventListener('abort', onAbort, { once: true });
      const format = req.format && req.format !== req.expected ? { format: req.format } : {};
      this.open.set(promptId, { slot: req.slot, runId: req.runId, text: req.text, answers: [], check: req.check as ScanCheck<unknown>, expected: req.expected, ...format, settle });
      this.bus.emit('prompt.opened', {
        promptId,
        slot: req.slot,
        runId: req.runId,
        text: req.text,
        answers: [],
        kind: 'scan',
        expected: req.expected,
        ...format,
        ...(req.i18n ? { i18n: req.i18n } : {}),
      });
    });
  }

  /**
   * Answers an open prompt; throws PromptError naming what was expected. `by`: the person who
   * answered (null: no person, as the hardware scanner or the simulated operator), recorded.
   */
  answer(promptId: string, answer: string, by: { name: string; role: 'operator' | 'engineer' } | null = null): void {
    const prompt = this.open.get(promptId);
    if (!prompt) throw new PromptError(`prompt ${promptId} is not open`);
    const record = (shown: string | null): void => {
      try {
        this.recorder?.({ runId: prompt.runId, promptId, slot: prompt.slot, kind: prompt.check ? 'scan' : 'choice', text: prompt.text, answer: shown, by, at: Date.now() });
      } catch {
        // The record of who answered never stops the answer itself (the store reports its own faults).
      }
    };
    if (prompt.check) {
      const checked = prompt.check(answer);
      if (!checked.ok) {
        this.bus.emit('scan.rejected', { slot: prompt.slot, promptId, reason: checked.reason });
        throw new PromptError(checked.reason);
      }
      record(checked.shown);
      prompt.settle(checked.shown, undefined, checked.value);
      return;
    }
    if (!prompt.answers.includes(answer)) throw new PromptError(`"${answer}" is not an answer to this prompt; expected one of: ${prompt.answers.join(', ')}`);
    record(answer);
    prompt.settle(answer);
  }

  /** The open scan prompt at a slot, if any (where a scanner's scan goes). */
  scanPromptAt(slot: number): string | null {
    for (const [promptId, p] of this.open) if (p.slot === slot && p.check) return promptId;
    return null;
  }

  list(): { promptId: string; slot: number; runId: string; answers: string[]; kind: 'choice' | 'scan'; expected?: string; format?: string }[] {
    return [...this.open].map(([promptId, p]) => ({
      promptId,
      slot: p.slot,
      runId: p.runId,
      answers: p.answers,
      kind: p.check ? ('scan' as const) : ('choice' as const),
      ...(p.expected ? { expected: p.expected } : {}),
      ...(p.format ? { format: p.format } : {}),
    }));
  }
}
