// The worker thread that runs zxing-wasm, so that decoding a camera frame (tens of milliseconds,
// more for a large image) never stalls the daemon's event loop: the dashboard's 25 ms bar and the
// slots' UART timing stay intact while a label is read.
//
// The worker is started from source text (`eval`), not from a file, so the same code runs from the
// TypeScript sources (tests) and from dist/ (npm start). It is deliberately tiny: it instantiates
// the WebAssembly.Module the main thread already read, verified and compiled from the installed
// package (nothing is ever fetched), and runs readBarcodes with the option sets it is given, in
// order, until one finds a symbol. Everything else (limits, mapping, errors) is in decoder.ts.
import type { ReaderOptions } from 'zxing-wasm/reader';

export interface WorkerInit {
  /** zxing-wasm's CommonJS reader entry, resolved by the main thread. */
  readerPath: string;
  wasmPath: string;
  wasmModule: WebAssembly.Module;
}

export type ToWorker = { type: 'decode'; id: number; image: Uint8Array; passes: ReaderOptions[] };

export interface RawSymbol {
  format: string;
  symbology: string;
  text: string;
  isValid: boolean;
  error: string;
  rotation: number;
  position: Record<'topLeft' | 'topRight' | 'bottomRight' | 'bottomLeft', { x: number; y: number }>;
}

export type FromWorker =
  { type: 'ready'; version: string } | { type: 'fatal'; message: string } | { type: 'result'; id: number; symbols: RawSymbol[]; pass: number } | { type: 'error'; id: number; message: string };

export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fatal = (err) => parentPort.postMessage({ type: 'fatal', message: String(err && err.message ? err.message : err) });
const { wasmModule, wasmPath, readerPath } = workerData;
let zxing = null;
try {
  zxing = require(readerPath);
} catch (err) {
  fatal(err);
}
zxing
  ?.prepareZXingModule({
    overrides: {
      instantiateWasm(imports, done) {
        WebAssembly.instantiate(wasmModule, imports).then((instance) => done(instance, wasmModule), fatal);
        return {};
      },
      // Never a URL: the module is already compiled; this only names it.
      locateFile: () => wasmPath,
    },
    fireImmediately: true,
  })
  .then(() => parentPort.postMessage({ type: 'ready', version: zxing.ZXING_WASM_VERSION }), fatal);

const pick = (r) => ({
  format: r.format,
  symbology: r.symbology,
  text: r.text,
  isValid: r.isValid,
  error: r.error,
  rotation: r.rotation,
  position: r.position,
});

parentPort.on('message', async (msg) => {
  if (msg.type !== 'decode') return;
  try {
    let symbols = [];
    let pass = 0;
    for (; pass < msg.passes.length; pass++) {
      symbols = (await zxing.readBarcodes(msg.image, msg.passes[pass])).map(pick);
      // An image that cannot be loaded fails the same way on every pass.
      if (symbols.length > 0) break;
    }
    parentPort.postMessage({ type: 'result', id: msg.id, symbols, pass: Math.min(pass, msg.passes.length - 1) });
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: msg.id, message: String(err && err.message ? err.message : err) });
  }
});
`;
