// The ZPL printer driver against the printer simulator over real TCP sockets on loopback: a label
// printed is captured with the Device ID in its Data Matrix field and its text lines; ~HS status
// stops a job when the printer is out of paper or open; a refused connection, a hung printer and
// a connection reset mid-job each fail with an error naming the printer, and the next job works.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_STOCK, layoutLabel } from '../../drivers/label/layout.js';
import { PrinterError, ZplPrinter, parseHostStatus, type ZplPrinterOptions } from '../../drivers/label/printer.js';
import { PrinterSimulator } from '../../drivers/label/simulator/printer-sim.js';
import { silentLogger } from '../../station/log.js';
import { rejectionOf } from '../support/unit-fakes.js';

const sims: PrinterSimulator[] = [];
afterEach(async () => {
  for (const sim of sims.splice(0)) await sim.stop();
});

async function startSim(): Promise<PrinterSimulator> {
  const sim = new PrinterSimulator({ port: 0 });
  sims.push(sim);
  await sim.start();
  return sim;
}

function printerFor(sim: PrinterSimulator, opts: Partial<ZplPrinterOptions> = {}): ZplPrinter {
  return new ZplPrinter({ ...sim.address, stock: DEFAULT_LABEL_STOCK, log: silentLogger(), connectTimeoutMs: 2000, ioTimeoutMs: 1500, ...opts });
}

const job = (lines = ['SN P0012345678', 'MAC 00:1A:2B:3C:4D:5E']) => ({ deviceId: randomBytes(12).toString('hex'), lines, runId: 'run-1' });

async function expectPrinterError(promise: Promise<unknown>, kind: PrinterError['kind'], name: string, message: RegExp): Promise<void> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(PrinterError);
  expect((err as PrinterError).kind).toBe(kind);
  expect((err as Error).message).toContain(`printer at ${name}`);
  expect((err as Error).message).toMatch(message);
}

describe('printing a label over TCP', () => {
  it('the printer receives one format with the Device ID as the Data Matrix and the text lines', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    const label = job();
    await printer.print(label);
    expect(sim.jobs).toHaveLength(1);
    const [captured] = sim.jobs;
    expect(captured!.dataMatrix).toBe(label.deviceId);
    expect(captured!.texts).toEqual([label.deviceId, ...label.lines]);
    const layout = layoutLabel({ deviceId: label.deviceId, lines: label.lines, ...DEFAULT_LABEL_STOCK });
    expect([captured!.widthDots, captured!.lengthDots]).toEqual([layout.widthDots, layout.heightDots]);
    expect(captured!.commands.slice(0, 1)).toEqual(['XA']);
    expect(captured!.commands.at(-1)).toBe('XZ');
  });

  it('carries ^ and ~ in text as hex escapes: the printer gets the text, and no extra command', async () => {
    const sim = await startSim();
    const label = job(['A^XZ^XA~HS', 'x_y~z']);
    await printerFor(sim).print(label);
    expect(sim.jobs).toHaveLength(1);
    expect(sim.jobs[0]!.texts.slice(1)).toEqual(label.lines);
    expect(sim.jobs[0]!.raw).toContain('A_5EXZ_5EXA_7EHS');
  });

  it('sends jobs one at a time, in order, each on its own connection', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    let connections = 0;
    sim.events.on('connection', () => connections++);
    const labels = Array.from({ length: 5 }, () => job());
    await Promise.all(labels.map((l) => printer.print(l)));
    expect(sim.jobs.map((j) => j.dataMatrix)).toEqual(labels.map((l) => l.deviceId));
    expect(connections).toBe(5);
  });

  it('reads the host status (~HS)', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    expect(await printer.status()).toEqual({ paperOut: false, paused: false, headOpen: false, ribbonOut: false, formatsInBuffer: 0 });
    sim.state.paperOut = true;
    sim.state.headOpen = true;
    expect(await printer.status()).toMatchObject({ paperOut: true, headOpen: true, paused: false });
    expect(() => parseHostStatus(Buffer.from('\x02garbage\x03\r\n'), 'p:9100')).toThrow(/p:9100 answered the host status query/);
  });
});

describe('printer faults', () => {
  it('out of paper, head open, paused: the job is not sent, and the error says what to do', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    const name = printer.name;
    sim.state.paperOut = true;
    await expectPrinterError(printer.print(job()), 'paper-out', name, /out of paper.*load labels/);
    sim.state.paperOut = false;
    sim.state.headOpen = true;
    await expectPrinterError(printer.print(job()), 'head-open', name, /print head open/);
    sim.state.headOpen = false;
    sim.state.paused = true;
    await expectPrinterError(printer.print(job()), 'paused', name, /paused/);
    expect(sim.jobs).toHaveLength(0);
    sim.state.paused = false;
    await printer.print(job());
    expect(sim.jobs).toHaveLength(1);
  });

  it('connection refused: a clear error; printing works again once the printer listens', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    await sim.refuseConnections();
    await expectPrinterError(printer.print(job()), 'refused', printer.name, /refused the connection/);
    await sim.acceptConnections();
    const label = job();
    await printer.print(label);
    expect(sim.jobs.map((j) => j.dataMatrix)).toEqual([label.deviceId]);
  });

  it('a printer that hangs: a timeout naming the printer and the wait; the next job works', async () => {
    const sim = await startSim();
    const printer = printerFor(sim, { ioTimeoutMs: 400 });
    sim.injectFault('hang');
    await expectPrinterError(printer.print(job()), 'timeout', printer.name, /did not answer in 400 ms \(answering the host status query/);
    const label = job();
    await printer.print(label);
    expect(sim.jobs.map((j) => j.dataMatrix)).toEqual([label.deviceId]);
  });

  it('a hung printer without status checks: the job is not confirmed, and that is an error too', async () => {
    const sim = await startSim();
    const printer = printerFor(sim, { ioTimeoutMs: 400, checkStatus: false });
    sim.injectFault('hang');
    await expectPrinterError(printer.print(job()), 'timeout', printer.name, /did not answer in 400 ms \(confirming the job/);
    expect(sim.jobs).toHaveLength(0);
  });

  it('a connection closed mid-job: an error saying the label was probably not printed; a retry works', async () => {
    const sim = await startSim();
    const printer = printerFor(sim);
    sim.injectFault('close-mid-job');
    await expectPrinterError(printer.print(job()), 'reset', printer.name, /probably not printed; reprint/);
    expect(sim.jobs).toHaveLength(0);
    const label = job();
    await printer.print(label);
    expect(sim.jobs.map((j) => j.dataMatrix)).toEqual([label.deviceId]);
  });

  it('a printer that is not there at all: unreachable or refused, never a hang', async () => {
    const sim = await startSim();
    const { port } = sim.address;
    await sim.stop();
    const printer = new ZplPrinter({ host: '127.0.0.1', port, stock: DEFAULT_LABEL_STOCK, log: silentLogger(), connectTimeoutMs: 1000, ioTimeoutMs: 1000 });
    await expectPrinterError(printer.print(job()), 'refused', `127.0.0.1:${port}`, /is it on/);
  });
});
