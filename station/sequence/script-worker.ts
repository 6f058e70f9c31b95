// The thread a sequence's scripts run in. A script is the engineers' code: a loop that never
// yields, after an await as much as before one, must not stop the line. In a worker thread it
// stops only the worker: when a script is abandoned (its step timed out) and has not finished
// within a grace period, the worker is terminated, the other scripts it was running end in error
// (named), and the next script starts a fresh worker. The worker also bounds the scripts' memory.
//
// The worker is started from source text (`eval`, like the label decoder's), so the same code runs
// from the TypeScript sources (tests) and from dist/ (npm start); the realm inside it is built
// from the same REALM_SOURCE the station checks the entries with at load (script-realm.ts).
//
// Messages: to the worker {t: start|answer|abort}; from it {t: call|log|done}. A run's `aborted`
// flag is a shared Int32 the station sets, so a script polling ctx.aborted in a busy loop sees it
// without the worker's event loop turning.
import { Worker } from 'node:worker_threads';
import { REALM_SOURCE, type CompiledModules, type ScriptHost } from './script-realm.js';

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const vm = require('node:vm');
const realm = (${REALM_SOURCE})(vm, workerData.modules);
const flags = new Int32Array(workerData.flags);
const runs = new Map();
let nextCall = 0;
const messageOf = (e) => String(e && typeof e === 'object' && 'message' in e ? e.message : e);
function finish(id, err) {
  runs.delete(id);
  parentPort.postMessage({ t: 'done', id, error: err === null ? null : messageOf(err) });
}
parentPort.on('message', (m) => {
  if (m.t === 'start') {
    const run = { pending: new Map(), abort: null };
    runs.set(m.id, run);
    const host = {
      data: m.data,
      call: (name, args) => new Promise((resolve, reject) => {
        if (Atomics.load(flags, m.flag) !== 0) return reject(new Error('the step was abandoned'));
        const callId = ++nextCall;
        run.pending.set(callId, { resolve, reject });
        parentPort.postMessage({ t: 'call', id: m.id, callId, name, args });
      }),
      aborted: () => Atomics.load(flags, m.flag) !== 0,
      log: (message, fields) => parentPort.postMessage({ t: 'log', id: m.id, message, fields }),
    };
    let started;
    try {
      started = realm.start(m.module, host);
    } catch (err) {
      return finish(m.id, err);
    }
    run.abort = started.abort;
    started.done.then(() => finish(m.id, null), (err) => finish(m.id, err === null ? 'null' : err));
  } else if (m.t === 'answer') {
    const run = runs.get(m.id);
    const pending = run && run.pending.get(m.callId);
    if (!pending) return;
    run.pending.delete(m.callId);
    if (m.ok) pending.resolve(m.json);
    else pending.reject(new Error(m.error));
  } else if (m.t === 'abort') {
    const run = runs.get(m.id);
    if (!run) return;
    for (const pending of run.pending.values()) pending.reject(new Error('the step was abandoned'));
    run.pending.clear();
    if (run.abort) run.abort();
  }
});
`;

type FromWorker = { t: 'call'; id: number; callId: number; name: string; args: string } | { t: 'log'; id: number; message: string; fields: string } | { t: 'done'; id: number; error: string | null };

/** Why a script ended without finishing: `byStation` when the script did not throw it (its worker stopped). */
export class ScriptFailure extends Error {
  constructor(
    message: string,
    readonly byStation: boolean,
  ) {
    super(message);
    this.name = 'ScriptFailure';
  }
}

export interface ScriptRun {
  /** Settles when the script does: rejects with a ScriptFailure. */
  done: Promise<void>;
  /** Tells the script it is abandoned (ctx.aborted, its pending calls rejected); stops its worker if it keeps running. */
  abort(): void;
}

/** What runs a sequence's scripts: steps/script.ts starts each run through it. */
export interface ScriptEngine {
  start(modulePath: string, host: ScriptHost): ScriptRun;
}

export interface ScriptWorkerOptions {
  /** How long an abandoned script may take to stop before its worker is terminated. */
  graceMs?: number;
  /** An idle worker is stopped after this long (the next script starts a fresh one). */
  idleMs?: number;
  /** The scripts' heap limit. */
  memoryMb?: number;
}

interface RunState {
  module: string;
  host: ScriptHost;
  flag: number;
  resolve(): void;
  reject(err: ScriptFailure): void;
  grace: NodeJS.Timeout | null;
}

interface Running {
  worker: Worker;
  flags: Int32Array;
  free: number[];
  runs: Map<number, RunState>;
}

const MAX_RUNS = 256;

/** A sequence's scripts in a worker thread of their own, started on first use. */
export class ScriptWorker implements ScriptEngine {
  private running: Running | null = null;
  private nextId = 0;
  private idle: NodeJS.Timeout | null = null;
  private readonly graceMs: number;
  private readonly idleMs: number;
  private readonly memoryMb: number;

  constructor(
    private readonly modules: CompiledModules,
    opts: ScriptWorkerOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? 1000;
    this.idleMs = opts.idleMs ?? 30_000;
    this.memoryMb = opts.memoryMb ?? 128;
  }

  start(modulePath: string, host: ScriptHost): ScriptRun {
    const w = (this.running ??= this.spawn());
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const flag = w.free.pop();
    if (flag === undefined) return { done: Promise.reject(new ScriptFailure(`more than ${MAX_RUNS} scripts at once`, true)), abort: () => undefined };
    Atomics.store(w.flags, flag, 0);
    const id = ++this.nextId;
    const done = new Promise<void>((resolve, reject) => {
      w.runs.set(id, { module: modulePath, host, flag, resolve, reject, grace: null });
    });
    w.worker.postMessage({ t: 'start', id, module: modulePath, data: host.data, flag });
    return {
      done,
      abort: () => {
        const run = w.runs.get(id);
        if (!run || run.grace) return;
        Atomics.store(w.flags, flag, 1);
        w.worker.postMessage({ t: 'abort', id });
        run.grace = setTimeout(() => this.stop(w, `${modulePath} kept running ${this.graceMs} ms after it was abandoned, so its worker was stopped`), this.graceMs);
        run.grace.unref();
      },
    };
  }

  /** Stops the worker now (the scripts it runs end in error). */
  close(): void {
    if (this.running) this.stop(this.running, 'the station stopped the scripts');
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }

  private spawn(): Running {
    const flags = new Int32Array(new SharedArrayBuffer(4 * MAX_RUNS));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { modules: this.modules, flags: flags.buffer },
      resourceLimits: { maxOldGenerationSizeMb: this.memoryMb, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
      stdout: true,
      stderr: true,
    });
    worker.unref();
    const w: Running = { worker, flags, free: Array.from({ length: MAX_RUNS }, (_, i) => MAX_RUNS - 1 - i), runs: new Map() };
    worker.on('message', (msg: FromWorker) => this.onMessage(w, msg));
    worker.on('error', (err) =>
      this.stop(
        w,
        err.message.includes('out of memory') || (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the scripts ran out of memory (${this.memoryMb} MB)`
          : `the script worker failed: ${err.message}`,
      ),
    );
    worker.on('exit', (code) => this.stop(w, `the script worker exited (code ${code})`));
    return w;
  }

  private onMessage(w: Running, msg: FromWorker): void {
    const run = w.runs.get(msg.id);
    if (!run) return;
    if (msg.t === 'call') {
      const answer = (ok: boolean, json: string | undefined, error?: string): void => {
        if (w.runs.has(msg.id)) w.worker.postMessage({ t: 'answer', id: msg.id, callId: msg.callId, ok, json, error });
      };
      run.host.call(msg.name, msg.args).then(
        (json) => answer(true, json),
        (err: unknown) => answer(false, undefined, err instanceof Error ? err.message : String(err)),
      );
    } else if (msg.t === 'log') {
      run.host.log(msg.message, msg.fields);
    } else {
      this.settle(w, msg.id, run);
      if (msg.error === null) run.resolve();
      else run.reject(new ScriptFailure(msg.error, false));
      if (w.runs.size === 0 && this.running === w) {
        this.idle = setTimeout(() => this.stop(w, 'idle'), this.idleMs);
        this.idle.unref();
      }
    }
  }

  private settle(w: Running, id: number, run: RunState): void {
    w.runs.delete(id);
    if (run.grace) clearTimeout(run.grace);
    w.free.push(run.flag);
  }

  /** Ends every run of `w` in error with `why`, and terminates it; the next start spawns anew. */
  private stop(w: Running, why: string): void {
    if (this.running === w) this.running = null;
    for (const [id, run] of [...w.runs]) {
      this.settle(w, id, run);
      run.reject(new ScriptFailure(why, true));
    }
    w.worker.removeAllListeners('exit');
    void w.worker.terminate();
  }
}
