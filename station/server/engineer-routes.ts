// The engineer console's HTTP routes: sequence versions (list, detail with a diff, validate,
// save), device search and history, yield per step, and the CSV export of records. Every route
// here is registered with the engineer access level (station/server/routes.ts).
import type { Request, Response } from 'express';
import { z } from 'zod';
import { versionWindows } from '../store/analytics.js';
import { exportRecordsPage, deviceHistory, searchDevices, yieldPerStep } from '../store/ui-queries.js';
import { csvRow } from './csv.js';
import { parseOr400, type HttpDeps } from './deps.js';
import { sessionOf } from './guard.js';
import { versionDiff } from './json-diff.js';
import { checkSequence } from './sequence-check.js';

const hashParam = z.string().regex(/^[0-9a-f]{64}$/);
const isoTime = z.iso.datetime({ offset: true });
const searchQuery = z.strictObject({ q: z.string().trim().min(1).max(64) });
const deviceIdParam = z.string().regex(/^[0-9a-fA-F]{8,64}$/);
/** `variant`: one product variant's runs; empty: the runs on the base limits; absent: every run. */
const yieldQuery = z.strictObject({
  since: isoTime.optional(),
  sequence: hashParam.optional(),
  version: z.coerce.number().int().min(1).optional(),
  variant: z.union([z.literal(''), z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/)]).optional(),
});
const exportQuery = z.strictObject({ since: isoTime.optional(), until: isoTime.optional() });
const EXPORT_PAGE = 500;
/** A save: the sequence and the engineer's change note (required: the version list shows it). */
const saveBody = z.strictObject({ definition: z.unknown(), note: z.string().trim().min(3, 'a change note of at least 3 characters is required').max(500) });
export const EXPORT_COLUMNS = ['deviceId', 'mac', 'iccid', 'imei', 'status', 'attempts', 'runId', 'sequenceHash', 'mode', 'failStep', 'reason', 'verdictAt', 'blessedAt', 'uploadedAt'] as const;

/** Resolves when the response can take more, or the client went away. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

const sinkId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'must be a sink id (uplink.sinks[].name, or its kind)');
const deadLettersQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(100), sink: sinkId.optional() });
const requeueBody = z.strictObject({ recordIds: z.array(z.string().uuid()).min(1).max(10_000), sink: sinkId.optional() });

export function engineerHandlers(d: HttpDeps) {
  return {
    /** Records a sink rejected for good, with its reasons (docs/cloud-api.md); `?sink=` for one sink's. */
    deadLetters(req: Request, res: Response): void {
      const q = parseOr400(deadLettersQuery, req.query, res, 'query');
      if (!q) return;
      res.json({ deadLetters: d.uplink?.deadLetters(q.limit, q.sink ?? null) ?? [] });
    },

    /** Sends dead letters again once the sink's side is fixed (to one sink, or every sink holding them). */
    requeueDeadLetters(req: Request, res: Response): void {
      const body = parseOr400(requeueBody, req.body, res, 'body');
      if (!body) return;
      if (!d.uplink) {
        res.status(409).json({ error: 'this station has no uplink' });
        return;
      }
      res.json({ requeued: d.uplink.requeueDeadLetters(body.recordIds, body.sink ?? null) });
    },

    listSequences(_req: Request, res: Response): void {
      res.json({ active: d.versions.activeHash(), versions: d.versions.list() });
    },

    getSequence(req: Request, res: Response): void {
      const hash = hashParam.safeParse(req.params.hash);
      const detail = hash.success ? d.versions.get(hash.data) : null;
      if (!detail) {
        res.status(404).json({ error: `no sequence version ${JSON.stringify(String(req.params.hash).slice(0, 80))}` });
        return;
      }
      res.json({
        version: detail.version,
        hash: detail.hash,
        name: detail.name,
        createdAt: detail.createdAt,
        author: detail.author,
        by: detail.by,
        note: detail.note,
        definition: detail.definition,
        scripts: detail.scripts,
        previousHash: detail.previousHash,
        // The definition's changes and the script modules' (added, removed, changed).
        diff: detail.previousDefinition ? versionDiff({ definition: detail.previousDefinition, scripts: detail.previousScripts ?? {} }, detail) : [],
      });
    },

    validateSequence(req: Request, res: Response): void {
      const check = checkSequence(req.body, d.capabilities);
      if (!check.ok) {
        res.status(422).json({ ok: false, problems: check.problems });
        return;
      }
      res.json({ ok: true, hash: check.compiled.hash });
    },

    saveSequence(req: Request, res: Response): void {
      const body = parseOr400(saveBody, req.body, res, 'body');
      if (!body) return;
      const check = checkSequence(body.definition, d.capabilities);
      if (!check.ok) {
        res.status(422).json({ ok: false, problems: check.problems });
        return;
      }
      const seq = check.compiled;
      const by = sessionOf(res)?.user ?? 'engineer';
      const saved = d.versions.save(seq, 'engineer', { name: by, note: body.note });
      if (!saved.created) {
        res.status(200).json({ version: saved.version, hash: seq.hash, diff: [] });
        return;
      }
      d.line.setSequence(seq);
      d.bus.emit('sequence.changed', { name: seq.def.name, hash: seq.hash, stepCount: seq.steps.length });
      d.log.info({ version: saved.version, hash: seq.hash.slice(0, 12), name: seq.def.name, by }, 'sequence saved from the console: the next run on every slot uses it');
      res.status(201).json({ version: saved.version, hash: seq.hash, by, note: body.note, diff: saved.previous ? versionDiff(saved.previous, { definition: seq.def, scripts: seq.scripts }) : [] });
    },

    searchDevices(req: Request, res: Response): void {
      const q = parseOr400(searchQuery, req.query, res, 'query');
      if (!q) return;
      res.json({ devices: searchDevices(d.store, q.q, 100) });
    },

    deviceHistory(req: Request, res: Response): void {
      const id = deviceIdParam.safeParse(req.params.deviceId);
      const history = id.success ? deviceHistory(d.store, id.data.toLowerCase()) : null;
      if (!history) {
        res.status(404).json({ error: `no device ${JSON.stringify(String(req.params.deviceId).slice(0, 80))}` });
        return;
      }
      res.json(history);
    },

    yieldSteps(req: Request, res: Response): void {
      const q = parseOr400(yieldQuery, req.query, res, 'query');
      if (!q) return;
      if (q.version !== undefined && q.sequence !== undefined) {
        res.status(400).json({ error: 'give a sequence version or a sequence hash, not both' });
        return;
      }
      // `version`: that version's runs (its hash, started from its save until the same hash was saved again), since `since` or all of them.
      const window = q.version !== undefined ? (versionWindows(d.store).find((w) => w.version === q.version) ?? null) : null;
      if (q.version !== undefined && !window) {
        res.status(404).json({ error: `no sequence version ${q.version}` });
        return;
      }
      const hash = window?.hash ?? q.sequence ?? d.versions.activeHash();
      const seq = d.versions.load(hash);
      if (!seq) {
        res.status(404).json({ error: `no sequence version ${hash}` });
        return;
      }
      const sinceMs = window ? Math.max(window.fromMs, q.since ? Date.parse(q.since) : 0) : q.since ? Date.parse(q.since) : d.feed.shiftStartedAtMs;
      res.json({
        sequenceHash: hash,
        ...(window ? { version: window.version } : {}),
        since: new Date(sinceMs).toISOString(),
        ...(q.variant !== undefined ? { variant: q.variant || null } : {}),
        steps: yieldPerStep(d.store, {
          sequenceHash: hash,
          sinceMs,
          ...(window?.untilMs ? { untilMs: window.untilMs } : {}),
          steps: seq.def.steps,
          ...(q.variant !== undefined ? { variant: q.variant || null } : {}),
        }),
      });
    },

    /** Streams the records page by page, waiting for the client between pages (flat memory). */
    async exportRecords(req: Request, res: Response): Promise<void> {
      const q = parseOr400(exportQuery, req.query, res, 'query');
      if (!q) return;
      const sinceMs = q.since ? Date.parse(q.since) : null;
      const untilMs = q.until ? Date.parse(q.until) : null;
      let closed = false;
      res.once('close', () => {
        closed = true;
      });
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="records-${d.stationId}-${new Date().toISOString().slice(0, 10)}.csv"`);
      res.setHeader('Cache-Control', 'no-store');
      res.write(csvRow(EXPORT_COLUMNS));
      let afterSeq = 0;
      for (;;) {
        const page = exportRecordsPage(d.store, { afterSeq, sinceMs, untilMs, limit: EXPORT_PAGE });
        if (page.length === 0) break;
        afterSeq = (page.at(-1) as { seq: number }).seq;
        const chunk = page.map((r) => csvRow(EXPORT_COLUMNS.map((c) => r[c]))).join('');
        if (!res.write(chunk) && !closed) await drained(res);
        if (closed) return;
        if (page.length < EXPORT_PAGE) break;
      }
      res.end();
    },
  };
}
