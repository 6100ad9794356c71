import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration';

/**
 * The pipeline language as zod schemas, each with its inferred type. The schema checks shape only; cross-field rules
 * (needs exist, no cycles, expressions read upstream steps...) are the named checks in `checks.ts`, run together by
 * `validateDefinition`. The JSON Schema for editors is generated from these (`json-schema.ts`).
 */

/** Step ids and param names: a letter or `_`, then letters, digits, `_` or `-`. */
export const ID_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_-]*$/;
/** Pipeline names: used in file names, workflow ids and search attributes. */
export const PIPELINE_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

export const DurationSchema = z
  .union([z.string().meta({ pattern: DURATION_PATTERN }), z.number().nonnegative()])
  .superRefine((value, ctx) => {
    try {
      parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  })
  .meta({ description: 'A duration such as 500ms, 2s, 30m, 1h30m, 1d, or a number of milliseconds' });
/** `500ms`, `2s`, `30m`, `1h30m`, `1d`, or a number of milliseconds. */
export type Duration = z.infer<typeof DurationSchema>;

export const QueueSchema = z.enum(['cpu', 'gpu']).meta({ description: 'Which workers run the step (default: cpu)' });
export type QueueName = z.infer<typeof QueueSchema>;

export const ResourcesSchema = z
  .object({
    gpu: z.number().int().nonnegative().optional().meta({ description: 'GPUs the step needs; > 0 implies queue gpu' }),
  })
  .strict();
export type Resources = z.infer<typeof ResourcesSchema>;

export const RetrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).optional().meta({ description: 'Attempts in all, the first included' }),
    initialInterval: DurationSchema.optional().meta({ description: 'Wait before the first retry' }),
    backoff: z.number().min(1).optional().meta({ description: 'Each wait is this many times the previous one' }),
    maximumInterval: DurationSchema.optional().meta({ description: 'Longest wait between attempts' }),
    nonRetryable: z
      .array(z.string())
      .optional()
      .meta({ description: 'Error types that fail the step at once (e.g. GateFailed)' }),
  })
  .strict();
export type RetryPolicy = z.infer<typeof RetrySchema>;

const UsesSchema = z.string().min(1).meta({ description: 'Step type: echo, command, sleep, approval, pipeline, ...' });
const WithSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: 'Inputs of the step type; strings may hold ${{ }} expressions' });

export const RollbackSchema = z
  .object({
    uses: UsesSchema,
    with: WithSchema.optional(),
    retry: RetrySchema.optional(),
    timeout: DurationSchema.optional(),
    heartbeat: DurationSchema.optional(),
  })
  .strict()
  .meta({ description: 'Compensation run (on the step queue) when a later failure rolls the run back' });
export type Rollback = z.infer<typeof RollbackSchema>;

const NeedsSchema = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .transform((v): string[] => (v === undefined ? [] : typeof v === 'string' ? [v] : v))
  .meta({ description: 'Steps that must succeed first' });

/**
 * `if: a > b` without `${{ }}` is an expression too (as in GitHub Actions): wrap it so every `if` has one form.
 *
 * @example
 * normalizeCondition('params.n > 1'); // '${{ params.n > 1 }}'
 */
export function normalizeCondition<T>(condition: T): T | string {
  return typeof condition === 'string' && !condition.includes('${{') ? `\${{ ${condition} }}` : condition;
}

const IfSchema = z
  .union([z.string(), z.boolean()])
  .transform((v) => normalizeCondition(v))
  .meta({ description: 'Run the step only when this is true; otherwise it is skipped' });

export const StepSchema = z
  .object({
    uses: UsesSchema,
    description: z.string().optional(),
    needs: NeedsSchema,
    if: IfSchema.optional(),
    with: WithSchema.optional(),
    queue: QueueSchema.optional(),
    resources: ResourcesSchema.optional(),
    retry: RetrySchema.optional(),
    timeout: DurationSchema.optional().meta({ description: 'Start-to-close timeout of each attempt' }),
    heartbeat: DurationSchema.optional().meta({ description: 'Longest silence before an attempt counts as lost' }),
    rollback: RollbackSchema.optional(),
    cache: z.boolean().optional().meta({ description: 'Reuse the outputs of an earlier run with the same inputs' }),
    outputs: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'Outputs of the step, computed from its own (steps.<id>.outputs)' }),
    forEach: z
      .union([z.string(), z.array(z.unknown())])
      .optional()
      .meta({ description: 'Run the step once per item (a list or an expression giving one); `item` in with' }),
    concurrency: z.number().int().min(1).optional().meta({ description: 'forEach items running at once' }),
  })
  .strict();
/** A step, as validated: `needs` is always a list and a bare `if` is wrapped in `${{ }}`. */
export type Step = z.infer<typeof StepSchema>;

export const PARAM_TYPES = ['string', 'number', 'integer', 'boolean', 'array', 'object'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export const ParamSpecSchema = z
  .object({
    type: z.enum(PARAM_TYPES),
    default: z.unknown().optional().meta({ description: 'Value when not given; without one the param is required' }),
    description: z.string().optional(),
    enum: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .optional(),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
  })
  .strict();
export type ParamSpec = z.infer<typeof ParamSpecSchema>;

/** How a scheduled run treats a run still going: Temporal's schedule overlap policies. */
export const OverlapSchema = z.enum(['skip', 'bufferOne', 'bufferAll', 'cancelOther', 'terminateOther', 'allowAll']);

// Schedules and triggers are typed but open (loose objects): their issue in the backlog may add keys.
export const ScheduleSchema = z
  .looseObject({
    /** Stable id of the schedule within the pipeline (`mlpipe:<pipeline>:<name>`); the list index otherwise. */
    name: z.string().regex(ID_PATTERN, 'expected a schedule name: letters, digits, _ and -').optional(),
    cron: z.union([z.string(), z.array(z.string())]).optional(),
    interval: DurationSchema.optional(),
    timezone: z.string().optional(),
    overlap: OverlapSchema.optional(),
    catchupWindow: DurationSchema.optional(),
    jitter: DurationSchema.optional(),
    paused: z.boolean().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((s) => s.cron !== undefined || s.interval !== undefined, {
    message: 'a schedule needs "cron" or "interval"',
  });
export type Schedule = z.infer<typeof ScheduleSchema>;

export const TriggersSchema = z.looseObject({
  objectCreated: z
    .looseObject({
      bucket: z.string().min(1),
      prefix: z.string().optional(),
      suffix: z.string().optional(),
      param: z.string().optional().meta({ description: 'Param that receives the new object URI' }),
    })
    .optional(),
});
export type Triggers = z.infer<typeof TriggersSchema>;

export const PipelineSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(PIPELINE_NAME_PATTERN, {
      message: 'a pipeline name is letters, digits, ".", "_" and "-", starting with a letter or digit',
    }),
    description: z.string().optional(),
    params: z.record(z.string().regex(ID_PATTERN), ParamSpecSchema).optional(),
    steps: z
      .record(z.string().regex(ID_PATTERN), StepSchema)
      .refine((steps) => Object.keys(steps).length > 0, { message: 'a pipeline needs at least one step' }),
    outputs: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'Outputs of the run, usually ${{ steps.<id>.outputs.<name> }}' }),
    schedule: z.union([ScheduleSchema, z.array(ScheduleSchema)]).optional(),
    on: TriggersSchema.optional(),
  })
  .strict()
  .meta({ title: 'mlpipe pipeline', description: 'A DAG of steps run durably on Temporal' });

/** A validated pipeline definition (what `validateDefinition` returns and the interpreter runs). */
export type Pipeline = z.infer<typeof PipelineSchema>;
/** A pipeline definition as written (before normalisation): `needs` may be one string, `if` may be bare. */
export type PipelineDefinition = z.input<typeof PipelineSchema>;
/** A step as written. */
export type StepDefinition = z.input<typeof StepSchema>;
