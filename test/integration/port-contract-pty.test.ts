// The port contract (test/contract/port-contract.ts) over a real pseudo-terminal pair (socat),
// through serialport's real binding with the hang-up-aware read.
import { describePortContract } from '../contract/port-contract.js';
import { ptyTransport } from '../contract/pty-transport.js';

describePortContract(ptyTransport);
