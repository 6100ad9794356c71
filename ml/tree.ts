/**
 * One regression tree: its serialisable form, the leaf-wise learner that grows it from
 * histograms, and a compiled form that routes binned rows.
 *
 * Node layout follows LightGBM: internal nodes are numbered 0.., a child index >= 0 is an
 * internal node and a negative child c is leaf ~c. A tree with no split has one leaf and no nodes.
 * The left child is where a numeric value <= threshold goes, and where a category in
 * `categories` goes; everything else goes right.
 */
import {
  binUpperBound,
  categoryToBin,
  missingBin,
  valueBinCount,
  type BinMapper,
  type CategoricalBinMapper,
} from './binning';
import {
  allocateHistogram,
  buildHistogram,
  clearHistogram,
  subtractHistogram,
  type HistogramLayout,
} from './histogram';
import {
  emptySplit,
  findCategoricalSplit,
  findNumericSplit,
  leafOutput,
  type SplitConfig,
  type SplitInfo,
} from './split';

/** A tree as stored in model JSON. Arrays of internal-node fields, then of leaf fields. */
export interface Tree {
  /** Feature index (into the model's feature list) tested at each node. */
  readonly feature: number[];
  /** Numeric nodes: float32 threshold, left iff fround(x) <= threshold. 0 at categorical nodes. */
  readonly threshold: number[];
  /** Numeric nodes: whether a missing value goes left. */
  readonly defaultLeft: boolean[];
  /** Categorical nodes: category codes (model dictionary) that go left, ascending; null at numeric nodes. */
  readonly categories: (number[] | null)[];
  readonly left: number[];
  readonly right: number[];
  /** Loss reduction of each split (for gain importance). */
  readonly gain: number[];
  /** Training rows (in the bag) that reached each node. */
  readonly count: number[];
  /** Leaf outputs, shrinkage applied, rounded to float32 so every scorer adds the same numbers. */
  readonly leafValue: number[];
  readonly leafCount: number[];
}

/** Number of internal nodes. */
export function nodeCount(tree: Tree): number {
  return tree.feature.length;
}

/** Parameters of tree growth on top of the split constraints. */
export interface TreeConfig extends SplitConfig {
  readonly numLeaves: number;
  /** Maximum depth of a leaf; <= 0 means unlimited. */
  readonly maxDepth: number;
  readonly learningRate: number;
}

/**
 * Grows trees leaf-wise on one binned dataset. Allocates every buffer once; `grow` allocates
 * only the (small) tree it returns.
 */
export class TreeLearner {
  private readonly rows: Int32Array;
  private readonly scratch: Int32Array;
  private readonly hists: (Float64Array | undefined)[];
  private readonly leafStart: Int32Array;
  private readonly leafRows: Int32Array;
  private readonly leafDepth: Int32Array;
  private readonly leafGrad: Float64Array;
  private readonly leafHess: Float64Array;
  /** Which internal node points at the leaf, and whether from its left side; -1 for the root. */
  private readonly leafParent: Int32Array;
  private readonly leafIsLeft: Uint8Array;
  private readonly best: SplitInfo[];
  private readonly goLeft = new Uint8Array(256);
  private numLeaves = 0;

  constructor(
    private readonly bins: Uint8Array,
    private readonly numRows: number,
    private readonly layout: HistogramLayout,
    private readonly mappers: readonly BinMapper[],
    private readonly cfg: TreeConfig,
  ) {
    const L = Math.max(2, cfg.numLeaves);
    this.rows = new Int32Array(numRows);
    this.scratch = new Int32Array(numRows);
    // Allocated on first use: a leaf's histogram is 24 bytes per bin of every feature.
    this.hists = new Array<Float64Array>(L);
    this.leafStart = new Int32Array(L);
    this.leafRows = new Int32Array(L);
    this.leafDepth = new Int32Array(L);
    this.leafGrad = new Float64Array(L);
    this.leafHess = new Float64Array(L);
    this.leafParent = new Int32Array(L);
    this.leafIsLeft = new Uint8Array(L);
    this.best = Array.from({ length: L }, emptySplit);
  }

  /**
   * Grows one tree on the gradients of the rows in `bag` (all rows when null), considering the
   * features in `used` (ascending). Categorical leaf sets are translated to category codes.
   */
  grow(grad: Float64Array, hess: Float64Array, bag: Int32Array | null, used: Int32Array): Tree {
    const cfg = this.cfg;
    const n = bag ? bag.length : this.numRows;
    if (bag) this.rows.set(bag);
    else for (let i = 0; i < n; i++) this.rows[i] = i;

    let g = 0;
    let h = 0;
    for (let i = 0; i < n; i++) {
      const r = this.rows[i];
      g += grad[r];
      h += hess[r];
    }
    const tree: Tree = {
      feature: [],
      threshold: [],
      defaultLeft: [],
      categories: [],
      left: [],
      right: [],
      gain: [],
      count: [],
      leafValue: [],
      leafCount: [],
    };
    this.leafStart[0] = 0;
    this.leafRows[0] = n;
    this.leafDepth[0] = 0;
    this.leafGrad[0] = g;
    this.leafHess[0] = h;
    this.leafParent[0] = -1;
    this.hists[0] ??= allocateHistogram(this.layout);
    clearHistogram(this.hists[0], this.layout, used);
    buildHistogram(this.hists[0], this.layout, this.bins, used, this.rows, 0, n, grad, hess);
    this.findBestSplit(0, used);

    let numLeaves = 1;
    while (numLeaves < cfg.numLeaves) {
      let leaf = -1;
      let bestGain = 0;
      for (let l = 0; l < numLeaves; l++) {
        if (this.best[l].gain > bestGain) {
          bestGain = this.best[l].gain;
          leaf = l;
        }
      }
      if (leaf < 0) break;
      this.split(tree, leaf, numLeaves, grad, hess, used);
      numLeaves++;
    }

    this.numLeaves = numLeaves;
    for (let l = 0; l < numLeaves; l++) {
      const value = leafOutput(this.leafGrad[l], this.leafHess[l], cfg.lambdaL2) * cfg.learningRate;
      tree.leafValue.push(Math.fround(value));
      tree.leafCount.push(this.leafRows[l]);
    }
    return tree;
  }

  /**
   * Adds the leaf values of the tree just grown to column `k` of row-major scores for the rows
   * it was grown on (the bag), reading each row's leaf off the partition instead of walking the
   * tree. Rows outside the bag must be scored by walking the tree.
   */
  addToScores(leafValue: readonly number[], scores: Float64Array, numOutputs: number, k: number): void {
    const rows = this.rows;
    for (let l = 0; l < this.numLeaves; l++) {
      const value = leafValue[l];
      const end = this.leafStart[l] + this.leafRows[l];
      for (let i = this.leafStart[l]; i < end; i++) scores[rows[i] * numOutputs + k] += value;
    }
  }

  /** Whether a leaf may be split at all (its histogram is worth building). */
  private canSplit(leaf: number): boolean {
    const cfg = this.cfg;
    return this.leafRows[leaf] >= 2 * cfg.minDataInLeaf && (cfg.maxDepth <= 0 || this.leafDepth[leaf] < cfg.maxDepth);
  }

  private findBestSplit(leaf: number, used: Int32Array): void {
    const cfg = this.cfg;
    const best = this.best[leaf];
    Object.assign(best, emptySplit());
    if (!this.canSplit(leaf)) return;
    const sums = { grad: this.leafGrad[leaf], hess: this.leafHess[leaf], count: this.leafRows[leaf] };
    const hist = this.hists[leaf]!;
    const offsets = this.layout.featureOffsets;
    for (let j = 0; j < used.length; j++) {
      const f = used[j];
      const mapper = this.mappers[f];
      const numBins = valueBinCount(mapper);
      if (mapper.kind === 'numeric') findNumericSplit(hist, offsets[f], numBins, f, sums, cfg, best);
      else findCategoricalSplit(hist, offsets[f], numBins, f, sums, cfg, best);
    }
  }

  private split(tree: Tree, leaf: number, newLeaf: number, grad: Float64Array, hess: Float64Array, used: Int32Array) {
    const s = this.best[leaf];
    const mapper = this.mappers[s.feature];
    const node = tree.feature.length;

    // Record the node, and hang it where the leaf was.
    tree.feature.push(s.feature);
    if (mapper.kind === 'numeric') {
      tree.threshold.push(binUpperBound(mapper, s.thresholdBin));
      tree.defaultLeft.push(s.defaultLeft);
      tree.categories.push(null);
    } else {
      tree.threshold.push(0);
      tree.defaultLeft.push(false);
      tree.categories.push(
        s.leftBins!.map((b) => (mapper as CategoricalBinMapper).categories[b]).sort((a, b) => a - b),
      );
    }
    tree.left.push(~leaf);
    tree.right.push(~newLeaf);
    tree.gain.push(s.gain);
    tree.count.push(this.leafRows[leaf]);
    const parent = this.leafParent[leaf];
    if (parent >= 0) {
      if (this.leafIsLeft[leaf]) tree.left[parent] = node;
      else tree.right[parent] = node;
    }

    // Stable partition of the leaf's rows: left rows first, order kept on both sides.
    const goLeft = this.goLeft;
    fillGoLeft(goLeft, mapper, s);
    const F = this.layout.numFeatures;
    const f = s.feature;
    const start = this.leafStart[leaf];
    const end = start + this.leafRows[leaf];
    const rows = this.rows;
    const scratch = this.scratch;
    const bins = this.bins;
    let nl = start;
    let nr = 0;
    // Branch-free: the side a row goes to is a coin flip the CPU cannot predict.
    for (let i = start; i < end; i++) {
      const r = rows[i];
      const isLeft = goLeft[bins[r * F + f]];
      rows[nl] = r;
      scratch[nr] = r;
      nl += isLeft;
      nr += 1 - isLeft;
    }
    rows.set(scratch.subarray(0, nr), nl);
    const leftCount = nl - start;

    const depth = this.leafDepth[leaf] + 1;
    this.leafRows[leaf] = leftCount;
    this.leafGrad[leaf] = s.leftGrad;
    this.leafHess[leaf] = s.leftHess;
    this.leafDepth[leaf] = depth;
    this.leafParent[leaf] = node;
    this.leafIsLeft[leaf] = 1;
    this.leafStart[newLeaf] = nl;
    this.leafRows[newLeaf] = nr;
    this.leafGrad[newLeaf] = s.rightGrad;
    this.leafHess[newLeaf] = s.rightHess;
    this.leafDepth[newLeaf] = depth;
    this.leafParent[newLeaf] = node;
    this.leafIsLeft[newLeaf] = 0;

    // Subtraction trick: build the smaller child, the larger is parent − smaller. The parent's
    // histogram lives in hists[leaf]; the smaller child's is built in hists[newLeaf], and the two
    // swap if the smaller child is the left one. Children that will never split need no histogram.
    const last = newLeaf + 1 >= this.cfg.numLeaves;
    const leftSmaller = leftCount <= nr;
    const small = leftSmaller ? leaf : newLeaf;
    const smallSplits = !last && this.canSplit(small);
    const largeSplits = !last && this.canSplit(leftSmaller ? newLeaf : leaf);
    if (smallSplits || largeSplits) {
      const parentHist = this.hists[leaf]!;
      const otherHist = (this.hists[newLeaf] ??= allocateHistogram(this.layout));
      clearHistogram(otherHist, this.layout, used);
      const from = this.leafStart[small];
      buildHistogram(otherHist, this.layout, this.bins, used, rows, from, from + this.leafRows[small], grad, hess);
      if (largeSplits) subtractHistogram(parentHist, otherHist, this.layout, used);
      if (leftSmaller) {
        this.hists[leaf] = otherHist;
        this.hists[newLeaf] = parentHist;
      }
    }
    if (last) {
      this.best[leaf].gain = 0;
      this.best[newLeaf].gain = 0;
      return;
    }
    this.findBestSplit(leaf, used);
    this.findBestSplit(newLeaf, used);
  }
}

function fillGoLeft(goLeft: Uint8Array, mapper: BinMapper, s: SplitInfo): void {
  goLeft.fill(0);
  if (mapper.kind === 'numeric') {
    for (let b = 0; b <= s.thresholdBin; b++) goLeft[b] = 1;
    goLeft[missingBin(mapper)] = s.defaultLeft ? 1 : 0;
  } else {
    for (const b of s.leftBins!) goLeft[b] = 1;
  }
}

/** A tree compiled to route binned rows: per node, a 256-entry "goes left" table by bin. */
export interface BinnedTree {
  readonly feature: Int32Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  readonly goLeft: Uint8Array;
  readonly leafValue: Float64Array;
}

/**
 * Compiles a model tree for binned data with the model's bin mappers. Training scores its own
 * trees through this too, so a run resumed from JSON adds exactly the numbers an uninterrupted
 * run added.
 */
export function compileBinnedTree(
  tree: Tree,
  mappers: readonly BinMapper[],
  dictionarySizes: readonly number[],
): BinnedTree {
  const nodes = nodeCount(tree);
  const goLeft = new Uint8Array(nodes * 256);
  for (let i = 0; i < nodes; i++) {
    const mapper = mappers[tree.feature[i]];
    const row = goLeft.subarray(i * 256, (i + 1) * 256);
    if (mapper.kind === 'numeric') {
      const t = tree.threshold[i];
      const nb = valueBinCount(mapper);
      for (let b = 0; b < nb; b++) row[b] = binUpperBound(mapper, b) <= t ? 1 : 0;
      row[missingBin(mapper)] = tree.defaultLeft[i] ? 1 : 0;
    } else {
      const lookup = categoryToBin(mapper, dictionarySizes[tree.feature[i]]);
      const other = missingBin(mapper);
      for (const code of tree.categories[i] ?? []) {
        const b = code < lookup.length ? lookup[code] : other;
        if (b !== other) row[b] = 1;
      }
    }
  }
  return {
    feature: Int32Array.from(tree.feature),
    left: Int32Array.from(tree.left),
    right: Int32Array.from(tree.right),
    goLeft,
    leafValue: Float64Array.from(tree.leafValue),
  };
}

/** Leaf reached by binned row `r` (bins row-major with `numFeatures` columns). */
export function binnedLeaf(tree: BinnedTree, bins: Uint8Array, numFeatures: number, r: number): number {
  if (tree.feature.length === 0) return 0;
  let node = 0;
  const base = r * numFeatures;
  while (node >= 0) {
    const b = bins[base + tree.feature[node]];
    node = tree.goLeft[node * 256 + b] ? tree.left[node] : tree.right[node];
  }
  return ~node;
}

/**
 * Adds the tree's output to column `k` of row-major scores (stride `numOutputs`) for every row.
 */
export function addBinnedTreeScores(
  tree: BinnedTree,
  bins: Uint8Array,
  numFeatures: number,
  numRows: number,
  scores: Float64Array,
  numOutputs: number,
  k: number,
): void {
  const values = tree.leafValue;
  for (let r = 0; r < numRows; r++) scores[r * numOutputs + k] += values[binnedLeaf(tree, bins, numFeatures, r)];
}
