// The contract every transport under a line console keeps: one suite, run against each transport
// through a small harness (as node-serialport runs one bindings suite against its mock and a real
// port). The station side is a TaggedConsole on a ReconnectingPort, built exactly as a driver
// builds it, over the harness's PortOpener; the far end is the device as a test drives it: bytes
// to the station, the bytes the station wrote, and the cable pulled out and plugged back in.
//
// Nothing here knows which transport it runs on. A behaviour a transport cannot produce is named
// by its harness in `cannot`, with the reason, and only that case is left out for that transport.
// The test files that run this suite are test/unit/port-contract-*.test.ts and
// test/integration/port-contract-pty.test.ts; this folder holds no tests of its own.
import { afterEach, describe, expect, it } from 'vitest';
import type { DutConsoleEvents } from '../../drivers/console/console.js';
import { TaggedConsole } from '../../drivers/console/tagged-console.js';
import type { PortOpener } from '../../drivers/transport/port.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { silentLogger } from '../../station/log.js';
import { nextEvent, rejectionOf } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

/** The device's end of the cable, whichever connection of the station's is current. */
export interface FarEnd {
  /** Writes bytes towards the station; resolves once the transport has taken them. */
  write(bytes: Buffer): Promise<void>;
  /** Hears every byte the station writes, on this connection and every later one. */
  onData(listener: (bytes: Buffer) => void): void;
  /** Pulls the cable: the station's open port goes away and opening it fails until `plug`. */
  pull(): Promise<void>;
  /** Plugs the cable back in at the same place: the next open finds the port. */
  plug(): Promise<void>;
  /** Makes the station's next write fail as a dying adapter's does (only where `cannot.failWrite` is not set). */
  failNextWrite?(): void;
}

/** One transport, opened fresh for one test. */
export interface TransportHarness {
  /** The port's label as the station names it (a device path, "sim:..."); errors must carry it. */
  readonly label: string;
  /** The station's opener, as a driver would be handed it. */
  readonly open: PortOpener;
  device(): FarEnd;
  cleanup(): Promise<void>;
}

/** Behaviours of the contract a transport may be unable to produce. */
export type Capability = 'failWrite';

export interface TransportKind {
  readonly name: string;
  /** What this transport cannot produce, each with the reason; the case is left out for it alone. */
  readonly cannot: Partial<Record<Capability, string>>;
  create(): Promise<TransportHarness>;
}

export interface SeenRequest {
  tag: number | null;
  command: string;
  raw: string;
}

const WAIT = { timeoutMs: 10_000, intervalMs: 2 };

/**
 * The device speaking the tagged protocol on a FarEnd: splits what the station writes into request
 * lines, and sends answers in the chunks given, each one received by the station before the next
 * goes (so a framer that looks at one chunk at a time cannot pass).
 */
export class ContractDut {
  readonly requests: SeenRequest[] = [];
  /** Called as each request line arrives, before any test code waiting for it resumes. */
  onRequest: (req: SeenRequest) => void = () => undefined;
  private readonly written: Buffer[] = [];
  private partial = '';
  private taken = 0;

  constructor(
    readonly end: FarEnd,
    private readonly stationReceived: () => number,
  ) {
    end.onData((bytes) => this.take(bytes));
  }

  /** Every byte the station has written, as latin1 text. */
  get transcript(): string {
    return Buffer.concat(this.written).toString('latin1');
  }

  /** The next request not yet taken by a test, once it has arrived. */
  async nextRequest(): Promise<SeenRequest> {
    const index = this.taken++;
    return waitFor(`request #${index + 1} to reach the device`, () => this.requests[index], WAIT);
  }

  /** Sends each chunk as its own write, waiting until the station has received it before the next. */
  async send(...chunks: string[]): Promise<void> {
    for (const chunk of chunks) {
      const bytes = Buffer.from(chunk, 'latin1');
      const target = this.stationReceived() + bytes.length;
      await this.end.write(bytes);
      await waitFor(`the station to receive ${JSON.stringify(chunk.slice(0, 40))}`, () => this.stationReceived() >= target, WAIT);
    }
  }

  reply(tag: number | null, payload = ''): Promise<void> {
    return this.send(payload ? `@${tag ?? 0} OK ${payload}\n` : `@${tag ?? 0} OK\n`);
  }

  async pull(): Promise<void> {
    await this.end.pull();
    this.partial = '';
  }

  plug(): Promise<void> {
    return this.end.plug();
  }

  private take(bytes: Buffer): void {
    this.written.push(Buffer.from(bytes));
    this.partial += bytes.toString('latin1');
    for (let end = this.partial.indexOf('\n'); end >= 0; end = this.partial.indexOf('\n')) {
      const raw = this.partial.slice(0, end);
      this.partial = this.partial.slice(end + 1);
      const m = /^@(\d+) (.*)$/.exec(raw);
      const req: SeenRequest = { tag: m ? Number(m[1]) : null, command: m ? (m[2] as string) : raw, raw };
      this.requests.push(req);
      this.onRequest(req);
    }
  }
}

/** Opens made by the station: every attempt, and those that found the port. */
interface OpenCount {
  attempts: number;
  succeeded: number;
  failed: number;
}

interface Bench {
  console: TaggedConsole;
  dut: ContractDut;
  label: string;
  connections: DutConsoleEvents['connection'][];
  opens: OpenCount;
}

async function asRequestError(promise: Promise<unknown>): Promise<RequestError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

export function describePortContract(kind: TransportKind): void {
  describe(`port contract: TaggedConsole on a ReconnectingPort over ${kind.name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];

    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** A console over a fresh transport; started and connected unless the cable starts pulled. */
    async function setup(opts: { maxLineBytes?: number; startPulled?: boolean } = {}): Promise<Bench> {
      const harness = await kind.create();
      cleanups.push(() => harness.cleanup());
      const opens: OpenCount = { attempts: 0, succeeded: 0, failed: 0 };
      let stationReceived = 0;
      const open: PortOpener = async () => {
        opens.attempts++;
        try {
          const opened = await harness.open();
          opens.succeeded++;
          // Only listens: counts what reaches the station, so the device can pace its chunks.
          opened.stream.on('data', (chunk: Buffer) => (stationReceived += chunk.length));
          return opened;
        } catch (err) {
          opens.failed++;
          throw err;
        }
      };
      const dut = new ContractDut(harness.device(), () => stationReceived);
      if (opts.startPulled) await dut.pull();
      const console = new TaggedConsole({ label: harness.label, open, log: silentLogger(), maxLineBytes: opts.maxLineBytes ?? 128, reconnectInitialMs: 10, reconnectMaxMs: 40 });
      cleanups.push(() => console.stop());
      const connections: DutConsoleEvents['connection'][] = [];
      console.events.on('connection', (c) => connections.push(c));
      await console.start();
      if (!opts.startPulled) {
        expect(console.connected).toBe(true);
        expect(connections).toEqual([{ connected: true, reason: null }]);
      }
      return { console, dut, label: harness.label, connections, opens };
    }

    describe('requests', () => {
      it('writes each request as one tagged line with a fresh tag and resolves with the payload of the OK to its tag', async () => {
        const { console, dut } = await setup();
        const vbat = console.request('MEAS VBAT', 5000);
        const first = await dut.nextRequest();
        await dut.send('#debug line first\n', `@${first.tag} OK v=3.712 unit=V\n`);
        await expect(vbat).resolves.toBe('v=3.712 unit=V');
        const ping = console.request('PING', 5000);
        const second = await dut.nextRequest();
        await dut.reply(second.tag);
        await expect(ping).resolves.toBe('');
        expect(dut.requests.map((r) => r.command)).toEqual(['MEAS VBAT', 'PING']);
        expect(dut.transcript).toBe(`@${first.tag} MEAS VBAT\n@${second.tag} PING\n`);
        const tags = [first.tag, second.tag];
        expect(new Set(tags).size).toBe(2);
        expect(tags.every((t) => t !== null && t >= 1 && t <= 9999)).toBe(true);
      });

      it('rejects "rejected" with the DUT error code and message when the DUT answers ERR', async () => {
        const { console, dut } = await setup();
        const pending = console.request('MEAS XYZ', 5000);
        const req = await dut.nextRequest();
        await dut.send(`@${req.tag} ERR BAD_ARG no channel XYZ\n`);
        const err = await asRequestError(pending);
        expect(err.kind).toBe('rejected');
        expect(err.code).toBe('BAD_ARG');
        expect(err.message).toContain('"MEAS XYZ"');
        expect(err.message).toContain('no channel XYZ');
      });

      it('rejects "timeout" naming the command when the DUT stays silent', async () => {
        const { console, dut } = await setup();
        const err = await asRequestError(console.request('SELFTEST FLASH', 30));
        expect(err.kind).toBe('timeout');
        expect(err.message).toContain('"SELFTEST FLASH"');
        expect(err.message).toContain('30 ms');
        // It was sent: the silence is the device's.
        expect((await dut.nextRequest()).command).toBe('SELFTEST FLASH');
      });

      it('never takes a late answer with an old tag for the answer to the next request', async () => {
        const { console, dut } = await setup();
        expect((await asRequestError(console.request('MEAS VBAT', 30))).kind).toBe('timeout');
        const old = await dut.nextRequest();
        const answer = console.request('MEAS VBAT', 5000);
        const next = await dut.nextRequest();
        expect(next.tag).not.toBe(old.tag);
        // The answer to the timed-out request arrives now, on its own, before the right one.
        await dut.send(`@${old.tag} OK v=9.999 late\n`, `@${next.tag} OK v=3.700 right\n`);
        await expect(answer).resolves.toBe('v=3.700 right');
      });

      it('ignores an answer with an unknown tag and keeps waiting for its own', async () => {
        const { console, dut } = await setup();
        const answer = console.request('PING', 5000);
        const req = await dut.nextRequest();
        await dut.send(`@${(req.tag ?? 0) + 100} OK stray\n`, '#debug chatter\n', `@${req.tag} OK mine\n`);
        await expect(answer).resolves.toBe('mine');
      });

      it('keeps one request in flight: the second line is written only after the first settles', async () => {
        const { console, dut } = await setup();
        const order: string[] = [];
        dut.onRequest = (req) => order.push(`dut got ${req.command}`);
        const first = console.request('MEAS VBAT', 5000).then((v) => order.push(`first settled ${v}`));
        const second = console.request('MEAS V3V3', 5000).then((v) => order.push(`second settled ${v}`));
        const r1 = await dut.nextRequest();
        expect(dut.requests.map((r) => r.command)).toEqual(['MEAS VBAT']);
        await dut.reply(r1.tag, 'v=3.700');
        const r2 = await dut.nextRequest();
        await dut.reply(r2.tag, 'v=3.300');
        await Promise.all([first, second]);
        expect(order).toEqual(['dut got MEAS VBAT', 'first settled v=3.700', 'dut got MEAS V3V3', 'second settled v=3.300']);
      });

      it('sends the next queued request after the previous one times out', async () => {
        const { console, dut } = await setup();
        const first = console.request('HANG', 30);
        const second = console.request('PING', 5000);
        await expect(first).rejects.toMatchObject({ kind: 'timeout' });
        expect((await dut.nextRequest()).command).toBe('HANG');
        const ping = await dut.nextRequest();
        expect(ping.command).toBe('PING');
        await dut.reply(ping.tag, 'ready=1');
        await expect(second).resolves.toBe('ready=1');
      });

      it('rejects "aborted" when the signal fires while waiting for the answer', async () => {
        const { console, dut } = await setup();
        const ac = new AbortController();
        const pending = console.request('MEAS TEMP', 60_000, ac.signal);
        expect((await dut.nextRequest()).command).toBe('MEAS TEMP');
        ac.abort('operator stopped the run');
        const err = await asRequestError(pending);
        expect(err.kind).toBe('aborted');
        expect(err.message).toContain('"MEAS TEMP"');
      });

      it('does not send a request whose signal is already aborted', async () => {
        const { console, dut } = await setup();
        const ac = new AbortController();
        ac.abort();
        expect((await asRequestError(console.request('BLESS', 5000, ac.signal))).kind).toBe('aborted');
        const ping = console.request('PING', 5000);
        await dut.reply((await dut.nextRequest()).tag, 'x');
        await expect(ping).resolves.toBe('x');
        expect(dut.requests.map((r) => r.command)).toEqual(['PING']);
      });
    });

    describe('garbage and framing', () => {
      it('rejects "garbage" quoting the escaped line when the DUT sends noise in pieces during a request', async () => {
        const { console, dut } = await setup();
        const garbage = nextEvent(console.events, 'garbage');
        const pending = console.request('MEAS V3V3', 5000);
        await dut.nextRequest();
        await dut.send('\x1b[2J', '\xff\x00gar', 'bled\n');
        const err = await asRequestError(pending);
        expect(err.kind).toBe('garbage');
        expect(err.message).toContain('"MEAS V3V3"');
        expect(err.message).toContain('"\\x1b[2J\\xff\\x00garbled"');
        expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\xff]/);
        expect(await garbage).toEqual({ line: '\x1b[2J\xff\x00garbled', reason: 'control or non-ASCII characters' });
      });

      it('rejects "garbage" naming the byte limit and the full length when an over-long line arrives in pieces under the limit', async () => {
        const { console, dut } = await setup({ maxLineBytes: 64 });
        const pending = console.request('MEAS LIGHT', 5000);
        const req = await dut.nextRequest();
        const line = `@${req.tag} OK v=${'9'.repeat(300)}\n`;
        const pieces: string[] = [];
        for (let at = 0; at < line.length; at += 40) pieces.push(line.slice(at, at + 40)); // each under the limit
        await dut.send(...pieces);
        const err = await asRequestError(pending);
        expect(err.kind).toBe('garbage');
        expect(err.message).toContain('64-byte limit');
        expect(err.message).toContain(`line of ${line.length - 1} bytes`);
      });

      // A good answer followed in the same chunk by an over-long line must still be the answer.
      it('takes a good answer even when an over-long line follows it in the same chunk', async () => {
        const { console, dut } = await setup({ maxLineBytes: 64 });
        const pending = console.request('MEAS VBAT', 5000);
        const req = await dut.nextRequest();
        await dut.send(`@${req.tag} OK v=3.700\n#${'x'.repeat(300)}\n`);
        await expect(pending).resolves.toBe('v=3.700');
      });
    });

    describe('events', () => {
      it('emits "event" for unsolicited lines such as !READY', async () => {
        const { console, dut } = await setup();
        const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
        await dut.send('!BOOT fw=factory-2.3.1 model=imp006\n!READY\n');
        expect(await ready).toEqual({ name: 'READY', fields: {}, payload: '' });
      });

      it('passes event fields through', async () => {
        const { console, dut } = await setup();
        const boot = nextEvent(console.events, 'event', (e) => e.name === 'BOOT');
        await dut.send('!BOOT fw=factory-2.3.1 model=imp006\r\n');
        expect(await boot).toEqual({ name: 'BOOT', fields: { fw: 'factory-2.3.1', model: 'imp006' }, payload: 'fw=factory-2.3.1 model=imp006' });
      });
    });

    describe('connection', () => {
      it('on a pulled cable: rejects the request "disconnected", reports the loss once, refuses requests at once while out, and reconnects with a fresh open when the cable is back', async () => {
        const { console, dut, label, connections, opens } = await setup();
        expect(opens.succeeded).toBe(1);
        const pending = console.request('MEAS VBAT', 60_000);
        await dut.nextRequest();
        await dut.pull();
        const err = await asRequestError(pending);
        expect(err.kind).toBe('disconnected');
        expect(err.message).toContain(label);

        // While the cable is out: no port, a request fails at once, and opens are tried and fail.
        await waitFor('the station to try the missing port', () => opens.failed >= 1, WAIT);
        expect(console.connected).toBe(false);
        const askedAt = Date.now();
        expect((await asRequestError(console.request('PING', 60_000))).kind).toBe('disconnected');
        expect(Date.now() - askedAt).toBeLessThan(1000);
        expect(connections.map((c) => c.connected)).toEqual([true, false]);
        expect(connections[1]?.reason).toBeTruthy();

        const reconnected = nextEvent(console.events, 'connection', (c) => c.connected, WAIT.timeoutMs);
        await dut.plug();
        await reconnected;
        expect(opens.succeeded).toBe(2);
        expect(connections.map((c) => c.connected)).toEqual([true, false, true]);
        expect(console.connected).toBe(true);
        // The new connection works.
        const ping = console.request('PING', 5000);
        const req = await dut.nextRequest();
        expect(req.command).toBe('PING');
        await dut.reply(req.tag, 'ready=1');
        await expect(ping).resolves.toBe('ready=1');
      });

      it('keeps retrying while the port is missing, and connects once it appears', async () => {
        const { console, dut, connections, opens } = await setup({ startPulled: true });
        expect(console.connected).toBe(false);
        await waitFor('three failed opens', () => opens.failed >= 3, WAIT);
        expect(opens.succeeded).toBe(0);
        expect(connections).toEqual([]);
        const up = nextEvent(console.events, 'connection', (c) => c.connected, WAIT.timeoutMs);
        await dut.plug();
        await up;
        expect(opens.succeeded).toBe(1);
        const ping = console.request('PING', 5000);
        await dut.reply((await dut.nextRequest()).tag, 'ready=1');
        await expect(ping).resolves.toBe('ready=1');
        // Once open, it stops trying.
        expect(opens.attempts).toBe(opens.failed + 1);
        expect(connections).toEqual([{ connected: true, reason: null }]);
      });

      it('stop rejects the request in flight "stopped", leaves the console disconnected and opens nothing more', async () => {
        const { console, dut, opens } = await setup();
        const pending = console.request('MEAS VBAT', 60_000);
        await dut.nextRequest();
        await console.stop();
        expect((await asRequestError(pending)).kind).toBe('stopped');
        expect(console.connected).toBe(false);
        expect(opens.attempts).toBe(1);
      });

      // Only where the transport can produce it (its harness says why not, in `cannot`): the case
      // is not defined at all elsewhere, rather than shown as skipped.
      if (kind.cannot.failWrite === undefined)
        it('declares the port lost at once when a write fails, naming the failed write, and opens it again', async () => {
          const { console, dut, label, connections, opens } = await setup();
          if (!dut.end.failNextWrite) throw new Error(`the ${kind.name} harness claims it can fail a write but has no failNextWrite`);
          dut.end.failNextWrite();
          const askedAt = Date.now();
          const err = await asRequestError(console.request('PING', 60_000));
          expect(Date.now() - askedAt).toBeLessThan(1000);
          expect(err.kind).toBe('disconnected');
          expect(err.message).toContain(label);
          expect(err.message).toMatch(/write failed/);
          expect(connections.map((c) => c.connected)).toEqual([true, false]);
          expect(connections[1]?.reason).toMatch(/^write failed: /);
          await waitFor('the port to be opened again', () => console.connected, WAIT);
          expect(opens.succeeded).toBe(2);
          expect(connections.map((c) => c.connected)).toEqual([true, false, true]);
          const ping = console.request('PING', 5000);
          await dut.reply((await dut.nextRequest()).tag, 'ready=1');
          await expect(ping).resolves.toBe('ready=1');
        });
    });
  });
}
