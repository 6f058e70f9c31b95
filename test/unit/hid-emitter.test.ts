// The USB-HID LED emitter: frames as 64-byte reports through the device seam (node-hid's HIDAsync
// in service, the simulator here), the light reaching the optical link symbol for symbol, errors
// and silence reported as the emitter's fault, and node-hid loaded lazily with a clear message
// when it cannot load.
import { describe, expect, it } from 'vitest';
import { EmitterError } from '../../drivers/emitter/emitter.js';
import { encodeFrame, decodeSymbols } from '../../drivers/emitter/frame.js';
import { DATA_BYTES_PER_REPORT, frameReports, HidLedEmitter, HidUnavailableError, loadNodeHid, REPORT_BYTES } from '../../drivers/emitter/hid-led.js';
import { HidEmitterSim } from '../../drivers/emitter/simulator/hid-emitter-sim.js';
import { OpticalLink, type Shone } from '../../drivers/emitter/simulator/optical-link.js';
import { silentLogger } from '../../station/log.js';

const payload = { ssid: 'factory-net1', password: 'pw-12345678', token: 'ft_hid_test_token_0123456789', tokenType: 'factory' as const };

function rig(): { emitter: HidLedEmitter; sim: HidEmitterSim; seen: Shone[]; unavailable: string[] } {
  const link = new OpticalLink();
  const seen: Shone[] = [];
  link.attachSensor((light) => seen.push(light));
  const sim = new HidEmitterSim(link, 0);
  const unavailable: string[] = [];
  const emitter = new HidLedEmitter({ label: 'hid-test', open: async () => sim, log: silentLogger(), reconnectMs: 50, onUnavailable: (m) => unavailable.push(m) });
  return { emitter, sim, seen, unavailable };
}

describe('HID LED emitter', () => {
  it('splits a frame into 65-byte writes (report ID + 64) with the symbols packed in order', () => {
    const symbols = encodeFrame(payload);
    const reports = frameReports(symbols, { symbolRateHz: 142, activeLow: true });
    expect(reports.every((r) => r.length === REPORT_BYTES + 1 && r[0] === 0)).toBe(true);
    expect(reports[0]?.slice(1, 6)).toEqual([0x01, 142, 1, symbols.length >> 8, symbols.length & 0xff]);
    expect(reports).toHaveLength(2 + Math.ceil(Math.ceil(symbols.length / 8) / DATA_BYTES_PER_REPORT));
    expect(reports.at(-1)?.[1]).toBe(0x03);
  });

  it('plays a frame: the optical link sees exactly the symbols, and the driver gets PLAYED', async () => {
    const { emitter, sim, seen } = rig();
    await emitter.start();
    expect(emitter.connected).toBe(true);
    const symbols = encodeFrame(payload);
    const result = await emitter.emit(symbols, { symbolRateHz: 142, activeLow: false });
    expect(result.symbols).toBe(symbols.length);
    expect(result.onAirMs).toBeGreaterThan(0);
    expect(sim.framesPlayed).toBe(1);
    expect(Array.from(seen[0]?.symbols ?? [])).toEqual(Array.from(symbols));
    const decoded = decodeSymbols(seen[0]?.symbols ?? []);
    expect(decoded.ok && decoded.payload.token).toBe(payload.token);
    await emitter.stop();
  });

  it('reports an emitter that says nothing as not responding', async () => {
    const { emitter, sim } = rig();
    await emitter.start();
    sim.silent = true;
    const err = await emitter.emit(Uint8Array.from([1, 0, 1, 0]), { symbolRateHz: 142, activeLow: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmitterError);
    expect((err as EmitterError).kind).toBe('not-responding');
    await emitter.stop();
  });

  it("reports a refused frame with the emitter's error name", async () => {
    const { emitter } = rig();
    await emitter.start();
    const err = await emitter.emit(Uint8Array.from([1, 0, 1]), { symbolRateHz: 99 as 60, activeLow: false }).catch((e: unknown) => e);
    expect((err as EmitterError).kind).toBe('rejected');
    expect((err as Error).message).toMatch(/BAD_RATE/);
    await emitter.stop();
  });

  it('stops the frame and reports aborted when the run is interrupted', async () => {
    const { emitter, sim, seen } = rig();
    await emitter.start();
    const abort = new AbortController();
    const playing = emitter.emit(encodeFrame(payload), { symbolRateHz: 60, activeLow: false }, abort.signal);
    abort.abort('test');
    const err = await playing.catch((e: unknown) => e);
    expect((err as EmitterError).kind).toBe('aborted');
    // STOP reached the device: nothing is shone afterwards, and the next frame plays.
    const next = await emitter.emit(Uint8Array.from([1, 0, 1, 1]), { symbolRateHz: 142, activeLow: false });
    expect(next.symbols).toBe(4);
    expect(sim.framesPlayed).toBe(1);
    expect(seen).toHaveLength(1);
    await emitter.stop();
  });

  it('names what to install when node-hid cannot load, and raises it once instead of retrying', async () => {
    const failing = (): Promise<unknown> => Promise.reject(new Error('libusb-1.0.so.0: cannot open shared object file'));
    const err = await loadNodeHid(failing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HidUnavailableError);
    expect((err as Error).message).toMatch(/libusb-1\.0-0/);
    expect((err as Error).message).toMatch(/libusb-1\.0\.so\.0/);

    const unavailable: string[] = [];
    let opens = 0;
    const emitter = new HidLedEmitter({
      label: '/dev/hidraw9',
      open: async () => {
        opens++;
        throw err as Error;
      },
      log: silentLogger(),
      reconnectMs: 10,
      onUnavailable: (m) => unavailable.push(m),
    });
    await emitter.start();
    expect(emitter.connected).toBe(false);
    expect(unavailable).toEqual([(err as Error).message]);
    expect(opens).toBe(1);
    await emitter.stop();
  });

  it('loads the real node-hid, or fails with the message that says what to install', async () => {
    const result = await loadNodeHid().then(
      (hid) => ({ ok: true as const, hid }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    if (result.ok) expect(typeof result.hid.HIDAsync.open).toBe('function');
    else expect((result.e as Error).message).toMatch(/apt-get install libusb-1\.0-0/);
  });
});
