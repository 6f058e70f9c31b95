import { afterEach, describe, expect, it } from 'vitest';
import { RequestError } from '../../drivers/transport/request-error.js';
import { type DutConsoleEvents } from '../../drivers/console/console.js';
import { TaggedConsole } from '../../drivers/console/tagged-console.js';
import { silentLogger } from '../../station/log.js';
import { FakeDutLink, nextEvent, rejectionOf, waitFor, type FakeDut } from '../support/unit-fakes.js';

const consoles: TaggedConsole[] = [];

afterEach(async () => {
  for (const c of consoles.splice(0)) await c.stop();
});

/** A started console over a FakeDutLink; `configure` sets up each DUT end as it is opened. */
async function setup(configure: (dut: FakeDut) => void = () => undefined, maxLineBytes = 128): Promise<{ console: TaggedConsole; link: FakeDutLink; connections: DutConsoleEvents['connection'][] }> {
  const link = new FakeDutLink(configure);
  const console = new TaggedConsole({ label: 'fake:0', open: link.open, log: silentLogger(), maxLineBytes, reconnectInitialMs: 10, reconnectMaxMs: 40 });
  consoles.push(console);
  const connections: DutConsoleEvents['connection'][] = [];
  console.events.on('connection', (c) => connections.push(c));
  await console.start();
  expect(console.connected).toBe(true);
  return { console, link, connections };
}

/** A DUT that answers every request OK with `answer(command)`. */
const answering = (answer: (command: string) => string) => (dut: FakeDut) => {
  dut.onRequest = (req, d) => d.reply(req.tag, answer(req.command));
};

async function asDutError(promise: Promise<unknown>): Promise<RequestError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe('TaggedConsole requests', () => {
  it('resolves with the payload of the OK answer to its tag', async () => {
    const { console, link } = await setup(answering((c) => (c === 'MEAS VBAT' ? 'v=3.712 unit=V' : '')));
    await expect(console.request('MEAS VBAT', 2000)).resolves.toBe('v=3.712 unit=V');
    await expect(console.request('PING', 2000)).resolves.toBe('');
    expect(link.current.requests.map((r) => r.command)).toEqual(['MEAS VBAT', 'PING']);
    // Each request gets a fresh tag.
    const tags = link.current.requests.map((r) => r.tag);
    expect(new Set(tags).size).toBe(2);
    expect(tags.every((t) => t !== null && t >= 1 && t <= 9999)).toBe(true);
  });

  it('rejects "rejected" with the DUT error code and message when the DUT answers ERR', async () => {
    const { console } = await setup((dut) => {
      dut.onRequest = (req, d) => d.send(`@${req.tag} ERR BAD_ARG no channel XYZ\n`);
    });
    const err = await asDutError(console.request('MEAS XYZ', 2000));
    expect(err.kind).toBe('rejected');
    expect(err.code).toBe('BAD_ARG');
    expect(err.message).toContain('"MEAS XYZ"');
    expect(err.message).toContain('no channel XYZ');
  });

  it('rejects "timeout" naming the command when the DUT stays silent', async () => {
    const { console } = await setup();
    const err = await asDutError(console.request('SELFTEST FLASH', 30));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('"SELFTEST FLASH"');
    expect(err.message).toContain('30 ms');
  });

  it('never takes a late answer with an old tag for the answer to the next request', async () => {
    const { console, link } = await setup();
    const first = await asDutError(console.request('MEAS VBAT', 30));
    expect(first.kind).toBe('timeout');
    const oldTag = link.current.requests[0]?.tag ?? null;
    link.current.onRequest = (req, d) => {
      d.reply(oldTag, 'v=9.999 late'); // the answer to the timed-out request arrives now
      d.reply(req.tag, 'v=3.700 right');
    };
    await expect(console.request('MEAS VBAT', 2000)).resolves.toBe('v=3.700 right');
  });

  it('ignores an answer with an unknown tag and keeps waiting for its own', async () => {
    const { console } = await setup((dut) => {
      dut.onRequest = (req, d) => {
        d.reply((req.tag ?? 0) + 100, 'stray');
        d.send('#debug chatter\n');
        d.reply(req.tag, 'mine');
      };
    });
    await expect(console.request('PING', 2000)).resolves.toBe('mine');
  });

  it('rejects "garbage" quoting the escaped line when the DUT sends noise during a request', async () => {
    const { console } = await setup((dut) => {
      dut.onRequest = (_req, d) => d.send('\x1b[2J\xff\x00garbled\n');
    });
    const garbage = nextEvent(console.events, 'garbage');
    const err = await asDutError(console.request('MEAS V3V3', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('"MEAS V3V3"');
    expect(err.message).toContain('"\\x1b[2J\\xff\\x00garbled"');
    expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\xff]/);
    expect((await garbage).reason).toBe('control or non-ASCII characters');
  });

  it('rejects "garbage" mentioning the byte limit when the DUT sends an over-long line', async () => {
    const { console } = await setup((dut) => {
      dut.onRequest = (req, d) => d.send(`@${req.tag} OK v=${'9'.repeat(300)}\n`);
    }, 64);
    const err = await asDutError(console.request('MEAS LIGHT', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('64-byte limit');
    expect(err.message).toContain(`line of ${'@1 OK v='.length + 300} bytes`);
  });

  // Consequence of the LineLengthGuard flag bug (see line-guard.test.ts): a good answer followed in
  // the same chunk by an over-long line must still be the answer.
  it('takes a good answer even when an over-long line follows it in the same chunk', async () => {
    const { console } = await setup((dut) => {
      dut.onRequest = (req, d) => d.send(`@${req.tag} OK v=3.700\n#${'x'.repeat(300)}\n`);
    }, 64);
    await expect(console.request('MEAS VBAT', 2000)).resolves.toBe('v=3.700');
  });

  it('keeps one request in flight: the second line is written only after the first settles', async () => {
    const { console, link } = await setup();
    const dut = link.current;
    const order: string[] = [];
    const first = console.request('MEAS VBAT', 5000).then((v) => order.push(`first settled ${v}`));
    const second = console.request('MEAS V3V3', 5000).then((v) => order.push(`second settled ${v}`));
    dut.onRequest = (req) => order.push(`dut got ${req.command}`);
    await waitFor(() => dut.requests.length >= 1, 5000, 'the first request');
    expect(dut.requests.map((r) => r.command)).toEqual(['MEAS VBAT']);
    // Answer the first; only then may the second be written.
    dut.onRequest = (req, d) => {
      order.push(`dut got ${req.command}`);
      d.reply(req.tag, 'v=3.300');
    };
    dut.reply(dut.requests[0]?.tag ?? null, 'v=3.700');
    await Promise.all([first, second]);
    expect(order).toEqual(['dut got MEAS VBAT', 'first settled v=3.700', 'dut got MEAS V3V3', 'second settled v=3.300']);
  });

  it('sends the next queued request after the previous one times out', async () => {
    const { console, link } = await setup();
    const first = console.request('HANG', 30);
    const second = console.request('PING', 5000);
    await expect(first).rejects.toMatchObject({ kind: 'timeout' });
    await waitFor(() => link.current.requests.length >= 2, 5000, 'the second request');
    link.current.reply(link.current.requests[1]?.tag ?? null, 'ready=1');
    await expect(second).resolves.toBe('ready=1');
  });

  it('rejects "aborted" when the signal fires while waiting for the answer', async () => {
    const { console, link } = await setup();
    const ac = new AbortController();
    const pending = console.request('MEAS TEMP', 60_000, ac.signal);
    await waitFor(() => link.current.requests.length === 1, 5000, 'the request');
    ac.abort('operator stopped the run');
    const err = await asDutError(pending);
    expect(err.kind).toBe('aborted');
    expect(err.message).toContain('"MEAS TEMP"');
  });

  it('does not send a request whose signal is already aborted', async () => {
    const { console, link } = await setup(answering(() => 'x'));
    const ac = new AbortController();
    ac.abort();
    expect((await asDutError(console.request('BLESS', 2000, ac.signal))).kind).toBe('aborted');
    await expect(console.request('PING', 2000)).resolves.toBe('x');
    expect(link.current.requests.map((r) => r.command)).toEqual(['PING']);
  });

  it('emits "event" for unsolicited lines such as !READY', async () => {
    const { console, link } = await setup();
    const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
    link.current.send('!BOOT fw=factory-2.3.1 model=imp006\n!READY\n');
    expect(await ready).toEqual({ name: 'READY', fields: {}, payload: '' });
  });

  it('passes event fields through', async () => {
    const { console, link } = await setup();
    const boot = nextEvent(console.events, 'event', (e) => e.name === 'BOOT');
    link.current.send('!BOOT fw=factory-2.3.1 model=imp006\r\n');
    expect(await boot).toEqual({ name: 'BOOT', fields: { fw: 'factory-2.3.1', model: 'imp006' }, payload: 'fw=factory-2.3.1 model=imp006' });
  });
});

describe('TaggedConsole connection', () => {
  it('on a pulled cable: rejects the request "disconnected", reports the loss, reconnects with a fresh open and reports it', async () => {
    const { console, link, connections } = await setup();
    expect(link.opens).toBe(1);
    expect(connections).toEqual([{ connected: true, reason: null }]);
    const pending = console.request('MEAS VBAT', 60_000);
    await waitFor(() => link.current.requests.length === 1, 5000, 'the request');
    const reconnected = nextEvent(console.events, 'connection', (c) => c.connected);
    link.current.unplug();
    const err = await asDutError(pending);
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain('fake:0');
    await reconnected;
    expect(link.opens).toBe(2);
    expect(connections.map((c) => c.connected)).toEqual([true, false, true]);
    expect(connections[1]?.reason).toBeTruthy();
    expect(console.connected).toBe(true);
    // The new link works.
    link.current.onRequest = (req, d) => d.reply(req.tag, 'ready=1');
    await expect(console.request('PING', 2000)).resolves.toBe('ready=1');
  });

  it('rejects "disconnected" at once while there is no port', async () => {
    const { console, link } = await setup();
    const lost = nextEvent(console.events, 'connection', (c) => !c.connected);
    link.current.unplug();
    await lost;
    expect(console.connected).toBe(false);
    const err = await asDutError(console.request('PING', 60_000));
    expect(err.kind).toBe('disconnected');
  });

  it('keeps retrying an opener that fails until the port appears', async () => {
    let attempts = 0;
    const link = new FakeDutLink(answering(() => 'ready=1'));
    const console = new TaggedConsole({
      label: 'flaky',
      open: () => (++attempts < 4 ? Promise.reject(new Error('ENOENT: no such device')) : link.open()),
      log: silentLogger(),
      maxLineBytes: 128,
      reconnectInitialMs: 10,
      reconnectMaxMs: 20,
    });
    consoles.push(console);
    const up = nextEvent(console.events, 'connection', (c) => c.connected);
    await console.start();
    await up;
    expect(attempts).toBe(4);
    await expect(console.request('PING', 2000)).resolves.toBe('ready=1');
  });

  it('stop rejects the request in flight "stopped" and leaves the console disconnected', async () => {
    const { console, link } = await setup();
    const pending = console.request('MEAS VBAT', 60_000);
    await waitFor(() => link.current.requests.length === 1, 5000, 'the request');
    await console.stop();
    expect((await asDutError(pending)).kind).toBe('stopped');
    expect(console.connected).toBe(false);
    expect(link.opens).toBe(1);
  });
});
