// The port contract (test/contract/port-contract.ts) over the in-memory link.
import { memoryTransport } from '../contract/memory-transport.js';
import { describePortContract } from '../contract/port-contract.js';

describePortContract(memoryTransport);
