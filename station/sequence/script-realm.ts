// Where a sequence's scripts run: a vm context of their own, built from one piece of JavaScript
// text (REALM_SOURCE) so that the very same code makes the realm in the station's thread (at load,
// to check each entry exports a function) and in the script worker (to run them: script-worker.ts).
//
// The context has only the language's own built-ins (no process, require, fetch, timers, Buffer;
// V8's `console` is there but writes nowhere), and code generation from strings is off (no eval, no
// new Function). The `ctx` a script gets is built inside that context and reaches the host through
// one function that carries JSON text only, so no object of the host's realm is ever in the
// script's hands. A module's top-level code runs once and may not loop for ever (2 s).
import vm from 'node:vm';

/** A compiled module: its CommonJS text and its local requires (specifier as written -> module path). */
export interface CompiledModule {
  js: string;
  requires: Record<string, string>;
}

/** Every compiled module of a sequence's scripts, by module path. */
export type CompiledModules = Record<string, CompiledModule>;

/** What a host offers a running script (station/sequence/steps/script.ts implements it). */
export interface ScriptHost {
  /** JSON text of {identity, fields, variant}. */
  data: string;
  /** One call by name with JSON arguments; resolves with JSON text (or undefined). */
  call(name: string, argsJson: string): Promise<string | undefined>;
  aborted(): boolean;
  log(message: string, fieldsJson: string): void;
}

export interface Realm {
  /** The entry's default export, evaluating it (and its imports) on first use; throws when it is not a function. */
  entry(modulePath: string): (ctx: unknown) => unknown;
  /** Runs the entry's default function with a fresh ctx; `done` settles when it does. */
  start(modulePath: string, host: ScriptHost): { done: Promise<unknown>; abort(): void };
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

/** `(vm, modules) => Realm`, as JavaScript text (evaluated in the station's thread and in the worker). */
export const REALM_SOURCE = `(function makeRealm(vm, modules) {
  'use strict';
  const context = vm.createContext(Object.create(null), { name: 'sequence scripts', codeGeneration: { strings: false, wasm: false } });
  const makeContext = vm.runInContext(${JSON.stringify(BRIDGE)}, context, { filename: 'station:script-bridge.js' });
  const contextError = vm.runInContext('(message) => new Error(message)', context);
  const makeRequire = vm.runInContext('(resolve) => (spec) => resolve(String(spec))', context);
  const evaluate = new vm.Script('__wrapper(__module.exports, __require, __module)', { filename: 'station:script-loader.js' });
  const exportsOf = new Map();
  function load(modulePath) {
    if (exportsOf.has(modulePath)) return exportsOf.get(modulePath);
    const mod = Object.prototype.hasOwnProperty.call(modules, modulePath) ? modules[modulePath] : undefined;
    if (!mod) throw new Error('no module ' + modulePath);
    const module = vm.runInContext('({ exports: {} })', context);
    exportsOf.set(modulePath, module.exports);
    const wrapper = vm.runInContext('(function (exports, require, module) {\\n' + mod.js + '\\n})', context, { filename: modulePath });
    const localRequire = makeRequire((spec) => {
      const target = Object.prototype.hasOwnProperty.call(mod.requires, spec) ? mod.requires[spec] : undefined;
      if (!target) throw contextError(modulePath + ' may not require "' + spec + '"');
      return load(target);
    });
    Object.assign(context, { __wrapper: wrapper, __require: localRequire, __module: module });
    try {
      evaluate.runInContext(context, { timeout: 2000, displayErrors: false });
    } finally {
      delete context.__wrapper;
      delete context.__require;
      delete context.__module;
    }
    exportsOf.set(modulePath, module.exports);
    return module.exports;
  }
  function entry(modulePath) {
    const exported = load(modulePath);
    const fn = exported === null || exported === undefined ? undefined : exported.default;
    if (typeof fn !== 'function') {
      const err = new Error(modulePath + ' does not export a default function (export default async function (ctx) { ... })');
      err.notAFunction = true;
      throw err;
    }
    return fn;
  }
  function start(modulePath, host) {
    const fn = entry(modulePath);
    const made = makeContext(host);
    try {
      return { done: Promise.resolve(fn(made.ctx)), abort: made.abort };
    } catch (err) {
      return { done: Promise.reject(err), abort: made.abort };
    }
  }
  return { entry, start };
})`;

/** A realm in this thread: what loading uses to check the entries (running is the worker's). */
export function makeRealm(modules: CompiledModules): Realm {
  const factory = vm.runInThisContext(REALM_SOURCE, { filename: 'station:script-realm.js' }) as (v: typeof vm, m: CompiledModules) => Realm;
  return factory(vm, modules);
}
