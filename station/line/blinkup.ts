// The factory BlinkUp step: take a token from the pool, send it with the factory network
// credentials through the optical emitter, and act on what the DUT reports (SPEC §1 step 2,
// seed 000). Every token that left the station is accounted for in the ledger; no token is
// reused once its light has left the emitter.
import type { Logger } from 'pino';
import type { DutConsole } from '../../drivers/console/console.js';
import { EmitterError, type Emitter } from '../../drivers/emitter/emitter.js';
import type { ImpFixture } from '../../drivers/emitter/imp-fixture.js';
import { encodeFrame, FrameError } from '../../drivers/emitter/frame.js';
import type { StationBus } from '../events.js';
import type { PromptBroker } from './prompts.js';
import { Interrupted, StationFault } from '../sequence/run-errors.js';
import type { CompiledStep } from '../sequence/sequence.js';

export interface BlinkUpSettings {
  ssid: string;
  password: string;
  apn: string | null;
  symbolRateHz: 60 | 142;
  activeLow: boolean;
}

export interface TokenLease {
  tokenId: string;
  /** Safe to show and log: never the token. */
  shortId: string;
  type: string;
}

/** What the step needs of the token ledger (station/tokens/ledger.ts). */
export interface TokenLeasing {
  reserve(runId: string): TokenLease | null;
  /** Durable before it returns; returns the token text for this one send. */
  markSent(tokenId: string, runId: string): string;
  consume(tokenId: string, runId: string): void;
  reject(tokenId: string, runId: string, reason: string): void;
  release(tokenId: string, runId: string): void;
  /** Returns to the pool whatever this run reserved and never sent. */
  releaseRun(runId: string): number;
}

export interface BlinkUpContext {
  runId: string;
  slot: number;
  console: DutConsole;
  emitter: Emitter | ImpFixture | null;
  signal: AbortSignal;
}

export interface BlinkUpOutcome {
  status: 'pass' | 'fail';
  message: string | null;
  /** The DUT is already a blessed production device: route it to rework. */
  alreadyBlessed?: boolean;
}

type DutAnswer = { kind: 'accepted' } | { kind: 'rejected'; reason: string } | { kind: 'bad-frame' } | { kind: 'no-answer' };

const REJECTION_WORDS: Record<string, string> = {
  'invalid-token': 'the token was rejected as invalid',
  'expired-token': 'the token was rejected as expired',
  'wrong-token-type': 'the token is of the wrong type',
  'already-blessed': 'the device is already a blessed production device',
};

export class BlinkUpStep {
  constructor(
    private readonly deps: {
      settings: BlinkUpSettings;
      tokens: TokenLeasing;
      prompts: PromptBroker;
      bus: StationBus;
      log: Logger;
    },
  ) {}

  async run(ctx: BlinkUpContext, step: Extract<CompiledStep, { type: 'blinkup' }>, onProgress: (words: string) => void): Promise<BlinkUpOutcome> {
    try {
      return await this.attempt(ctx, step, onProgress);
    } finally {
      this.deps.tokens.releaseRun(ctx.runId);
    }
  }

  private async attempt(ctx: BlinkUpContext, step: Extract<CompiledStep, { type: 'blinkup' }>, onProgress: (words: string) => void): Promise<BlinkUpOutcome> {
    const device = ctx.emitter;
    if (!device) throw new StationFault(`slot ${ctx.slot} has no BlinkUp emitter configured`, true);
    let rejectedTokens = 0;
    let unanswered = 0;
    const history: string[] = [];
    for (;;) {
      if (ctx.signal.aborted) throw new Interrupted(String(ctx.signal.reason));
      if (!device.connected) throw new StationFault(`emitter not responding: ${device.label} is not connected`);
      // An LED emitter shows a token from our pool; an Imp fixture brings its own from its cloud.
      let lease: TokenLease | null = null;
      let answer: DutAnswer;
      if (device.kind === 'led') {
        lease = this.deps.tokens.reserve(ctx.runId);
        if (!lease) throw new StationFault('no factory token available: the token pool is empty');
        answer = await this.sendOnce(ctx, device, lease, step.timeoutMs, onProgress);
      } else {
        answer = await this.triggerFixture(ctx, device, step.timeoutMs, onProgress);
      }
      const tokenWords = lease ? ` (token ${lease.shortId})` : ' (fixture token)';
      switch (answer.kind) {
        case 'accepted':
          if (lease) this.deps.tokens.consume(lease.tokenId, ctx.runId);
          return { status: 'pass', message: history.length > 0 ? `enrolled after: ${history.join('; ')}` : null };
        case 'rejected': {
          const words = REJECTION_WORDS[answer.reason] ?? `enrollment rejected (${answer.reason})`;
          if (lease) this.deps.tokens.reject(lease.tokenId, ctx.runId, answer.reason);
          if (answer.reason === 'wrong-token-type') {
            // A configuration error: more tokens of the same batch would burn the same way.
            const source = lease ? `type "${lease.type}"); check the token source` : "from the fixture); check the fixture's factory setup";
            const message = `factory BlinkUp stopped: ${words} (token ${lease ? `${lease.shortId}, ` : ''}${source}`;
            this.deps.bus.emit('alarm.raised', { alarmId: `blinkup.wrong-token-type.${ctx.slot}`, severity: 'critical', message, slot: ctx.slot });
            throw new StationFault(message, true);
          }
          if (answer.reason === 'already-blessed') {
            return { status: 'fail', message: `${words}: route to rework (no retry, no more tokens)`, alreadyBlessed: true };
          }
          rejectedTokens++;
          history.push(`${words}${tokenWords}`);
          if (rejectedTokens > step.tokenRetries) return { status: 'fail', message: `enrollment failed: ${history.join('; ')}` };
          onProgress(`${words}; retrying with a fresh token`);
          continue;
        }
        case 'bad-frame':
        case 'no-answer': {
          // The light left the emitter: the token may have been seen. Never send it again.
          if (lease) this.deps.tokens.reject(lease.tokenId, ctx.runId, answer.kind === 'bad-frame' ? 'dut-bad-frame' : 'dut-no-answer');
          unanswered++;
          history.push(answer.kind === 'bad-frame' ? 'the DUT could not read the light frame' : `no enrollment answer within ${step.timeoutMs} ms`);
          if (unanswered <= step.noAnswerRetries) {
            onProgress(`${history.at(-1)}; sending again`);
            continue;
          }
          const reseat = await this.deps.prompts
            .ask({
              slot: ctx.slot,
              runId: ctx.runId,
              text: `BlinkUp got no answer ${unanswered} times: re-seat the DUT under the emitter, then press OK`,
              answers: ['ok', 'fail'],
              timeoutMs: 300_000,
              signal: ctx.signal,
            })
            .catch((err: Error) => {
              if (ctx.signal.aborted) throw new Interrupted(String(ctx.signal.reason));
              return `(${err.message})`;
            });
          if (reseat !== 'ok') return { status: 'fail', message: `no enrollment: ${history.join('; ')}` };
          unanswered = 0;
          continue;
        }
      }
    }
  }

  /** One BlinkUp: the token marked sent (durably), the frame shone, the DUT's answer awaited. */
  private async sendOnce(ctx: BlinkUpContext, emitter: Emitter, lease: TokenLease, timeoutMs: number, onProgress: (words: string) => void): Promise<DutAnswer> {
    const s = this.deps.settings;
    // Listen before shining: the DUT may answer as the last symbol goes out.
    const answer = waitForEnrollment(ctx.console, ctx.signal);
    try {
      const token = this.deps.tokens.markSent(lease.tokenId, ctx.runId);
      const symbols = encodeFrame({ ssid: s.ssid, password: s.password, token, tokenType: lease.type as 'factory', apn: s.apn });
      onProgress(`BlinkUp: sending token ${lease.shortId} (${symbols.length} symbols at ${s.symbolRateHz} Hz)`);
      await emitter.emit(symbols, { symbolRateHz: s.symbolRateHz, activeLow: s.activeLow }, ctx.signal);
    } catch (err) {
      answer.cancel();
      if (err instanceof EmitterError) {
        // Sent or not, it may have reached the DUT: the ledger never gives it out again.
        this.deps.tokens.reject(lease.tokenId, ctx.runId, `emitter-${err.kind}`);
        throw this.emitterFault(ctx, err);
      }
      if (err instanceof FrameError) {
        // The token cannot go in a frame (too long, say): the token's fault, not the DUT's.
        this.deps.tokens.reject(lease.tokenId, ctx.runId, 'cannot-frame');
        throw new StationFault(`token ${lease.shortId} cannot be sent by BlinkUp: ${err.message}`);
      }
      throw err;
    }
    return answer.within(timeoutMs);
  }

  /** One fixture BlinkUp: triggered (no faster than the fixture allows), the DUT's answer awaited. */
  private async triggerFixture(ctx: BlinkUpContext, fixture: ImpFixture, timeoutMs: number, onProgress: (words: string) => void): Promise<DutAnswer> {
    const answer = waitForEnrollment(ctx.console, ctx.signal);
    try {
      onProgress(`BlinkUp: fixture ${fixture.label} sending its factory token`);
      await fixture.trigger(ctx.signal);
    } catch (err) {
      answer.cancel();
      if (err instanceof EmitterError) throw this.emitterFault(ctx, err);
      throw err;
    }
    return answer.within(timeoutMs);
  }

  private emitterFault(ctx: BlinkUpContext, err: EmitterError): Error {
    if (err.kind === 'aborted' || ctx.signal.aborted) return new Interrupted(String(ctx.signal.reason ?? err.message));
    return new StationFault(`emitter not responding: ${err.message}`);
  }
}

/** Waits for the DUT's BLINKUP / ENROLL events; `within` starts the timeout once the frame is out. */
function waitForEnrollment(console: DutConsole, signal: AbortSignal): { within(ms: number): Promise<DutAnswer>; cancel(): void } {
  let settle: ((a: DutAnswer) => void) | null = null;
  let early: DutAnswer | null = null;
  const finish = (a: DutAnswer): void => {
    if (settle) settle(a);
    else early ??= a;
  };
  const off = console.events.on('event', (e) => {
    if (e.name === 'ENROLL') finish(e.fields.result === 'accepted' ? { kind: 'accepted' } : { kind: 'rejected', reason: e.fields.reason ?? 'unknown' });
    else if (e.name === 'BLINKUP' && e.fields.result !== 'ok') finish({ kind: 'bad-frame' });
  });
  return {
    cancel: off,
    within: (ms) =>
      new Promise<DutAnswer>((resolve, reject) => {
        if (signal.aborted) {
          off();
          reject(new Interrupted(String(signal.reason)));
          return;
        }
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          off();
        };
        const onAbort = (): void => {
          done();
          reject(new Interrupted(String(signal.reason)));
        };
        const timer = setTimeout(() => {
          done();
          resolve({ kind: 'no-answer' });
        }, ms);
        signal.addEventListener('abort', onAbort, { once: true });
        settle = (a) => {
          done();
          resolve(a);
        };
        if (early) settle(early);
      }),
  };
}
