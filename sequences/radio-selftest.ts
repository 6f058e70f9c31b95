// A radio self-test loop, a scripted step: transmit a burst and read the signal a few times, and
// judge the mean and the spread (a unit whose radio is marginal varies more than a good one).
import type { ScriptContext } from './station-script';
import { mean, spread } from './lib/stats';

export default async function radioSelfTest(ctx: ScriptContext): Promise<void> {
  const readings: number[] = [];
  for (let burst = 0; burst < 4 && !ctx.aborted; burst++) {
    await ctx.dut.send('RADIO TX 50');
    readings.push(Number((await ctx.dut.expect('MEAS RSSI', 'v=(-?[0-9]+)'))[1]));
  }
  await ctx.measure('RSSI mean', mean(readings), { unit: 'dBm', limit: { kind: 'range', low: -75, high: -20 } });
  await ctx.measure('RSSI spread', spread(readings), { unit: 'dB', limit: { kind: 'range', low: 0, high: 20 } });
}
