/**
 * The `with` of the `ingest` step: schema, type and step-type spec. Pure (zod and ml/ only), so definitions/ can
 * register it and the workflow bundle can validate definitions with it.
 */
import { z } from 'zod';
import type { StepTypeSpec } from '../../definitions/step-types';
import { compileDerive, FeatureExpressionError, parseTimestamp } from '../../ml/features';
import { COLUMN_TYPES } from './coerce';
import { DATA_FORMATS, SOURCE_PATTERN } from './formats';

const NumberOrText = z.union([z.number(), z.string().min(1)]);

/** A timestamp as text must parse; numbers are epoch ms (or plain numbers for number columns). */
const checkTimestampText = (value: unknown, ctx: z.RefinementCtx, path: (string | number)[]) => {
  if (typeof value === 'string' && Number.isNaN(parseTimestamp(value)) && Number.isNaN(Number(value))) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is neither a number nor a timestamp (2001-01-25)`, path });
  }
};

export const RowFilterSchema = z
  .object({
    column: z.string().min(1),
    /** Inclusive lower bound: a number, or a timestamp as text for a timestamp column. */
    from: NumberOrText.optional(),
    /** Exclusive upper bound. */
    to: NumberOrText.optional(),
    /** The values to keep (categories or numbers). */
    in: z
      .array(z.union([z.string(), z.number()]))
      .min(1)
      .optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.from === undefined && f.to === undefined && f.in === undefined) {
      ctx.addIssue({ code: 'custom', message: 'give from, to or in' });
    }
    checkTimestampText(f.from, ctx, ['from']);
    checkTimestampText(f.to, ctx, ['to']);
  });

export const SplitSchema = z.discriminatedUnion('by', [
  z
    .object({
      by: z.literal('time'),
      column: z.string().min(1),
      /** Rows from this time on validate; earlier rows train. */
      validFrom: NumberOrText,
      /** Rows from this time on are in neither part. */
      validTo: NumberOrText.optional(),
    })
    .strict()
    .superRefine((s, ctx) => {
      checkTimestampText(s.validFrom, ctx, ['validFrom']);
      checkTimestampText(s.validTo, ctx, ['validTo']);
    }),
  z
    .object({
      by: z.literal('random'),
      validFraction: z.number().gt(0).lt(1),
      seed: z.number().int().default(0),
    })
    .strict(),
]);

export const ExpectationsSchema = z
  .object({
    minRows: z.number().int().nonnegative().optional(),
    maxRows: z.number().int().nonnegative().optional(),
    notNull: z.array(z.string().min(1)).optional(),
    range: z
      .record(
        z.string(),
        z
          .object({ min: NumberOrText.optional(), max: NumberOrText.optional() })
          .strict()
          .refine((r) => r.min !== undefined || r.max !== undefined, 'give min, max or both'),
      )
      .optional(),
    allowed: z.record(z.string(), z.array(z.union([z.string(), z.number()])).min(1)).optional(),
    maxNullShare: z.record(z.string(), z.number().min(0).max(1)).optional(),
  })
  .strict();

export const DeriveSchema = z.record(z.string().min(1), z.string().min(1)).superRefine((spec, ctx) => {
  for (const [name, expression] of Object.entries(spec)) {
    try {
      compileDerive({ [name]: expression });
    } catch (err) {
      if (!(err instanceof FeatureExpressionError)) throw err;
      ctx.addIssue({ code: 'custom', message: `${err.reason} at column ${err.column}`, path: [name] });
    }
  }
});

/**
 * `with` of `uses: ingest`.
 *
 * @example
 * with:
 *   source: npm://vega-datasets/data/flights-3m.parquet
 *   columns: { date: timestamp, delay: number, distance: number, origin: category, destination: category }
 *   filter: { column: date, from: '2001-01-01', to: '2001-02-01' }
 *   derive: { delayed: 'delay > 15', hour: 'hour(date)' }
 *   split: { by: time, column: date, validFrom: '2001-01-25' }
 *   expect: { minRows: 1000, notNull: [distance], range: { distance: { min: 0, max: 6000 } } }
 */
export const IngestInputSchema = z
  .object({
    /** `npm://<package>/<path>`, `file:///abs/path` or `s3://bucket/key` (the worker's store). */
    source: z.string().regex(SOURCE_PATTERN, 'expected npm://<package>/<path>, file:///<path> or s3://<bucket>/<key>'),
    /** By default the extension says (.parquet, .csv, .json, .ndjson/.jsonl, .arrow). */
    format: z.enum(DATA_FORMATS).optional(),
    /** Columns to read and their types, in output order; every column (types inferred) when absent. */
    columns: z.record(z.string().min(1), z.enum(COLUMN_TYPES)).optional(),
    /** Rows to keep: half-open [from, to) ranges or `in` lists; on one column any may match, across columns all. */
    filter: z.union([RowFilterSchema, z.array(RowFilterSchema)]).optional(),
    /** Features computed from the columns (ml/features.ts), in order; later ones may use earlier ones. */
    derive: DeriveSchema.optional(),
    /** The label column, checked to exist (and passed on in the outputs). */
    label: z.string().min(1).optional(),
    split: SplitSchema.optional(),
    expect: ExpectationsSchema.optional(),
    /** `fail` rejects the source at its first bad row; `skip` drops and counts bad rows. */
    onBadRows: z.enum(['fail', 'skip']).default('fail'),
    /** Keep a uniform random sample of this many rows (seeded, order kept); 0 keeps all. */
    sample: z.number().int().nonnegative().optional(),
  })
  .strict();

export type IngestInput = z.infer<typeof IngestInputSchema>;

/** The step type, for definitions/ to register: `registerStepType('ingest', ingestStepType)`. */
export const ingestStepType: StepTypeSpec = {
  description: 'Reads a dataset (Parquet, CSV, JSON, Arrow), derives features, checks expectations and splits it',
  withSchema: IngestInputSchema,
  defaultQueue: 'cpu',
};
