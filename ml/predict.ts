/**
 * Scoring of GBDT models in TypeScript, bit-compatible with the exported ONNX graph.
 *
 * ONNX Runtime feeds float32 features to float32 thresholds. Here every numeric value is
 * rounded with Math.fround before it meets a threshold (thresholds are float32 already), so each
 * row takes the same path through every tree as in ONNX Runtime, and leaf values are float32
 * too: the two scorers differ only by ONNX Runtime summing in float32.
 */
import type { GbdtModel } from './gbdt';
import { argmaxRows } from './metrics';
import { transformScores } from './objective';
import { getColumn, recodeCategorical, type Table } from './table';
import { nodeCount, type Tree } from './tree';

/** Thrown when a table does not fit the model's features. */
export class FeatureMismatchError extends Error {
  override readonly name = 'FeatureMismatchError';
}

/**
 * The model's features as a row-major [n, F] matrix: numeric values rounded to float32 (NaN
 * for missing), categorical values as codes of the model's dictionary (-1 for missing or unseen).
 */
export function featureMatrix(model: GbdtModel, table: Table): Float64Array {
  return new FeatureReader(model, table).read(
    0,
    table.numRows,
    new Float64Array(table.numRows * model.features.length),
  );
}

/** Reads blocks of rows of a table as model features (see {@link featureMatrix}). */
class FeatureReader {
  private readonly sources: (Float64Array | Int32Array)[];

  constructor(
    private readonly model: GbdtModel,
    table: Table,
  ) {
    this.sources = model.features.map((feature) => {
      const column = getColumn(table, feature.name);
      if (column.kind !== feature.kind) {
        throw new FeatureMismatchError(`feature "${feature.name}" must be ${feature.kind}, table has ${column.kind}`);
      }
      return column.kind === 'numeric' ? column.values : recodeCategorical(column, feature.categories ?? []);
    });
  }

  /** Rows [start, end) into X (row-major, F columns). */
  read(start: number, end: number, X: Float64Array): Float64Array {
    const F = this.model.features.length;
    this.sources.forEach((source, f) => {
      if (source instanceof Float64Array) {
        for (let r = start; r < end; r++) X[(r - start) * F + f] = Math.fround(source[r]);
      } else {
        for (let r = start; r < end; r++) X[(r - start) * F + f] = source[r];
      }
    });
    return X;
  }
}

/** Rows scored per block: bounds the feature matrix's memory on large tables. */
const BLOCK_ROWS = 65_536;

/** Leaf reached by row `r` of a feature matrix. */
export function treeLeaf(tree: Tree, X: Float64Array, F: number, r: number): number {
  if (nodeCount(tree) === 0) return 0;
  let node = 0;
  while (node >= 0) {
    const x = X[r * F + tree.feature[node]];
    const categories = tree.categories[node];
    let left: boolean;
    if (categories) left = x >= 0 && includesSorted(categories, x);
    else left = Number.isNaN(x) ? tree.defaultLeft[node] : x <= tree.threshold[node];
    node = left ? tree.left[node] : tree.right[node];
  }
  return ~node;
}

function includesSorted(sorted: readonly number[], x: number): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

export interface PredictOptions {
  /** Use only the first this many boosting iterations. @default all */
  numIterations?: number;
}

/**
 * Raw scores, row-major [n, numOutputs]: the base score plus every tree's leaf, added in tree
 * order (the order training used, so training scores are reproduced exactly).
 *
 * @example
 * const margins = predictRaw(model, table);
 */
export function predictRaw(model: GbdtModel, table: Table, options: PredictOptions = {}): Float64Array {
  const F = model.features.length;
  const K = model.numOutputs;
  const n = table.numRows;
  const reader = new FeatureReader(model, table);
  const X = new Float64Array(Math.min(n, BLOCK_ROWS) * F);
  const scores = new Float64Array(n * K);
  for (let r = 0; r < n; r++) for (let k = 0; k < K; k++) scores[r * K + k] = model.baseScore[k];
  const numTrees = Math.min(model.trees.length, (options.numIterations ?? Infinity) * K);
  for (let start = 0; start < n; start += BLOCK_ROWS) {
    const end = Math.min(n, start + BLOCK_ROWS);
    reader.read(start, end, X);
    for (let t = 0; t < numTrees; t++) {
      const tree = model.trees[t];
      const k = t % K;
      const values = tree.leafValue;
      for (let r = start; r < end; r++) scores[r * K + k] += values[treeLeaf(tree, X, F, r - start)];
    }
  }
  return scores;
}

/**
 * Class probabilities, row-major [n, numClasses] (binary: [P(class 0), P(class 1)]), as the ONNX
 * graph's `probabilities` output.
 */
export function predictProbabilities(model: GbdtModel, table: Table, options: PredictOptions = {}): Float64Array {
  if (model.objective === 'regression') throw new Error('regression models have no probabilities');
  return transformScores(model.objective, predictRaw(model, table, options), model.numOutputs);
}

/** Probability of class 1 per row, for binary models: what binary metrics take. */
export function predictPositive(model: GbdtModel, table: Table, options: PredictOptions = {}): Float64Array {
  if (model.objective !== 'binary') throw new Error('predictPositive needs a binary model');
  const p = predictProbabilities(model, table, options);
  return p.filter((_, i) => i % 2 === 1);
}

/** Predicted targets per row, for regression models (the ONNX `variable` output). */
export function predictValues(model: GbdtModel, table: Table, options: PredictOptions = {}): Float64Array {
  if (model.objective !== 'regression') throw new Error('predictValues needs a regression model');
  return predictRaw(model, table, options);
}

/** Predictions in the shape of the ONNX outputs. */
export type GbdtPrediction =
  | { kind: 'classification'; numClasses: number; probabilities: Float64Array; labels: Int32Array }
  | { kind: 'regression'; values: Float64Array };

/**
 * @example
 * const out = predict(model, table);
 * if (out.kind === 'classification') console.log(out.labels[0], out.probabilities[1]);
 */
export function predict(model: GbdtModel, table: Table, options: PredictOptions = {}): GbdtPrediction {
  if (model.objective === 'regression') return { kind: 'regression', values: predictValues(model, table, options) };
  const probabilities = predictProbabilities(model, table, options);
  const numClasses = model.numClasses;
  return { kind: 'classification', numClasses, probabilities, labels: argmaxRows(probabilities, numClasses) };
}
