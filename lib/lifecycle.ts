// One lifecycle for every part of the daemon: the composition root lists its parts in start order;
// they start in that order and stop in the reverse, each stop bounded by its own cap so one stuck
// part cannot hold the others, and a failure is logged, never allowed to block the rest. The hard
// deadline for the whole stop follows from the list (the sum of the caps), not from hand-kept code.
import type { Logger } from 'pino';

export interface Part {
  /** For logs: "store", "line", "jobs.uplink". */
  name: string;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
  /** The longest stop() may take before the others go on without it. */
  stopCapMs: number;
}

export class Lifecycle {
  private readonly parts: Part[] = [];
  private started: Part[] = [];
  private stopping: Promise<void> | null = null;

  constructor(private readonly log: Logger) {}

  /** Adds a part; parts start in the order they are added. */
  add(part: Part): this {
    if (this.parts.some((p) => p.name === part.name)) throw new Error(`a part named "${part.name}" is already listed`);
    this.parts.push(part);
    return this;
  }

  get names(): string[] {
    return this.parts.map((p) => p.name);
  }

  /** The longest a whole stop can take: every part's cap, one after the other. */
  get stopDeadlineMs(): number {
    return this.parts.reduce((sum, p) => sum + p.stopCapMs, 0);
  }

  /** Starts every part in order; on a failure, stops the ones already started and rethrows. */
  async start(): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start?.();
      } catch (err) {
        this.log.error({ part: part.name, err }, `${part.name} could not start`);
        await this.stop();
        throw err;
      }
      this.started.push(part);
    }
  }

  /** Stops the started parts in reverse order, each within its cap. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const part of [...this.started].reverse()) await this.stopOne(part);
      this.started = [];
    })();
    return this.stopping;
  }

  private async stopOne(part: Part): Promise<void> {
    if (!part.stop) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), part.stopCapMs);
    });
    try {
      const result = await Promise.race([
        Promise.resolve()
          .then(() => part.stop?.())
          .then(() => 'done' as const),
        timeout,
      ]);
      if (result === 'timeout') this.log.error({ part: part.name, ms: part.stopCapMs }, 'stopping this part took too long; going on without it');
    } catch (err) {
      this.log.error({ err, part: part.name }, 'stopping this part failed; going on');
    } finally {
      clearTimeout(timer);
    }
  }
}
