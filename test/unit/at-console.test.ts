import { afterEach, describe, expect, it } from 'vitest';
import { AtConsole, type AtConsoleOptions } from '../../drivers/console/at-console.js';
import { type DutConsoleEvents } from '../../drivers/console/console.js';
import { RequestError } from '../../drivers/transport/request-error.js';
import { silentLogger } from '../../station/log.js';
import { AT, type Exchange } from '../fixtures/console-transcripts.js';
import { FakeTerminalLink, nextEvent, rejectionOf, type FakeTerminal } from '../support/unit-fakes.js';
import { waitFor } from '../support/wait.js';

const consoles: AtConsole[] = [];

afterEach(async () => {
  for (const c of consoles.splice(0)) await c.stop();
});

type Setup = { console: AtConsole; link: FakeTerminalLink; events: DutConsoleEvents['event'][]; garbage: DutConsoleEvents['garbage'][] };

async function setup(opts: Partial<AtConsoleOptions> = {}, configure: (dut: FakeTerminal) => void = () => undefined): Promise<Setup> {
  const link = new FakeTerminalLink(configure);
  const console = new AtConsole({ label: 'fake:at', open: link.open, log: silentLogger(), maxLineBytes: 128, reconnectInitialMs: 10, reconnectMaxMs: 40, ...opts });
  consoles.push(console);
  const events: DutConsoleEvents['event'][] = [];
  const garbage: DutConsoleEvents['garbage'][] = [];
  console.events.on('event', (e) => events.push(e));
  console.events.on('garbage', (g) => garbage.push(g));
  await console.start();
  return { console, link, events, garbage };
}

/** A modem that plays back recorded exchanges: each command gets its recorded reply, chunk by chunk. */
const playing = (exchanges: Exchange[]) => (dut: FakeTerminal) => {
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

describe('AtConsole answers (recorded modem sessions)', () => {
  it('reads a Quectel EC25 session: information lines without OK, ERROR and +CME ERROR refused with their code', async () => {
    const { console, link, events } = await setup({}, playing(AT.quectelEc25));
    await expect(console.request('ATI', 2000)).resolves.toBe('Quectel\nEC25\nRevision: EC25ECGAR06A04M1G');
    await expect(console.request('AT+CMEE=1', 2000)).resolves.toBe('');
    const unknown = await asRequestError(console.request('AT^DSCI=1', 2000));
    expect(unknown.kind).toBe('rejected');
    expect(unknown.code).toBe('ERROR');
    expect(unknown.message).toBe('DUT refused "AT^DSCI=1" with ERROR');
    // +CFUN: is a URC prefix, but it is this command's own answer here.
    await expect(console.request('AT+CFUN?', 2000)).resolves.toBe('+CFUN: 1');
    const sim = await asRequestError(console.request('AT+CPIN?', 2000));
    expect(sim.kind).toBe('rejected');
    expect(sim.code).toBe('+CME ERROR: 13');
    expect(sim.message).toBe('DUT refused "AT+CPIN?" with +CME ERROR: 13 (SIM failure)');
    expect(events).toEqual([]);
    // V.250: a command line ends with CR.
    expect(link.current.written).toBe('ATI\rAT+CMEE=1\rAT^DSCI=1\rAT+CFUN?\rAT+CPIN?\r');
  });

  it('reads the BG96 manual +CSQ example and the Fibocom IMEI example', async () => {
    const { console } = await setup({}, playing([AT.quectelBg96Csq, AT.fibocomCgsn]));
    await expect(console.request('AT+CSQ', 2000)).resolves.toBe('+CSQ: 3,99');
    await expect(console.request('AT+CGSN', 2000)).resolves.toBe('865204020007540');
  });

  it('skips the echo of a modem with echo on (a Sierra modem log), the blank line before OK included', async () => {
    const { console } = await setup({}, playing(AT.sierraEchoOn));
    await expect(console.request('AT+ICCID', 2000)).resolves.toBe('ICCID: 89490200000863940628');
    await expect(console.request('AT+CRSM=176,12258,0,0,10', 2000)).resolves.toBe('+CRSM: 144,0,"98942000008036496082"');
  });

  it('refuses a Telit +CME ERROR: 10 naming the command, the code and what it means', async () => {
    const { console } = await setup({}, playing(AT.telitNoSim));
    await console.request('AT+CMEE=1', 2000);
    const err = await asRequestError(console.request('AT+CPIN?', 2000));
    expect(err.message).toBe('DUT refused "AT+CPIN?" with +CME ERROR: 10 (SIM not inserted)');
  });

  it('refuses verbose +CME ERROR and +CMS ERROR codes with the text as the modem sent it', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (c, d) => d.send(c === 'AT+CGSN=2' ? '\r\n+CME ERROR: Incorrect parameters\r\n' : '\r\n+CMS ERROR: 321\r\n');
    });
    const cme = await asRequestError(console.request('AT+CGSN=2', 2000));
    expect(cme.code).toBe('+CME ERROR: Incorrect parameters');
    expect(cme.message).toBe('DUT refused "AT+CGSN=2" with +CME ERROR: Incorrect parameters');
    const cms = await asRequestError(console.request('AT+CMGR=9', 2000));
    expect(cms.message).toBe('DUT refused "AT+CMGR=9" with +CMS ERROR: 321 (invalid memory index)');
  });

  it('takes NO CARRIER, BUSY, NO ANSWER and NO DIALTONE as refusals and CONNECT as success with its text', async () => {
    const replies: Record<string, string> = { ATD1: 'NO CARRIER', ATD2: 'BUSY', ATD3: 'NO ANSWER', ATD4: 'NO DIALTONE', ATD5: 'CONNECT 115200' };
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (c, d) => d.send(`\r\n${replies[c]}\r\n`);
    });
    for (const c of ['ATD1', 'ATD2', 'ATD3', 'ATD4']) {
      const err = await asRequestError(console.request(c, 2000));
      expect(err.kind).toBe('rejected');
      expect(err.code).toBe(replies[c]);
    }
    await expect(console.request('ATD5', 2000)).resolves.toBe('CONNECT 115200');
  });

  it('tolerates lone LF line ends and lone CR line ends', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (c, d) => d.send(c === 'AT#A' ? '#A: 1\nOK\n' : '\r#B: 2\r\rOK\r');
    });
    await expect(console.request('AT#A', 2000)).resolves.toBe('#A: 1');
    await expect(console.request('AT#B', 2000)).resolves.toBe('#B: 2');
  });

  it('finds the answer however the bytes are chunked, one byte at a time included', async () => {
    const bytes = `AT+CSQ\r${AT.quectelBg96Csq.reply.join('')}`;
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send(...bytes.split(''));
    });
    await expect(console.request('AT+CSQ', 2000)).resolves.toBe('+CSQ: 3,99');
  });

  it('keeps UTF-8 text in information lines', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send(Buffer.from('\r\n+COPS: 0,0,"Telefónica"\r\n\r\nOK\r\n', 'utf8'));
    });
    await expect(console.request('AT+COPS?', 2000)).resolves.toBe('+COPS: 0,0,"Telefónica"');
  });
});

describe('AtConsole URCs', () => {
  it('emits URCs between commands as events named by their code, with positional or key=value fields', async () => {
    const { link, events } = await setup();
    link.current.send('\r\n+CREG: 1,5\r\n', '\r\n+QIND: "csq",20,99\r\n', '\r\n+CEREG: 1,"00C3","0000B21D",7\r\n', '\r\n#BLINKUP: result=ok\r\n', '\r\nRING\r\n');
    await waitFor('five URCs', () => events.length === 5, { timeoutMs: 2000, intervalMs: 2 });
    expect(events).toEqual([
      { name: 'CREG', payload: '1,5', fields: { '0': '1', '1': '5' } },
      { name: 'QIND', payload: '"csq",20,99', fields: { '0': 'csq', '1': '20', '2': '99' } },
      { name: 'CEREG', payload: '1,"00C3","0000B21D",7', fields: { '0': '1', '1': '00C3', '2': '0000B21D', '3': '7' } },
      { name: 'BLINKUP', payload: 'result=ok', fields: { result: 'ok' } },
      { name: 'RING', payload: '', fields: {} },
    ]);
  });

  it('delivers a URC that arrives in the middle of an answer as an event, not as part of the answer', async () => {
    const { console, events } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send('AT+CSQ\r', '\r\n+CSQ: 20,99\r\n', '\r\n+CREG: 5\r\n', '\r\n^SYSSTART\r\n', '\r\nOK\r\n');
    });
    await expect(console.request('AT+CSQ', 2000)).resolves.toBe('+CSQ: 20,99');
    expect(events.map((e) => `${e.name}:${e.payload}`)).toEqual(['CREG:5', 'SYSSTART:']);
  });

  it('takes a line with a configured prefix as a URC in the middle of an answer', async () => {
    const { console, events } = await setup({ urcPrefixes: ['%NOTE:'] }, (dut) => {
      dut.onCommand = (_c, d) => d.send('\r\n#VAL: 4\r\n\r\n%NOTE: hot\r\n\r\nOK\r\n');
    });
    await expect(console.request('AT#VAL', 2000)).resolves.toBe('#VAL: 4');
    expect(events).toEqual([{ name: 'NOTE', payload: 'hot', fields: { '0': 'hot' } }]);
  });

  it('maps the ready URC to READY (and the boot URC to BOOT) after the URC itself, from a Quectel power-on', async () => {
    const { link, events } = await setup({ readyUrc: 'RDY', bootUrc: 'RDY' });
    link.current.send(AT.quectelPowerOn);
    await waitFor('the power-on URCs', () => events.length >= 8, { timeoutMs: 2000, intervalMs: 2 });
    expect(events.map((e) => e.name)).toEqual(['RDY', 'BOOT', 'READY', 'CFUN', 'CPIN', 'QUSIM', 'QIND', 'QIND']);
    expect(events[4]).toEqual({ name: 'CPIN', payload: 'READY', fields: { '0': 'READY' } });
  });

  it('takes "+CPIN: READY" as the ready URC when configured so, matching the start of the line', async () => {
    const { console, link, events } = await setup({ readyUrc: '+CPIN: READY' });
    const ready = nextEvent(console.events, 'event', (e) => e.name === 'READY');
    link.current.send('\r\n+CPIN: SIM PIN\r\n', '\r\n+CPIN: READY\r\n');
    await ready;
    expect(events.map((e) => e.name)).toEqual(['CPIN', 'CPIN', 'READY']);
  });

  it('abandons the command in flight when the boot URC comes: the unit restarted', async () => {
    const { console, link } = await setup({ bootUrc: '^SYSSTART' });
    const pending = console.request('AT#SELFTEST FLASH', 60_000);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    link.current.send('\r\n^SYSSTART\r\n');
    const err = await asRequestError(pending);
    expect(err.kind).toBe('aborted');
    expect(err.message).toBe('"AT#SELFTEST FLASH" abandoned: the DUT restarted ("^SYSSTART")');
  });

  it('ignores a late final result code and free text between commands', async () => {
    const { link, events, garbage } = await setup();
    link.current.send('\r\nOK\r\n', '\r\n+CME ERROR: 3\r\n', '\r\nQuectel\r\n', '\r\n+CREG: 1\r\n');
    await waitFor('the URC', () => events.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    expect(events[0]?.name).toBe('CREG');
    expect(garbage).toEqual([]);
  });
});

describe('AtConsole echo', () => {
  it('with echo "auto", takes a line equal to the command as an echo only when it comes first', async () => {
    const { console } = await setup({ echo: 'auto' }, (dut) => {
      dut.onCommand = (_c, d) => d.send('\r\nAT#WHO\r\n', '\r\nAT#WHO\r\n\r\nOK\r\n');
    });
    await expect(console.request('AT#WHO', 2000)).resolves.toBe('AT#WHO');
  });

  it('with echo "off", never skips a line', async () => {
    const { console } = await setup({ echo: 'off' }, (dut) => {
      dut.onCommand = (_c, d) => d.send('AT#WHO\r\r\nOK\r\n');
    });
    await expect(console.request('AT#WHO', 2000)).resolves.toBe('AT#WHO');
  });

  it('recognises an echo whatever its case (the module echoes what it was typed)', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send('at+cgmm\r\r\nimp006\r\n\r\nOK\r\n');
    });
    await expect(console.request('at+cgmm', 2000)).resolves.toBe('imp006');
  });

  it('with echo "on", never takes the late answer to a timed-out command for the next one', async () => {
    const { console, link } = await setup({ echo: 'on' });
    const first = await asRequestError(console.request('AT#MEAS VBAT', 40));
    expect(first.kind).toBe('timeout');
    expect(first.message).toBe('no answer to "AT#MEAS VBAT" within 40 ms: its echo never came (echo is "on")');
    link.current.onCommand = (c, d) => {
      // The first command's answer arrives only now, before the echo of the second.
      d.send('AT#MEAS VBAT\r\r\n#MEAS: 9.999,V\r\n\r\nOK\r\n');
      d.send(`${c}\r`, '\r\n#MEAS: 3.300,V\r\n\r\nOK\r\n');
    };
    await expect(console.request('AT#MEAS V3V3', 2000)).resolves.toBe('#MEAS: 3.300,V');
  });

  it('with echo "on", times out saying how many lines came before an echo that never did', async () => {
    const { console } = await setup({ echo: 'on' }, (dut) => {
      dut.onCommand = (_c, d) => d.send('\r\n#MEAS: 3.300,V\r\n\r\nOK\r\n');
    });
    const err = await asRequestError(console.request('AT#MEAS V3V3', 60));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('its echo never came (echo is "on"); 2 line(s) before it were taken for a late answer to an earlier command');
  });
});

describe('AtConsole bad input', () => {
  it('fails the request "garbage" on control bytes, quoting the escaped line', async () => {
    const { console, garbage } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send('AT+CSQ\r\r\n+CSQ: 2\x000,99\r\n');
    });
    const err = await asRequestError(console.request('AT+CSQ', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toBe('DUT answered "AT+CSQ" with garbage (control characters): "+CSQ: 2\\x000,99"');
    expect(garbage).toEqual([{ line: '+CSQ: 2\x000,99', reason: 'control characters' }]);
  });

  it('fails the request "garbage" on invalid UTF-8', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send(Buffer.from([0x0d, 0x0a, 0xff, 0xfe, 0x4f, 0x4b, 0x0d, 0x0a]));
    });
    const err = await asRequestError(console.request('AT', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toBe('DUT answered "AT" with garbage (invalid UTF-8): "\\xff\\xfeOK"');
  });

  it('fails the request "garbage" on an over-long line and still takes a good answer after it', async () => {
    const { console } = await setup({ maxLineBytes: 64 }, (dut) => {
      dut.onCommand = (c, d) => d.send(c === 'AT#LONG' ? `\r\n#LONG: ${'9'.repeat(300)}\r\n\r\nOK\r\n` : '\r\n#SHORT: 1\r\n\r\nOK\r\n');
    });
    const err = await asRequestError(console.request('AT#LONG', 2000));
    expect(err.kind).toBe('garbage');
    expect(err.message).toContain(`line of ${'#LONG: '.length + 300} bytes exceeds the 64-byte limit`);
    await expect(console.request('AT#SHORT', 2000)).resolves.toBe('#SHORT: 1');
  });

  it('times out naming the command and the last information line when the final result code never comes', async () => {
    const { console } = await setup({}, (dut) => {
      dut.onCommand = (_c, d) => d.send('AT#SELFTEST RADIO\r', '\r\n#SELFTEST: running\r\n', '\r\n#SELFTEST: PASS\r\n');
    });
    const err = await asRequestError(console.request('AT#SELFTEST RADIO', 60));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('no final result code for "AT#SELFTEST RADIO" within 60 ms; last line: "#SELFTEST: PASS"');
  });

  it('times out saying only the echo came back, and plainly when nothing did', async () => {
    const { console, link } = await setup({}, (dut) => {
      dut.onCommand = (c, d) => d.send(`${c}\r`);
    });
    expect((await asRequestError(console.request('AT#HANG', 40))).message).toBe('no answer to "AT#HANG" within 40 ms: only its echo came back');
    link.current.onCommand = () => undefined;
    expect((await asRequestError(console.request('AT#HANG', 40))).message).toBe('no answer to "AT#HANG" within 40 ms');
  });

  it('says when a line with no end is longer than the limit', async () => {
    const { console } = await setup({ maxLineBytes: 64 }, (dut) => {
      dut.onCommand = (_c, d) => d.send(`\r\n#DUMP: ${'7'.repeat(200)}`);
    });
    const err = await asRequestError(console.request('AT#DUMP', 60));
    expect(err.message).toBe('no answer to "AT#DUMP" within 60 ms; the DUT is sending a line longer than 64 bytes with no end');
  });

  it('reports garbage between commands without failing anything, and goes on', async () => {
    const { console, link, garbage } = await setup();
    link.current.onCommand = (_c, d) => d.send('\r\nOK\r\n');
    link.current.send('\xff\xfe\x00\r\n');
    await waitFor('the garbage report', () => garbage.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    await expect(console.request('AT', 2000)).resolves.toBe('');
  });

  it('refuses to send a command with a line end in it', async () => {
    const { console, link } = await setup();
    const err = await asRequestError(console.request('AT\rAT+CFUN=0', 2000));
    expect(err.kind).toBe('rejected');
    expect(err.code).toBe('BAD_COMMAND');
    expect(link.current.written).toBe('');
  });
});

describe('AtConsole connection', () => {
  it('on a pulled cable, fails the request in flight "disconnected" and reconnects', async () => {
    const { console, link } = await setup();
    const pending = console.request('AT#MEAS VBAT', 60_000);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    const reconnected = nextEvent(console.events, 'connection', (c) => c.connected);
    link.current.unplug();
    const err = await asRequestError(pending);
    expect(err.kind).toBe('disconnected');
    expect(err.message).toContain('fake:at');
    await reconnected;
    expect(link.opens).toBe(2);
    link.current.onCommand = (_c, d) => d.send('\r\n#MEAS: 3.700,V\r\n\r\nOK\r\n');
    await expect(console.request('AT#MEAS VBAT', 2000)).resolves.toBe('#MEAS: 3.700,V');
  });

  it('forgets half a line across a reconnect', async () => {
    const { console, link } = await setup();
    link.current.send('\r\n+CSQ: 1');
    const reconnected = nextEvent(console.events, 'connection', (c) => c.connected);
    link.current.unplug();
    await reconnected;
    link.current.onCommand = (_c, d) => d.send('5,99\r\n\r\nOK\r\n');
    await expect(console.request('AT+CSQ', 2000)).resolves.toBe('5,99');
  });

  it('keeps one command in flight: the next is written only once the first has its final result code', async () => {
    const { console, link } = await setup();
    const dut = link.current;
    const first = console.request('AT#A', 5000);
    const second = console.request('AT#B', 5000);
    await waitFor('the first command', () => dut.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    dut.send('\r\n#A: 1\r\n');
    expect(dut.commands).toEqual(['AT#A']);
    dut.onCommand = (_c, d) => d.send('\r\n#B: 2\r\n\r\nOK\r\n');
    dut.send('\r\nOK\r\n');
    await expect(first).resolves.toBe('#A: 1');
    await expect(second).resolves.toBe('#B: 2');
  });

  it('rejects "aborted" when the run is interrupted while waiting', async () => {
    const { console, link } = await setup();
    const ac = new AbortController();
    const pending = console.request('AT#SELFTEST FLASH', 60_000, ac.signal);
    await waitFor('the command', () => link.current.commands.length === 1, { timeoutMs: 2000, intervalMs: 2 });
    ac.abort();
    expect((await asRequestError(pending)).kind).toBe('aborted');
  });
});
