// Claim labels: the label on a blessed unit's box that lets its buyer claim it without a
// developer (docs/labels.md). It carries a QR code of the claim URL, made from a configured
// template with the Device ID and the unit's claim code in it
// (https://example.com/claim?d={deviceId}&c={claimCode}), and the Device ID in text. The claim
// code is a secret like the mobile secret: the URL is put on the label and nowhere else; this
// module's messages never name it, and maskClaimUrl hides it in a decoded image.
import { z } from 'zod';
import { labelStockSchema, type LabelContent, type LabelStock } from './layout.js';

/** 4 x 2 inch at 203 dpi: room for a QR code phones read from arm's length (6-dot modules). */
export const DEFAULT_CLAIM_STOCK: LabelStock = { dpi: 203, widthMm: 101.6, heightMm: 50.8 };

const PLACEHOLDERS = ['{deviceId}', '{claimCode}'] as const;

export const claimUrlTemplateSchema = z
  .string()
  .min(1)
  .max(300)
  .superRefine((t, ctx) => {
    for (const p of PLACEHOLDERS) if (!t.includes(p)) ctx.addIssue({ code: 'custom', message: `must contain ${p}` });
    let url: URL;
    try {
      url = new URL(fillTemplate(t, '0123456789abcdef01234567', 'code'));
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a URL once {deviceId} and {claimCode} are filled in (https://example.com/claim?d={deviceId}&c={claimCode})' });
      return;
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: 'must be an https:// (or http://) URL' });
  });

export const claimLabelConfigSchema = z.strictObject({
  /** The claim URL: {deviceId} and {claimCode} are replaced (URL-encoded). */
  urlTemplate: claimUrlTemplateSchema,
  /** The claim label's stock (a box label; larger than the unit label by default). */
  stock: labelStockSchema.default(DEFAULT_CLAIM_STOCK),
  /** A line printed under the Device ID. */
  text: z
    .string()
    .max(40)
    .regex(/^[\x20-\x7e]*$/, 'is printable ASCII')
    .default('Scan to claim your device'),
});

export type ClaimLabelConfig = z.output<typeof claimLabelConfigSchema>;

function fillTemplate(template: string, deviceId: string, claimCode: string): string {
  return template.replaceAll('{deviceId}', encodeURIComponent(deviceId)).replaceAll('{claimCode}', encodeURIComponent(claimCode));
}

/** The claim URL of a device: the template with its Device ID and claim code, URL-encoded. */
export function claimUrl(template: string, deviceId: string, claimCode: string): string {
  return fillTemplate(template, deviceId.toLowerCase(), claimCode);
}

/** The claim label's content: the claim URL as a QR code, the Device ID, the text and the product. */
export function claimLabel(cfg: Pick<ClaimLabelConfig, 'urlTemplate' | 'text'>, device: { deviceId: string; claimCode: string; product?: string | null }): LabelContent {
  const lines = [cfg.text, ...(device.product ? [device.product] : [])].filter((l) => l.length > 0);
  return { deviceId: device.deviceId.toLowerCase(), lines, qr: claimUrl(cfg.urlTemplate, device.deviceId, device.claimCode) };
}

/**
 * A decoded text with the claim code of a claim URL (made from `template`) replaced by "•••";
 * null when the text is not such a URL.
 */
export function maskClaimUrl(template: string, text: string): string | null {
  const [before, after] = splitAt(template, '{claimCode}');
  if (after === null) return null;
  const pattern = (part: string): string => part.split('{deviceId}').map(escapeRegExp).join('[^&#/?]*');
  const m = new RegExp(`^(${pattern(before)})[^&#/?]+(${pattern(after)})$`).exec(text);
  return m ? `${m[1]}•••${m[2]}` : null;
}

function splitAt(text: string, token: string): [string, string | null] {
  const i = text.indexOf(token);
  return i < 0 ? [text, null] : [text.slice(0, i), text.slice(i + token.length)];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
