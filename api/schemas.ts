import { z } from 'zod';
import { ParamSpecSchema, PIPELINE_NAME_PATTERN, TriggersSchema } from '../definitions/schema';
import type { RunStatus } from '../workflows/types';

/**
 * Every body, response and path parameter of the HTTP API as a zod schema with its type. The routes validate with
 * these and `GET /openapi.json` is generated from them (`openapi.ts`), so the contract is written once.
 */

/** Schemas that appear in the OpenAPI document's `components.schemas`, by `id`. */
export const apiSchemas = z.registry<{ id: string }>();

/** Bodies above this are refused with 413 before they are parsed. @default 64 KiB */
export const MAX_BODY_BYTES = 64 * 1024;
/** MinIO events carry object metadata; one request may hold several records. @default 256 KiB */
export const MAX_HOOK_BODY_BYTES = 256 * 1024;

// ---- path parameters ---------------------------------------------------------------------------------------------

export const PipelineNameSchema = z
  .string()
  .max(128)
  .regex(PIPELINE_NAME_PATTERN, 'a pipeline name is letters, digits, ".", "_" and "-", starting with a letter or digit')
  .meta({ description: 'Pipeline name', example: 'hello' });

/** Temporal workflow ids as mlpipe makes them (`<pipeline>-<stamp>-<random>`, `<pipeline>-<idempotency key>`). */
export const RunIdSchema = z
  .string()
  .max(255)
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9._:-]*$/, 'a run id is letters, digits, ".", "_", ":" and "-"')
  .meta({ description: 'Run id (the workflow id)', example: 'hello-20261127T101500-ab12cd' });

export const PipelinePathSchema = z.object({ name: PipelineNameSchema });
export const RunPathSchema = z.object({ id: RunIdSchema });

// ---- errors --------------------------------------------------------------------------------------------------------

export const ApiIssueSchema = z
  .object({
    path: z.array(z.union([z.string(), z.number()])),
    message: z.string(),
  })
  .meta({ description: 'One problem with the request, at `path`' })
  .register(apiSchemas, { id: 'Issue' });
export type ApiIssue = z.infer<typeof ApiIssueSchema>;

export const ErrorResponseSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable, machine-readable: params_invalid, pipeline_not_found, ...' }),
      message: z.string().meta({ description: 'What went wrong and what to do about it' }),
      issues: z.array(ApiIssueSchema).optional().meta({ description: 'Every problem, when there are several' }),
    }),
  })
  .meta({ description: 'Every non-2xx response' })
  .register(apiSchemas, { id: 'Error' });
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

// ---- runs ----------------------------------------------------------------------------------------------------------

export const StartRunRequestSchema = z
  .strictObject({
    params: z
      .record(z.string().max(128), z.unknown())
      .optional()
      .meta({ description: "Run parameters, checked against the pipeline's params before anything starts" }),
    idempotencyKey: z
      .string()
      .max(128)
      .regex(/^[a-zA-Z0-9][a-zA-Z0-9._:-]*$/, 'an idempotency key is letters, digits, ".", "_", ":" and "-"')
      .optional()
      .meta({ description: 'The same key twice starts one run (even after it ended); the run id derives from it' }),
  })
  .register(apiSchemas, { id: 'StartRunRequest' });
export type StartRunRequest = z.infer<typeof StartRunRequestSchema>;

export const StartRunResponseSchema = z
  .object({
    runId: z.string(),
    existing: z.boolean().meta({ description: 'true: the idempotency key had already started this run' }),
  })
  .register(apiSchemas, { id: 'StartRunResponse' });
export type StartRunResponse = z.infer<typeof StartRunResponseSchema>;

const StepStatusSchema = z.object({
  state: z.enum(['pending', 'running', 'succeeded', 'cached', 'failed', 'skipped', 'rolledBack', 'cancelled']),
  uses: z.string(),
  queue: z.enum(['cpu', 'gpu', 'workflow']),
  attempts: z.number(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  outputsSummary: z.string().optional(),
  error: z.object({ type: z.string().optional(), message: z.string() }).optional(),
  items: z.object({ done: z.number(), total: z.number() }).optional(),
  waitingFor: z.literal('approval').optional(),
  approval: z
    .object({ decision: z.enum(['approved', 'rejected']), by: z.string().optional(), comment: z.string().optional() })
    .optional(),
  rollback: z
    .object({ state: z.enum(['succeeded', 'failed']), error: z.string().optional(), endedAt: z.string() })
    .optional(),
});

export const RunStatusSchema = z
  .object({
    runId: z.string(),
    pipeline: z.string(),
    state: z.enum(['starting', 'running', 'rollingBack', 'succeeded', 'failed', 'cancelled']),
    params: z.record(z.string(), z.unknown()),
    startedAt: z.string(),
    endedAt: z.string().optional(),
    steps: z.record(z.string(), StepStatusSchema),
    rolledBack: z.array(z.string()),
    error: z.object({ type: z.string().optional(), message: z.string(), step: z.string().optional() }).optional(),
  })
  .meta({ description: "The run's `status` query: per-step state and attempts" })
  .register(apiSchemas, { id: 'RunStatus' });
// The schema documents workflows/types.ts's RunStatus: this fails to compile if the two drift apart.
const _runStatusFits = (s: RunStatus): z.infer<typeof RunStatusSchema> => s;

export const TemporalExecutionSchema = z
  .object({
    status: z
      .enum([
        'RUNNING',
        'COMPLETED',
        'FAILED',
        'CANCELLED',
        'TERMINATED',
        'CONTINUED_AS_NEW',
        'TIMED_OUT',
        'PAUSED',
        'UNSPECIFIED',
        'UNKNOWN',
      ])
      .meta({ description: "Temporal's execution status" }),
    executionRunId: z.string(),
    workflowType: z.string(),
    startTime: z.string(),
    closeTime: z.string().nullable(),
    historyLength: z.number(),
  })
  .meta({ description: "Temporal's own view of the run" })
  .register(apiSchemas, { id: 'TemporalExecution' });

export const RunResponseSchema = z
  .object({
    runId: z.string(),
    pipeline: z.string().nullable(),
    temporal: TemporalExecutionSchema,
    status: RunStatusSchema.nullable().meta({ description: 'null when the status query could not be answered' }),
    statusError: z.string().optional().meta({ description: 'Why `status` is null' }),
  })
  .register(apiSchemas, { id: 'Run' });
export type RunResponse = z.infer<typeof RunResponseSchema>;

export const CancelRunResponseSchema = z
  .object({ runId: z.string(), cancelRequested: z.literal(true) })
  .register(apiSchemas, { id: 'CancelRunResponse' });

// ---- pipelines -----------------------------------------------------------------------------------------------------

export const PipelineSummarySchema = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    params: z.record(z.string(), ParamSpecSchema),
    on: TriggersSchema.optional(),
    valid: z.boolean().meta({ description: 'false: the definition has problems (listed in `issues`); it cannot run' }),
    issues: z.array(ApiIssueSchema).optional(),
  })
  .register(apiSchemas, { id: 'PipelineSummary' });
export type PipelineSummary = z.infer<typeof PipelineSummarySchema>;

export const PipelineListSchema = z
  .object({ pipelines: z.array(PipelineSummarySchema) })
  .meta({ description: 'The pipelines this token may start' })
  .register(apiSchemas, { id: 'PipelineList' });

// ---- MinIO bucket notifications ------------------------------------------------------------------------------------

export const MinioRecordSchema = z
  .looseObject({
    eventName: z.string().max(256).meta({ example: 's3:ObjectCreated:Put' }),
    s3: z.looseObject({
      bucket: z.looseObject({ name: z.string().min(1).max(63) }),
      object: z.looseObject({
        key: z.string().min(1).max(4096).meta({ description: 'URL-encoded (query escaping: "+" is a space)' }),
        eTag: z.string().max(256).optional(),
        size: z.number().optional(),
        sequencer: z.string().max(256).optional(),
      }),
    }),
  })
  .register(apiSchemas, { id: 'MinioEventRecord' });
export type MinioRecord = z.infer<typeof MinioRecordSchema>;

export const MinioEventSchema = z
  .looseObject({
    EventName: z.string().max(256).optional(),
    Key: z.string().max(4200).optional(),
    Records: z.array(MinioRecordSchema).max(1000),
  })
  .meta({ description: 'An S3 event notification as a MinIO webhook target sends it' })
  .register(apiSchemas, { id: 'MinioEvent' });
export type MinioEvent = z.infer<typeof MinioEventSchema>;

const TriggeredRunSchema = z.object({ pipeline: z.string(), uri: z.string(), runId: z.string() });

export const HookResponseSchema = z
  .object({
    started: z.array(TriggeredRunSchema).meta({ description: 'Runs this event started' }),
    existing: z
      .array(TriggeredRunSchema)
      .meta({ description: 'The same object (same ETag) had started these already' }),
    skipped: z
      .array(z.object({ pipeline: z.string(), uri: z.string(), reason: z.string() }))
      .meta({ description: 'Matching pipelines that cannot take the object (e.g. a required param has no value)' }),
    ignored: z.number().meta({ description: 'Records that are not s3:ObjectCreated:* events' }),
  })
  .register(apiSchemas, { id: 'HookResponse' });
export type HookResponse = z.infer<typeof HookResponseSchema>;
