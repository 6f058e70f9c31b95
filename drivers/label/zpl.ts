// A label as ZPL II, the language of Zebra printers and the many that emulate them. One format
// (^XA ... ^XZ) per label, laid out in dots by layout.ts:
//
//   ^XA                       start of format
//   ^CI0                      the default character set (the data is printable ASCII)
//   ^PW406 ^LL203 ^LH0,0      print width, label length (dots), home at the corner
//   ^FO12,42^BXN,6,200,18,18  field origin; Data Matrix, normal orientation, 6-dot modules, ECC 200,
//   ^FH_^FD...^FS               18 x 18 modules; field data, hex escapes allowed (^FH)
//   ^FO132,70^A0N,18,11       text in scalable font 0, 18 dots high, 11 wide
//   ^FH_^FD...^FS
//   ^PQ1                      one copy
//   ^XZ                       end of format
//
// A claim label has a QR code instead: ^BQN,2,<dots a module> (model 2), its field data "MA,"
// (error correction M, automatic input) and the URL.
//
// In field data "^" and "~" would start a command; every field is sent with ^FH and those bytes
// (with "_", the escape itself, and anything outside printable ASCII) as _XX hex escapes.
import { layoutLabel, type LabelSpec } from './layout.js';

/** The ZPL for one label; throws LabelLayoutError when `spec` is invalid or does not fit. */
export function labelZpl(spec: LabelSpec): string {
  const layout = layoutLabel(spec);
  const { symbol } = layout;
  const out = ['^XA', '^CI0', `^PW${layout.widthDots}`, `^LL${layout.heightDots}`, '^LH0,0'];
  if (symbol.kind === 'qrcode') out.push(`^FO${symbol.x},${symbol.y}^BQN,2,${symbol.moduleDots}^FH_^FDMA,${escapeFieldData(symbol.data)}^FS`);
  else out.push(`^FO${symbol.x},${symbol.y}^BXN,${symbol.moduleDots},200,${symbol.modules},${symbol.modules}^FH_^FD${escapeFieldData(spec.deviceId)}^FS`);
  for (const line of layout.text) {
    out.push(`^FO${line.x},${line.y}^A0N,${line.heightDots},${line.charWidthDots}^FH_^FD${escapeFieldData(line.text)}^FS`);
  }
  out.push('^PQ1', '^XZ');
  return out.join('\n') + '\n';
}

/** Field data safe inside ^FH_^FD...^FS: command prefixes, the escape and non-ASCII as _XX. */
export function escapeFieldData(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const safe = byte >= 0x20 && byte <= 0x7e && byte !== 0x5e /* ^ */ && byte !== 0x7e /* ~ */ && byte !== 0x5f; /* _ */
    out += safe ? String.fromCharCode(byte) : `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
