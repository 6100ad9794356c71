/**
 * Gradient / hessian / count histograms over binned features.
 *
 * Features with few bins are histogrammed jointly: a feature group's histogram has one cell per
 * combination of its features' bins, and each feature's histogram is that group histogram summed
 * over the other features (`expandHistogram`). A row then costs one update per group instead of
 * one per feature; on the flights benchmark hour × weekday, month and the like fold into the
 * large features' groups, 6 features → 3 groups. A feature with many bins has a group of its own.
 *
 * A histogram is one Float64Array holding, per cell (group histograms) or per bin (feature
 * histograms), the triple (sum of gradients, sum of hessians, row count) at index cell * 3.
 * Building costs one pass over a leaf's rows; a sibling's histogram is then parent − child,
 * which is why the tree learner only ever builds the smaller child.
 */

/** Doubles per bin: gradient sum, hessian sum, count. */
export const HIST_STRIDE = 3;

/**
 * Most cells of a feature group. Several small features share a group while the product of their
 * bin counts stays under this; 8192 cells (192 KiB) keep a group histogram within a core's L2
 * cache, where its scattered updates stay fast.
 */
export const MAX_GROUP_CELLS = 8192;

/** Layout of all features' bins, and of the feature groups histograms are built over. */
export interface HistogramLayout {
  /** Number of features (the row stride of the bin matrix). */
  readonly numFeatures: number;
  /** Bins of each feature (missing / other bin included). */
  readonly binCounts: Int32Array;
  /** First bin of feature f in a feature histogram; featureOffsets[F] is the total number of bins. */
  readonly featureOffsets: Int32Array;
  /** Number of feature groups (the row stride of the group code matrix). */
  readonly numGroups: number;
  /** First cell of group g in a group histogram; groupOffsets[G] is the total number of cells. */
  readonly groupOffsets: Int32Array;
  /** Group of each feature. */
  readonly featureGroup: Int32Array;
  /** Multiplier of each feature's bin in its group's cell index: cell = Σ bin × stride. */
  readonly featureStride: Int32Array;
}

/**
 * Offsets for features with the given bin counts, grouped first-fit by decreasing bin count
 * (ties by feature index) so that no group has more than `maxGroupCells` cells.
 */
export function createHistogramLayout(
  binCounts: readonly number[],
  maxGroupCells: number = MAX_GROUP_CELLS,
): HistogramLayout {
  const F = binCounts.length;
  const featureOffsets = new Int32Array(F + 1);
  for (let f = 0; f < F; f++) featureOffsets[f + 1] = featureOffsets[f] + binCounts[f];
  // Cells are indexed by Uint16 codes: at most 65,536 per group.
  const cap = Math.min(maxGroupCells, 65_536);
  const order = Array.from({ length: F }, (_, f) => f).sort((a, b) => binCounts[b] - binCounts[a] || a - b);
  const groupCells: number[] = [];
  const featureGroup = new Int32Array(F);
  const featureStride = new Int32Array(F);
  for (const f of order) {
    let g = groupCells.findIndex((cells) => cells * binCounts[f] <= cap);
    if (g < 0) {
      g = groupCells.length;
      groupCells.push(1);
    }
    featureGroup[f] = g;
    featureStride[f] = groupCells[g];
    groupCells[g] *= binCounts[f];
  }
  const groupOffsets = new Int32Array(groupCells.length + 1);
  for (let g = 0; g < groupCells.length; g++) groupOffsets[g + 1] = groupOffsets[g] + groupCells[g];
  return {
    numFeatures: F,
    binCounts: Int32Array.from(binCounts),
    featureOffsets,
    numGroups: groupCells.length,
    groupOffsets,
    featureGroup,
    featureStride,
  };
}

/** A zeroed group histogram (what `buildHistogram` fills) for a layout. */
export function allocateHistogram(layout: HistogramLayout): Float64Array {
  return new Float64Array(layout.groupOffsets[layout.numGroups] * HIST_STRIDE);
}

/** A zeroed feature histogram (what `expandHistogram` fills and split search reads) for a layout. */
export function allocateFeatureHistogram(layout: HistogramLayout): Float64Array {
  return new Float64Array(layout.featureOffsets[layout.numFeatures] * HIST_STRIDE);
}

/** The groups holding at least one of the (ascending) features in `used`, ascending. */
export function usedGroups(layout: HistogramLayout, used: Int32Array): Int32Array {
  const mark = new Uint8Array(layout.numGroups);
  for (let j = 0; j < used.length; j++) mark[layout.featureGroup[used[j]]] = 1;
  const groups: number[] = [];
  for (let g = 0; g < layout.numGroups; g++) if (mark[g]) groups.push(g);
  return Int32Array.from(groups);
}

/**
 * Row-major group codes, codes[r * G + g]: the cell of row r in group g's histogram, from
 * row-major bins (bins[r * F + f]). Written into `out` (zeroed, numRows * G long) when given.
 */
export function encodeGroups(
  layout: HistogramLayout,
  bins: Uint8Array,
  numRows: number,
  out?: Uint16Array,
): Uint16Array {
  const F = layout.numFeatures;
  const G = layout.numGroups;
  const codes = out ?? new Uint16Array(numRows * G);
  for (let f = 0; f < F; f++) {
    const g = layout.featureGroup[f];
    const stride = layout.featureStride[f];
    for (let r = 0; r < numRows; r++) codes[r * G + g] += bins[r * F + f] * stride;
  }
  return codes;
}

/**
 * Accumulates rows[start..end) into the group histogram `hist` (which must be zeroed for the
 * used groups). `codes` is row-major (codes[r * G + g]); only the groups in `groups` are touched.
 * The reference for the compiled kernels of learner-kernels.ts, which add the same numbers in the
 * same order.
 */
export function buildHistogram(
  hist: Float64Array,
  layout: HistogramLayout,
  codes: Uint16Array,
  groups: Int32Array,
  rows: Int32Array,
  start: number,
  end: number,
  grad: Float64Array,
  hess: Float64Array,
): void {
  const G = layout.numGroups;
  const offsets = layout.groupOffsets;
  const nUsed = groups.length;
  // Per-group base indices, hoisted out of the row loop.
  const base = new Int32Array(nUsed);
  for (let j = 0; j < nUsed; j++) base[j] = offsets[groups[j]] * HIST_STRIDE;
  if (nUsed === G) {
    // Every group: the inner loop reads consecutive codes.
    for (let i = start; i < end; i++) {
      const r = rows[i];
      const g = grad[r];
      const h = hess[r];
      const rowBase = r * G;
      for (let j = 0; j < G; j++) {
        const k = base[j] + codes[rowBase + j] * HIST_STRIDE;
        hist[k] += g;
        hist[k + 1] += h;
        hist[k + 2] += 1;
      }
    }
    return;
  }
  for (let i = start; i < end; i++) {
    const r = rows[i];
    const g = grad[r];
    const h = hess[r];
    const rowBase = r * G;
    for (let j = 0; j < nUsed; j++) {
      const k = base[j] + codes[rowBase + groups[j]] * HIST_STRIDE;
      hist[k] += g;
      hist[k + 1] += h;
      hist[k + 2] += 1;
    }
  }
}

/** Zeroes the cells of the given groups. */
export function clearHistogram(hist: Float64Array, layout: HistogramLayout, groups: Int32Array): void {
  const offsets = layout.groupOffsets;
  for (let j = 0; j < groups.length; j++) {
    const g = groups[j];
    hist.fill(0, offsets[g] * HIST_STRIDE, offsets[g + 1] * HIST_STRIDE);
  }
}

/** total ← total + part over the given groups: a histogram built in parts. */
export function addHistogram(
  total: Float64Array,
  part: Float64Array,
  layout: HistogramLayout,
  groups: Int32Array,
): void {
  const offsets = layout.groupOffsets;
  for (let j = 0; j < groups.length; j++) {
    const g = groups[j];
    const end = offsets[g + 1] * HIST_STRIDE;
    for (let k = offsets[g] * HIST_STRIDE; k < end; k++) total[k] += part[k];
  }
}

/** parent ← parent − child over the given groups: the subtraction trick. */
export function subtractHistogram(
  parent: Float64Array,
  child: Float64Array,
  layout: HistogramLayout,
  groups: Int32Array,
): void {
  const offsets = layout.groupOffsets;
  for (let j = 0; j < groups.length; j++) {
    const g = groups[j];
    const end = offsets[g + 1] * HIST_STRIDE;
    for (let k = offsets[g] * HIST_STRIDE; k < end; k++) parent[k] -= child[k];
  }
}

/**
 * Feature histograms of the (ascending) features in `used` from a group histogram: each feature's
 * bins summed over the other features of its group, in cell order.
 */
export function expandHistogram(
  groupHist: Float64Array,
  layout: HistogramLayout,
  used: Int32Array,
  out: Float64Array,
): void {
  const S = HIST_STRIDE;
  for (let j = 0; j < used.length; j++) {
    const f = used[j];
    const g = layout.featureGroup[f];
    const cells = layout.groupOffsets[g + 1] - layout.groupOffsets[g];
    const count = layout.binCounts[f];
    const from = layout.groupOffsets[g] * S;
    const to = layout.featureOffsets[f] * S;
    if (cells === count) {
      out.set(groupHist.subarray(from, from + cells * S), to);
      continue;
    }
    out.fill(0, to, to + count * S);
    // cell = outer * (stride * count) + bin * stride + inner
    const stride = layout.featureStride[f];
    const block = stride * count;
    for (let outer = 0; outer < cells; outer += block) {
      for (let b = 0; b < count; b++) {
        const k = to + b * S;
        let g0 = 0;
        let h0 = 0;
        let c0 = 0;
        for (let c = from + (outer + b * stride) * S, e = c + stride * S; c < e; c += S) {
          g0 += groupHist[c];
          h0 += groupHist[c + 1];
          c0 += groupHist[c + 2];
        }
        out[k] += g0;
        out[k + 1] += h0;
        out[k + 2] += c0;
      }
    }
  }
}
