import { afterEach, describe, expect, it } from 'vitest';
import { type DutConsoleEvents } from '../../drivers/console/console.js';
import { ShellConsole, type ShellConsoleOptions } from '../../drivers/console/shell-console.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { silentLogger } from '../../station/log.js';
import { ZEPHYR, ZEPHYR_PROMPT, type Exchange } from '../fixtures/console-transcripts.js';
import { FakeTerminalLink, nextEvent, rejectionOf, type FakeTerminal } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const consoles: ShellConsole[] = [];

afterEach(async () => {
  for (const c of consoles.splice(0)) await c.stop();
});

type Setup = { console: ShellConsole; link: FakeTerminalLink; events: DutConsoleEvents['event'][]; garbage: DutConsoleEvents['garbage'][] };

async function setup(opts: Partial<ShellConsoleOptions> = {}, configure: (dut: FakeTerminal) => void = () => undefined): Promise<Setup> {
  const link = new FakeTerminalLink(configure);
  const console = new ShellConsole({ label: 'fake:shell', open: link.open, log: silentLogger(), maxLineBytes: 160, reconnectInitialMs: 10, reconnectMaxMs: 40, promptSettleMs: 15, ...opts });
  consoles.push(console);
  const events: DutConsoleEvents['event'][] = [];
  const garbage: DutConsoleEvents['garbage'][] = [];
  console.events.on('event', (e) => events.push(e));
  console.events.on('garbage', (g) => garbage.push(g));
  await console.start();
  return { console, link, events, garbage };
}

/** A shell playing back recorded exchanges, chunk by chunk; the prompt is on the line to begin with. */
const playing =
  (exchanges: Exchange[], first = ZEPHYR_PROMPT) =>
  (dut: FakeTerminal) => {
    dut.send(first);
    dut.onCommand = (command, d) => {
      const exchange = exchanges.find((e) => e.command === command);
      if (exchange) d.send(...exchange.reply);
    };
  };

async function asRequestError(promise: Promise<unknown>): Promise<RequestError> {
  const err = await rejectionOf(promise);
  expect(err).toBeInstanceOf(RequestError);
  return err as RequestError;
}

describe('ShellConsole answers (recorded Zephyr sessions)', () => {
  it('answers with the output between the echo and the next prompt: kernel version, help, a command with subcommands', async () => {
    const { console, link } = await setup({}, playing([ZEPHYR.kernelVersion, ZEPHYR.help, ZEPHYR.demo]));
    await expect(console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.5.99');
    await expect(console.request('help', 2000)).resolves.toBe(
      [
        'Please press the <Tab> button to see all available commands.',
        'You can also use the <Tab> button to prompt or auto-complete all commands or its subcommands.',
        'You can try to call commands with <-h> or <--help> parameter for more information.',
        '',
        'Available commands:',
        '  clear    :Clear screen.',
        '  device   :Device commands',
        '  help     :Prints the help message.',
        '  kernel   :Kernel commands',
      ].join('\n'),
    );
    await expect(console.request('demo', 2000)).resolves.toMatch(/^demo - Demo commands\nSubcommands:\n {2}dictionary {2}: Dictionary commands\n/);
    expect(link.current.written).toBe('kernel version\r\nhelp\r\ndemo\r\n');
  });

  it('refuses "<cmd>: command not found" in red as rejected, quoting the line', async () => {
    const { console } = await setup({}, playing([ZEPHYR.notFound]));
    const err = await asRequestError(console.request('frobnicate', 2000));
    expect(err.kind).toBe('rejected');
    expect(err.code).toBe('ERROR');
    expect(err.message).toBe('DUT refused "frobnicate": "frobnicate: command not found"');
  });

  it('refuses output matching the error patterns of Zephyr, ESP-IDF and NuttX', async () => {
    const outputs: Record<string, string> = {
      a: 'error: no channel XYZ',
      b: 'factory meas: wrong parameter count',
      c: 'Please specify a subcommand.',
      d: 'Unrecognized command',
      e: 'Command returned non-zero error code: 0x1 (ERROR)',
      f: 'nsh: f: command not found',
    };
    const { console } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n${outputs[c]}\r\n${ZEPHYR_PROMPT}`);
    });
    for (const c of Object.keys(outputs)) expect((await asRequestError(console.request(c, 2000))).kind).toBe('rejected');
  });

  it('uses a configured error pattern instead of the default', async () => {
    const { console } = await setup({ errorPattern: '^FAIL\\b' }, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n${c === 'x' ? 'FAIL flash' : 'error: ignored here'}\r\n${ZEPHYR_PROMPT}`);
    });
    expect((await asRequestError(console.request('x', 2000))).message).toBe('DUT refused "x": "FAIL flash"');
    await expect(console.request('y', 2000)).resolves.toBe('error: ignored here');
  });

  it('finds a prompt split across chunks, its colour codes split too', async () => {
    const { console } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, 'vbat: 3.702 V\r\n\x1b[1;3', '2muart', ':~', '$', ' ', '\x1b[', 'm');
    });
    await expect(console.request('factory meas vbat', 2000)).resolves.toBe('vbat: 3.702 V');
  });

  it('finds the answer when every byte comes alone', async () => {
    const bytes = `kernel version\r\nZephyr version 3.5.99\r\n${ZEPHYR_PROMPT}`;
    const { console } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (_c, d) => d.send(...bytes.split(''));
    });
    await expect(console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.5.99');
  });

  it('waits out a pause after a partial prompt: text that goes on is output, not a prompt', async () => {
    const { console, link } = await setup({ prompt: 'nsh> ', promptSettleMs: 300 }, (dut) => {
      dut.send('nsh> ');
      dut.onCommand = (c, d) => d.send(`${c}\n`, 'result: nsh> ');
    });
    const answer = console.request('echo', 2000);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    // Within the settle time the line goes on: it was not the prompt.
    link.current.send('still output\n', 'nsh> ');
    await expect(answer).resolves.toBe('result: nsh> still output');
  });

  it('takes output printed with no line end before the prompt as output', async () => {
    const { console } = await setup({ prompt: 'esp32> ' }, (dut) => {
      dut.send('esp32> ');
      dut.onCommand = (c, d) => d.send(`${c}\n`, 'ok=1 esp32> ');
    });
    await expect(console.request('status', 2000)).resolves.toBe('ok=1');
  });

  it('reads a prompt given as a regex, and a command typed with LF', async () => {
    const { console, link } = await setup({ prompt: '[a-z0-9]+:[~/\\w]*\\$ ', promptIsRegex: true, lineEnding: '\n' }, (dut) => {
      dut.send('rtt:~$ ');
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, 'done\r\n', 'rtt:/lfs$ ');
    });
    await expect(console.request('fs cd lfs', 2000)).resolves.toBe('done');
    expect(link.current.written).toBe('fs cd lfs\n');
  });

  it('keeps log lines out of the answer and emits each as a LOG event, over the prompt or mid-output', async () => {
    const { console, link, events } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, 'id: 0123456789abcdef\r\n', '[00:00:02.500,000] \x1b[1;31m<err> radio: tx fail\x1b[0m\r\n', 'mac: 0c2a69000001\r\n', ZEPHYR_PROMPT);
    });
    link.current.send(ZEPHYR.logOverPrompt);
    await waitFor('the log line over the prompt', () => events.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('factory ident', 2000)).resolves.toBe('id: 0123456789abcdef\nmac: 0c2a69000001');
    expect(events).toEqual([
      { name: 'LOG', payload: 'no carrier', fields: { timestamp: '00:00:05.123,000', level: 'wrn', module: 'net', message: 'no carrier' } },
      { name: 'LOG', payload: 'tx fail', fields: { timestamp: '00:00:02.500,000', level: 'err', module: 'radio', message: 'tx fail' } },
    ]);
  });
});

describe('ShellConsole boot and ready', () => {
  it('emits BOOT for the banner, with its build as a field, and READY at the first prompt after it', async () => {
    const { link, events } = await setup();
    link.current.send(...ZEPHYR.boot);
    await waitFor('READY', () => events.some((e) => e.name === 'READY'), { timeoutMs: 2000, intervalMs: 2 });
    expect(events).toEqual([
      { name: 'BOOT', payload: '*** Booting Zephyr OS build v3.5.0 ***', fields: { build: 'v3.5.0' } },
      { name: 'LOG', payload: 'board ready', fields: { timestamp: '00:00:00.010,000', level: 'inf', module: 'main', message: 'board ready' } },
      { name: 'READY', payload: '', fields: {} },
    ]);
  });

  it('emits READY once per boot, not at every prompt', async () => {
    const { console, link, events } = await setup({}, (dut) => {
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, 'ok\r\n', ZEPHYR_PROMPT);
    });
    link.current.send(...ZEPHYR.boot);
    await waitFor('READY', () => events.some((e) => e.name === 'READY'), { timeoutMs: 2000, intervalMs: 2 });
    await console.request('a', 2000);
    await console.request('b', 2000);
    expect(events.filter((e) => e.name === 'READY')).toHaveLength(1);
  });

  it('abandons the command in flight when the unit reboots', async () => {
    const { console, link } = await setup({}, (dut) => dut.send(ZEPHYR_PROMPT));
    const pending = console.request('factory selftest flash', 60_000);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    link.current.send('factory selftest flash\r\n', 'testing...\r\n', ZEPHYR.boot[0] as string);
    const err = await asRequestError(pending);
    expect(err.kind).toBe('aborted');
    expect(err.message).toBe('"factory selftest flash" abandoned: the DUT restarted ("*** Booting Zephyr OS build v3.5.0 ***")');
  });

  it('uses a configured boot pattern (ESP-IDF) and none at all when null', async () => {
    const esp = await setup({ prompt: 'esp32> ', bootPattern: '^I \\(\\d+\\) cpu_start: Starting scheduler' });
    esp.link.current.send('I (312) cpu_start: Starting scheduler on PRO CPU.\r\n', 'esp32> ');
    await waitFor('READY', () => esp.events.some((e) => e.name === 'READY'), { timeoutMs: 2000, intervalMs: 2 });
    expect(esp.events.map((e) => e.name)).toEqual(['BOOT', 'READY']);
    const none = await setup({ bootPattern: null });
    none.link.current.send(...ZEPHYR.boot);
    await waitFor('the log line', () => none.events.some((e) => e.name === 'LOG'), { timeoutMs: 2000, intervalMs: 2 });
    expect(none.events.map((e) => e.name)).toEqual(['LOG']);
  });
});

describe('ShellConsole echo', () => {
  it('with echo "on", ignores a prompt and output before the echo: the late end of an earlier command', async () => {
    const { console, link } = await setup();
    link.current.send(ZEPHYR_PROMPT);
    const first = await asRequestError(console.request('factory meas vbat', 40));
    expect(first.kind).toBe('timeout');
    link.current.onCommand = (c, d) => {
      d.send('factory meas vbat\r\nvbat: 9.999 V\r\n', ZEPHYR_PROMPT); // the first command, late
      d.send(`${c}\r\nv3v3: 3.300 V\r\n`, ZEPHYR_PROMPT);
    };
    await expect(console.request('factory meas v3v3', 2000)).resolves.toBe('v3v3: 3.300 V');
  });

  it('with echo "on", times out saying the shell never echoed', async () => {
    const { console } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (_c, d) => d.send('ok\r\n', ZEPHYR_PROMPT);
    });
    const err = await asRequestError(console.request('status', 80));
    expect(err.message).toBe('no prompt ("uart:~$ ") after "status" within 80 ms: the shell never echoed the command (echo is "on")');
  });

  it('with echo "off" or "auto", takes output from a shell that does not echo', async () => {
    for (const echo of ['off', 'auto'] as const) {
      const { console } = await setup({ echo, prompt: 'nsh> ' }, (dut) => {
        dut.send('nsh> ');
        dut.onCommand = (_c, d) => d.send('\r\nok\r\n', 'nsh> ');
      });
      await expect(console.request('status', 2000), echo).resolves.toBe('ok');
    }
  });

  it('with echo "auto", does not take an output line ending with the command for its echo', async () => {
    const { console } = await setup({ echo: 'auto', prompt: 'nsh> ' }, (dut) => {
      dut.send('nsh> ');
      dut.onCommand = (_c, d) => d.send('\nstatus ok\n', 'nsh> ');
    });
    await expect(console.request('ok', 2000)).resolves.toBe('status ok');
  });

  it('with echo "auto", still skips the echo when there is one', async () => {
    const { console } = await setup({ echo: 'auto' }, playing([ZEPHYR.kernelVersion]));
    await expect(console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.5.99');
  });
});

describe('ShellConsole bad input and silence', () => {
  it('times out naming the prompt it waited for, the last line seen and what the line shows instead', async () => {
    const { console } = await setup({}, (dut) => {
      dut.send('nsh> ');
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, 'id: 0123\r\n', 'nsh> ');
    });
    const err = await asRequestError(console.request('factory ident', 80));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('no prompt ("uart:~$ ") after "factory ident" within 80 ms; last line: "id: 0123"; unfinished line: "nsh> "');
  });

  it('times out plainly on a shell that shows nothing at all', async () => {
    const { console } = await setup({ echo: 'auto' });
    const err = await asRequestError(console.request('kernel version', 40));
    expect(err.message).toBe('no prompt ("uart:~$ ") after "kernel version" within 40 ms');
  });

  it('fails the request "garbage" on control bytes left after the escape sequences are read', async () => {
    const { console, garbage } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, '\x1b[1;31mvbat: \x00\x07 V\x1b[m\r\n', ZEPHYR_PROMPT);
    });
    const err = await asRequestError(console.request('factory meas vbat', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toBe('DUT answered "factory meas vbat" with garbage (control characters): "\\x1b[1;31mvbat: \\x00\\x07 V\\x1b[m"');
    expect(garbage).toHaveLength(1);
  });

  it('fails the request "garbage" on invalid UTF-8 and on a broken escape sequence', async () => {
    const { console } = await setup({}, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, c === 'a' ? '\xff\xfe\r\n' : '\x1b\x01oops\r\n', ZEPHYR_PROMPT);
    });
    expect((await asRequestError(console.request('a', 2000))).message).toContain('(invalid UTF-8): "\\xff\\xfe"');
    expect((await asRequestError(console.request('b', 2000))).message).toContain('(control characters)');
  });

  it('fails the request "garbage" on an over-long line, and says so when it has no end', async () => {
    const { console, link } = await setup({ maxLineBytes: 64 }, (dut) => {
      dut.send(ZEPHYR_PROMPT);
      dut.onCommand = (c, d) => d.send(`${c}\r\n`, `dump: ${'f'.repeat(200)}\r\n`, ZEPHYR_PROMPT);
    });
    const err = await asRequestError(console.request('dump', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain('line of 207 bytes exceeds the 64-byte limit');
    link.current.onCommand = (c, d) => d.send(`${c}\r\n`, 'x'.repeat(300));
    const endless = await asRequestError(console.request('dump', 60));
    expect(endless.message).toContain('; the DUT is sending a line longer than 64 bytes with no end');
  });

  it('refuses to send a command with a line end in it', async () => {
    const { console, link } = await setup();
    expect((await asRequestError(console.request('a\nb', 2000))).code).toBe('BAD_COMMAND');
    expect(link.current.written).toBe('');
  });
});

describe('ShellConsole connection', () => {
  it('on a pulled cable, fails the request in flight "disconnected" and reconnects', async () => {
    const { console, link } = await setup({}, (dut) => dut.send(ZEPHYR_PROMPT));
    const pending = console.request('factory ident', 60_000);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    const reconnected = nextEvent(console.events, 'connection', (c) => c.connected);
    link.current.unplug();
    expect((await asRequestError(pending)).kind).toBe('disconnected');
    await reconnected;
    link.current.onCommand = (c, d) => d.send(`${c}\r\n`, 'Zephyr version 3.5.99\r\n', ZEPHYR_PROMPT);
    await expect(console.request('kernel version', 2000)).resolves.toBe('Zephyr version 3.5.99');
  });
});
