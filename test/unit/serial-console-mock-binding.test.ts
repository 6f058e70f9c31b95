// The serial DUT console through serialport with its mock binding injected (the seam the real
// port uses): requests reach the port as protocol bytes, answers come back, a vanished port
// fails the request in flight and is reopened. The same console runs over real pseudo-terminals
// in test/integration.
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestError } from '../../drivers/transport/request-error.js';
import { TaggedConsole } from '../../drivers/console/tagged-console.js';
import type { OpenedPort } from '../../drivers/transport/port.js';
import { serialOpener } from '../../drivers/transport/serial.js';
import { silentLogger } from '../../station/log.js';
import { waitFor } from '../support/wait.js';

const PATH = '/dev/ttyMOCK0';

let lastOpened: OpenedPort | null = null;

function consoleOnMock(): { console: TaggedConsole; opens: () => number } {
  let opens = 0;
  const open = serialOpener({ path: PATH, baudRate: 115200, binding: MockBinding });
  const console = new TaggedConsole({
    label: PATH,
    open: async () => {
      opens++;
      lastOpened = await open();
      return lastOpened;
    },
    log: silentLogger(),
    maxLineBytes: 512,
    reconnectInitialMs: 10,
    reconnectMaxMs: 50,
  });
  return { console, opens: () => opens };
}

/** The mock binding's open port for PATH (the DUT's side of the wire, as the test sees it). */
async function portBinding(console: TaggedConsole): Promise<MockPortBinding> {
  return waitFor('the mock port to open', () => {
    const stream = console.connected ? (lastOpened?.stream as { port?: MockPortBinding } | undefined) : undefined;
    return stream?.port ?? null;
  });
}

describe('TaggedConsole over serialport with the mock binding', () => {
  afterEach(() => MockBinding.reset());

  it('writes a tagged request and resolves with the tagged answer', async () => {
    MockBinding.createPort(PATH, { echo: false, record: true });
    const { console } = consoleOnMock();
    await console.start();
    const binding = await portBinding(console);
    const answer = console.request('MEAS VBAT', 2000);
    const written = await waitFor('the request bytes', () => (binding.recording.length > 0 ? binding.recording.toString('latin1') : null));
    const tag = /^@(\d+) MEAS VBAT\n$/.exec(written)?.[1];
    expect(tag).toBeDefined();
    binding.emitData(`#debug line first\n@${tag} OK v=3.702 unit=V\n`);
    await expect(answer).resolves.toBe('v=3.702 unit=V');
    await console.stop();
  });

  it('fails the request in flight when the port closes, then opens the port again', async () => {
    MockBinding.createPort(PATH, { echo: false, record: true });
    const { console, opens } = consoleOnMock();
    const connections: boolean[] = [];
    console.events.on('connection', (c) => connections.push(c.connected));
    await console.start();
    const binding = await portBinding(console);
    const pending = console.request('IDENT', 5000);
    await waitFor('the request to be written', () => binding.recording.length > 0);
    // serialport reports a vanished device by closing the port (with a disconnected error).
    (lastOpened?.stream as unknown as { close(): void }).close();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).kind).toBe('disconnected');
    await waitFor('a reconnect', () => opens() >= 2 && console.connected);
    expect(connections).toEqual([true, false, true]);
    await console.stop();
  });

  it('keeps retrying while the port does not exist, and connects once it appears', async () => {
    const { console, opens } = consoleOnMock();
    await console.start();
    expect(console.connected).toBe(false);
    await waitFor('two failed opens', () => opens() >= 2);
    MockBinding.createPort(PATH, { echo: false, record: true });
    await waitFor('the console to connect', () => console.connected);
    await console.stop();
  });
});
