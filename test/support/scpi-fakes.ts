// A scripted SCPI instrument for driver tests: it answers *IDN?, keeps an error queue for SYST:ERR?,
// clears it on *CLS, and otherwise answers what the test scripted (a fixed answer, a list used in
// order, or a handler). It records every line it received, so a test can compare the commands a
// driver sent with a transcript from the programming guides. Works on any Duplex: the in-memory
// pair (FakeScpiLink) or a TCP socket.
import type { Duplex } from 'node:stream';
import { duplexPair } from '../../drivers/transport/memory-link.js';
import type { OpenedPort, PortOpener } from '../../drivers/transport/port.js';

export class ScriptedScpiPeer {
  /** Every line received, as sent (terminator removed). */
  readonly received: string[] = [];
  /** What SYST:ERR? returns next, oldest first; empty: `+0,"No error"`. */
  errors: string[] = [];
  idn = 'Keysight Technologies,34461A,MY57000001,A.03.01-03.15-03.01-00.52-04-02';
  noErrorText = '+0,"No error"';
  /** Answers by exact command: a string every time, a list one per time. */
  readonly answers = new Map<string, string | string[]>();
  /** Runs first; returns true when it dealt with the line. */
  handler: ((command: string, peer: ScriptedScpiPeer) => boolean | void) | null = null;
  /** Whether it knows *CLS (the Siglent SPD3303X does not). */
  knowsCls = true;
  private buffer = '';

  constructor(
    readonly stream: Duplex,
    readonly eol = '\n',
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', () => undefined);
  }

  /** Commands after the connect check (*IDN?, *CLS, then SYST:ERR? until empty). */
  get afterConnect(): string[] {
    const lines = [...this.received];
    let i = 0;
    if (lines[i] === '*IDN?') i++;
    if (lines[i] === '*CLS') i++;
    if (lines[i] === 'SYST:ERR?') i++;
    return lines.slice(i);
  }

  /** Writes one line with the terminator. */
  say(line: string): void {
    this.sayRaw(`${line}${this.eol}`);
  }

  sayRaw(text: string | Buffer): void {
    if (!this.stream.destroyed) this.stream.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  /** Pulls the plug on this connection. */
  hangUp(): void {
    this.stream.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    for (;;) {
      const end = this.buffer.indexOf('\n');
      if (end < 0) break;
      const line = this.buffer.slice(0, end).replace(/\r$/, '');
      this.buffer = this.buffer.slice(end + 1);
      this.onLine(line);
    }
  }

  private onLine(command: string): void {
    this.received.push(command);
    if (this.handler?.(command, this)) return;
    if (command === '*IDN?') return this.say(this.idn);
    if (/^:?SYST(EM)?:ERR(OR)?\?$/i.test(command)) return this.say(this.errors.shift() ?? this.noErrorText);
    if (command === '*CLS' && this.knowsCls) {
      this.errors = [];
      return;
    }
    const answer = this.answers.get(command);
    if (typeof answer === 'string') this.say(answer);
    else if (Array.isArray(answer) && answer.length > 0) this.say(answer.shift() as string);
  }
}

/** A PortOpener making a fresh in-memory pair per open with a ScriptedScpiPeer on the far end. */
export class FakeScpiLink {
  readonly peers: ScriptedScpiPeer[] = [];
  opens = 0;
  /** While set, opening fails with this message (the instrument is switched off). */
  refuse: string | null = null;

  constructor(
    private readonly configure: (peer: ScriptedScpiPeer) => void = () => undefined,
    private readonly eol = '\n',
  ) {}

  readonly open: PortOpener = async (): Promise<OpenedPort> => {
    this.opens++;
    if (this.refuse) throw new Error(this.refuse);
    const [station, far] = duplexPair();
    const peer = new ScriptedScpiPeer(far, this.eol);
    this.configure(peer);
    this.peers.push(peer);
    return {
      stream: station,
      close: async () => {
        station.destroy();
      },
    };
  };

  get current(): ScriptedScpiPeer {
    const peer = this.peers.at(-1);
    if (!peer) throw new Error('the link was never opened');
    return peer;
  }
}
