// `npm run particle-sim`: the Particle Cloud API simulator as its own process (docs/particle.md).
//   PARTICLE_SIM_TOKEN=... npm run particle-sim -- [--port 8093] [--host 127.0.0.1]
//     [--product 1234] [--slug my-product] [--platform 12] [--rate-limit 10000/300000]
//     [--sim-import-delay-ms 0] [--config sim.json] [--control]
// PARTICLE_SIM_TOKEN is the product token the station uses (every scope, owner
// factory@example.com); PARTICLE_SIM_CUSTOMER_TOKEN, when set, is a product customer's token
// (owner customer@example.com) for claims and claim codes. --config reads more options (products,
// tokens with scopes, devices, knownSims ...: ParticleSimOptions) from a JSON file. With --control,
// /_control/* (faults, devices, SIMs, connect, state) answers callers with PARTICLE_SIM_CONTROL_KEY.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ParticleSimulator, type ParticleSimOptions, type SimToken } from './simulator.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8093' },
    host: { type: 'string', default: '127.0.0.1' },
    product: { type: 'string', default: '1234' },
    slug: { type: 'string' },
    platform: { type: 'string', default: '12' },
    'rate-limit': { type: 'string', default: '10000/300000' },
    'sim-import-delay-ms': { type: 'string', default: '0' },
    config: { type: 'string' },
    control: { type: 'boolean', default: false },
  },
});

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) fail(`--${name}: "${text}" is not a whole number from ${min} to ${max}`);
  return n;
}

const port = integer('port', values.port as string, 0, 65535);
const rate = /^(\d+)\/(\d+)$/.exec(values['rate-limit'] as string);
if (!rate) fail(`--rate-limit: "${values['rate-limit']}" is not <requests>/<window ms>, for example 10000/300000`);
const tokens: SimToken[] = [];
if (process.env.PARTICLE_SIM_TOKEN) tokens.push({ token: process.env.PARTICLE_SIM_TOKEN, owner: 'factory@example.com' });
if (process.env.PARTICLE_SIM_CUSTOMER_TOKEN) tokens.push({ token: process.env.PARTICLE_SIM_CUSTOMER_TOKEN, owner: 'customer@example.com', kind: 'customer' });

let fromFile: Partial<ParticleSimOptions> = {};
if (values.config) {
  try {
    fromFile = JSON.parse(readFileSync(values.config, 'utf8')) as Partial<ParticleSimOptions>;
  } catch (err) {
    fail(`--config ${values.config}: ${(err as Error).message}`);
  }
}
const options: ParticleSimOptions = {
  products: [{ id: integer('product', values.product as string, 1, 2 ** 31), ...(values.slug ? { slug: values.slug } : {}), platformId: integer('platform', values.platform as string, 0, 65535) }],
  rateLimit: { limit: Number(rate[1]), windowMs: Number(rate[2]) },
  simImportDelayMs: integer('sim-import-delay-ms', values['sim-import-delay-ms'] as string, 0, 86_400_000),
  ...fromFile,
  tokens: [...tokens, ...(fromFile.tokens ?? [])],
  host: values.host as string,
  port,
  ...(values.control ? { controlKey: process.env.PARTICLE_SIM_CONTROL_KEY ?? fail('--control needs PARTICLE_SIM_CONTROL_KEY (the bearer key for /_control/*)') } : {}),
};
if (options.tokens.length === 0) fail('Set PARTICLE_SIM_TOKEN (the token the station sends, its particle tokenEnv), or give tokens in --config.');

const sim = new ParticleSimulator(options);
await sim.start();
const p = options.products[0];
process.stdout.write(`particle simulator listening on ${sim.url} (product ${p?.id}${p?.slug ? ` "${p.slug}"` : ''}, platform ${p?.platformId})\n`);
const stop = (): void => {
  sim.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
