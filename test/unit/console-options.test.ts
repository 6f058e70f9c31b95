import { describe, expect, it } from 'vitest';
import { AtConsole } from '../../drivers/console/at-console.js';
import { createDutConsole, dutProtocolSchema } from '../../drivers/console/index.js';
import { ShellConsole } from '../../drivers/console/shell-console.js';
import { TaggedConsole } from '../../drivers/console/tagged-console.js';
import { silentLogger } from '../../station/log.js';
import { FakeTerminalLink } from '../support/unit-fakes.js';

const port = { label: 'fake:0', open: new FakeTerminalLink().open, log: silentLogger(), maxLineBytes: 512, reconnectInitialMs: 200, reconnectMaxMs: 5000 };

describe('dut.protocol options', () => {
  it('defaults to the tagged protocol', () => {
    expect(dutProtocolSchema.parse(undefined)).toEqual({ kind: 'tagged' });
  });

  it('fills in the AT defaults', () => {
    expect(dutProtocolSchema.parse({ kind: 'at' })).toEqual({
      kind: 'at',
      echo: 'auto',
      urcPrefixes: ['+CREG:', '+CEREG:', '+CGREG:', 'RDY', '+CFUN:', '+QIND:', '^SYSSTART', '+CPIN:', '+QUSIM:', 'RING'],
      bootUrc: null,
      readyUrc: 'RDY',
    });
  });

  it('fills in the shell defaults: Zephyr', () => {
    const shell = dutProtocolSchema.parse({ kind: 'shell' });
    expect(shell).toMatchObject({ kind: 'shell', prompt: 'uart:~$ ', promptIsRegex: false, lineEnding: '\r\n', echo: 'on', promptSettleMs: 30 });
    expect(shell.kind === 'shell' && new RegExp(shell.bootPattern ?? '').test('*** Booting Zephyr OS build v3.7.0 ***')).toBe(true);
  });

  it('takes the options as the issue writes them', () => {
    expect(dutProtocolSchema.parse({ kind: 'at', echo: 'on', readyUrc: 'RDY', urcPrefixes: ['+CREG:'] })).toMatchObject({ echo: 'on', urcPrefixes: ['+CREG:'] });
    expect(dutProtocolSchema.parse({ kind: 'shell', prompt: 'nsh> ', promptIsRegex: false, lineEnding: '\n', errorPattern: 'nsh: .*: ', bootPattern: 'NuttShell \\(NSH\\)' })).toMatchObject({
      prompt: 'nsh> ',
      lineEnding: '\n',
    });
  });

  it('refuses a pattern that is not a regular expression, naming the key', () => {
    const result = dutProtocolSchema.safeParse({ kind: 'shell', errorPattern: '(unclosed' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['errorPattern']);
    expect(result.error?.issues[0]?.message).toMatch(/^must be a valid regular expression/);
  });

  it('refuses a regex prompt that matches an empty line, and a blank literal prompt', () => {
    expect(dutProtocolSchema.safeParse({ kind: 'shell', prompt: '.*', promptIsRegex: true }).error?.issues[0]?.message).toMatch(/matches an empty line/);
    expect(dutProtocolSchema.safeParse({ kind: 'shell', prompt: '   ' }).error?.issues[0]?.message).toMatch(/other than a space/);
  });

  it('refuses a URC with a line end in it, an unknown key and an unknown kind', () => {
    expect(dutProtocolSchema.safeParse({ kind: 'at', readyUrc: 'RDY\r\n' }).success).toBe(false);
    expect(dutProtocolSchema.safeParse({ kind: 'at', baud: 9600 }).success).toBe(false);
    expect(dutProtocolSchema.safeParse({ kind: 'modbus' }).success).toBe(false);
  });
});

describe('createDutConsole', () => {
  it('picks the console for the protocol', () => {
    expect(createDutConsole({ ...port })).toBeInstanceOf(TaggedConsole);
    expect(createDutConsole({ ...port, protocol: { kind: 'tagged' } })).toBeInstanceOf(TaggedConsole);
    expect(createDutConsole({ ...port, protocol: { kind: 'at', readyUrc: 'RDY' } })).toBeInstanceOf(AtConsole);
    const shell = createDutConsole({ ...port, protocol: { kind: 'shell', prompt: 'esp32> ' } });
    expect(shell).toBeInstanceOf(ShellConsole);
    expect(shell.label).toBe('fake:0');
    expect(shell.connected).toBe(false);
  });

  it('refuses options that fail the schema', () => {
    expect(() => createDutConsole({ ...port, protocol: { kind: 'shell', bootPattern: '[' } })).toThrow(/bootPattern/);
  });
});
