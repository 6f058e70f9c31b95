// The station's two clocks. The wall clock (Date.now()) says what time it is for people: when a
// unit was blessed, when a record was written. It can jump: NTP steps it, a dead RTC battery boots
// the machine in 1970 or last year, an administrator sets it. The monotonic clock only moves
// forward, at the rate of real time, whatever the wall clock does: every duration, timeout,
// backoff, batch age, rate limit and idle expiry is measured on it, so a step of the wall clock
// makes nothing fire early or late.
//
// performance.now() is read through the global (not an import of node:perf_hooks) so that tests
// can fake it apart from Date (vitest's fake timers: vi.setSystemTime() steps Date only).

/** Milliseconds on the monotonic clock (since the process started; only differences mean anything). */
export function monotonicMs(): number {
  return performance.now();
}

/** The wall-clock time (ms since the epoch) at which the monotonic time `mono` falls, as the wall
 *  clock reads now: for showing people when something will happen ("expires at"). */
export function wallTimeAt(mono: number): number {
  return Date.now() + (mono - monotonicMs());
}

/** The offset between the two clocks: it changes only when the wall clock is stepped (or slewed). */
export function wallClockOffsetMs(): number {
  return Date.now() - monotonicMs();
}
