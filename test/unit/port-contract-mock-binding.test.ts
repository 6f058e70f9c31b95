// The port contract (test/contract/port-contract.ts) over serialport with its mock binding injected.
import { mockBindingTransport } from '../contract/mock-binding-transport.js';
import { describePortContract } from '../contract/port-contract.js';

describePortContract(mockBindingTransport);
