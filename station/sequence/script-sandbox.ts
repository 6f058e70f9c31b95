// Scripted steps' modules: read, checked, compiled and run in a fence.
//
// A script is a TypeScript (or JavaScript) module in the station's sequences folder exporting
// `default async function (ctx)`. At load (config or console save) its source and its local
// imports are read from that folder (sequences/ beside the config, or a subfolder of it), compiled
// with TypeScript's transpiler (syntax errors are refused with the compiler's message), and checked:
// it may import only its own folder's modules (node:fs, a package, the station's own code, a
// computed require: refused). Its sources are part of the sequence's content hash and are stored
// with the version, so a changed script is a new version and a stored version runs what it ran.
//
// At load each entry is evaluated in a realm of this thread, to refuse one that does not export a
// function (script-realm.ts has the realm); the scripts then run in a worker thread of their own
// (script-worker.ts), so a script that never yields stops its worker, not the line. The realm is
// a fence against mistakes and reaching for what a step must not touch (the store, the token vault,
// the network, the file system); it is not a boundary against a hostile author (node:vm is not
// one): scripts are the factory engineers' own code, versioned and reviewed like the sequence.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { makeRealm, type CompiledModule, type CompiledModules } from './script-realm.js';
import { ScriptWorker, type ScriptWorkerOptions } from './script-worker.js';

/** Module path (relative to the station's folder, e.g. "sequences/calibrate-rtc.ts") to its source. */
export type ScriptSources = Record<string, string>;

/** Reads a module's source by its path (relative to the station's folder); throws when it cannot. */
export type ScriptReader = (modulePath: string) => string;

export class ScriptError extends Error {
  constructor(
    readonly module: string,
    message: string,
  ) {
    super(message);
    this.name = 'ScriptError';
  }
}

const requireCjs = createRequire(import.meta.url);
type TypeScript = typeof import('typescript');
let typescriptModule: TypeScript | null = null;
/** TypeScript's transpiler, loaded on first use (a station without scripts never pays for it). */
function typescript(): TypeScript {
  return (typescriptModule ??= requireCjs('typescript') as TypeScript);
}

/** Reads modules from the station's folder on disk. */
export function diskReader(baseDir: string): ScriptReader {
  return (modulePath) => {
    try {
      return readFileSync(path.join(baseDir, modulePath), 'utf8');
    } catch (err) {
      throw new ScriptError(modulePath, `cannot read ${modulePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
}

/** Reads modules from stored sources (a stored version runs what it ran). */
export function storedReader(sources: ScriptSources): ScriptReader {
  return (modulePath) => {
    const source = sources[modulePath];
    if (source === undefined) throw new ScriptError(modulePath, `the stored version has no source for ${modulePath}`);
    return source;
  };
}

/** A script module path as a step may name it: relative, inside the station's folder, .ts or .js. */
export function checkModulePath(modulePath: string): string | null {
  if (path.isAbsolute(modulePath) || modulePath.includes('\\')) return 'must be a relative path with / separators (sequences/calibrate-rtc.ts)';
  const normal = path.posix.normalize(modulePath);
  if (normal !== modulePath || normal.startsWith('..') || normal.startsWith('./')) return 'must be a plain relative path inside the station\'s folder, with no ".." or "./"';
  if (!/\.(ts|js|mts|mjs)$/.test(normal) || normal.endsWith('.d.ts')) return 'must name a .ts or .js module';
  if (!normal.includes('/')) return 'must be inside a folder (sequences/...), the only place a script can import from';
  return null;
}

/**
 * Reads `entry` and every local module it imports, transpiles and checks them; adds their
 * sources to `into`. Throws ScriptError with the module and what is wrong.
 */
export function loadScript(entry: string, read: ScriptReader, into: ScriptSources, compiled: Map<string, CompiledModule>): void {
  const folder = path.posix.dirname(entry);
  const visit = (modulePath: string): void => {
    if (compiled.has(modulePath)) return;
    const source = read(modulePath);
    into[modulePath] = source;
    const ts = typescript();
    const out = ts.transpileModule(source, {
      fileName: modulePath,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: false, isolatedModules: true },
    });
    const problems = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (problems.length > 0) {
      const first = problems[0] as import('typescript').Diagnostic;
      const where = first.file && first.start !== undefined ? first.file.getLineAndCharacterOfPosition(first.start) : null;
      throw new ScriptError(modulePath, `${modulePath}${where ? `(${where.line + 1},${where.character + 1})` : ''}: ${ts.flattenDiagnosticMessageText(first.messageText, ' ')}`);
    }
    const requires: Record<string, string> = {};
    // Every value import, export-from and dynamic import becomes require("...") in CommonJS.
    for (const m of out.outputText.matchAll(/\brequire\s*\(\s*([^)]*?)\s*\)/g)) {
      const arg = (m[1] ?? '').trim();
      const literal = /^(["'])([^"'\\]+)\1$/.exec(arg);
      if (!literal) throw new ScriptError(modulePath, `${modulePath}: require() with a computed name is not allowed in a script`);
      const spec = literal[2] as string;
      if (!spec.startsWith('./') && !spec.startsWith('../')) {
        throw new ScriptError(modulePath, `${modulePath} imports "${spec}": a script may import only modules of its own folder (${folder}/), not the station, a package or node's modules`);
      }
      const resolved = resolveLocal(modulePath, spec, read);
      if (resolved !== folder && !resolved.startsWith(`${folder}/`)) {
        throw new ScriptError(modulePath, `${modulePath} imports "${spec}", which is outside its folder (${folder}/)`);
      }
      requires[spec] = resolved;
    }
    compiled.set(modulePath, { js: out.outputText, requires });
    for (const dep of Object.values(requires)) visit(dep);
  };
  visit(entry);
}

/**
 * A relative specifier from `from` to a module path, in TypeScript's order: ./trim.js may be
 * trim.ts on disk (tried first), ./trim is trim.ts, then trim.js, then trim/index.ts.
 */
function resolveLocal(from: string, spec: string, read: ScriptReader): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = /\.(ts|js|mts|mjs)$/.test(base) ? [base.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts'), base] : [`${base}.ts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`];
  for (const c of [...new Set(candidates)]) {
    try {
      read(c);
      return c;
    } catch {
      // try the next form
    }
  }
  return candidates[0] as string;
}

/** Reads, compiles and checks every entry; the sources (for the hash and the store) and the realm. */
export function loadScripts(entries: readonly string[], read: ScriptReader, opts: ScriptWorkerOptions = {}): { sources: ScriptSources; engine: ScriptWorker } {
  const sources: ScriptSources = {};
  const compiled = new Map<string, CompiledModule>();
  for (const entry of entries) loadScript(entry, read, sources, compiled);
  const modules: CompiledModules = Object.fromEntries(compiled);
  const realm = makeRealm(modules);
  for (const entry of entries) {
    try {
      realm.entry(entry);
    } catch (err) {
      const message = String((err as { message?: unknown } | null)?.message ?? err);
      throw new ScriptError(entry, (err as { notAFunction?: boolean } | null)?.notAFunction ? message : `${entry} failed when it was loaded: ${message}`);
    }
  }
  return { sources, engine: new ScriptWorker(modules, opts) };
}
