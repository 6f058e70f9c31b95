// RTC trim calibration, a scripted step: measure the RTC's frequency error, compute the trim,
// write it, and verify the error is now within ±2 ppm. The measurements are recorded (and judged)
// like a measure step's; a unit that cannot be trimmed in range fails the step.
import type { ScriptContext } from './station-script';

const TRIM_LIMIT_PPM = 200;

export default async function calibrateRtc(ctx: ScriptContext): Promise<void> {
  const readPpm = async (): Promise<number> => Number((await ctx.dut.expect('RTC PPM', 'v=(-?[0-9.]+)'))[1]);

  const before = await readPpm();
  await ctx.measure('RTC error before trim', before, { unit: 'ppm', limit: { kind: 'range', low: -TRIM_LIMIT_PPM, high: TRIM_LIMIT_PPM } });

  // The trim cancels the error, to the register's 0.1 ppm resolution.
  const trim = Math.round(before * 10) / 10;
  await ctx.dut.expect(`RTC TRIM ${trim}`, 'trim=(-?[0-9.]+)');

  const after = await readPpm();
  await ctx.measure('RTC error after trim', after, { unit: 'ppm', limit: { kind: 'range', low: -2, high: 2 } });
  ctx.log('RTC trimmed', { before, trim, after });
}
