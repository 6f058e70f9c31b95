// Image dimensions from the first bytes of a PNG or JPEG, read before anything is decoded: the
// decoder refuses an image that would make it allocate width x height pixels past its limit, and
// a 60-byte upload can claim to be 50,000 x 50,000. Only PNG and JPEG are accepted; a camera
// station sends one of them and so does an engineer's upload.

export type ImageKind = 'png' | 'jpeg';

export interface ImageHeader {
  kind: ImageKind;
  width: number;
  height: number;
}

/** Why the header could not be read, in words for the person who sent the image. */
export class ImageHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageHeaderError';
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Reads the kind and pixel dimensions; throws ImageHeaderError for anything else. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return readPngHeader(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpegHeader(bytes);
  const start = Buffer.from(bytes.subarray(0, 8)).toString('hex');
  throw new ImageHeaderError(`not a PNG or JPEG image (it starts with the bytes ${start || '(none)'})`);
}

// PNG: the signature, then the IHDR chunk first of all (length 13, "IHDR", width, height, ...).
function readPngHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length < 24) throw new ImageHeaderError('a PNG image cut short before its header (IHDR) ends');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!);
  if (type !== 'IHDR') throw new ImageHeaderError(`a damaged PNG image: its first chunk is "${type}", not IHDR`);
  return checked({ kind: 'png', width: view.getUint32(16), height: view.getUint32(20) });
}

// JPEG: segments of 0xFF marker [length hi, length lo, payload]; the frame header (SOFn) holds
// precision (1 byte), height (2), width (2). Markers without a length: SOI, EOI, RSTn, TEM.
function readJpegHeader(bytes: Uint8Array): ImageHeader {
  let offset = 2;
  while (offset < bytes.length) {
    if (bytes[offset] !== 0xff) throw new ImageHeaderError(`a damaged JPEG image: no segment marker at byte ${offset}`);
    let marker = bytes[offset + 1];
    // Any number of 0xFF fill bytes may precede a marker.
    while (marker === 0xff) {
      offset += 1;
      marker = bytes[offset + 1];
    }
    if (marker === undefined) break;
    offset += 2;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) break; // end of image, or scan data before any frame header
    if (offset + 2 > bytes.length) break;
    const length = (bytes[offset]! << 8) | bytes[offset + 1]!;
    if (length < 2) throw new ImageHeaderError(`a damaged JPEG image: segment 0xFF${marker.toString(16)} has length ${length}`);
    const isFrameHeader = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrameHeader) {
      if (offset + 7 > bytes.length) break;
      const height = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
      const width = (bytes[offset + 5]! << 8) | bytes[offset + 6]!;
      return checked({ kind: 'jpeg', width, height });
    }
    offset += length;
  }
  throw new ImageHeaderError('a JPEG image with no frame header (SOF) before its image data: damaged or cut short');
}

function checked(header: ImageHeader): ImageHeader {
  if (header.width === 0 || header.height === 0) {
    throw new ImageHeaderError(`a ${header.kind.toUpperCase()} image that says it is ${header.width} x ${header.height} pixels`);
  }
  return header;
}
