// A label as a PNG, one pixel per printer dot: the Data Matrix and the text drawn by bwip-js (its
// ECC 200 encoder, its rasteriser and its built-in OCR-B font) on a white canvas the size of the
// label stock, so the file prints 1:1 on a printer of the same resolution.
//
// bwip-js draws one symbol per image; the label is made by giving it a drawing that is the whole
// label (the DrawingContext's init() receives the label's size) and drawing the text lines through
// the same context before the PNG is encoded.
import type BwipJs from 'bwip-js';
import { bwipjs, layoutLabel, type LabelLayout, type LabelSpec } from './layout.js';

const FONT = 'OCR-B';
const BLACK = '000000';

/** Renders `spec` (validated) to PNG bytes; throws LabelLayoutError when it does not fit. */
export async function renderLabelPng(spec: LabelSpec): Promise<Buffer> {
  const layout = layoutLabel(spec);
  return drawLabel(spec, layout);
}

function drawLabel(spec: LabelSpec, layout: LabelLayout): Promise<Buffer> {
  const { symbol } = layout;
  // bwip-js draws a Data Matrix (and QR) module as 2 x scale pixels and pads in units of scale pixels.
  const scale = symbol.moduleDots / 2;
  const padLeft = symbol.x / scale;
  const padTop = symbol.y / scale;
  const base = bwipjs().drawingZlibPng();
  const drawing: BwipJs.DrawingContext<Promise<Buffer>> = {
    ...base,
    // bwip-js sizes the canvas to the symbol plus its padding; the label is larger. init() adds
    // the padding (in dots) back to what it is given, so give it the label less the padding.
    init(width: number, height: number) {
      void width;
      void height;
      base.init.call(drawing, layout.widthDots - symbol.x, layout.heightDots - symbol.y);
    },
    end() {
      for (const line of layout.text) {
        const size = line.heightDots;
        const { ascent } = base.measure('0Ag', FONT, size, size);
        // text() draws from the baseline, in coordinates that start after the padding.
        base.text(line.x - symbol.x, line.y + ascent - symbol.y, line.text, BLACK, { name: FONT, width: size, height: size, dx: 0 });
      }
      return base.end();
    },
  };
  return bwipjs().render(
    {
      bcid: symbol.kind,
      text: symbol.data,
      ...(symbol.kind === 'qrcode' ? { eclevel: 'M' } : {}),
      scale,
      paddingleft: padLeft,
      paddingtop: padTop,
      paddingright: 0,
      paddingbottom: 0,
      backgroundcolor: 'FFFFFF',
      // Written into the PNG (pHYs) so that image viewers and print dialogs know the size.
      ...({ dpi: spec.dpi } as object),
    },
    drawing,
  );
}
