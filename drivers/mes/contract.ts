// The station's contract with a plant's MES (docs/mes.md), in one place for both sides: the route
// query the interlock step asks before a unit is tested, and the result report that tells the MES
// how the unit did. The station's client (client.ts) and the reference MES (reference-mes.ts)
// validate against these schemas, so the two cannot drift apart.
import { z } from 'zod';

/** `GET <mes.url>/v1/units/<deviceId>/route?operation=<op>&station=<stationId>`. */
export function routePath(deviceId: string, operation: string, stationId: string): string {
  return `/v1/units/${encodeURIComponent(deviceId)}/route?${new URLSearchParams({ operation, station: stationId }).toString()}`;
}

/** `POST <mes.url>/v1/units/<deviceId>/results`. */
export function resultsPath(deviceId: string): string {
  return `/v1/units/${encodeURIComponent(deviceId)}/results`;
}

/**
 * The MES's answer to a route query: may this unit be tested at this station, for this operation,
 * now; and why, in words for the operator. Other keys are ignored (an MES may send more).
 */
export const routeAnswerSchema = z.object({
  allowed: z.boolean(),
  reason: z.string().max(2000),
});
export type RouteAnswer = z.infer<typeof routeAnswerSchema>;

const isoTime = z.iso.datetime({ offset: true });

/**
 * A unit's result at this station, as the MES receives it. One report per verdict (blessed or
 * failed): `recordId` is the verdict's cloud recordId (docs/cloud-api.md), sent again unchanged on
 * a retry and in the `Idempotency-Key` header, so the MES stores each verdict once.
 */
export const resultReportSchema = z.strictObject({
  recordId: z.uuid(),
  stationId: z.string().min(1).max(64),
  operation: z.string().min(1).max(80),
  deviceId: z.string().regex(/^[0-9a-f]{8,64}$/),
  /** pass: the unit was blessed; fail: it was not. */
  result: z.enum(['pass', 'fail']),
  runId: z.uuid(),
  attempt: z.number().int().min(1),
  rework: z.boolean(),
  sequenceHash: z.string().regex(/^[0-9a-f]{64}$/),
  failStep: z.string().max(200).nullable(),
  reason: z.string().max(2000).nullable(),
  startedAt: isoTime,
  endedAt: isoTime,
  /** Why the record is flagged for review (tested while the MES was unreachable, under
   *  offlinePolicy "allow-and-flag"); null or absent: not flagged. */
  review: z.string().max(500).nullable().optional(),
});
export type ResultReport = z.infer<typeof resultReportSchema>;

/** The MES's answer to a result report: stored now, or stored before under this recordId. */
export const resultAnswerSchema = z.object({ accepted: z.literal(true), duplicate: z.boolean() });
export type ResultAnswer = z.infer<typeof resultAnswerSchema>;
