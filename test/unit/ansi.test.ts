import { describe, expect, it } from 'vitest';
import { renderLine, stripAnsi, tokenizeAnsi } from '../../drivers/console/ansi.js';

describe('stripAnsi', () => {
  it('removes SGR colour codes, with and without parameters', () => {
    expect(stripAnsi('\x1b[1;32muart:~$ \x1b[m')).toBe('uart:~$ ');
    expect(stripAnsi('\x1b[0m<inf> main: hello\x1b[0m')).toBe('<inf> main: hello');
    expect(stripAnsi('\x1b[38;5;208morange\x1b[39m')).toBe('orange');
  });

  it('removes cursor movement, erase and private-mode CSI sequences', () => {
    expect(stripAnsi('a\x1b[8Db\x1b[Jc\x1b[2Kd\x1b[?25le\x1b[6n')).toBe('abcde');
  });

  it('removes OSC strings ended by BEL or by ST, and DCS / APC strings', () => {
    expect(stripAnsi('\x1b]0;window title\x07text')).toBe('text');
    expect(stripAnsi('\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\')).toBe('link');
    expect(stripAnsi('\x1bPq#0;2;0;0;0\x1b\\x')).toBe('x');
    expect(stripAnsi('\x1b_app\x1b\\y')).toBe('y');
  });

  it('removes two- and three-byte escapes (save / restore cursor, character sets, reset)', () => {
    expect(stripAnsi('\x1b7saved\x1b8\x1b(B\x1bc')).toBe('saved');
  });

  it('removes the 8-bit CSI and OSC introducers too', () => {
    expect(stripAnsi('\u009b1;31mred\u009b0m')).toBe('red');
    expect(stripAnsi('\u009d0;t\u009cz')).toBe('z');
  });

  it('keeps a lone or broken ESC, so that a control-character check refuses the line', () => {
    expect(stripAnsi('a\x1b\x01b')).toBe('a\x1b\x01b');
    expect(stripAnsi('x\x1b[12\x01y')).toBe('x\x1b[12\x01y');
  });

  it('keeps a sequence cut off at the end, unless told to drop it (a partial line)', () => {
    expect(stripAnsi('uart:~$ \x1b[')).toBe('uart:~$ \x1b[');
    expect(stripAnsi('uart:~$ \x1b[', { dropIncomplete: true })).toBe('uart:~$ ');
    expect(stripAnsi('\x1b', { dropIncomplete: true })).toBe('');
    expect(stripAnsi('t\x1b]0;unterminated', { dropIncomplete: true })).toBe('t');
  });

  it('leaves text without escapes alone, UTF-8 included', () => {
    expect(stripAnsi('plain text, 3.702 V, Grüße')).toBe('plain text, 3.702 V, Grüße');
  });

  it('tokenizes a CSI into parameters, intermediates and final byte', () => {
    expect(tokenizeAnsi('\x1b[1;31m').tokens).toEqual([{ kind: 'csi', params: '1;31', intermediates: '', final: 'm' }]);
    expect(tokenizeAnsi('\x1b[1 q').tokens).toEqual([{ kind: 'csi', params: '1', intermediates: ' ', final: 'q' }]);
    expect(tokenizeAnsi('ab\x1b[1;3').incompleteAt).toBe(2);
  });
});

describe('renderLine', () => {
  it('reads a Zephyr log line drawn over the prompt as the log line', () => {
    const raw = '\x1b[1;32muart:~$ \x1b[m\x1b[8D\x1b[J[00:00:05.000,000] \x1b[0m<inf> main: hello\x1b[0m';
    expect(renderLine(raw)).toBe('[00:00:05.000,000] <inf> main: hello');
  });

  it('applies CR, BS and erase to the end of the line', () => {
    expect(renderLine('abc\rxy')).toBe('xyc');
    expect(renderLine('abc\r\x1b[Kxy')).toBe('xy');
    expect(renderLine('abc\b\bZ')).toBe('aZc');
    expect(renderLine('line\r')).toBe('line');
  });

  it('moves the cursor right, left and to a column', () => {
    expect(renderLine('ab\x1b[3Cc')).toBe('ab   c');
    expect(renderLine('abcdef\x1b[2Dx')).toBe('abcdxf');
    expect(renderLine('abcdef\x1b[2Gx')).toBe('axcdef');
  });

  it('erases from the start or the whole line', () => {
    expect(renderLine('abcdef\x1b[3D\x1b[1Kx')).toBe('   xef');
    expect(renderLine('abcdef\x1b[2Kxy')).toBe('      xy');
  });

  it('keeps control characters it does not interpret, for the caller to refuse', () => {
    expect(renderLine('a\x00b\x07')).toBe('a\x00b\x07');
  });

  it('drops a sequence cut off at the end of a partial line', () => {
    expect(renderLine('\x1b[1;32muart:~$ \x1b', { dropIncomplete: true })).toBe('uart:~$ ');
  });
});
