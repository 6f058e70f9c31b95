// The simulated enrollment service (the cloud a DUT enrolls with after a factory BlinkUp): it knows
// the factory tokens it issued and answers a DUT's enrollment the way seed 000 describes: accepted,
// or rejected for an invalid, expired or wrong-type token, or because the device is already a
// blessed production device. Faults on demand: the next enrollment rejected for a given reason.
import { createHmac, randomBytes } from 'node:crypto';

/** The simulated cloud's signing key: its tokens validate after a station restart, as a real
 *  cloud's would (it does not forget what it issued). */
const SIM_KEY = 'blinkup-station-simulated-enrollment-service';
const TYPE_CODES = { factory: 'f', developer: 'd', production: 'p' } as const;

function mac(text: string): string {
  return createHmac('sha256', SIM_KEY).update(text).digest('base64url').slice(0, 12);
}

export type EnrollOutcome = 'accepted' | 'invalid-token' | 'expired-token' | 'wrong-token-type' | 'already-blessed';

export interface IssuedSimToken {
  tokenId: string;
  token: string;
  type: 'factory' | 'developer' | 'production';
  expiresAt: string;
}

export class SimulatedEnrollmentService {
  private readonly tokens = new Map<string, { type: string; expiresAtMs: number; used: boolean }>();
  private readonly forced: EnrollOutcome[] = [];
  private serial = 0;
  enrollments = 0;

  /** Issues factory tokens, as the cloud's factory-tokens endpoint would. */
  issue(count: number, opts: { type?: IssuedSimToken['type']; ttlMs?: number; text?: string } = {}): IssuedSimToken[] {
    const out: IssuedSimToken[] = [];
    for (let i = 0; i < count; i++) {
      const tokenId = `tok-${Date.now().toString(36)}-${(++this.serial).toString(36)}`;
      const expiresAtMs = Date.now() + (opts.ttlMs ?? 24 * 3600_000);
      const type = opts.type ?? 'factory';
      const body = `ft_${randomBytes(12).toString('base64url')}.${expiresAtMs.toString(36)}.${TYPE_CODES[type]}`;
      const token = opts.text && count === 1 ? opts.text : `${body}.${mac(body)}`;
      this.tokens.set(token, { type, expiresAtMs, used: false });
      out.push({ tokenId, token, type, expiresAt: new Date(expiresAtMs).toISOString() });
    }
    return out;
  }

  /** The next enrollment gets this answer, whatever its token. */
  forceNext(outcome: EnrollOutcome): void {
    this.forced.push(outcome);
  }

  enroll(req: { token: string; tokenType: string; alreadyBlessed: boolean }): EnrollOutcome {
    this.enrollments++;
    const forced = this.forced.shift();
    if (forced) return forced;
    if (req.alreadyBlessed) return 'already-blessed';
    const t = this.tokens.get(req.token) ?? this.verify(req.token);
    if (!t || t.used) return 'invalid-token';
    if (t.type !== 'factory' || req.tokenType !== 'factory') return 'wrong-token-type';
    if (t.expiresAtMs <= Date.now()) return 'expired-token';
    t.used = true;
    return 'accepted';
  }

  /** A token this service signed before a restart: valid by its signature, remembered from now on. */
  private verify(token: string): { type: string; expiresAtMs: number; used: boolean } | null {
    const m = /^(ft_[A-Za-z0-9_-]+\.([0-9a-z]+)\.([fdp]))\.([A-Za-z0-9_-]{12})$/.exec(token);
    if (!m || mac(m[1] as string) !== m[4]) return null;
    const type = (Object.entries(TYPE_CODES).find(([, code]) => code === m[3])?.[0] ?? 'factory') as string;
    const entry = { type, expiresAtMs: Number.parseInt(m[2] as string, 36), used: false };
    this.tokens.set(token, entry);
    return entry;
  }
}

/** The simulated service as a station token source (tokens.source "simulated"). */
export class SimulatedTokenSource {
  readonly label = 'simulated enrollment service';

  constructor(private readonly service: SimulatedEnrollmentService) {}

  async fetch(count: number): Promise<{ tokenId: string; token: string; type: string; expiresAt: number }[]> {
    return this.service.issue(count).map((t) => ({ ...t, expiresAt: Date.parse(t.expiresAt) }));
  }
}
