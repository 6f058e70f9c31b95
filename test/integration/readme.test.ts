// What a newcomer reads must run. README.md's shell blocks ask the station with curl; each of those
// commands, as written (only localhost:8080 rewritten to the test daemon's port), runs against the
// shipped configuration's station and gets a 2xx, and a JSON answer parses. So do docs/api.md's
// curl examples, a login first (the way its Sessions section says) for the ones that use a session.
// Every `npm run X` the README names is a script of package.json, and every relative link in it
// leads to a file.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../station/paths.js';
import { Daemon, TEST_ENGINEER_PASSWORD } from '../support/daemon.js';

const run = promisify(execFile);
const README = path.join(PROJECT_ROOT, 'README.md');
const API_DOC = path.join(PROJECT_ROOT, 'docs/api.md');

/** Commands in the docs that do not work as written, and how they fail today. Each is still run:
 *  when it starts working (or leaves the docs) the test says to take it off this list. */
const KNOWN_BROKEN: Record<string, { status: number; why: string }> = {};

interface Block {
  lang: string;
  /** The block's 1-based line in its file. */
  line: number;
  body: string;
}

/** The fenced code blocks of a Markdown text (``` or ~~~), with their info string's first word. */
function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i] as string);
    if (!open) continue;
    const fence = open[1] as string;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[j] as string); j++) body.push(lines[j] as string);
    blocks.push({ lang: (open[2] as string).toLowerCase(), line: i + 1, body: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** A shell block's commands, each with its first line's offset in the block: continuation lines
 *  joined, comments (outside quotes) dropped. */
function shellCommands(body: string): { offset: number; command: string }[] {
  const commands: { offset: number; command: string }[] = [];
  const lines = body.split('\n');
  for (let first = 0; first < lines.length;) {
    let logical = '';
    let last = first;
    for (; last < lines.length; last++) {
      const line = lines[last] as string;
      if (!line.endsWith('\\') || last === lines.length - 1) {
        logical += line;
        break;
      }
      logical += `${line.slice(0, -1)} `;
    }
    let out = '';
    let quote: string | null = null;
    for (let i = 0; i < logical.length; i++) {
      const c = logical[i] as string;
      if (quote) {
        if (c === quote) quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === '#' && (i === 0 || /\s/.test(logical[i - 1] as string))) {
        break;
      }
      out += c;
    }
    const command = out.replace(/\s+/g, ' ').trim();
    if (command) commands.push({ offset: first, command });
    first = last + 1;
  }
  return commands;
}

const STATION = /\b(?:localhost|127\.0\.0\.1):8080\b/g;

interface DocCurl {
  doc: string;
  line: number;
  command: string;
}

/** The curl commands against the station (localhost:8080) in a file's fenced blocks of `langs`
 *  (any block when `langs` is null). */
function stationCurls(file: string, langs: string[] | null): DocCurl[] {
  const doc = path.relative(PROJECT_ROOT, file);
  return fencedBlocks(readFileSync(file, 'utf8'))
    .filter((b) => langs === null || langs.includes(b.lang))
    .flatMap((b) => shellCommands(b.body).map(({ offset, command }) => ({ doc, line: b.line + 1 + offset, command })))
    .filter((c) => /^(?:\w+=\S+ )*curl\b/.test(c.command) && new RegExp(STATION.source).test(c.command));
}

interface CurlAnswer {
  status: number;
  contentType: string;
  body: string;
}

const MARK = '\n@@curl-status@@ ';

/** Runs a doc's curl command in bash, as pasted into a terminal, with `-w` added to learn the status. */
async function runCurl(command: string, port: number, env: Record<string, string>, cwd: string): Promise<CurlAnswer> {
  const pointed = command.replace(STATION, `localhost:${port}`).replace(/^((?:\w+=\S+ )*)curl\b/, `$1curl -w '${MARK.replace('\n', '\\n')}%{http_code} %{content_type}'`);
  let stdout: string;
  try {
    ({ stdout } = await run('bash', ['-c', pointed], { cwd, env: { ...process.env, ...env }, timeout: 15_000 }));
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    throw new Error(`\`${pointed}\` exited ${e.code}: ${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
  const at = stdout.lastIndexOf(MARK);
  expect(at, `no status line from \`${pointed}\`:\n${stdout}`).toBeGreaterThanOrEqual(0);
  const [status, ...type] = stdout
    .slice(at + MARK.length)
    .trim()
    .split(' ');
  return { status: Number(status), contentType: type.join(' '), body: stdout.slice(0, at) };
}

const readmeText = readFileSync(README, 'utf8');
const readmeCurls = stationCurls(README, ['sh', 'bash', 'shell', 'console']);
const apiCurls = existsSync(API_DOC) ? stationCurls(API_DOC, null) : [];

describe('README.md: what a newcomer reads must run', () => {
  it('names only npm scripts that package.json has', () => {
    const scripts = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const named = new Set([...readmeText.matchAll(/\bnpm run(?:\s+--?[\w-]+)*\s+([\w:.-]+)/g)].map((m) => m[1] as string));
    // `npm start` and `npm test` run the scripts of those names.
    for (const m of readmeText.matchAll(/\bnpm (start|test)\b/g)) named.add(m[1] as string);
    expect(named.size, `npm commands found: ${[...named].join(', ')}`).toBeGreaterThanOrEqual(8);
    for (const name of ['start', 'test', 'sequence', 'passwd']) expect([...named]).toContain(name);
    const missing = [...named].filter((name) => !Object.hasOwn(scripts, name));
    expect(missing, `README names npm scripts package.json does not have`).toEqual([]);
  });

  it('links only to files and folders that exist', () => {
    const targets = [
      ...[...readmeText.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string),
      ...[...readmeText.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1] as string),
    ];
    const relative = targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
    expect(relative.length, `relative links found: ${relative.join(', ')}`).toBeGreaterThanOrEqual(3);
    const broken = relative.filter((t) => !existsSync(path.resolve(path.dirname(README), decodeURIComponent(t.replace(/[#?].*$/, '')))));
    expect(broken, 'README links to files that do not exist').toEqual([]);
  });

  it('has its station curl commands where this test finds them', () => {
    // A reformat that hides them from the parser (another fence, no `sh`) fails here, not silently.
    expect(readmeCurls.map((c) => c.command)).toEqual(expect.arrayContaining(['curl -s localhost:8080/api/health', 'curl -s localhost:8080/metrics']));
    expect(readmeCurls.length).toBeGreaterThanOrEqual(3);
    expect(apiCurls.length).toBeGreaterThanOrEqual(1);
    for (const known of Object.keys(KNOWN_BROKEN)) {
      expect(
        [...readmeCurls, ...apiCurls].map((c) => c.command),
        `${known} is no longer in the docs: take it off KNOWN_BROKEN`,
      ).toContain(known);
    }
  });

  describe('its curl commands against the shipped station', () => {
    let dir: string;
    let daemon: Daemon;
    let port: number;
    /** What a command's shell variables stand for: a session's cookie and CSRF token, and the
     *  newcomer's environment (no STATION_OPERATOR_PIN: the README's login reads credentials.txt). */
    const vars: Record<string, string> = { STATION_OPERATOR_PIN: '' };

    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'station-readme-'));
      // As a newcomer's `npm start` from the project root: the data folder is data/ beside where the
      // commands run, and the operator PIN is the one test mode writes to data/credentials.txt (the
      // README's login reads it there). The engineer password is the tests' own.
      daemon = new Daemon(path.join(PROJECT_ROOT, 'station.config.json'), { STATION_PORT: '0', STATION_DATA_DIR: path.join(dir, 'data'), STATION_OPERATOR_PIN: '' });
      await daemon.start();
      port = Number(new URL(daemon.url).port);
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(8080);

      // The login of docs/api.md's Sessions section, with curl: POST /api/session with the role's
      // JSON body; the session is the station.sid cookie, its CSRF token is in the body.
      const body = JSON.stringify({ role: 'engineer', password: TEST_ENGINEER_PASSWORD });
      const { stdout } = await run('curl', ['-s', '-i', '-X', 'POST', `localhost:${port}/api/session`, '-H', 'content-type: application/json', '-d', body], { timeout: 15_000 });
      const sid = /^set-cookie: station\.sid=([^;\s]+)/im.exec(stdout)?.[1];
      const csrf = /"csrfToken":"([^"]+)"/.exec(stdout)?.[1];
      expect(sid, `no session cookie in the login answer:\n${stdout}`).toBeTruthy();
      expect(csrf, `no CSRF token in the login answer:\n${stdout}`).toBeTruthy();
      vars.SID = sid as string;
      vars.CSRF = csrf as string;
    });

    afterAll(async () => {
      try {
        expect(await daemon?.terminate()).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    // In the docs' order, all from the same folder: a login that keeps its cookie in a jar comes
    // before the command that uses the jar.
    for (const c of [...readmeCurls, ...apiCurls]) {
      const broken = KNOWN_BROKEN[c.command];
      const title = `${c.doc}:${c.line}: ${c.command}${broken ? ` (known broken: HTTP ${broken.status})` : ''}`;
      it(title, async () => {
        const used = [...c.command.matchAll(/\$\{?(\w+)/g)].map((m) => m[1] as string);
        const unknown = used.filter((v) => !(v in vars));
        expect(unknown, `the command uses shell variables this test cannot set`).toEqual([]);
        const answer = await runCurl(c.command, port, vars, dir);
        if (broken) {
          expect(answer.status, `${c.command} now answers ${answer.status}: it works, take it off KNOWN_BROKEN (${broken.why})`).toBe(broken.status);
          return;
        }
        expect(answer.status, `${c.command} answered:\n${answer.body}`).toBeGreaterThanOrEqual(200);
        expect(answer.status, `${c.command} answered:\n${answer.body}`).toBeLessThan(300);
        expect(answer.body.trim()).not.toBe('');
        if (/^application\/(?:[\w.+-]*\+)?json\b/.test(answer.contentType)) {
          expect(() => JSON.parse(answer.body), `${c.command}: the answer is not JSON:\n${answer.body}`).not.toThrow();
        }
        if (/\/metrics\b/.test(c.command)) expect(answer.body).toMatch(/^station_up\{station="line1-station1"\} 1$/m);
        if (/\/api\/health\b/.test(c.command)) expect(JSON.parse(answer.body)).toMatchObject({ stationId: 'line1-station1', slots: expect.any(Array) });
      });
    }
  });
});
