// What a stop signal (SIGINT, SIGTERM) means when it arrives: the first one stops the daemon
// cleanly; the same stop delivered twice within a moment is still one stop; another signal later is
// a person insisting, and the daemon exits at once.
//
// Why twice: a signal to the whole process group of `npm start` (kill -- -PGID, timeout(1), a
// service manager that signals every process) reaches the daemon from the sender and again from npm,
// which passes SIGTERM on to its child.

export type StopSignalMeaning = 'stop' | 'same-stop' | 'exit-now';

export class StopSignals {
  private firstAt: number | null = null;

  constructor(
    /** A signal within this long of the first is the same stop delivered twice. */
    private readonly repeatWindowMs = 1000,
    /** A monotonic clock (ms): a wall-clock step must not turn one stop into two. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The meaning of a signal arriving now. */
  take(): StopSignalMeaning {
    const at = this.now();
    if (this.firstAt === null) {
      this.firstAt = at;
      return 'stop';
    }
    return at - this.firstAt < this.repeatWindowMs ? 'same-stop' : 'exit-now';
  }
}
