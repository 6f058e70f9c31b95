// The real daemon against simulated DUTs over real pseudo-terminal pairs (socat): units are
// identified, tested, blessed or failed and recorded; faults on the UART fail the unit with a
// clear reason and the daemon keeps running; a pulled cable interrupts the run and reconnects.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import Database from 'better-sqlite3';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNestOnSerial, type SerialNest } from '../../drivers/dut/simulator/cli.js';
import { DEFAULT_BEHAVIOUR, SimulatedNest } from '../../drivers/dut/simulator/firmware.js';
import { NestStreamAdapter } from '../../drivers/dut/simulator/stream-adapter.js';
import { serialStationConfig } from '../support/configs.js';
import { Daemon } from '../support/daemon.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

interface Health {
  slots: { slot: number; state: string; connected: boolean; runId: string | null; reason: string | null; deviceId: string | null; step: { index: number; count: number; name: string } | null }[];
  counts: { blessed: number; failed: number; interrupted: number; devicesBlessed: number };
  uplink: { queued: number };
}
interface DevicesPage {
  devices: { deviceId: string; mac: string; iccid: string | null; imei: string | null; status: string; attempts: number; runId: string }[];
  nextCursor: string | null;
}
interface RunDetail {
  runId: string;
  status: string;
  reason: string | null;
  failStep: string | null;
  sequence: { hash: string };
  steps: { name: string; status: string; message: string | null; measurements: { name: string; value: number | string; outcome: string }[] }[];
}

/** Bytes per write when the nest sends a long line; 4 pieces are 512 bytes, not over the limit. */
const PIECE_BYTES = 128;
/** The pause between those writes, so the station reads each piece on its own. */
const PIECE_GAP_MS = 20;

/**
 * The nest's side of the port, writing anything longer than a piece in paced pieces: each piece is
 * written, drained to the pty, and followed by a pause before the next. A long line therefore
 * reaches the station in several reads, none over the line limit by itself, as a slow UART or a
 * USB adapter's packets would deliver it. Short writes go straight through, in order.
 */
class PiecewisePort extends Duplex {
  constructor(private readonly port: SerialPort) {
    super();
    port.on('data', (d: Buffer) => this.push(d));
    port.on('close', () => this.push(null));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    void (async () => {
      for (let at = 0; at < chunk.length; at += PIECE_BYTES) {
        if (at > 0) await new Promise((r) => setTimeout(r, PIECE_GAP_MS));
        this.port.write(chunk.subarray(at, at + PIECE_BYTES));
        await new Promise<void>((resolve, reject) => this.port.drain((err) => (err ? reject(err) : resolve())));
      }
    })().then(
      () => done(),
      (err: Error) => done(err),
    );
  }
}

/** A simulated nest on a serial port that sends long lines in pieces (no cable pulls). */
async function runPiecewiseNest(opts: { path: string; latencyMs: number; seed: number; behaviour: Partial<typeof DEFAULT_BEHAVIOUR> }): Promise<SerialNest> {
  const nest = new SimulatedNest(`sim:${opts.path}`, opts.behaviour, opts.seed, { event: () => undefined, raw: () => undefined, unplug: () => undefined });
  const port = new SerialPort({ path: opts.path, baudRate: 115200, autoOpen: false, lock: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(new Error(`cannot open ${opts.path}: ${err.message}`)) : resolve())));
  const adapter = new NestStreamAdapter(nest, new PiecewisePort(port), {
    latencyMs: opts.latencyMs,
    onUnplug: () => {
      throw new Error('this nest cannot pull its cable');
    },
  });
  nest.start();
  return {
    nest,
    at: null,
    shell: null,
    close: async () => {
      nest.stop();
      adapter.detach();
      if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}

describe('station over real pseudo-terminals', () => {
  let dir: string;
  const pairs: PtyPair[] = [];
  const nests: SerialNest[] = [];
  let daemon: Daemon;

  const startNest = async (i: number): Promise<SerialNest> => {
    const opts = {
      path: (pairs[i] as PtyPair).simPath,
      latencyMs: 2,
      seed: 1000 + i,
      behaviour: { bootMs: 20, handlingMs: 150, cellularRate: 0.5, retestRate: 0.2, failureRates: { RSSI: 0.15 }, hangMs: 3000, unplugMs: 500, idleReseatMs: 2500 },
    };
    // Slot 1's nest sends its over-long line in pieces (see the over-long line test).
    const nest = i === 1 ? await runPiecewiseNest(opts) : await runNestOnSerial(opts);
    nests[i] = nest;
    return nest;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-pty-'));
    for (let i = 0; i < 2; i++) pairs.push(await new PtyPair(dir, `slot${i}`).open());
    const config = Daemon.writeConfig(dir, serialStationConfig({ dataDir: path.join(dir, 'data'), ports: pairs.map((p) => p.stationPath) }));
    daemon = await new Daemon(config).start();
    for (let i = 0; i < 2; i++) await startNest(i);
  });

  afterAll(async () => {
    await daemon?.kill9();
    for (const n of nests) await n?.close();
    for (const p of pairs) await p.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('identifies, tests and blesses units on every slot and records them', async () => {
    const health = await waitFor(
      '10 blessed devices',
      async () => {
        const h = await daemon.api<Health>('/api/health');
        return h.counts.devicesBlessed >= 10 ? h : null;
      },
      { timeoutMs: 60_000 },
    );
    expect(health.slots.every((s) => s.connected)).toBe(true);
    expect(health.uplink.queued).toBeGreaterThanOrEqual(health.counts.blessed);

    const page = await daemon.api<DevicesPage>('/api/devices?status=blessed&limit=5');
    expect(page.devices).toHaveLength(5);
    expect(page.nextCursor).toBeTruthy();
    for (const d of page.devices) {
      expect(d.deviceId).toMatch(/^[0-9a-f]{16}$/);
      expect(d.mac).toMatch(/^[0-9a-f]{12}$/);
      if (d.iccid) expect(d.imei).toMatch(/^\d{15}$/);
    }
    const next = await daemon.api<DevicesPage>(`/api/devices?status=blessed&limit=5&cursor=${page.nextCursor}`);
    expect(next.devices.map((d) => d.deviceId)).not.toContain(page.devices[0]?.deviceId);

    const run = await daemon.api<RunDetail>(`/api/runs/${page.devices[0]?.runId}`);
    expect(run.status).toBe('blessed');
    expect(run.sequence.hash).toMatch(/^[0-9a-f]{64}$/);
    const vbat = run.steps.find((s) => s.name === 'Battery voltage');
    expect(vbat?.measurements[0]?.value).toBeTypeOf('number');
    expect(run.steps.at(-1)?.name).toBe('Bless');

    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/station_devices_blessed\{station="test-station"\} \d+/);
  });

  it('fails a unit whose RSSI is out of spec, naming the value and the limit', async () => {
    const failed = await waitFor('a failed device', async () => (await daemon.api<DevicesPage>('/api/devices?status=failed&limit=1')).devices[0], { timeoutMs: 60_000 });
    const run = await daemon.api<RunDetail>(`/api/runs/${failed.runId}`);
    expect(run.failStep).toBe('Wi-Fi RSSI');
    expect(run.reason).toMatch(/-9\d dBm below low -75 dBm/);
  });

  /** Step messages the daemon has recorded, read from its database (WAL allows a reader alongside). */
  const stepMessages = (pattern: string): { run_id: string; name: string; status: string; message: string }[] => {
    const db = new Database(path.join(dir, 'data', 'station.db'), { readonly: true, fileMustExist: true });
    try {
      return db.prepare(`SELECT run_id, name, status, message FROM step_results WHERE message LIKE ?`).all(pattern) as never;
    } finally {
      db.close();
    }
  };

  it('fails the command with an escaped quote of garbage on the UART and keeps running', async () => {
    expect(stepMessages('%garbage%')).toEqual([]);
    // The fault hits the nest's next command. Inject it early in a run, so that command is a test
    // step's (not the FAIL that ends a failed run, which records no step): and if a loaded machine
    // still lets the run end first, inject it again in the next run.
    let step: { message: string | null } | undefined;
    for (let attempt = 0; attempt < 4 && !step; attempt++) {
      await waitFor(
        'slot 0 early in its test steps',
        async () => {
          const s = (await daemon.api<Health>('/api/health')).slots[0];
          return s?.state === 'testing' && s.step && s.step.index >= 1 && s.step.index <= s.step.count - 4 ? s : null;
        },
        { intervalMs: 5 },
      );
      (nests[0] as SerialNest).nest.injectFault('garbage');
      [step] = await waitFor(
        'a step result quoting the garbage',
        () => {
          const rows = stepMessages('%garbage%');
          return rows.length > 0 ? rows : null;
        },
        { timeoutMs: 8000 },
      ).catch(() => [undefined]);
    }
    expect(step, 'no step result quoted the garbage after 4 injections').toBeDefined();
    // Either the step failed on it, or a retry passed and the message keeps the first attempt's failure.
    expect(step?.message).toMatch(/answered ".+" with garbage \((control or non-ASCII characters|not a reply, event or debug line)\): "/);
    expect(step?.message).not.toMatch(/[\x00-\x08\x1b\x7f-\xff]/);
    const h = await daemon.api<Health>('/api/health');
    expect(h.slots.every((s) => s.connected)).toBe(true);
  });

  it('fails the command when the DUT sends an over-long line in pieces each under the limit, naming the limit', async () => {
    // The 4008-byte line arrives in 128-byte pieces: only a guard that counts across reads (not
    // per read) sees it pass the 512-byte limit.
    await waitFor('slot 1 to be testing', async () => (await daemon.api<Health>('/api/health')).slots[1]?.state === 'testing');
    (nests[1] as SerialNest).nest.injectFault('overlong');
    const [step] = await waitFor('a step result naming the line limit', () => {
      const rows = stepMessages('%512-byte limit%');
      return rows.length > 0 ? rows : null;
    });
    expect(step?.message).toMatch(/line of \d{4} bytes exceeds the 512-byte limit/);
    expect((step?.message ?? '').length).toBeLessThan(400);
    expect(daemon.running).toBe(true);
  });

  it('marks the run interrupted when the cable is pulled mid-test, then reconnects and goes on', async () => {
    await waitFor('slot 0 testing past identify', async () => {
      const s = (await daemon.api<Health>('/api/health')).slots[0];
      return s?.state === 'testing' && s.deviceId ? s : null;
    });
    // Hang the unit first, so its run is certainly still open when the cable goes.
    (nests[0] as SerialNest).nest.injectFault('hang');
    await waitFor('the unit to hang', () => (nests[0] as SerialNest).nest.hung, { intervalMs: 5 });
    const slot = (await daemon.api<Health>('/api/health')).slots[0] as Health['slots'][number];
    expect(['testing', 'blessing']).toContain(slot.state);
    await (nests[0] as SerialNest).close();
    await (pairs[0] as PtyPair).pull();
    let last: unknown = null;
    const run = await waitFor('the run in flight to be interrupted', async () => {
      const r = await daemon.api<RunDetail>(`/api/runs/${slot.runId}`);
      last = { run: { status: r.status, reason: r.reason, steps: r.steps.map((x) => `${x.name}:${x.status}`) }, slot: (await daemon.api<Health>('/api/health')).slots[0] };
      return r.status === 'interrupted' ? r : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last seen ${JSON.stringify(last)}; log tail ${daemon.stdout.slice(-1500)}`);
    });
    expect(run.reason).toMatch(/disconnected/);
    await waitFor('slot 0 offline', async () => (await daemon.api<Health>('/api/health')).slots[0]?.connected === false);

    await (pairs[0] as PtyPair).open();
    await startNest(0);
    await waitFor('slot 0 to reconnect', async () => (await daemon.api<Health>('/api/health')).slots[0]?.connected === true);
    const before = (await daemon.api<Health>('/api/health')).counts.blessed;
    await waitFor(
      'slot 0 to bless again',
      async () => {
        const h = await daemon.api<Health>('/api/health');
        return h.counts.blessed > before + 2 && h.slots[0]?.state !== 'offline';
      },
      { timeoutMs: 30_000 },
    );
    // Interrupted never means blessed.
    const after = await daemon.api<RunDetail>(`/api/runs/${slot.runId}`);
    expect(after.status).toBe('interrupted');
  });

  it('stops on SIGTERM with exit 0, leaving no run open and an intact database', async () => {
    await waitFor('a slot mid-test', async () => (await daemon.api<Health>('/api/health')).slots.some((s) => s.state === 'testing'));
    const code = await daemon.terminate();
    expect(code).toBe(0);
    const db = new Database(path.join(dir, 'data', 'station.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const open = db.prepare(`SELECT run_id, slot, started_at FROM runs WHERE status = 'running'`).all();
      expect(open, `runs left open; daemon log:\n${daemon.stdout.slice(-3000)}`).toEqual([]);
      const interrupted = db.prepare(`SELECT reason FROM runs WHERE status = 'interrupted' AND reason LIKE '%shutting down%'`).all();
      expect(interrupted.length).toBeGreaterThan(0);
      const orphans = db
        .prepare(`SELECT count(*) AS n FROM runs r LEFT JOIN outbox o ON o.run_id = r.run_id WHERE r.status IN ('blessed','failed') AND r.device_id IS NOT NULL AND o.record_id IS NULL`)
        .get();
      expect(orphans).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
