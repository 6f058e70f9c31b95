// The `particle` uplink sink's configuration (docs/particle.md): which product blessed units join,
// with which token, whether their SIMs are activated and how they are claimed. The station's
// schema composes it; the sink (jobs/uplink/particle-sink.ts) and the identify step's platform
// check read it.
import { z } from 'zod';

/** An environment variable's name (the token is read from it at start, never stored in the config). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');

export const particleClaimSchema = z
  .strictObject({
    /** device: claim each blessed device now (POST /v1/devices) to the account or customer whose
     *  token is given; code: get a claim code for it (POST /v1/products/:product/device_claims)
     *  for the box label, and the end customer claims it later. */
    mode: z.enum(['device', 'code']),
    /** The claiming account's (or customer's) access token: a secret. Default: the sink's token. */
    token: z.string().min(1).optional(),
    /** The environment variable holding that token. */
    tokenEnv: envName.optional(),
  })
  .refine((c) => c.token === undefined || c.tokenEnv === undefined, { message: 'give the claim token or tokenEnv, not both', path: ['token'] });

const particleSinkFields = {
  /** The sink's id (its outbox cursor is kept under it); default "particle". As the other sinks' names. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'must be 1-40 letters, digits, "_" or "-", starting with a letter or digit')
    .optional(),
  /** The product's id (1234) or slug ("my-product-v1"), as the Console shows it. */
  product: z.union([z.number().int().positive(), z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'must be a product id or slug')]),
  /** The product's device platform (12 Argon, 13 Boron, 32 P2 ...): a unit reporting another
   *  platform fails at identify, before anything is spent on it. */
  platformId: z.number().int().min(0).max(65535),
  /** The product's access token (scopes devices:import, sims:import, sims:get): a secret, never
   *  logged. Prefer tokenEnv. */
  token: z.string().min(1).optional(),
  /** The environment variable holding the token (read at start); default PARTICLE_TOKEN. */
  tokenEnv: envName.optional(),
  /** The product uses plastic SIMs: each blessed unit's ICCID is imported and activated. */
  plasticSims: z.boolean().default(false),
  /** ICCIDs in one import request at most. */
  simBatchSize: z.number().int().min(1).max(1000).default(100),
  /** Particle queues SIM imports: an imported ICCID Particle does not show yet is asked about
   *  again until this long after its import, and then counts as refused (a dead letter). */
  simConfirmMs: z.number().int().min(0).max(86_400_000).default(120_000),
  /** Claim each blessed device, or get it a claim code for the box label. Absent: neither. */
  claim: particleClaimSchema.optional(),
  apiUrl: z.url({ protocol: /^https?$/ }).default('https://api.particle.io'),
};

const oneToken = { message: 'give token or tokenEnv, not both', path: ['token'] };

/** One sink of kind "particle": an entry of `uplink.sinks`. */
export const particleSinkSchema = z.strictObject({ kind: z.literal('particle'), ...particleSinkFields }).refine((c) => c.token === undefined || c.tokenEnv === undefined, oneToken);

export type ParticleSinkConfig = z.output<typeof particleSinkSchema>;

/** The default environment variable for the product token. */
export const DEFAULT_TOKEN_ENV = 'PARTICLE_TOKEN';

/** The Particle product a station's units are checked against at identify. */
export interface ParticleProduct {
  product: number | string;
  platformId: number;
}
