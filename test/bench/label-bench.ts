// Label decoding speed: the median time for the station's decoder (zxing-wasm in its worker
// thread, PNG bytes in, symbols out, as POST /api/scan/image does it) to read a 1280 x 720
// photo-like image with one Data Matrix label of ~200 px, tilted a few degrees, among clutter.
//
//   labelDecodeMsMedian   median of 15 decodes, after 2 warm-up decodes
//
// Run on its own: `npx vite-node test/bench/label-bench.ts` (or node on the compiled dist/ file);
// test/bench/bench.ts adds it to the `npm run bench` JSON.
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { LabelDecoder } from '../../drivers/vision/decoder.js';
import { silentLogger } from '../../station/log.js';
import { grayToPng, photoLikeScene, pngToGray, rotate, seededRandom, symbolPng } from '../fixtures/labels/synth.js';

const RUNS = 15;
const WARM_UP = 2;

/** The bench image: PNG bytes and the Device ID its Data Matrix holds. */
export async function labelBenchImage(): Promise<{ png: Buffer; deviceId: string }> {
  const deviceId = randomBytes(12).toString('hex');
  // 18 x 18 modules (a 24-hex Device ID) at 10 px a module, plus its quiet zone: ~200 px.
  const symbol = rotate(pngToGray(await symbolPng('DataMatrix', deviceId, 5, { quiet: 2 })), 6);
  const scene = photoLikeScene(1280, 720, symbol, { x: 760 - (symbol.width >> 1), y: 360 - (symbol.height >> 1) }, seededRandom(20260521));
  return { png: grayToPng(scene), deviceId };
}

export async function benchLabelDecode(): Promise<{ labelDecodeMsMedian: number }> {
  const { png, deviceId } = await labelBenchImage();
  const decoder = await LabelDecoder.load(silentLogger());
  try {
    const times: number[] = [];
    for (let i = 0; i < WARM_UP + RUNS; i++) {
      const started = performance.now();
      const symbols = await decoder.decode(png);
      const ms = performance.now() - started;
      if (symbols.length !== 1 || symbols[0]?.text !== deviceId) {
        throw new Error(`the label bench image decoded to ${JSON.stringify(symbols.map((s) => s.text))}, not [${deviceId}]`);
      }
      if (i >= WARM_UP) times.push(ms);
    }
    times.sort((a, b) => a - b);
    return { labelDecodeMsMedian: Math.round(times[Math.floor(times.length / 2)]! * 10) / 10 };
  } finally {
    await decoder.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchLabelDecode()));
}
