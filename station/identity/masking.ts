// Label images decoded for an engineer (POST /api/scan/image): a decoded unit label in the
// station's label format has its secret fields (the mobile secret) masked, so an uploaded photo
// never becomes a way to read secrets off the API.
import type { ScanFields } from '../../drivers/scanner/scan-fields.js';
import type { SymbolDecoder } from '../../drivers/vision/decoder.js';

/** A decoder that masks the secret fields of any symbol in `format`; `loading` is the real one. */
export function maskingDecoder(format: ScanFields, loading: () => Promise<SymbolDecoder>): SymbolDecoder {
  return {
    decode: async (image, opts) =>
      (await (await loading()).decode(image, opts)).map((sym) => {
        const split = format.secretFields.size > 0 ? format.split(sym.text) : null;
        if (!split?.ok) return sym;
        return {
          ...sym,
          text: Object.entries(split.fields)
            .map(([k, v]) => (format.secretFields.has(k) ? '•••' : v))
            .join(' '),
          masked: [...format.secretFields],
        };
      }),
  };
}
