// The part of TofuPilot's REST API (v2) the station's `tofupilot` sink uses (docs/tofupilot.md), as
// TofuPilot's own clients describe it (github.com/tofupilot/rust docs/sdks/runs, docs/models/runcreate*,
// runlist*; the Python client is generated from the same OpenAPI document):
//
//   POST <url>/api/v2/runs     create a run: {outcome, procedure_id, procedure_version?, serial_number,
//                              started_at, ended_at, phases?, metadata?} → {id}
//   GET  <url>/api/v2/runs     list runs, filtered by serial_numbers, procedure_ids, started_after,
//                              started_before (repeated keys for lists), limit → {data: [...], meta}
//
// Authorization: Bearer <API key>. Shared by the sink (jobs/uplink/tofupilot-sink.ts) and the
// simulator (simulator.ts) so the two cannot drift apart.
import { z } from 'zod';

export const RUNS_PATH = '/api/v2/runs';

export const RUN_OUTCOMES = ['PASS', 'FAIL', 'ERROR', 'TIMEOUT', 'ABORTED'] as const;
export const PHASE_OUTCOMES = ['PASS', 'FAIL', 'SKIP', 'ERROR'] as const;
export const MEASUREMENT_OUTCOMES = ['PASS', 'FAIL', 'UNSET'] as const;

const isoTime = z.iso.datetime({ offset: true });

export const validatorSchema = z.object({
  operator: z.string().nullable().optional(),
  expected_value: z.unknown().optional(),
  expression: z.string().nullable().optional(),
  outcome: z.enum(MEASUREMENT_OUTCOMES).nullable().optional(),
  is_decisive: z.boolean().nullable().optional(),
});

export const measurementSchema = z.object({
  name: z.string().min(1),
  outcome: z.enum(MEASUREMENT_OUTCOMES),
  measured_value: z.unknown().optional(),
  units: z.unknown().optional(),
  validators: z.array(validatorSchema).nullable().optional(),
  docstring: z.string().nullable().optional(),
});

export const phaseSchema = z.object({
  name: z.string().min(1),
  outcome: z.enum(PHASE_OUTCOMES),
  started_at: isoTime,
  ended_at: isoTime,
  docstring: z.string().nullable().optional(),
  measurements: z.array(measurementSchema).nullable().optional(),
  retry_count: z.number().int().min(0).optional(),
});

/** The body of POST /api/v2/runs, as far as the station fills it in. */
export const runCreateSchema = z.object({
  outcome: z.enum(RUN_OUTCOMES),
  procedure_id: z.string().min(1),
  procedure_version: z.string().nullable().optional(),
  serial_number: z.string().min(1),
  started_at: isoTime,
  ended_at: isoTime,
  docstring: z.string().optional(),
  phases: z.array(phaseSchema).optional(),
  /** At most 50 keys; values string, number or boolean. */
  metadata: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
    .refine((m) => Object.keys(m).length <= 50, 'at most 50 keys')
    .optional(),
});
export type RunCreate = z.infer<typeof runCreateSchema>;
export type RunCreatePhase = z.infer<typeof phaseSchema>;
export type RunCreateMeasurement = z.infer<typeof measurementSchema>;

export const runCreateAnswerSchema = z.object({ id: z.string().min(1) });

/** One run of GET /api/v2/runs (the fields the station reads; TofuPilot sends more). */
export const runListItemSchema = z.object({
  id: z.string(),
  started_at: isoTime,
  ended_at: isoTime,
  outcome: z.string(),
  procedure: z.object({ id: z.string() }),
  unit: z.object({ serial_number: z.string() }),
});
export const runListAnswerSchema = z.object({
  data: z.array(runListItemSchema),
  meta: z.object({ has_more: z.boolean(), next_cursor: z.number().nullable().optional() }),
});
export type RunListItem = z.infer<typeof runListItemSchema>;
