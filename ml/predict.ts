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

/** Rows scored per block: their feature matrix stays in cache while every tree walks it. */
const BLOCK_ROWS = 4096;

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

/**
 * A model's trees in flat typed arrays, what `predictRaw` walks: node n of every tree in one
 * numbering, children as node indices (>= 0) or ~(leaf index) into `leafValue`, categorical sets
 * as bitsets of codes. Routes every row as `treeLeaf` does.
 */
interface CompiledForest {
  /** First node of each tree (its root), or ~(its only leaf) for a tree without splits. */
  readonly root: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly defaultLeft: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Categorical nodes: first word of their bitset in `bits`, and its length in words; -1 at numeric nodes. */
  readonly bitsStart: Int32Array;
  readonly bitsWords: Int32Array;
  readonly bits: Uint32Array;
  readonly leafValue: Float64Array;
}

const compiledForests = new WeakMap<GbdtModel, CompiledForest>();

function compileForest(model: GbdtModel): CompiledForest {
  const cached = compiledForests.get(model);
  if (cached) return cached;
  const trees = model.trees;
  const nodes = trees.reduce((sum, t) => sum + nodeCount(t), 0);
  const leaves = trees.reduce((sum, t) => sum + t.leafValue.length, 0);
  const words = trees.reduce(
    (sum, t) => sum + t.categories.reduce((w, c) => w + (c && c.length ? (c[c.length - 1] >> 5) + 1 : 0), 0),
    0,
  );
  const forest: CompiledForest = {
    root: new Int32Array(trees.length),
    feature: new Int32Array(nodes),
    threshold: new Float64Array(nodes),
    defaultLeft: new Uint8Array(nodes),
    left: new Int32Array(nodes),
    right: new Int32Array(nodes),
    bitsStart: new Int32Array(nodes),
    bitsWords: new Int32Array(nodes),
    bits: new Uint32Array(words),
    leafValue: new Float64Array(leaves),
  };
  let nodeBase = 0;
  let leafBase = 0;
  let word = 0;
  const child = (c: number): number => (c >= 0 ? nodeBase + c : ~(leafBase + ~c));
  trees.forEach((tree, t) => {
    const count = nodeCount(tree);
    forest.root[t] = count === 0 ? ~leafBase : nodeBase;
    for (let i = 0; i < count; i++) {
      const n = nodeBase + i;
      forest.feature[n] = tree.feature[i];
      forest.threshold[n] = tree.threshold[i];
      forest.defaultLeft[n] = tree.defaultLeft[i] ? 1 : 0;
      forest.left[n] = child(tree.left[i]);
      forest.right[n] = child(tree.right[i]);
      const categories = tree.categories[i];
      forest.bitsStart[n] = categories ? word : -1;
      if (categories && categories.length) {
        for (const code of categories) forest.bits[word + (code >> 5)] |= 1 << (code & 31);
        forest.bitsWords[n] = (categories[categories.length - 1] >> 5) + 1;
        word += forest.bitsWords[n];
      }
    }
    forest.leafValue.set(tree.leafValue, leafBase);
    nodeBase += count;
    leafBase += tree.leafValue.length;
  });
  compiledForests.set(model, forest);
  return forest;
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
  const forest = compileForest(model);
  for (let start = 0; start < n; start += BLOCK_ROWS) {
    const end = Math.min(n, start + BLOCK_ROWS);
    reader.read(start, end, X);
    scoreBlock(forest, numTrees, X, F, end - start, scores, start, K);
  }
  return scores;
}

/** Adds trees [0, numTrees) to the scores of rows [0, rows) of X (rows start.. of scores), in tree order. */
function scoreBlock(
  forest: CompiledForest,
  numTrees: number,
  X: Float64Array,
  F: number,
  rows: number,
  scores: Float64Array,
  start: number,
  K: number,
): void {
  const { root, feature, threshold, defaultLeft, left, right, bitsStart, bitsWords, bits, leafValue } = forest;
  // Tree by tree over the block: one tree's nodes stay in cache while every row walks it.
  for (let t = 0; t < numTrees; t++) {
    const k = t % K;
    for (let r = 0; r < rows; r++) {
      const base = r * F;
      let node = root[t];
      while (node >= 0) {
        const x = X[base + feature[node]];
        const b = bitsStart[node];
        let goLeft: boolean;
        if (b < 0) goLeft = x <= threshold[node] || (x !== x && defaultLeft[node] === 1);
        else {
          // A code (integer, -1 when missing or unseen) is left iff its bit is set.
          const w = x >> 5;
          goLeft = x >= 0 && w < bitsWords[node] && (bits[b + w] & (1 << (x & 31))) !== 0;
        }
        node = goLeft ? left[node] : right[node];
      }
      scores[(start + r) * K + k] += leafValue[~node];
    }
  }
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
