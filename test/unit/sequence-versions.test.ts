// The diff of a sequence version against the one before (GET /api/sequences/:hash, and the answer to
// a save, POST /api/sequences): the definition's changes leaf by leaf, and the script modules'
// changes, one entry per module added, removed or changed, named scripts["<module path>"] with the
// first 12 hex digits of its source's SHA-256 as before and after. A real store and the real route
// handlers.
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../station/log.js';
import { storedReader, type ScriptSources } from '../../station/sequence/script-sandbox.js';
import { loadSequence, type CompiledSequence } from '../../station/sequence/sequence.js';
import type { HttpDeps } from '../../station/server/deps.js';
import { engineerHandlers } from '../../station/server/engineer-routes.js';
import { jsonDiff, versionDiff } from '../../station/server/json-diff.js';
import { SequenceVersions } from '../../station/store/sequence-versions.js';
import { Store } from '../../station/store/store.js';
import { TempDirs } from '../support/unit-fakes.js';

const dirs = new TempDirs();
const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  dirs.cleanup();
});

const RTC = 'sequences/calibrate-rtc.ts';
const LIB = 'sequences/lib/trim.ts';
const RADIO = 'sequences/radio.ts';

const script = (body: string, imports = ''): string => `${imports}export default async function run(ctx: { measure(name: string, value: number): Promise<string> }): Promise<void> {\n  ${body}\n}\n`;
const short = (source: string): string => createHash('sha256').update(source).digest('hex').slice(0, 12);

function sequence(steps: { name: string; module: string }[], sources: ScriptSources, high = 4.2): CompiledSequence {
  return loadSequence(
    {
      name: 'versions',
      steps: [
        { type: 'identify', name: 'Identify' },
        { type: 'measure', name: 'VBAT', command: 'MEAS VBAT', capture: 'v=(\\S+)', as: 'number', unit: 'V', limit: { kind: 'range', low: 3.4, high } },
        ...steps.map((s) => ({ type: 'script', ...s })),
        { type: 'bless', name: 'Bless' },
      ],
    },
    'test',
    { scripts: storedReader(sources) },
  );
}

/** The store, the versions and the engineer route handlers over them. */
function rig() {
  const store = new Store(dirs.make(), silentLogger());
  store.open();
  open.push(store);
  const versions = new SequenceVersions(store, silentLogger());
  const deps = { versions, line: { setSequence: () => undefined }, bus: { emit: () => undefined }, log: silentLogger(), capabilities: null } as unknown as HttpDeps;
  const handlers = engineerHandlers(deps);
  const call = (handler: (req: Request, res: Response) => void, req: Partial<Request>): { status: number; body: Record<string, unknown> } => {
    const out = { status: 200, body: {} as Record<string, unknown> };
    const res = {
      status(code: number) {
        out.status = code;
        return res;
      },
      json(body: Record<string, unknown>) {
        out.body = body;
        return res;
      },
    };
    handler(req as Request, res as unknown as Response);
    return out;
  };
  return { versions, get: (hash: string) => call(handlers.getSequence, { params: { hash } }) };
}

describe('sequence version diff', () => {
  it('names each script module added, removed or changed, with its source hash, after the definition changes', () => {
    const { versions, get } = rig();
    const v1Sources = { [RTC]: script("await ctx.measure('RTC error before trim', 1);"), [RADIO]: script("await ctx.measure('RSSI', -50);") };
    const v1 = sequence(
      [
        { name: 'RTC calibration', module: RTC },
        { name: 'Radio', module: RADIO },
      ],
      v1Sources,
    );
    versions.reconcile(v1);

    // Only a script's source changes: the definition is the same, the hash is new.
    const v2Sources = { ...v1Sources, [RTC]: script("await ctx.measure('RTC error before trim', 2);") };
    const v2 = sequence(
      [
        { name: 'RTC calibration', module: RTC },
        { name: 'Radio', module: RADIO },
      ],
      v2Sources,
    );
    expect(v2.hash).not.toBe(v1.hash);
    expect(versions.save(v2).created).toBe(true);
    const detail2 = get(v2.hash);
    expect(detail2.status).toBe(200);
    expect(detail2.body.diff).toEqual([{ path: `scripts[${JSON.stringify(RTC)}]`, before: short(v1Sources[RTC]), after: short(v2Sources[RTC]) }]);

    // A limit changes, the radio script goes, the RTC script now imports a module of its own.
    const v3Sources = { [RTC]: script("await ctx.measure('RTC error before trim', trim());", "import { trim } from './lib/trim';\n"), [LIB]: 'export function trim(): number {\n  return 3;\n}\n' };
    const v3 = sequence([{ name: 'RTC calibration', module: RTC }], v3Sources, 4.15);
    versions.save(v3);
    const diff3 = get(v3.hash).body.diff as unknown[];
    // The definition's changes first, as before (the limit, the steps after the removed one)...
    expect(diff3.slice(0, -3)).toEqual(jsonDiff(v2.def, v3.def));
    expect(diff3[0]).toEqual({ path: 'steps[1].limit.high', before: 4.2, after: 4.15 });
    // ... then the modules, in path order.
    expect(diff3.slice(-3)).toEqual([
      { path: `scripts[${JSON.stringify(RTC)}]`, before: short(v2Sources[RTC]), after: short(v3Sources[RTC]) },
      { path: `scripts[${JSON.stringify(LIB)}]`, after: short(v3Sources[LIB]) },
      { path: `scripts[${JSON.stringify(RADIO)}]`, before: short(v2Sources[RADIO]) },
    ]);

    // The first version has no diff; the same sources in a later version are no entry.
    expect(get(v1.hash).body.diff).toEqual([]);
    expect(versionDiff({ definition: v3.def, scripts: v3.scripts }, { definition: v3.def, scripts: { ...v3.scripts } })).toEqual([]);
  });
});
