// A zero-latency DUT console that calls the simulated firmware directly, skipping the byte link.
// Used by the benchmark to measure what the sequence runner itself costs per step.
import { EventBus } from '../../../lib/event-bus.js';
import { RequestError } from '../../transport/request-error.js';
import { type DutConsole, type DutConsoleEvents } from '../../console/console.js';
import { parseRequest } from '../../console/tagged-protocol.js';
import type { SimulatedNest } from './firmware.js';

export class DirectDutConsole implements DutConsole {
  readonly readyProbe = { command: 'PING', ready: /(^| )ready=1( |$)/ };
  readonly events = new EventBus<DutConsoleEvents>();
  readonly connected = true;

  constructor(
    readonly label: string,
    private readonly nest: SimulatedNest,
  ) {
    nest.setOutput({
      event: (name, fields) => {
        const payload = Object.entries(fields)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        const stringFields = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
        this.events.emit('event', { name, fields: stringFields, payload });
      },
      raw: () => undefined,
      unplug: () => undefined,
    });
  }

  async start(): Promise<void> {
    this.events.emit('connection', { connected: true, reason: null });
  }

  async stop(): Promise<void> {
    this.nest.stop();
  }

  request(command: string, timeoutMs: number): Promise<string> {
    const req = parseRequest(`@1 ${command}`);
    if (!req) return Promise.reject(new RequestError('rejected', `malformed command "${command}"`, 'BAD_REQUEST'));
    const outcome = this.nest.execute(req.command, req.args);
    switch (outcome.kind) {
      case 'ok':
        return Promise.resolve(outcome.payload);
      case 'err':
        return Promise.reject(new RequestError('rejected', `DUT refused "${command}" with ${outcome.code}`, outcome.code));
      case 'garbage':
        return Promise.reject(new RequestError('garbage', `DUT answered "${command}" with garbage`));
      case 'unplug':
        return Promise.reject(new RequestError('disconnected', `${this.label} disconnected`));
      case 'silent':
        return new Promise((_, reject) => setTimeout(() => reject(new RequestError('timeout', `no answer to "${command}" within ${timeoutMs} ms`)), timeoutMs));
    }
  }
}
