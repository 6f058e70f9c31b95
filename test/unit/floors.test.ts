// The house's floors run one way (docs/architecture.md): the composition root on top, then jobs,
// then the station's parts (each room on its own floor), then drivers, then lib. A file may import
// from its own floor or the floors below it, never above; and no files import each other in a
// circle. Read from the source's import lines (type-only imports count: they are arrows too).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';

/** Floor numbers: a file may import files on its floor or below (a smaller number). */
const STATION_ROOMS: Record<string, number> = {
  // the station's base: shared words, the bus, the alarm board, logging, paths
  model: 0,
  events: 0,
  alarms: 0,
  log: 0,
  paths: 0,
  'clock-watch': 0, // the wall clock against the newest record (reads the database it is handed)
  sequence: 1, // sequences and step kinds (reach the station only through a StepContext)
  auth: 1,
  config: 2, // composes the schemas of sequences and drivers
  store: 3,
  'fault-latch': 3, // fails the station closed on a fault of the store's disk (station/fault-latch.ts)
  records: 3, // a run as records other tools read (OpenHTF): pure functions of the store's run view
  'uplink-watch': 3, // the uplink's backlog as an alarm past an engineer's thresholds: the bus only
  tokens: 4,
  identity: 5,
  fixture: 5, // the bench instruments and each slot's share of them
  line: 6,
  server: 7,
  simulation: 8, // the simulated world: wired only by the root
  'backup-cli': 9, // npm run backup / restore: the config and the store, nothing of the line
};
const ROOT_FILES = new Set(['station/main.ts', 'station/bin.ts', 'station/station.ts', 'station/hardware.ts', 'station/sequence-cli.ts']);
const JOBS = 20;
const ROOT = 30;

/** The floor of a project file, and its room (for messages). */
function floorOf(file: string): { floor: number; room: string } | null {
  const [top, second] = file.split('/');
  if (ROOT_FILES.has(file)) return { floor: ROOT, room: 'the composition root' };
  if (top === 'lib') return { floor: -20, room: 'lib' };
  if (top === 'drivers') {
    // transport below the consoles below the device drivers; every driver above lib
    const room = `drivers/${second}`;
    return { floor: second === 'transport' ? -12 : second === 'console' ? -11 : -10, room };
  }
  if (top === 'jobs') return { floor: JOBS, room: 'jobs' };
  if (top === 'station') {
    const room = second?.endsWith('.ts') ? second.slice(0, -3) : (second as string);
    const floor = STATION_ROOMS[room];
    if (floor === undefined) throw new Error(`station/${room} has no floor: give it one in floors.test.ts`);
    return { floor, room: `station/${room}` };
  }
  return null;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(PROJECT_ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(path.join(PROJECT_ROOT, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2]) as string;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

const FILES = ['lib', 'drivers', 'jobs', 'station', 'fleet'].flatMap(sourceFiles);

// The fleet view (docs/fleet.md) is a program of its own beside the station: it reads the station's
// MQTT topics with the station's own MQTT code, and its load generator publishes simulated
// stations with the station's own publisher, sink and record. Nothing of the station imports it.
const FLEET_MAY_IMPORT = [/^fleet\//, /^lib\//, /^drivers\//, /^jobs\/uplink\/(mqtt-topics|mqtt-live|mqtt-sink|sinks)\.ts$/, /^station\/(events|store\/outbox|store\/ids)\.ts$/];
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f).filter((t) => FILES.includes(t))]));

describe('floors', () => {
  it('reads the whole house: every import of a project file resolves to a project file', () => {
    expect(FILES.length).toBeGreaterThan(100);
    for (const f of FILES) {
      const missing = importsOf(f).filter((t) => !FILES.includes(t));
      expect(missing, `${f} imports files that do not exist`).toEqual([]);
    }
  });

  it('has no import that runs upward', () => {
    const upward: string[] = [];
    for (const [file, targets] of GRAPH) {
      const from = floorOf(file);
      if (!from) continue;
      for (const t of targets) {
        const to = floorOf(t);
        if (to && to.floor > from.floor) upward.push(`${file} (${from.room}) imports ${t} (${to.room})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('lets only the composition root import the simulated world', () => {
    const users = [...GRAPH].filter(([f, ts]) => !f.startsWith('station/simulation/') && ts.some((t) => t.startsWith('station/simulation/'))).map(([f]) => f);
    expect(users.sort()).toEqual(['station/hardware.ts', 'station/station.ts']);
  });

  it("lets fleet/ import only lib, drivers and the station's MQTT code and record, and nothing import fleet/", () => {
    const fleet = [...GRAPH].filter(([f]) => f.startsWith('fleet/'));
    expect(fleet.length).toBeGreaterThan(2);
    const outside = fleet.flatMap(([f, ts]) => ts.filter((t) => !FLEET_MAY_IMPORT.some((re) => re.test(t))).map((t) => `${f} imports ${t}`));
    expect(outside).toEqual([]);
    const intoFleet = [...GRAPH].filter(([f, ts]) => !f.startsWith('fleet/') && ts.some((t) => t.startsWith('fleet/'))).map(([f]) => f);
    expect(intoFleet).toEqual([]);
    // The check can fail: a station file importing the fleet's server would be caught.
    expect(FLEET_MAY_IMPORT.some((re) => re.test('station/station.ts'))).toBe(false);
  });

  it('has no circle of imports between files', () => {
    // Tarjan's strongly connected components over the file graph.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const on = new Set<string>();
    const circles: string[][] = [];
    const visit = (v: string): void => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      on.add(v);
      for (const w of GRAPH.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
        } else if (on.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
      }
      if (low.get(v) === idx.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop() as string;
          on.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1) circles.push(scc.sort());
      }
    };
    for (const f of FILES) if (!idx.has(f)) visit(f);
    expect(circles).toEqual([]);
  });

  it('would catch an upward import (the check can fail)', () => {
    const from = floorOf('drivers/dut/index.ts');
    const to = floorOf('station/events.ts');
    expect(from && to && to.floor > from.floor).toBe(true);
  });
});
