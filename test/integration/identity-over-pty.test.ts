// Identity capture and labels, end to end on real ports: a DUT on one socat pty pair, a serial
// scanner simulator on another, the compiled daemon between them, and a Zebra printer simulator on
// real TCP. The label scan is checked against what the DUT reports (a mismatch fails the DUT with
// both values named); a scan in the wrong format leaves the prompt open saying what was expected;
// the mobile secret is sealed and appears nowhere in clear; a blessed unit's label is printed as
// ZPL and can be reprinted; label images decode over HTTP.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNestOnSerial, type SerialNest } from '../../drivers/dut/simulator/cli.js';
import { simulatedLabelFields } from '../../drivers/dut/simulator/label.js';
import { renderLabelPng } from '../../drivers/label/png.js';
import { PrinterSimulator } from '../../drivers/label/simulator/printer-sim.js';
import { runSerialScannerOnPort, type SerialScannerOnPort } from '../../drivers/scanner/simulator/serial-scanner-sim.js';
import { DEFAULT_LABEL_STOCK } from '../../drivers/label/layout.js';
import { serialStationConfig } from '../support/configs.js';
import { Daemon, LiveClient } from '../support/daemon.js';
import { PtyPair } from '../support/pty.js';
import { waitFor } from '../support/wait.js';

type Delta = LiveClient['deltas'][number];

describe('identity capture and labels over real ports', () => {
  let dir: string;
  let dut: PtyPair;
  let scan: PtyPair;
  let nest: SerialNest;
  let scanner: SerialScannerOnPort;
  let printer: PrinterSimulator;
  let daemon: Daemon;
  let live: LiveClient;
  let dbPath: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'station-identity-'));
    dbPath = path.join(dir, 'data', 'station.db');
    dut = await new PtyPair(dir, 'dut0').open();
    scan = await new PtyPair(dir, 'scan0').open();
    printer = new PrinterSimulator({ port: 0 });
    const addr = await printer.start();
    const cfg = serialStationConfig({ dataDir: path.join(dir, 'data'), ports: [dut.stationPath], logLevel: 'debug' }) as Record<string, unknown>;
    cfg.sequence = {
      name: 'label-check',
      defaultTimeoutMs: 1500,
      steps: [
        { type: 'identify', name: 'Identify', label: { text: 'Scan the unit label', match: ['deviceId'], timeoutMs: 60_000 } },
        { type: 'measure', name: 'Battery', command: 'MEAS VBAT', capture: 'v=([0-9.]+)', unit: 'V', limit: { kind: 'range', low: 3.0, high: 4.5 } },
        { type: 'bless', name: 'Bless' },
      ],
    };
    cfg.simulation = { operator: 'off' };
    cfg.scanners = [{ id: 'nest-scanner', slot: 1, driver: { kind: 'serial', path: scan.stationPath, baudRate: 9600, delimiter: 'CR' } }];
    cfg.labels = {
      format: { separator: ' ', fields: ['deviceId', 'serial', 'secret'], patterns: { serial: 'SN[0-9A-F]{8}' }, secretFields: ['secret'] },
      output: { kind: 'zpl', host: addr.host, port: addr.port, checkStatus: true },
      product: 'Imp Widget',
    };
    daemon = new Daemon(Daemon.writeConfig(dir, cfg));
    await daemon.start();
    live = await LiveClient.connect(daemon.url, { session: await daemon.login('operator') });
    scanner = await runSerialScannerOnPort({ path: scan.simPath, delimiter: 'CR' });
    nest = await runNestOnSerial({ path: dut.simPath, latencyMs: 2, seed: 4242, behaviour: { bootMs: 10, handlingMs: 150, retestRate: 0, failureRates: {} } });
  });

  afterAll(async () => {
    live?.close();
    await daemon?.kill9();
    await nest?.close();
    await scanner?.close();
    await printer?.stop();
    await dut?.close();
    await scan?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const opened = (after: number): Delta | undefined => live.deltas.find((d) => d.seq > after && d.t === 'prompt.opened' && d.d.kind === 'scan');

  /** Waits for the next label prompt and the unit it is for. */
  async function nextLabelPrompt(after: number): Promise<{ delta: Delta; unit: NonNullable<SerialNest['nest']['currentUnit']> }> {
    const delta = await waitFor('a label scan prompt', () => opened(after), { timeoutMs: 20_000 });
    const unit = nest.nest.currentUnit;
    if (!unit) throw new Error('no unit in the nest');
    return { delta, unit };
  }

  async function runOf(deviceId: string, status: string): Promise<{ runId: string; status: string; reason: string | null; failStep: string | null }> {
    return waitFor(`a ${status} run for ${deviceId}`, async () => {
      const h = await daemon.api<{ runs: { runId: string; status: string; reason: string | null; failStep: string | null }[] }>(`/api/devices/${deviceId}/history`);
      return h.runs.find((r) => r.status === status) ?? null;
    });
  }

  it('refuses a scan in the wrong format (the prompt stays open, saying what was expected), then takes the right label and blesses', async () => {
    const { delta, unit } = await nextLabelPrompt(0);
    // Operators are told what to scan in words; the label's layout is the prompt's format (details).
    expect(delta.d.expected).toBe('the unit’s label');
    expect(String(delta.d.format)).toContain('serial');
    const seen = live.lastSeq;
    await scanner.sim.scan('hello world');
    const rejected = await waitFor('the scan to be refused', () => live.deltas.find((d) => d.seq > seen && d.t === 'scan.rejected'));
    expect(String(rejected.d.reason)).toMatch(/expected/i);
    // still open: not closed by the refused scan
    expect(live.deltas.some((d) => d.seq > seen && d.t === 'prompt.closed' && d.d.promptId === delta.d.promptId)).toBe(false);

    const fields = simulatedLabelFields(unit);
    await scanner.sim.scan(`${fields.deviceId} ${fields.serial} ${fields.secret}`);
    const run = await runOf(unit.deviceId, 'blessed');
    const detail = await daemon.api<{ steps: { name: string; status: string; message: string | null }[] }>(`/api/runs/${run.runId}`);
    expect(detail.steps[0]).toMatchObject({ name: 'Identify', status: 'pass' });
    expect(detail.steps[0]?.message).toContain('label matches');

    // The mobile secret is sealed: a row exists, and its text is nowhere in clear.
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.prepare(`SELECT field FROM device_secrets WHERE device_id = ?`).all(unit.deviceId)).toEqual([{ field: 'secret' }]);
    } finally {
      db.close();
    }
    const closed = live.deltas.find((d) => d.t === 'prompt.closed' && d.d.promptId === delta.d.promptId);
    expect(String(closed?.d.answer)).toContain('secret=•••');

    // The label went to the printer: its Data Matrix carries the Device ID, never the secret.
    const job = await waitFor('the label job', () => printer.jobs.find((j) => j.raw.includes(unit.deviceId)));
    expect(job.raw).not.toContain(fields.secret as string);
    expect(job.dataMatrix).toContain(unit.deviceId);
    const secret = fields.secret as string;
    const csv = await (await daemon.request('/api/export/records.csv')).text();
    const everything = [daemon.stdout, daemon.stderr, csv, JSON.stringify(live.deltas), JSON.stringify(live.snapshots), ...dataFiles(dir)].join('\n');
    expect(everything.includes(secret)).toBe(false);
  });

  it('fails a DUT whose label belongs to another unit, naming both Device IDs', async () => {
    const { unit } = await nextLabelPrompt(live.lastSeq);
    const wrong = simulatedLabelFields({ ...unit, deviceId: 'abcdef0123456789' });
    await scanner.sim.scan(`${wrong.deviceId} ${wrong.serial} ${wrong.secret}`);
    const run = await runOf(unit.deviceId, 'failed');
    expect(run.failStep).toBe('Identify');
    expect(run.reason).toContain('abcdef0123456789');
    expect(run.reason).toContain(unit.deviceId);
  });

  it('a configuration barcode or control characters from the scanner are refused, nothing stored', async () => {
    const { delta, unit } = await nextLabelPrompt(live.lastSeq);
    const before = live.lastSeq;
    await scanner.sim.scan('^FNC3DEFALT');
    await scanner.sim.scan('\x1b[31mred');
    await waitFor('two refusals', () => live.deltas.filter((d) => d.seq > before && d.t === 'scan.rejected').length >= 2);
    expect(live.deltas.some((d) => d.seq > before && d.t === 'prompt.closed' && d.d.promptId === delta.d.promptId)).toBe(false);
    const fields = simulatedLabelFields(unit);
    await scanner.sim.scan(`${fields.deviceId} ${fields.serial} ${fields.secret}`);
    await runOf(unit.deviceId, 'blessed');
  });

  it('reprints a label for an engineer (not an operator) and decodes uploaded label images', async () => {
    const blessed = await waitFor('a blessed device', async () => {
      const list = await daemon.api<{ devices: { deviceId: string; status: string }[] }>('/api/devices?status=blessed');
      return list.devices[0] ?? null;
    });
    const jobsBefore = printer.jobs.length;
    const operator = await daemon.login('operator');
    expect((await daemon.request(`/api/labels/${blessed.deviceId}/reprint`, { method: 'POST', as: operator })).status).toBe(403);
    const res = await daemon.request(`/api/labels/${blessed.deviceId}/reprint`, { method: 'POST' });
    expect(res.status).toBe(200);
    await waitFor('the reprinted job', () => printer.jobs.length > jobsBefore);
    expect((await daemon.request('/api/labels/0123456789abcdef/reprint', { method: 'POST' })).status).toBe(404);

    const png = await renderLabelPng({ deviceId: blessed.deviceId, lines: ['Imp Widget'], ...DEFAULT_LABEL_STOCK });
    const decoded = await daemon.request('/api/scan/image', { method: 'POST', body: png, headers: { 'content-type': 'image/png' } });
    expect(decoded.status).toBe(200);
    const body = (await decoded.json()) as { symbols: { format: string; text: string }[] };
    expect(body.symbols.map((s) => s.text)).toContain(blessed.deviceId);
    const blank = await daemon.request('/api/scan/image', { method: 'POST', body: Buffer.from('not an image at all'), headers: { 'content-type': 'image/png' } });
    expect([415, 422]).toContain(blank.status);
    const huge = await daemon.request('/api/scan/image', { method: 'POST', body: Buffer.alloc(9 * 1024 * 1024), headers: { 'content-type': 'image/png' } });
    expect(huge.status).toBe(413);
    expect((await daemon.request('/api/scan/image', { method: 'POST', body: png, headers: { 'content-type': 'image/png' }, as: operator })).status).toBe(403);
  });
});

/** The data folder's files (database, WAL), as text: where a leaked secret would sit in clear. */
function dataFiles(dir: string): string[] {
  const data = path.join(dir, 'data');
  return readdirSync(data)
    .filter((f) => f.startsWith('station.db'))
    .map((f) => readFileSync(path.join(data, f)).toString('latin1'));
}
