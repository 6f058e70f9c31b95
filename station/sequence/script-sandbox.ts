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
// Each compiled sequence evaluates its scripts once, in a vm context of their own: only the
// language's own built-ins (no process, require, fetch, timers, console, Buffer), code generation
// from strings off (no eval, no new Function). The `ctx` a script gets is built inside that context
// and reaches the station through one host function that carries JSON text only, so no object of
// the station's realm is ever in the script's hands. This is a fence against mistakes and reaching
// for what a step must not touch (the store, the token vault, the network, the file system); it is
// not a boundary against a hostile author (node:vm is not one): scripts are the factory engineers'
// own code, versioned and reviewed like the sequence.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

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

interface CompiledModule {
  js: string;
  /** Local modules it requires, by the specifier as written, resolved to module paths. */
  requires: Map<string, string>;
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
    const requires = new Map<string, string>();
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
      requires.set(spec, resolved);
    }
    compiled.set(modulePath, { js: out.outputText, requires });
    for (const dep of requires.values()) visit(dep);
  };
  visit(entry);
}

/** A relative specifier from `from` to a module path: ./trim.js may be trim.ts on disk. */
function resolveLocal(from: string, spec: string, read: ScriptReader): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = /\.(ts|js|mts|mjs)$/.test(base) ? [base, base.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts')] : [`${base}.ts`, `${base}.js`, `${base}/index.ts`];
  for (const c of [...new Set(candidates)].reverse()) {
    try {
      read(c);
      return c;
    } catch {
      // try the next form
    }
  }
  return candidates[0] as string;
}

/** The context-side half of the bridge: builds `ctx` from one host function that speaks JSON. */
const BRIDGE = `(function makeContext(host) {
  'use strict';
  const data = JSON.parse(host.data);
  const call = (name, args) => new Promise((resolve, reject) => {
    let pending;
    try { pending = host.call(name, JSON.stringify(args)); } catch (e) { reject(new Error(String(e && e.message || e))); return; }
    pending.then((json) => resolve(json === undefined ? undefined : JSON.parse(json)), (e) => reject(new Error(String(e && e.message || e))));
  });
  const handlers = [];
  const ctx = Object.freeze({
    identity: Object.freeze(data.identity),
    fields: Object.freeze(data.fields),
    variant: data.variant,
    get aborted() { return host.aborted() === true; },
    onAbort(handler) { if (typeof handler === 'function') handlers.push(handler); },
    dut: Object.freeze({
      send: (command, options) => call('send', [String(command), options === undefined ? {} : options]),
      expect: (command, pattern, options) => call('expect', [String(command), String(pattern), options === undefined ? {} : options]),
    }),
    instruments: Object.freeze({
      measure: (source) => call('instrument.measure', [source]),
      scpi: (instrument, exchange) => call('instrument.scpi', [String(instrument), exchange]),
    }),
    measure: (name, value, options) => call('measure', [String(name), value, options === undefined ? {} : options]),
    prompt: (text, answers) => call('prompt', [String(text), answers === undefined ? ['yes', 'no'] : answers]),
    sleep: (ms) => call('sleep', [Number(ms)]),
    log: (message, fields) => { host.log(String(message), JSON.stringify(fields === undefined ? {} : fields)); },
  });
  return Object.freeze({ ctx, abort() { for (const h of handlers) { try { h(); } catch (e) {} } } });
})`;

/** What the station offers a running script (station/sequence/steps/script.ts implements it). */
export interface ScriptHost {
  /** JSON text of {identity, fields, variant}. */
  data: string;
  /** One call by name with JSON arguments; resolves with JSON text (or undefined). */
  call(name: string, argsJson: string): Promise<string | undefined>;
  aborted(): boolean;
  log(message: string, fieldsJson: string): void;
}

/** A sequence's scripts, evaluated once in their own context; each entry's default function by module path. */
export class ScriptRealm {
  private readonly context: vm.Context;
  private readonly exportsOf = new Map<string, unknown>();
  private readonly makeContext: (host: ScriptHost) => { ctx: unknown; abort(): void };
  private readonly runner: vm.Script;
  private readonly evaluate: vm.Script;
  /** An Error of the scripts' own realm (never hand them one of the station's). */
  private readonly contextError: (message: string) => Error;

  constructor(private readonly compiled: Map<string, CompiledModule>) {
    this.context = vm.createContext(Object.create(null), { name: 'sequence scripts', codeGeneration: { strings: false, wasm: false } });
    this.makeContext = vm.runInContext(BRIDGE, this.context, { filename: 'station:script-bridge.js' }) as (host: ScriptHost) => { ctx: unknown; abort(): void };
    this.contextError = vm.runInContext('(message) => new Error(message)', this.context) as (message: string) => Error;
    this.runner = new vm.Script('__entry(__ctx)', { filename: 'station:script-runner.js' });
    this.evaluate = new vm.Script('__wrapper(__module.exports, __require, __module)', { filename: 'station:script-loader.js' });
  }

  /** The entry's default export, evaluating it (and its imports) on first use; throws when it is not a function. */
  entry(modulePath: string): (ctx: unknown) => unknown {
    const exported = this.require(modulePath) as { default?: unknown } | undefined;
    const fn = exported?.default;
    if (typeof fn !== 'function') throw new ScriptError(modulePath, `${modulePath} does not export a default function (export default async function (ctx) { ... })`);
    return fn as (ctx: unknown) => unknown;
  }

  /**
   * Runs the entry's default function with a fresh ctx. Its synchronous part is cut after
   * `syncTimeoutMs` (a loop that never yields); what it returns is awaited by the caller.
   */
  start(modulePath: string, host: ScriptHost, syncTimeoutMs: number): { done: Promise<unknown>; abort(): void } {
    const fn = this.entry(modulePath);
    const { ctx, abort } = this.makeContext(host);
    const sandbox = this.context as Record<string, unknown>;
    sandbox.__entry = fn;
    sandbox.__ctx = ctx;
    try {
      const result = this.runner.runInContext(this.context, { timeout: syncTimeoutMs, displayErrors: false }) as unknown;
      return { done: Promise.resolve(result), abort };
    } catch (err) {
      return { done: Promise.reject(err), abort };
    } finally {
      delete sandbox.__entry;
      delete sandbox.__ctx;
    }
  }

  private require(modulePath: string): unknown {
    if (this.exportsOf.has(modulePath)) return this.exportsOf.get(modulePath);
    const mod = this.compiled.get(modulePath);
    if (!mod) throw new ScriptError(modulePath, `no module ${modulePath}`);
    const module = vm.runInContext('({ exports: {} })', this.context) as { exports: unknown };
    this.exportsOf.set(modulePath, module.exports);
    const wrapper = vm.runInContext(`(function (exports, require, module) {\n${mod.js}\n})`, this.context, { filename: modulePath }) as (e: unknown, r: unknown, m: unknown) => void;
    const localRequire = (vm.runInContext('(resolve) => (spec) => resolve(String(spec))', this.context) as (r: (s: string) => unknown) => unknown)((spec: string) => {
      const target = mod.requires.get(spec);
      if (!target) throw this.contextError(`${modulePath} may not require "${spec}"`);
      return this.require(target);
    });
    // A module's top-level code runs once, here, and may not loop for ever.
    const sandbox = this.context as Record<string, unknown>;
    Object.assign(sandbox, { __wrapper: wrapper, __require: localRequire, __module: module });
    try {
      this.evaluate.runInContext(this.context, { timeout: 2000, displayErrors: false });
    } finally {
      delete sandbox.__wrapper;
      delete sandbox.__require;
      delete sandbox.__module;
    }
    this.exportsOf.set(modulePath, module.exports);
    return module.exports;
  }
}

/** Reads, compiles and checks every entry; the sources (for the hash and the store) and the realm. */
export function loadScripts(entries: readonly string[], read: ScriptReader): { sources: ScriptSources; realm: ScriptRealm } {
  const sources: ScriptSources = {};
  const compiled = new Map<string, CompiledModule>();
  for (const entry of entries) loadScript(entry, read, sources, compiled);
  const realm = new ScriptRealm(compiled);
  for (const entry of entries) {
    try {
      realm.entry(entry);
    } catch (err) {
      if (err instanceof ScriptError) throw err;
      throw new ScriptError(entry, `${entry} failed when it was loaded: ${(err as Error).message}`);
    }
  }
  return { sources, realm };
}
