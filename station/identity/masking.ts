// Label images decoded for an engineer (POST /api/scan/image): a decoded unit label in the
// station's label format has its secret fields (the mobile secret) masked, and a claim label's
// QR code its claim code, so an uploaded photo never becomes a way to read secrets off the API.
import { maskClaimUrl } from '../../drivers/label/claim.js';
import type { ScanFields } from '../../drivers/scanner/scan-fields.js';
import type { SymbolDecoder } from '../../drivers/vision/decoder.js';

/** A decoder that masks the secret fields of any symbol in `format`, and the claim code of a claim
 *  URL made from `claimUrlTemplate`; `loading` is the real one. */
export function maskingDecoder(format: ScanFields, loading: () => Promise<SymbolDecoder>, claimUrlTemplate: string | null = null): SymbolDecoder {
  return {
    decode: async (image, opts) =>
      (await (await loading()).decode(image, opts)).map((sym) => {
        const claim = claimUrlTemplate === null ? null : maskClaimUrl(claimUrlTemplate, sym.text);
        if (claim !== null) return { ...sym, text: claim, masked: ['claimCode'] };
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
