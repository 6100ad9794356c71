/**
 * The smoke sample: a few holdout rows with the scores the evaluated ONNX file gave them. `evaluate` writes it beside
 * its report; `deploy` sends the rows to every serving instance and requires the same scores back, which proves that
 * what serves is byte for byte what was judged (same file, same feature handling) before traffic depends on it.
 */
import { z } from 'zod';
import { cellValue, findColumn, type Table } from '../../ml/table';
import type { OnnxFeature, OnnxScores, OnnxTask } from '../../ml/onnx-scoring';

/** Rows in a smoke sample unless asked otherwise: enough to cover the feature space, small enough for one request. */
export const SMOKE_ROWS = 100;
/** The most rows a sample may hold (one inference request per instance carries them all). */
export const MAX_SMOKE_ROWS = 1000;

const FeatureValueSchema = z.union([z.number(), z.string(), z.null()]);

export const SmokeSampleSchema = z.object({
  format: z.literal('mlpipe.smoke'),
  version: z.literal(1),
  /** The ONNX file that produced `expected`. */
  model: z.object({ uri: z.string(), sha256: z.string() }),
  task: z.enum(['binary', 'multiclass', 'regression']),
  /** Class names by class index (classifiers), or null. */
  classes: z.array(z.string()).nullable(),
  /** The model's inputs, in graph order. */
  features: z.array(z.object({ name: z.string(), kind: z.enum(['numeric', 'categorical']) })).min(1),
  rows: z
    .array(
      z.object({
        /** Row index in the scored holdout. */
        row: z.number().int().nonnegative(),
        /** The model's input features (null = missing). */
        features: z.record(z.string(), FeatureValueSchema),
        /** Class probabilities (classifiers) or `[value]` (regressors), as onnxruntime gave them in evaluation. */
        expected: z.array(z.number()).min(1),
      }),
    )
    .min(1)
    .max(MAX_SMOKE_ROWS),
});
export type SmokeSample = z.infer<typeof SmokeSampleSchema>;

/**
 * Picks `count` rows spread evenly over the scored table (first and last included) with their features and scores.
 *
 * @example
 * const sample = buildSmokeSample({ table, scores, features: model.features, task: model.task, classes, model: ref });
 */
export function buildSmokeSample(input: {
  table: Table;
  scores: OnnxScores;
  features: readonly OnnxFeature[];
  task: OnnxTask;
  classes: readonly string[] | null;
  model: { uri: string; sha256: string };
  count?: number;
}): SmokeSample {
  const { table, scores } = input;
  const n = table.numRows;
  const count = Math.min(n, input.count ?? SMOKE_ROWS, MAX_SMOKE_ROWS);
  const columns = input.features.map((f) => ({ name: f.name, column: findColumn(table, f.name) }));
  const picks = new Set<number>();
  for (let k = 0; k < count; k++) picks.add(count === 1 ? 0 : Math.round((k * (n - 1)) / (count - 1)));
  const rows = [...picks].map((row) => ({
    row,
    features: Object.fromEntries(columns.map(({ name, column }) => [name, column ? cellValue(column, row) : null])),
    expected: expectedScores(scores, row),
  }));
  return {
    format: 'mlpipe.smoke',
    version: 1,
    model: { uri: input.model.uri, sha256: input.model.sha256 },
    task: input.task,
    classes: input.classes ? [...input.classes] : null,
    features: input.features.map((f) => ({ name: f.name, kind: f.kind })),
    rows,
  };
}

function expectedScores(scores: OnnxScores, row: number): number[] {
  if (scores.kind === 'regression') return [scores.values[row]];
  const C = scores.numClasses;
  return Array.from(scores.probabilities.subarray(row * C, (row + 1) * C));
}

/** The first row whose served scores differ from the expected ones by more than `tolerance`. */
export interface SmokeMismatch {
  /** Index in the sample's `rows`. */
  index: number;
  /** Row index in the holdout. */
  row: number;
  /** Which output value (class index, 0 for regression). */
  output: number;
  expected: number;
  served: number;
}

/**
 * Compares served scores (one array per sample row, same layout as `expected`) with the sample.
 *
 * @returns the largest absolute difference seen, and the first row past `tolerance` (if any).
 */
export function compareSmokeScores(
  sample: SmokeSample,
  served: readonly (readonly number[])[],
  tolerance: number,
): { maxAbsDiff: number; mismatch?: SmokeMismatch } {
  if (served.length !== sample.rows.length) {
    throw new Error(`served ${served.length} rows of scores for ${sample.rows.length} smoke rows`);
  }
  let maxAbsDiff = 0;
  let mismatch: SmokeMismatch | undefined;
  sample.rows.forEach((r, index) => {
    const got = served[index];
    r.expected.forEach((expected, output) => {
      const value = got[output];
      const diff = typeof value === 'number' && Number.isFinite(value) ? Math.abs(value - expected) : Infinity;
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      if (diff > tolerance && !mismatch) mismatch = { index, row: r.row, output, expected, served: value };
    });
  });
  return { maxAbsDiff, mismatch };
}
