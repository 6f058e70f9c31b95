// The meaning of SIGINT / SIGTERM as they arrive (lib/stop-signals.ts), on a clock the test moves.
import { describe, expect, it } from 'vitest';
import { StopSignals } from '../../lib/stop-signals.js';

describe('StopSignals', () => {
  it('the first signal stops; the same stop delivered again within the window is still that stop', () => {
    let now = 5000;
    const signals = new StopSignals(1000, () => now);
    expect(signals.take()).toBe('stop');
    now += 3; // from the process group, then from npm passing it on
    expect(signals.take()).toBe('same-stop');
    now += 990;
    expect(signals.take()).toBe('same-stop');
  });

  it('another signal a second or more after the first exits at once (a person insisting)', () => {
    let now = 0;
    const signals = new StopSignals(1000, () => now);
    expect(signals.take()).toBe('stop');
    now = 1000;
    expect(signals.take()).toBe('exit-now');
    now = 60_000;
    expect(signals.take()).toBe('exit-now');
  });
});
