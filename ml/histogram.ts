/**
 * Gradient / hessian / count histograms over binned features.
 *
 * A histogram is one Float64Array holding, for every bin of every feature, the triple
 * (sum of gradients, sum of hessians, row count) at index (featureOffset[f] + bin) * 3.
 * Building costs one pass over a leaf's rows; a sibling's histogram is then parent − child,
 * which is why the tree learner only ever builds the smaller child.
 */

/** Doubles per bin: gradient sum, hessian sum, count. */
export const HIST_STRIDE = 3;

/** Layout of all features' bins in one histogram. */
export interface HistogramLayout {
  /** Number of features (the row stride of the bin matrix). */
  readonly numFeatures: number;
  /** First bin of feature f; featureOffsets[F] is the total number of bins. */
  readonly featureOffsets: Int32Array;
}

/** Offsets for features with the given bin counts (missing / other bin included). */
export function createHistogramLayout(binCounts: readonly number[]): HistogramLayout {
  const featureOffsets = new Int32Array(binCounts.length + 1);
  for (let f = 0; f < binCounts.length; f++) featureOffsets[f + 1] = featureOffsets[f] + binCounts[f];
  return { numFeatures: binCounts.length, featureOffsets };
}

/** A zeroed histogram for a layout. */
export function allocateHistogram(layout: HistogramLayout): Float64Array {
  return new Float64Array(layout.featureOffsets[layout.numFeatures] * HIST_STRIDE);
}

/**
 * Accumulates rows[start..end) into `hist` (which must be zeroed for the used features).
 * `bins` is row-major (bins[r * F + f]); only the features in `used` are touched.
 */
export function buildHistogram(
  hist: Float64Array,
  layout: HistogramLayout,
  bins: Uint8Array,
  used: Int32Array,
  rows: Int32Array,
  start: number,
  end: number,
  grad: Float64Array,
  hess: Float64Array,
): void {
  const F = layout.numFeatures;
  const offsets = layout.featureOffsets;
  const nUsed = used.length;
  // Per-feature base indices, hoisted out of the row loop.
  const base = new Int32Array(nUsed);
  for (let j = 0; j < nUsed; j++) base[j] = offsets[used[j]] * HIST_STRIDE;
  for (let i = start; i < end; i++) {
    const r = rows[i];
    const g = grad[r];
    const h = hess[r];
    const rowBase = r * F;
    for (let j = 0; j < nUsed; j++) {
      const k = base[j] + bins[rowBase + used[j]] * HIST_STRIDE;
      hist[k] += g;
      hist[k + 1] += h;
      hist[k + 2] += 1;
    }
  }
}

/** Zeroes the bins of the used features. */
export function clearHistogram(hist: Float64Array, layout: HistogramLayout, used: Int32Array): void {
  const offsets = layout.featureOffsets;
  for (let j = 0; j < used.length; j++) {
    const f = used[j];
    hist.fill(0, offsets[f] * HIST_STRIDE, offsets[f + 1] * HIST_STRIDE);
  }
}

/** parent ← parent − child over the used features: the subtraction trick. */
export function subtractHistogram(
  parent: Float64Array,
  child: Float64Array,
  layout: HistogramLayout,
  used: Int32Array,
): void {
  const offsets = layout.featureOffsets;
  for (let j = 0; j < used.length; j++) {
    const f = used[j];
    const end = offsets[f + 1] * HIST_STRIDE;
    for (let k = offsets[f] * HIST_STRIDE; k < end; k++) parent[k] -= child[k];
  }
}
