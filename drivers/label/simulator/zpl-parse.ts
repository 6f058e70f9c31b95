// Reading a ZPL format back, the way a printer does, for the printer simulator: the fields (where
// they are, what kind of symbol or text, their data after ^FH hex escapes), the label size and the
// copies. Enough of ZPL II for labels made by this station and by common label software; unknown
// commands are kept by name and otherwise ignored, as a printer ignores what it cannot use.

export type ZplFieldKind = 'datamatrix' | 'qrcode' | 'code128' | 'text' | 'other';

export interface ZplField {
  kind: ZplFieldKind;
  /** ^FO origin, dots. */
  x: number;
  y: number;
  /** The field data, ^FH escapes decoded. */
  data: string;
  /** The parameters of the command that made it a symbol or text (^BX, ^A0, ...). */
  params: string;
}

export interface ZplFormat {
  /** The bytes of the format, ^XA to ^XZ. */
  raw: string;
  /** Every command in order, by name (e.g. "XA", "PW", "FO", "BX", "A", "FD"). */
  commands: string[];
  widthDots: number | null;
  lengthDots: number | null;
  copies: number;
  fields: ZplField[];
}

/** Parses one ^XA ... ^XZ format. */
export function parseZplFormat(raw: string): ZplFormat {
  const format: ZplFormat = { raw, commands: [], widthDots: null, lengthDots: null, copies: 1, fields: [] };
  let origin = { x: 0, y: 0 };
  let kind: ZplFieldKind = 'text';
  let kindParams = '';
  let hexIndicator: string | null = null;
  let i = 0;
  while (i < raw.length) {
    const prefix = raw[i];
    if (prefix !== '^' && prefix !== '~') {
      i++;
      continue;
    }
    const first = (raw[i + 1] ?? '').toUpperCase();
    // ^A (scalable/bitmap font) is the one command with a one-letter name: ^A0N,30,20, ^ABN,...
    const name = first === 'A' ? 'A' : raw.slice(i + 1, i + 3).toUpperCase();
    const paramsStart = i + 1 + name.length;
    if (name === 'FD' || name === 'FV') {
      // Field data runs to ^FS; it cannot contain "^" (escaped with ^FH when needed).
      const end = raw.indexOf('^FS', paramsStart);
      const data = raw.slice(paramsStart, end < 0 ? raw.length : end);
      format.commands.push(name);
      format.fields.push({ kind, x: origin.x, y: origin.y, data: hexIndicator === null ? data : decodeHex(data, hexIndicator), params: kindParams });
      i = end < 0 ? raw.length : end;
      continue;
    }
    let next = paramsStart;
    while (next < raw.length && raw[next] !== '^' && raw[next] !== '~') next++;
    const params = raw.slice(paramsStart, next).replace(/[\r\n]/g, '');
    format.commands.push(name);
    switch (name) {
      case 'PW':
        format.widthDots = intOr(params, null);
        break;
      case 'LL':
        format.lengthDots = intOr(params, null);
        break;
      case 'PQ':
        format.copies = intOr(params.split(',')[0] ?? '', 1) ?? 1;
        break;
      case 'FO':
      case 'FT': {
        const [x, y] = params.split(',');
        origin = { x: intOr(x ?? '', 0) ?? 0, y: intOr(y ?? '', 0) ?? 0 };
        break;
      }
      case 'FH':
        hexIndicator = params.trim()[0] ?? '_';
        break;
      case 'BX':
        [kind, kindParams] = ['datamatrix', params];
        break;
      case 'BQ':
        [kind, kindParams] = ['qrcode', params];
        break;
      case 'BC':
        [kind, kindParams] = ['code128', params];
        break;
      case 'A':
        [kind, kindParams] = ['text', params];
        break;
      case 'FS':
        // The field is over: the next one starts as text at the origin until told otherwise.
        [kind, kindParams, hexIndicator] = ['text', '', null];
        break;
      default:
        if (/^B[0-9A-Z]$/.test(name)) [kind, kindParams] = ['other', params];
    }
    i = next;
  }
  return format;
}

function intOr<T>(text: string, fallback: T): number | T {
  const n = Number.parseInt(text.trim(), 10);
  return Number.isFinite(n) ? n : fallback;
}

function decodeHex(data: string, indicator: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const hex = data.slice(i + 1, i + 3);
    if (data[i] === indicator && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(data.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
