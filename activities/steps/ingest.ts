import { ApplicationFailure } from '@temporalio/activity';
import { sampleRows, splitTable } from '../../ml/data-split';
import { checkExpectations, ExpectationError, formatViolations } from '../../ml/expectations';
import { compileDerive, FeatureExpressionError, type DeriveSpec } from '../../ml/features';
import { profileTable } from '../../ml/profile';
import { findColumn, TableError, type Table } from '../../ml/table';
import type { ArtifactStore } from '../../storage/artifact-store';
import { putDataset } from '../../storage/datasets';
import { ErrorTypes } from '../../workflows/errors';
import { tableToArrow } from '../data/arrow';
import { BadRowError, IngestInputError, type RowFilter } from '../data/collect';
import type { ColumnType } from '../data/coerce';
import type { DataFormat } from '../data/formats';
import { IngestInputSchema, type IngestInput } from '../data/ingest-input';
import { readSource } from '../data/readers';
import type { StepContext, StepHandler } from './types';

export { IngestInputSchema, ingestStepType, type IngestInput } from '../data/ingest-input';

/** A stored dataset: content-addressed Arrow IPC file. */
export interface DatasetOutput {
  /** `s3://bucket/datasets/<sha256>.arrow` (or file://). */
  uri: string;
  sha256: string;
  rows: number;
  bytes: number;
}

export interface IngestOutputs {
  /** Every ingested row (after filter, sample and derive). */
  dataset: DatasetOutput;
  /** The split's parts, when `split` is given. */
  train?: DatasetOutput;
  valid?: DatasetOutput;
  /** Per-column statistics of the dataset (ml/profile.ts), for reports and drift monitoring. */
  profile: { uri: string };
  columns: { name: string; type: ColumnType }[];
  /** The derivation, for the model card: serving derives the same features with ml/features.ts. */
  derive: DeriveSpec;
  label?: string;
  format: DataFormat;
  /** Rows read from the source, before the filter (row groups skipped by their statistics not counted). */
  rowsRead: number;
  /** Rows dropped as unreadable (with `onBadRows: skip`). */
  badRows: number;
  badRowExamples?: string[];
  /** Rows in neither split part (a missing time, or at / after `validTo`). */
  splitDropped?: number;
  timingsMs: Record<'read' | 'derive' | 'validate' | 'split' | 'profile' | 'write', number>;
}

const ARROW_CONTENT_TYPE = 'application/vnd.apache.arrow.file';

const inputInvalid = (stepId: string, message: string) =>
  ApplicationFailure.create({
    type: ErrorTypes.StepInputInvalid,
    message: `step "${stepId}": ${message}`,
    nonRetryable: true,
  });

const dataInvalid = (message: string, details?: unknown) =>
  ApplicationFailure.create({
    type: ErrorTypes.DataValidationFailed,
    message,
    nonRetryable: true,
    ...(details !== undefined ? { details: [details] } : {}),
  });

function parseInput(raw: unknown, stepId: string): IngestInput {
  const result = IngestInputSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `with.${i.path.join('.')}${i.path.length ? ': ' : ''}${i.message}`);
  throw inputInvalid(stepId, `invalid ingest inputs:\n- ${issues.join('\n- ')}`);
}

/**
 * Stores a table as a content-addressed Arrow snapshot (`datasets/<sha256>.arrow`, storage/datasets.ts): written
 * only when absent, so the same data is stored once.
 */
async function storeDataset(
  store: ArtifactStore,
  table: Table,
  types: Record<string, ColumnType>,
  source: string,
): Promise<DatasetOutput> {
  const bytes = tableToArrow(table, types);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const snapshot = await putDataset(store, buffer, {
    ext: 'arrow',
    contentType: ARROW_CONTENT_TYPE,
    rows: table.numRows,
    source,
  });
  return { uri: snapshot.uri, sha256: snapshot.sha256, rows: table.numRows, bytes: snapshot.size };
}

/**
 * `ingest`: reads a source (Parquet, CSV, JSON, NDJSON, Arrow from npm://, file:// or s3://), coerces the declared
 * columns, filters rows, derives features, checks expectations, splits, and stores the dataset, its parts and its
 * profile as content-addressed artifacts (`datasets/<sha256>.arrow`, written only when absent). Broken expectations
 * and bad rows fail with the non-retryable `DataValidationFailed`, listing every violation.
 */
export const ingest: StepHandler = async (raw: unknown, ctx: StepContext): Promise<IngestOutputs> => {
  const stepId = ctx.task.stepId;
  const input = parseInput(raw, stepId);
  try {
    return await runIngest(input, ctx);
  } catch (err) {
    if (err instanceof BadRowError) {
      throw dataInvalid(
        `${input.source}: ${err.message}` +
          (input.onBadRows === 'fail' ? ' (set onBadRows: skip to drop and count bad rows)' : ''),
        { where: err.where, reason: err.reason },
      );
    }
    if (
      err instanceof IngestInputError ||
      err instanceof FeatureExpressionError ||
      err instanceof ExpectationError ||
      err instanceof TableError
    ) {
      throw inputInvalid(stepId, err.message);
    }
    throw err;
  }
};

async function runIngest(input: IngestInput, ctx: StepContext): Promise<IngestOutputs> {
  const timingsMs = { read: 0, derive: 0, validate: 0, split: 0, profile: 0, write: 0 };
  let started = performance.now();
  const lap = (phase: keyof typeof timingsMs) => {
    const now = performance.now();
    timingsMs[phase] = Math.round(now - started);
    started = now;
  };
  const derive = compileDerive(input.derive ?? {});
  const filters: RowFilter[] = input.filter ? (Array.isArray(input.filter) ? input.filter : [input.filter]) : [];

  ctx.heartbeat({ phase: 'read', rows: 0 });
  const read = await readSource(input.source, ctx.store, {
    format: input.format,
    columns: input.columns,
    filters,
    onBadRows: input.onBadRows,
    signal: ctx.signal,
    onProgress: ({ rowsRead, rows }) => ctx.heartbeat({ phase: 'read', rows: rowsRead, kept: rows }),
  });
  lap('read');

  let table = read.table;
  if (input.sample) table = sampleRows(table, input.sample, input.split?.by === 'random' ? input.split.seed : 0);
  ctx.heartbeat({ phase: 'derive', rows: table.numRows });
  const derived = derive.applyWithTypes(table);
  table = derived.table;
  const types: Record<string, ColumnType> = { ...read.types, ...derived.types };
  lap('derive');

  ctx.heartbeat({ phase: 'validate', rows: table.numRows });
  if (input.label && !findColumn(table, input.label)) {
    throw new IngestInputError(
      `label "${input.label}" is not a column (have: ${table.columns.map((c) => c.name).join(', ')})`,
    );
  }
  const timestampColumns = Object.keys(types).filter((name) => types[name] === 'timestamp');
  const violations = checkExpectations(table, input.expect ?? {}, { timestampColumns });
  if (violations.length) {
    throw dataInvalid(`${input.source}: ${formatViolations(violations)}`, { violations });
  }
  lap('validate');

  const split = input.split ? splitTable(table, input.split) : undefined;
  if (split) {
    const empty = (['train', 'valid'] as const).filter((part) => split[part].numRows === 0);
    if (empty.length) {
      throw dataInvalid(
        `${input.source}: the ${input.split!.by} split leaves ${empty.join(' and ')} empty ` +
          `(${split.train.numRows} train, ${split.valid.numRows} valid rows of ${table.numRows})`,
      );
    }
  }
  lap('split');

  ctx.heartbeat({ phase: 'profile', rows: table.numRows });
  const profile = profileTable(table, { types });
  lap('profile');

  ctx.heartbeat({ phase: 'write', rows: table.numRows });
  const dataset = await storeDataset(ctx.store, table, types, input.source);
  const train = split ? await storeDataset(ctx.store, split.train, types, input.source) : undefined;
  const valid = split ? await storeDataset(ctx.store, split.valid, types, input.source) : undefined;
  const profileKey = `datasets/${dataset.sha256}.profile.json`;
  if (!(await ctx.store.exists(profileKey))) {
    await ctx.store.put(profileKey, JSON.stringify(profile), { contentType: 'application/json' });
  }
  lap('write');

  return {
    dataset,
    ...(train ? { train } : {}),
    ...(valid ? { valid } : {}),
    profile: { uri: ctx.store.uri(profileKey) },
    columns: table.columns.map((c) => ({ name: c.name, type: types[c.name] })),
    derive: derive.spec,
    ...(input.label ? { label: input.label } : {}),
    format: read.format,
    rowsRead: read.rowsRead,
    badRows: read.badRows,
    ...(read.badRowExamples.length ? { badRowExamples: read.badRowExamples } : {}),
    ...(split ? { splitDropped: split.dropped } : {}),
    timingsMs,
  };
}
