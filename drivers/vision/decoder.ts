// Label images to symbols: Data Matrix, QR and Code 128 read by zxing-wasm (ZXing-C++) from PNG or
// JPEG bytes, from a camera station or an image an engineer uploads.
//
// The .wasm comes from the installed zxing-wasm package, read with fs at load() and checked
// against the SHA-256 the package's own JavaScript was built with, then compiled: a missing,
// truncated or mismatched file fails the station at start, naming the file, not mid-shift. It is
// never fetched from the network. Decoding runs in a worker thread (decode-worker.ts).
//
// Limits come before any decoding: the byte size, then the pixel count read from the image header
// (a small file can claim a huge image). An image that is not a PNG/JPEG, or is damaged, is
// ImageUnreadableError; a readable image without a symbol is an empty list, not an error.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ZXING_WASM_SHA256, ZXING_WASM_VERSION, type ReaderOptions } from 'zxing-wasm/reader';
import { readImageHeader, ImageHeaderError, type ImageHeader } from './image-header.js';
import { WORKER_SOURCE, type FromWorker, type RawSymbol, type ToWorker, type WorkerInit } from './decode-worker.js';

export const SYMBOL_FORMATS = ['DataMatrix', 'QRCode', 'Code128'] as const;
export type SymbolFormat = (typeof SYMBOL_FORMATS)[number];

export interface Point {
  x: number;
  y: number;
}

export interface DecodedSymbol {
  /** The symbology (a Micro QR Code is reported as QRCode). */
  format: SymbolFormat;
  text: string;
  /** Corners in image pixels. */
  position: { topLeft: Point; topRight: Point; bottomRight: Point; bottomLeft: Point };
  /** The symbol's rotation in the image, degrees. */
  orientation: number;
}

export interface DecodeOptions {
  /** Which symbologies to look for; all three when left out. */
  formats?: SymbolFormat[];
}

export interface LabelDecoderOptions {
  /** Larger files are refused before anything is read from them. Default 8 MB. */
  maxImageBytes?: number;
  /** Larger images (width x height from the header) are refused before decoding. Default 40 MP. */
  maxImagePixels?: number;
  /** A decode taking longer restarts the worker and fails with LabelDecoderError. Default 15 s. */
  decodeTimeoutMs?: number;
  /** The reader .wasm; the installed package's by default. For tests of a broken install. */
  wasmPath?: string;
}

export const DEFAULT_MAX_IMAGE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;

/** Too large to decode; nothing was decoded. The HTTP route answers 413. */
export class ImageTooLargeError extends Error {
  constructor(
    message: string,
    readonly limit: { bytes: number } | { pixels: number },
  ) {
    super(message);
    this.name = 'ImageTooLargeError';
  }
}

/** Not a PNG or JPEG, or damaged so it cannot be read. The HTTP route answers 422. */
export class ImageUnreadableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageUnreadableError';
  }
}

/** The decoder itself failed: a broken install at load, or a decode that crashed or hung. */
export class LabelDecoderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelDecoderError';
  }
}

/** A ready decoder that is asked for symbols: what the HTTP route and the line depend on. */
export interface SymbolDecoder {
  decode(image: Uint8Array, opts?: DecodeOptions): Promise<DecodedSymbol[]>;
}

// Two passes. The first is quick and is what a camera at a fixture needs nearly always (a label
// within ~30 degrees of upright, dark on light): on the bench's 1280x720 photo it takes ~80 ms
// against ~105 ms with tryHarder, and on photo-like scenes with Data Matrix, QR and Code 128 at
// 0-45 degrees it read all that tryHarder read but a few Code 128s at 30 degrees. Only when it
// finds nothing does the second pass try harder: 90-degree rotations, inverted print, denoising
// (2D symbols) and a finer downscaling pyramid, whose averaging is what gets a Code 128 with thin
// bars through sensor noise (~220 ms). minLineCount stays at its default of 2: at 1, a noisy
// image gave a wrong Code 128 read. See docs/labels.md.
const FIRST_PASS: ReaderOptions = { tryHarder: false, tryRotate: false, tryInvert: false, tryDownscale: true, tryDenoise: false };
const SECOND_PASS: ReaderOptions = { tryHarder: true, tryRotate: true, tryInvert: true, tryDownscale: true, tryDenoise: true, downscaleFactor: 2, downscaleThreshold: 150 };
const COMMON: ReaderOptions = { textMode: 'Plain', maxNumberOfSymbols: 16 };

// An 80 x 80 px PNG of a Data Matrix reading "blinkup-selftest", made once with bwip-js. load()
// decodes it, so a module that instantiates but cannot read fails at start.
const SELF_TEST_TEXT = 'blinkup-selftest';
const SELF_TEST_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAFAAAABQCAYAAACOEfKtAAAAHnRFWHRTb2Z0d2FyZQBid2lwLWpzLm1ldGFmbG9vci5jb21Tnbi0AAABa0lEQVR4nO3WQQ6DMAxE0dz/0u26RCoafWMC+ZZYJdjjRxcdHwvVuDvA00tAWALCmgDHGD+P5/9LwPB8ur9awNXPp/urBVz9fLpPB9Cnej4FifNULyCggFme6gUEDAPGA2G/amCcrzuAgDCAgDDAdoDVC6bvX/0B6XwBBczyCxj2o/MwYDcQXggCpiWggALuDUgDVy90unD1fgIKKODWgN1g6fw0X1oCCsjOBYTn7YDVC1Z/kDQf/sEIKKCArwasDrA8SDpfQAEFfDUgDXD5AjfnEVBAAfcCpAHT/mnRDxC/TxsKCBsKCBsKGAag5+lC9H71D2B6/+pAaQkooIClgBSku3/3PAFp//aBAsKBuwHefZ4u3D1fQDhfQDhfQDj/9j/SceCwf1px/rSBgIf7aQMBD/fTBgIe7qcN6MIUgM6r/mACCpjNE/DtgNWBu0HSElBAAd8N6HPyQQQUUMAnPaeAVlYCwhIQloCwvkn7NEKOFpjQAAAAAElFTkSuQmCC',
  'base64',
);

const requireFromHere = createRequire(import.meta.url);
// Node has WebAssembly as a global; the project's lib settings declare only its types.
const wasmRuntime = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WebAssembly.Module> } }).WebAssembly;

interface Pending {
  resolve: (value: { symbols: RawSymbol[]; pass: number }) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface RunningWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class LabelDecoder implements SymbolDecoder {
  private running: Promise<RunningWorker> | null = null;
  private current: RunningWorker | null = null;
  private nextId = 1;
  private closed = false;
  readonly maxImageBytes: number;
  readonly maxImagePixels: number;
  private readonly decodeTimeoutMs: number;

  private constructor(
    private readonly init: WorkerInit,
    private readonly log: Logger,
    readonly zxingVersion: string,
    opts: LabelDecoderOptions,
  ) {
    this.maxImageBytes = opts.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
    this.maxImagePixels = opts.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
    this.decodeTimeoutMs = opts.decodeTimeoutMs ?? 15_000;
  }

  /** The installed package's reader .wasm. */
  static defaultWasmPath(): string {
    return requireFromHere.resolve('zxing-wasm/reader/zxing_reader.wasm');
  }

  /**
   * Reads the .wasm and checks it is the exact file zxing-wasm was built with: synchronous and
   * quick (a few ms), so a station can refuse to start on a broken install before it is ready,
   * while load() compiles and self-tests in the background. Throws LabelDecoderError naming the file.
   */
  static verifyInstall(opts: Pick<LabelDecoderOptions, 'wasmPath'> = {}): Buffer {
    const wasmPath = opts.wasmPath ?? LabelDecoder.defaultWasmPath();
    const reinstall = 'reinstall the station (npm ci) to restore it';
    let bytes: Buffer;
    try {
      bytes = readFileSync(wasmPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new LabelDecoderError(`cannot read the label decoder's WebAssembly file ${wasmPath} (${code}): ${reinstall}`);
    }
    // The package's JavaScript glue is built for one exact .wasm; any other file (a partial
    // download, a different version) would fail in odd ways later.
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== ZXING_WASM_SHA256) {
      throw new LabelDecoderError(
        `the label decoder's WebAssembly file ${wasmPath} is not the one zxing-wasm ${ZXING_WASM_VERSION} was built with ` +
          `(${bytes.length} bytes, sha256 ${digest.slice(0, 16)}..., expected ${ZXING_WASM_SHA256.slice(0, 16)}...): ${reinstall}`,
      );
    }
    return bytes;
  }

  /**
   * Reads, verifies and compiles the .wasm, starts the worker and decodes a known symbol. Throws
   * LabelDecoderError naming the file and what to do when any of that fails.
   */
  static async load(log: Logger, opts: LabelDecoderOptions = {}): Promise<LabelDecoder> {
    const started = performance.now();
    const decoderLog = log.child({ part: 'drivers.vision' });
    const readerPath = requireFromHere.resolve('zxing-wasm/reader');
    const wasmPath = opts.wasmPath ?? LabelDecoder.defaultWasmPath();
    const reinstall = 'reinstall the station (npm ci) to restore it';
    const bytes = LabelDecoder.verifyInstall(opts);
    let wasmModule: WebAssembly.Module;
    try {
      wasmModule = await wasmRuntime.compile(bytes);
    } catch (err) {
      throw new LabelDecoderError(`the label decoder's WebAssembly file ${wasmPath} does not compile (${(err as Error).message}): ${reinstall}`);
    }

    const decoder = new LabelDecoder({ readerPath, wasmPath, wasmModule }, decoderLog, ZXING_WASM_VERSION, opts);
    try {
      const { symbols } = await decoder.request(SELF_TEST_PNG, [{ ...COMMON, ...FIRST_PASS, formats: ['DataMatrix'] }]);
      if (symbols[0]?.text !== SELF_TEST_TEXT) {
        throw new LabelDecoderError(`the label decoder loaded ${wasmPath} but could not read its built-in test symbol: ${reinstall}`);
      }
    } catch (err) {
      await decoder.close();
      if (err instanceof LabelDecoderError) throw err;
      throw new LabelDecoderError(`the label decoder could not start with ${wasmPath} (${(err as Error).message}): ${reinstall}`);
    }
    decoderLog.info({ wasm: wasmPath, zxingWasm: ZXING_WASM_VERSION, ms: Math.round(performance.now() - started) }, 'label decoder ready');
    return decoder;
  }

  /**
   * The symbols in `image` (PNG or JPEG bytes), in the order zxing reports them. Throws
   * ImageTooLargeError or ImageUnreadableError before decoding; [] when no symbol is found.
   */
  async decode(image: Uint8Array, opts: DecodeOptions = {}): Promise<DecodedSymbol[]> {
    this.checkSize(image);
    const formats = opts.formats && opts.formats.length > 0 ? opts.formats : [...SYMBOL_FORMATS];
    const started = performance.now();
    const { symbols, pass } = await this.request(image, [
      { ...COMMON, ...FIRST_PASS, formats },
      { ...COMMON, ...SECOND_PASS, formats },
    ]);
    this.log.debug({ bytes: image.byteLength, symbols: symbols.length, pass: pass + 1, ms: Math.round(performance.now() - started) }, 'label image decoded');
    const unreadable = symbols.find((s) => !s.isValid && s.format === '' && s.error !== '');
    if (unreadable) throw new ImageUnreadableError(`the image could not be read: ${unreadable.error.toLowerCase()} (damaged or cut short?)`);
    return symbols.filter((s) => s.isValid).map(toDecodedSymbol);
  }

  /** The header's kind and size; throws as decode() would. Cheap: reads a few bytes. */
  checkSize(image: Uint8Array): ImageHeader {
    if (image.byteLength > this.maxImageBytes) {
      throw new ImageTooLargeError(`the image is too large: ${image.byteLength} bytes, the limit is ${this.maxImageBytes}`, { bytes: this.maxImageBytes });
    }
    let header: ImageHeader;
    try {
      header = readImageHeader(image);
    } catch (err) {
      if (err instanceof ImageHeaderError) throw new ImageUnreadableError(`the image could not be read: ${err.message}`);
      throw err;
    }
    if (header.width * header.height > this.maxImagePixels) {
      throw new ImageTooLargeError(`the image is too large: ${header.width} x ${header.height} pixels, the limit is ${(this.maxImagePixels / 1e6).toFixed(0)} megapixels`, {
        pixels: this.maxImagePixels,
      });
    }
    return header;
  }

  /** Stops the worker; pending decodes fail. */
  async close(): Promise<void> {
    this.closed = true;
    const running = this.running;
    this.running = null;
    this.current = null;
    if (!running) return;
    const w = await running.catch(() => null);
    if (!w) return;
    failAll(w, new LabelDecoderError('the label decoder was closed'));
    await w.worker.terminate();
  }

  private async request(image: Uint8Array, passes: ReaderOptions[]): Promise<{ symbols: RawSymbol[]; pass: number }> {
    if (this.closed) throw new LabelDecoderError('the label decoder is closed');
    const w = await this.worker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.log.warn({ ms: this.decodeTimeoutMs, bytes: image.byteLength }, 'label decode timed out; restarting the decoder worker');
        this.restart(w, new LabelDecoderError(`decoding the image took longer than ${this.decodeTimeoutMs} ms; the decoder was restarted`));
      }, this.decodeTimeoutMs);
      w.pending.set(id, { resolve, reject, timer });
      // A copy: the caller keeps its buffer, and the copy's memory moves to the worker for free.
      const copy = new Uint8Array(image);
      const message: ToWorker = { type: 'decode', id, image: copy, passes };
      w.worker.postMessage(message, [copy.buffer]);
    });
  }

  private worker(): Promise<RunningWorker> {
    if (!this.running) {
      const running = this.spawn();
      this.running = running;
      running.then(
        (w) => {
          if (this.running === running) this.current = w;
        },
        // A worker that fails to start is not kept: the next request tries again.
        () => {
          if (this.running === running) this.running = null;
        },
      );
    }
    return this.running;
  }

  private spawn(): Promise<RunningWorker> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: this.init });
      const w: RunningWorker = { worker, pending: new Map() };
      let ready = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          ready = true;
          // An idle worker never keeps the process alive (a pending decode's timer does). Not
          // before now: the start has to be waited for, and the listeners above ref it anyway.
          worker.unref();
          resolve(w);
        } else if (msg.type === 'fatal') {
          const err = new LabelDecoderError(`the label decoder worker failed with ${this.init.wasmPath}: ${msg.message}`);
          if (!ready) reject(err);
          this.restart(w, err);
        } else {
          const p = w.pending.get(msg.id);
          if (!p) return;
          w.pending.delete(msg.id);
          clearTimeout(p.timer);
          if (msg.type === 'result') p.resolve({ symbols: msg.symbols, pass: msg.pass });
          else p.reject(new LabelDecoderError(`the label decoder failed on an image: ${msg.message}`));
        }
      });
      worker.on('error', (err) => {
        const e = new LabelDecoderError(`the label decoder worker crashed: ${err.message}`);
        if (!ready) reject(e);
        this.restart(w, e);
      });
      worker.on('exit', (code) => {
        const e = new LabelDecoderError(`the label decoder worker exited (code ${code})`);
        if (!ready) reject(e);
        this.restart(w, e);
      });
    });
  }

  /** Fails what `w` had in hand and drops it; the next request starts a fresh worker. */
  private restart(w: RunningWorker, err: Error): void {
    failAll(w, err);
    void w.worker.terminate();
    // Only forget the worker if it is still the current one (it may already have been replaced).
    if (this.current === w) {
      this.current = null;
      this.running = null;
    }
  }
}

function failAll(w: RunningWorker, err: Error): void {
  for (const p of w.pending.values()) {
    clearTimeout(p.timer);
    p.reject(err);
  }
  w.pending.clear();
}

function toDecodedSymbol(s: RawSymbol): DecodedSymbol {
  const p = s.position;
  const point = (q: Point): Point => ({ x: q.x, y: q.y });
  return {
    format: (SYMBOL_FORMATS as readonly string[]).includes(s.symbology) ? (s.symbology as SymbolFormat) : (s.format as SymbolFormat),
    text: s.text,
    position: { topLeft: point(p.topLeft), topRight: point(p.topRight), bottomRight: point(p.bottomRight), bottomLeft: point(p.bottomLeft) },
    orientation: s.rotation,
  };
}
