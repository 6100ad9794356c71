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
  addHistogram,
  allocateFeatureHistogram,
  expandHistogram,
  HIST_STRIDE,
  subtractHistogram,
  usedGroups,
  type HistogramLayout,
} from './histogram';
import { BUILD_LEFT, BUILD_NONE, BUILD_RIGHT, defaultThreads, PARALLEL_MIN_ROWS, RowKernels } from './learner-kernels';
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

/** Rows per block of a row region (see `TreeLearner.grow`): whole cache lines of every row array. */
const REGION_BLOCK = 256;

export interface TreeLearnerOptions {
  /** Threads to grow trees with: 1, or 2 (the calling thread and a helper). @default 2 if the machine has 2 cores */
  threads?: number;
  /** Outputs (trees per iteration) to hold gradients for. @default 1 */
  numOutputs?: number;
  /** Starting raw scores, row-major [numRows, numOutputs], for the learner to hold as `scores`. */
  scores?: Float64Array;
  /** Labels, for `binaryGradients`. */
  labels?: Float64Array;
  /** Run the hot loops as WebAssembly (false: JavaScript, the reference, for tests). @default true */
  compiled?: boolean;
}

/**
 * Grows trees leaf-wise on one binned dataset. Allocates every buffer once; `grow` allocates
 * only the (small) tree it returns. Call `close()` when done: it stops the helper thread.
 */
export class TreeLearner {
  /** The bins (row-major), as the learner holds them. */
  readonly bins: Uint8Array;
  /** Gradients and hessians per output: fill them, then `grow(k, ...)`. */
  readonly grad: Float64Array[];
  readonly hess: Float64Array[];
  /** The raw scores and labels given as options (empty if not), as the learner holds them. */
  readonly scores: Float64Array;
  readonly labels: Float64Array;
  private readonly kernels: RowKernels;
  private readonly rows: Int32Array;
  /** Group histograms by leaf. */
  private readonly hists: Float64Array[];
  /** Feature histogram of the leaf whose split is being searched. */
  private readonly featureHist: Float64Array;
  /** Groups of the features in use for the tree being grown. */
  private groups: Int32Array = new Int32Array(0);
  /**
   * The rows of leaf l: rows[segStart[2l] .. + segRows[2l]) in the first region and
   * rows[segStart[2l+1] .. + segRows[2l+1]) in the second (see `grow`).
   */
  private readonly segStart: Int32Array;
  private readonly segRows: Int32Array;
  private readonly leafRows: Int32Array;
  private readonly leafDepth: Int32Array;
  private readonly leafGrad: Float64Array;
  private readonly leafHess: Float64Array;
  /** Which internal node points at the leaf, and whether from its left side; -1 for the root. */
  private readonly leafParent: Int32Array;
  private readonly leafIsLeft: Uint8Array;
  private readonly best: SplitInfo[];
  private numLeaves = 0;

  constructor(
    bins: Uint8Array,
    private readonly numRows: number,
    private readonly layout: HistogramLayout,
    private readonly mappers: readonly BinMapper[],
    private readonly cfg: TreeConfig,
    options: TreeLearnerOptions = {},
  ) {
    const L = Math.max(2, cfg.numLeaves);
    this.kernels = new RowKernels({
      layout,
      numRows,
      bins,
      numHistograms: L,
      numOutputs: options.numOutputs ?? 1,
      scores: options.scores,
      labels: options.labels,
      compiled: options.compiled,
      threads: Math.max(1, Math.min(2, options.threads ?? defaultThreads())),
      parallel: numRows >= PARALLEL_MIN_ROWS,
    });
    this.bins = this.kernels.bins;
    this.grad = this.kernels.grad;
    this.hess = this.kernels.hess;
    this.scores = this.kernels.scores;
    this.labels = this.kernels.labels;
    this.rows = this.kernels.rows;
    this.hists = [...this.kernels.hists];
    this.featureHist = allocateFeatureHistogram(layout);
    this.segStart = new Int32Array(2 * L);
    this.segRows = new Int32Array(2 * L);
    this.leafRows = new Int32Array(L);
    this.leafDepth = new Int32Array(L);
    this.leafGrad = new Float64Array(L);
    this.leafHess = new Float64Array(L);
    this.leafParent = new Int32Array(L);
    this.leafIsLeft = new Uint8Array(L);
    this.best = Array.from({ length: L }, emptySplit);
  }

  /**
   * Grows one tree on the gradients of output `k` (`grad[k]`, `hess[k]`) of the rows in `bag`
   * (all rows when null), considering the features in `used` (ascending). Categorical leaf sets
   * are translated to category codes.
   */
  grow(k: number, bag: Int32Array | null, used: Int32Array): Tree {
    const cfg = this.cfg;
    const grad = this.grad[k];
    const hess = this.hess[k];
    const n = bag ? bag.length : this.numRows;
    // Large row sets live in two regions, each partitioned on its own for good: a leaf has a part
    // in each, and the helper thread takes the second parts of large leaves (and keeps them in its
    // cache). The regions take alternate blocks of rows, so that every leaf's parts are about equal
    // even in sorted data. A leaf's histogram is always its first part's plus its second part's,
    // with or without the helper, so models do not depend on the machine.
    const rows = this.rows;
    let half = n;
    if (n < PARALLEL_MIN_ROWS) for (let i = 0; i < n; i++) rows[i] = bag ? bag[i] : i;
    else {
      const blocks = Math.ceil(n / REGION_BLOCK);
      // Region 0 has the even blocks; the last block is partial, and region 0's if their count is odd.
      half = Math.ceil(blocks / 2) * REGION_BLOCK - (blocks % 2 === 1 ? blocks * REGION_BLOCK - n : 0);
      const at = [0, half];
      for (let b = 0; b < blocks; b++) {
        const region = b & 1;
        const end = Math.min(n, (b + 1) * REGION_BLOCK);
        let to = at[region];
        if (bag) for (let i = b * REGION_BLOCK; i < end; i++) rows[to++] = bag[i];
        else for (let i = b * REGION_BLOCK; i < end; i++) rows[to++] = i;
        at[region] = to;
      }
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
    this.segStart[0] = 0;
    this.segRows[0] = half;
    this.segStart[1] = half;
    this.segRows[1] = n - half;
    this.leafRows[0] = n;
    this.groups = usedGroups(this.layout, used);
    this.kernels.setGroups(this.groups);
    this.buildRootHistogram(this.hists[0], grad, hess);
    // The root's sums: every row is in one cell of each group, so the first group's cells add up to them.
    let g = 0;
    let h = 0;
    const g0 = this.groups[0];
    const hist = this.hists[0];
    for (
      let c = this.layout.groupOffsets[g0] * HIST_STRIDE;
      c < this.layout.groupOffsets[g0 + 1] * HIST_STRIDE;
      c += HIST_STRIDE
    ) {
      g += hist[c];
      h += hist[c + 1];
    }
    this.leafDepth[0] = 0;
    this.leafGrad[0] = g;
    this.leafHess[0] = h;
    this.leafParent[0] = -1;
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
    for (let l = 0; l < this.numLeaves; l++) {
      for (let s = 2 * l; s <= 2 * l + 1; s++) {
        const start = this.segStart[s];
        this.kernels.addToScores(scores, numOutputs, k, start, start + this.segRows[s], leafValue[l]);
      }
    }
  }

  /**
   * Fills grad[0] and hess[0] with the binary objective's gradients at `scores` (given as an
   * option, with `labels`) and returns the mean log loss: objective.ts's arithmetic to the bit,
   * compiled and in halves. Null if the learner cannot (then use objective.ts).
   */
  binaryGradients(): number | null {
    return this.kernels.binaryGradients();
  }

  /** Stops the helper thread, if any; the learner still works afterwards, on one thread. */
  close(): void {
    this.kernels.close();
  }

  /** hist ← the root's histogram: its first part's, plus its second part's if it has one. */
  private buildRootHistogram(hist: Float64Array, grad: Float64Array, hess: Float64Array) {
    const { kernels, segStart, segRows } = this;
    const [start0, end0, start1, end1] = [segStart[0], segStart[0] + segRows[0], segStart[1], segStart[1] + segRows[1]];
    const handedOff =
      this.leafRows[0] >= PARALLEL_MIN_ROWS && end1 > start1 && kernels.handOffHistogram(start1, end1, grad, hess);
    kernels.histogram(hist, start0, end0, grad, hess);
    if (end1 === start1) return;
    if (!handedOff || kernels.awaitHelper() === null) kernels.histogram(kernels.halfHist, start1, end1, grad, hess);
    addHistogram(hist, kernels.halfHist, this.layout, this.groups);
  }

  /**
   * Splits the rows of `leaf` by the goLeft table on feature f, each part in place (left rows
   * first, order kept on both sides): the left child keeps `leaf`'s place, the right child gets
   * `newLeaf`'s. Unless `build` is BUILD_NONE, builds into `hist` the histogram of the left or
   * right rows (first part's plus second part's). A large leaf's second part goes to the helper
   * thread when there is one. Returns the number of left rows.
   */
  private partitionAndBuild(
    leaf: number,
    newLeaf: number,
    f: number,
    build: number,
    hist: Float64Array,
    grad: Float64Array,
    hess: Float64Array,
  ): number {
    const { kernels, segStart, segRows } = this;
    const [s0, s1] = [2 * leaf, 2 * leaf + 1];
    const [start0, end0, start1, end1] = [
      segStart[s0],
      segStart[s0] + segRows[s0],
      segStart[s1],
      segStart[s1] + segRows[s1],
    ];
    const handedOff =
      this.leafRows[leaf] >= PARALLEL_MIN_ROWS &&
      end1 > start1 &&
      kernels.handOffSplit(f, build, start1, end1, grad, hess);
    const nl0 = kernels.partition(f, start0, end0);
    if (build === BUILD_LEFT) kernels.histogram(hist, start0, start0 + nl0, grad, hess);
    if (build === BUILD_RIGHT) kernels.histogram(hist, start0 + nl0, end0, grad, hess);
    let nl1 = 0;
    if (end1 > start1) {
      const helped = handedOff ? kernels.awaitHelper() : null;
      if (helped !== null) nl1 = helped;
      else {
        nl1 = kernels.partition(f, start1, end1);
        if (build === BUILD_LEFT) kernels.histogram(kernels.halfHist, start1, start1 + nl1, grad, hess);
        if (build === BUILD_RIGHT) kernels.histogram(kernels.halfHist, start1 + nl1, end1, grad, hess);
      }
      if (build !== BUILD_NONE) addHistogram(hist, kernels.halfHist, this.layout, this.groups);
    }
    const [n0, n1] = [2 * newLeaf, 2 * newLeaf + 1];
    segStart[n0] = start0 + nl0;
    segRows[n0] = end0 - start0 - nl0;
    segRows[s0] = nl0;
    segStart[n1] = start1 + nl1;
    segRows[n1] = end1 - start1 - nl1;
    segRows[s1] = nl1;
    return nl0 + nl1;
  }

  /** Whether a leaf with this many rows at this depth may be split (its histogram is worth building). */
  private splittable(rows: number, depth: number): boolean {
    const cfg = this.cfg;
    return rows >= 2 * cfg.minDataInLeaf && (cfg.maxDepth <= 0 || depth < cfg.maxDepth);
  }

  /** Whether a leaf may be split at all. */
  private canSplit(leaf: number): boolean {
    return this.splittable(this.leafRows[leaf], this.leafDepth[leaf]);
  }

  private findBestSplit(leaf: number, used: Int32Array): void {
    const cfg = this.cfg;
    const best = this.best[leaf];
    Object.assign(best, emptySplit());
    if (!this.canSplit(leaf)) return;
    const sums = { grad: this.leafGrad[leaf], hess: this.leafHess[leaf], count: this.leafRows[leaf] };
    const hist = this.featureHist;
    expandHistogram(this.hists[leaf], this.layout, used, hist);
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

    // Subtraction trick: build the smaller child, the larger is parent − smaller. The split's
    // counts are exact, so the smaller side is known before the rows move, and its histogram is
    // built as they do. The parent's histogram lives in hists[leaf]; the smaller child's is built
    // in hists[newLeaf], and the two swap if the smaller child is the left one. Children that
    // will never split need no histogram.
    const depth = this.leafDepth[leaf] + 1;
    const last = newLeaf + 1 >= this.cfg.numLeaves;
    const leftSmaller = s.leftCount <= s.rightCount;
    const smallSplits = !last && this.splittable(Math.min(s.leftCount, s.rightCount), depth);
    const largeSplits = !last && this.splittable(Math.max(s.leftCount, s.rightCount), depth);
    const build = !(smallSplits || largeSplits) ? BUILD_NONE : leftSmaller ? BUILD_LEFT : BUILD_RIGHT;
    const parentHist = this.hists[leaf];
    const smallHist = this.hists[newLeaf];

    fillGoLeft(this.kernels.goLeft, mapper, s);
    const total = this.leafRows[leaf];
    const leftCount = this.partitionAndBuild(leaf, newLeaf, s.feature, build, smallHist, grad, hess);
    if (leftCount !== s.leftCount) throw new Error(`a split of ${s.leftCount} rows to the left moved ${leftCount}`);

    this.leafRows[leaf] = leftCount;
    this.leafGrad[leaf] = s.leftGrad;
    this.leafHess[leaf] = s.leftHess;
    this.leafDepth[leaf] = depth;
    this.leafParent[leaf] = node;
    this.leafIsLeft[leaf] = 1;
    this.leafRows[newLeaf] = total - leftCount;
    this.leafGrad[newLeaf] = s.rightGrad;
    this.leafHess[newLeaf] = s.rightHess;
    this.leafDepth[newLeaf] = depth;
    this.leafParent[newLeaf] = node;
    this.leafIsLeft[newLeaf] = 0;

    if (build !== BUILD_NONE) {
      if (largeSplits) subtractHistogram(parentHist, smallHist, this.layout, this.groups);
      if (leftSmaller) {
        this.hists[leaf] = smallHist;
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
