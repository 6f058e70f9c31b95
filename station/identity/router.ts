// HTTP routes for device identity from labels: decoding an uploaded label image
// (POST /api/scan/image) and reprinting a blessed device's label (POST /api/labels/:id/reprint).
// Both are for engineers: the station mounts them behind its auth (session, role, CSRF); nothing
// here checks who is asking. The handlers are also exported one route at a time, for a route
// table that records each route's access.
//
// Limits come first: a body over the byte limit is refused with 413 by the body parser before it
// reaches the decoder, and the decoder refuses too many pixels with 413 before decoding.
// Decoded text is returned to the engineer, never logged: a vendor's label may carry a secret.
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { LabelLayoutError } from '../../drivers/label/layout.js';
import { PngLabelSinkError } from '../../drivers/label/png-sink.js';
import { PrinterError } from '../../drivers/label/printer.js';
import { DEFAULT_MAX_IMAGE_BYTES, ImageTooLargeError, ImageUnreadableError, LabelDecoderError, type SymbolDecoder } from '../../drivers/vision/decoder.js';

export const IMAGE_CONTENT_TYPES = ['image/png', 'image/jpeg', 'application/octet-stream'];

export interface LabelReprinter {
  /** Prints the label of a blessed device again (its claim label: the box's); null when no such
   *  device is known (or, for the claim label, it has no claim code). */
  reprint(deviceId: string, which?: 'unit' | 'claim'): Promise<{ output: 'zpl' | 'png' } | null>;
}

export interface IdentityRouterDeps {
  decoder: SymbolDecoder;
  labels: LabelReprinter;
  log: Logger;
  /** The largest upload accepted, bytes; 8 MB by default (the decoder's own limit should match). */
  maxImageBytes?: number;
}

const DEVICE_ID = /^[0-9a-fA-F]{8,64}$/;

export interface IdentityHandlers {
  scanImage: RequestHandler[];
  reprintLabel: RequestHandler[];
}

/** The handlers of each route, for a caller that registers routes itself. */
export function identityHandlers(deps: IdentityRouterDeps): IdentityHandlers {
  const log = deps.log.child({ part: 'station.identity' });
  const maxImageBytes = deps.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const tooLarge = `the image is too large (max ${formatBytes(maxImageBytes)})`;
  const rawBody = express.raw({ type: IMAGE_CONTENT_TYPES, limit: maxImageBytes });

  const requireImageType: RequestHandler = (req, res, next) => {
    if (!req.is(IMAGE_CONTENT_TYPES)) {
      res.status(415).json({ error: `send the image as ${IMAGE_CONTENT_TYPES.join(', ')} (the request's Content-Type is ${req.get('content-type') ?? 'missing'})` });
      return;
    }
    next();
  };

  // The body parser's errors answered here, so the route behaves the same wherever it is mounted.
  const readImage: RequestHandler = (req, res, next) => {
    rawBody(req, res, (err?: unknown) => {
      if (!err) return next();
      const e = err as { type?: string; status?: number; message?: string };
      if (e.type === 'entity.too.large') res.status(413).json({ error: tooLarge });
      else if (e.status && e.status >= 400 && e.status < 500) res.status(e.status).json({ error: `the image upload was not readable: ${e.message ?? 'bad request'}` });
      else next(err);
    });
  };

  const decodeImage = async (req: Request, res: Response): Promise<void> => {
    const body: unknown = req.body;
    if (!Buffer.isBuffer(body) || body.length === 0) {
      res.status(400).json({ error: 'the request has no image in its body' });
      return;
    }
    const started = performance.now();
    try {
      const symbols = await deps.decoder.decode(body);
      log.info({ bytes: body.length, symbols: symbols.length, formats: symbols.map((s) => s.format), ms: Math.round(performance.now() - started) }, 'label image decoded');
      if (symbols.length === 0) {
        res.status(422).json({ error: 'no symbol found' });
        return;
      }
      res.json({ symbols: symbols.map((s) => ({ format: s.format, text: s.text, position: s.position })) });
    } catch (err) {
      if (err instanceof ImageTooLargeError) {
        res.status(413).json({ error: 'pixels' in err.limit ? `the image is too large (max ${err.limit.pixels / 1e6} megapixels)` : tooLarge });
      } else if (err instanceof ImageUnreadableError) {
        res.status(422).json({ error: 'no symbol found', reason: err.message });
      } else if (err instanceof LabelDecoderError) {
        log.error({ err: err.message }, 'label decoder failed');
        res.status(503).json({ error: `the label decoder is not available: ${err.message}` });
      } else throw err;
    }
  };

  const reprint = async (req: Request, res: Response): Promise<void> => {
    const raw = String(req.params.deviceId ?? '');
    if (!DEVICE_ID.test(raw)) {
      res.status(400).json({ error: 'the Device ID must be 8 to 64 hex characters' });
      return;
    }
    const deviceId = raw.toLowerCase();
    const which = req.query.label === undefined ? 'unit' : req.query.label;
    if (which !== 'unit' && which !== 'claim') {
      res.status(400).json({ error: 'label must be "unit" (the default) or "claim" (the box label with the claim QR code)' });
      return;
    }
    try {
      const result = await deps.labels.reprint(deviceId, which);
      if (!result) {
        res.status(404).json({
          error:
            which === 'claim'
              ? `no claim code is stored for a blessed device ${deviceId} (claim labels need the particle sink's claim.mode "code" and labels.claim)`
              : `no blessed device ${deviceId} is known to this station`,
        });
        return;
      }
      log.info({ deviceId, output: result.output, label: which }, 'label reprinted');
      res.json({ printed: true, output: result.output });
    } catch (err) {
      if (err instanceof PrinterError || err instanceof PngLabelSinkError || err instanceof LabelLayoutError) {
        log.warn({ deviceId, err: err.message }, 'label reprint failed');
        res.status(502).json({ printed: false, error: err.message });
      } else throw err;
    }
  };

  return {
    scanImage: [requireImageType, readImage, asyncHandler(decodeImage)],
    reprintLabel: [asyncHandler(reprint)],
  };
}

/** POST /api/scan/image and POST /api/labels/:deviceId/reprint, to mount behind engineer auth. */
export function createIdentityRouter(deps: IdentityRouterDeps): Router {
  const handlers = identityHandlers(deps);
  const router = Router();
  router.post('/api/scan/image', ...handlers.scanImage);
  router.post('/api/labels/:deviceId/reprint', ...handlers.reprintLabel);
  return router;
}

function asyncHandler(fn: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res, next) => {
    fn(req, res).catch(next);
  };
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MB`;
  if (n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}
