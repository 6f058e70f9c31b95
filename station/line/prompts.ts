// Operator prompts: a step asks, the dashboard (or the simulated operator) answers. Owns the open
// prompts and their timeouts; answers are checked against the prompt's own choices.
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../events.js';

export class PromptError extends Error {}

interface OpenPrompt {
  slot: number;
  runId: string;
  answers: string[];
  settle(answer: string | null, err?: Error): void;
}

export class PromptBroker {
  private readonly open = new Map<string, OpenPrompt>();

  constructor(private readonly bus: EventBus) {}

  ask(req: { slot: number; runId: string; text: string; answers: string[]; timeoutMs: number; signal: AbortSignal }): Promise<string> {
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
      this.open.set(promptId, { slot: req.slot, runId: req.runId, answers: req.answers, settle });
      this.bus.emit('prompt.opened', { promptId, slot: req.slot, runId: req.runId, text: req.text, answers: req.answers });
    });
  }

  /** Answers an open prompt; throws PromptError naming what was expected. */
  answer(promptId: string, answer: string): void {
    const prompt = this.open.get(promptId);
    if (!prompt) throw new PromptError(`prompt ${promptId} is not open`);
    if (!prompt.answers.includes(answer)) throw new PromptError(`"${answer}" is not an answer to this prompt; expected one of: ${prompt.answers.join(', ')}`);
    prompt.settle(answer);
  }

  list(): { promptId: string; slot: number; runId: string; answers: string[] }[] {
    return [...this.open].map(([promptId, p]) => ({ promptId, slot: p.slot, runId: p.runId, answers: p.answers }));
  }
}
