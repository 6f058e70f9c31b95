// Capped exponential backoff with "equal jitter": the wait doubles from `initialMs` up to `maxMs`,
// and each wait is drawn from its upper half, so a part never hammers a missing device or service
// and several parts (slots, scanners, instruments) never retry in step.

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly settings: BackoffSettings) {}

  /** The wait before the next attempt; each call doubles the base up to the cap. */
  next(): number {
    const base = Math.min(this.settings.maxMs, this.settings.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return base / 2 + Math.random() * (base / 2);
  }

  /** After a success: the next wait starts from `initialMs` again. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Calls `attempt` until it resolves true, waiting a backoff delay after each false; stop() ends it. */
export class RetryTimer {
  private timer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;

  constructor(
    settings: BackoffSettings,
    private readonly attempt: () => void,
  ) {
    this.backoff = new Backoff(settings);
  }

  get waiting(): boolean {
    return this.timer !== null;
  }

  /** Schedules the next attempt after the next backoff delay, unless one is already scheduled. */
  schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.attempt();
    }, this.backoff.next());
  }

  /** The thing came back: the next loss waits from the start of the backoff again. */
  succeeded(): void {
    this.backoff.reset();
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
