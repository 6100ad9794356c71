/**
 * Best-split search on one leaf's histogram, LightGBM style.
 *
 * Numeric features scan the bin boundaries twice, once with the missing bin on the right and
 * once on the left, and remember the better default direction. Categorical features with few
 * categories try each category against the rest; with more, categories are sorted by
 * gradient / (hessian + catSmooth) and the best prefix from either end of that order goes left.
 * The "other" bin (missing, rare, unseen) always goes right.
 */

/** Doubles per histogram bin (HIST_STRIDE of histogram.ts), local so hot loops read a constant. */
const S = 3;

/** Constraints and regularisation the split search applies. */
export interface SplitConfig {
  readonly lambdaL2: number;
  readonly minDataInLeaf: number;
  readonly minSumHessianInLeaf: number;
  readonly minGainToSplit: number;
  readonly maxCatToOnehot: number;
  readonly maxCatThreshold: number;
  readonly catSmooth: number;
  readonly catL2: number;
  readonly minDataPerGroup: number;
}

/** The best split found so far for a leaf; `gain <= 0` means none. */
export interface SplitInfo {
  gain: number;
  feature: number;
  /** Numeric: the highest bin that goes left. */
  thresholdBin: number;
  /** Numeric: whether the missing bin goes left. */
  defaultLeft: boolean;
  /** Categorical: the bins that go left, ascending; null for numeric splits. */
  leftBins: number[] | null;
  leftGrad: number;
  leftHess: number;
  leftCount: number;
  rightGrad: number;
  rightHess: number;
  rightCount: number;
}

export function emptySplit(): SplitInfo {
  return {
    gain: 0,
    feature: -1,
    thresholdBin: -1,
    defaultLeft: false,
    leftBins: null,
    leftGrad: 0,
    leftHess: 0,
    leftCount: 0,
    rightGrad: 0,
    rightHess: 0,
    rightCount: 0,
  };
}

/** Score of a leaf with these sums: G² / (H + λ). A split's gain is the children's minus the parent's. */
export function leafGain(g: number, h: number, lambda: number): number {
  return (g * g) / (h + lambda);
}

/** Optimal leaf output −G / (H + λ), before shrinkage. */
export function leafOutput(g: number, h: number, lambda: number): number {
  return -g / (h + lambda);
}

/** Sums of one leaf: the totals its children's sums must add up to. */
export interface LeafSums {
  readonly grad: number;
  readonly hess: number;
  readonly count: number;
}

function admissible(cfg: SplitConfig, lc: number, lh: number, rc: number, rh: number): boolean {
  return (
    lc >= cfg.minDataInLeaf && rc >= cfg.minDataInLeaf && lh >= cfg.minSumHessianInLeaf && rh >= cfg.minSumHessianInLeaf
  );
}

/**
 * Updates `best` if numeric feature `feature` (value bins [0, numBins), missing bin numBins at
 * histogram index `offset`) has a better split. Ties keep the earlier candidate, which makes the
 * result independent of anything but the histogram.
 */
export function findNumericSplit(
  hist: Float64Array,
  offset: number,
  numBins: number,
  feature: number,
  sums: LeafSums,
  cfg: SplitConfig,
  best: SplitInfo,
): void {
  const lambda = cfg.lambdaL2;
  const minShift = leafGain(sums.grad, sums.hess, lambda) + cfg.minGainToSplit;
  const m = (offset + numBins) * S;
  const mg = hist[m];
  const mh = hist[m + 1];
  const mc = hist[m + 2];
  const hasMissing = mc > 0;
  let gl = 0;
  let hl = 0;
  let cl = 0;
  // t = numBins - 1 with missing right separates missing from everything else.
  const last = hasMissing ? numBins - 1 : numBins - 2;
  for (let t = 0; t <= last; t++) {
    const k = (offset + t) * S;
    gl += hist[k];
    hl += hist[k + 1];
    cl += hist[k + 2];
    // Missing goes right.
    {
      const gr = sums.grad - gl;
      const hr = sums.hess - hl;
      const cr = sums.count - cl;
      if (admissible(cfg, cl, hl, cr, hr)) {
        const gain = leafGain(gl, hl, lambda) + leafGain(gr, hr, lambda) - minShift;
        if (gain > best.gain) {
          setNumeric(best, feature, t, hasMissing ? false : cl >= cr, gain, gl, hl, cl, sums);
        }
      }
    }
    // Missing goes left.
    if (hasMissing && t < numBins - 1) {
      const gL = gl + mg;
      const hL = hl + mh;
      const cL = cl + mc;
      const gr = sums.grad - gL;
      const hr = sums.hess - hL;
      const cr = sums.count - cL;
      if (admissible(cfg, cL, hL, cr, hr)) {
        const gain = leafGain(gL, hL, lambda) + leafGain(gr, hr, lambda) - minShift;
        if (gain > best.gain) setNumeric(best, feature, t, true, gain, gL, hL, cL, sums);
      }
    }
  }
}

function setNumeric(
  best: SplitInfo,
  feature: number,
  t: number,
  defaultLeft: boolean,
  gain: number,
  gl: number,
  hl: number,
  cl: number,
  sums: LeafSums,
): void {
  best.gain = gain;
  best.feature = feature;
  best.thresholdBin = t;
  best.defaultLeft = defaultLeft;
  best.leftBins = null;
  best.leftGrad = gl;
  best.leftHess = hl;
  best.leftCount = cl;
  best.rightGrad = sums.grad - gl;
  best.rightHess = sums.hess - hl;
  best.rightCount = sums.count - cl;
}

function setCategorical(
  best: SplitInfo,
  feature: number,
  leftBins: number[],
  gain: number,
  gl: number,
  hl: number,
  cl: number,
  sums: LeafSums,
): void {
  best.gain = gain;
  best.feature = feature;
  best.thresholdBin = -1;
  best.defaultLeft = false;
  best.leftBins = leftBins.slice().sort((a, b) => a - b);
  best.leftGrad = gl;
  best.leftHess = hl;
  best.leftCount = cl;
  best.rightGrad = sums.grad - gl;
  best.rightHess = sums.hess - hl;
  best.rightCount = sums.count - cl;
}

/**
 * Updates `best` if categorical feature `feature` (category bins [0, numBins), other bin after)
 * has a better split.
 */
export function findCategoricalSplit(
  hist: Float64Array,
  offset: number,
  numBins: number,
  feature: number,
  sums: LeafSums,
  cfg: SplitConfig,
  best: SplitInfo,
): void {
  const minShift = leafGain(sums.grad, sums.hess, cfg.lambdaL2) + cfg.minGainToSplit;
  if (numBins <= cfg.maxCatToOnehot) {
    // One category against the rest.
    for (let b = 0; b < numBins; b++) {
      const k = (offset + b) * S;
      const gl = hist[k];
      const hl = hist[k + 1];
      const cl = hist[k + 2];
      if (cl === 0) continue;
      const gr = sums.grad - gl;
      const hr = sums.hess - hl;
      const cr = sums.count - cl;
      if (!admissible(cfg, cl, hl, cr, hr)) continue;
      const gain = leafGain(gl, hl, cfg.lambdaL2) + leafGain(gr, hr, cfg.lambdaL2) - minShift;
      if (gain > best.gain) setCategorical(best, feature, [b], gain, gl, hl, cl, sums);
    }
    return;
  }
  const lambda = cfg.lambdaL2 + cfg.catL2;
  const candidates: number[] = [];
  for (let b = 0; b < numBins; b++) if (hist[(offset + b) * S + 2] >= cfg.catSmooth) candidates.push(b);
  if (candidates.length < 2) return;
  const ratio = (b: number): number => {
    const k = (offset + b) * S;
    return hist[k] / (hist[k + 1] + cfg.catSmooth);
  };
  // Array.prototype.sort is stable: ties keep bin order.
  candidates.sort((a, b) => ratio(a) - ratio(b));
  const used = candidates.length;
  const maxNumCat = Math.min(cfg.maxCatThreshold, Math.floor((used + 1) / 2));
  for (const dir of [1, -1]) {
    let pos = dir === 1 ? 0 : used - 1;
    let gl = 0;
    let hl = 0;
    let cl = 0;
    let groupCount = 0;
    for (let i = 0; i < used && i < maxNumCat; i++, pos += dir) {
      const k = (offset + candidates[pos]) * S;
      gl += hist[k];
      hl += hist[k + 1];
      cl += hist[k + 2];
      groupCount += hist[k + 2];
      if (cl < cfg.minDataInLeaf || hl < cfg.minSumHessianInLeaf) continue;
      const cr = sums.count - cl;
      const hr = sums.hess - hl;
      if (cr < cfg.minDataInLeaf || cr < cfg.minDataPerGroup || hr < cfg.minSumHessianInLeaf) break;
      if (groupCount < cfg.minDataPerGroup) continue;
      groupCount = 0;
      const gr = sums.grad - gl;
      const gain = leafGain(gl, hl, lambda) + leafGain(gr, hr, lambda) - minShift;
      if (gain > best.gain) {
        const leftBins = dir === 1 ? candidates.slice(0, i + 1) : candidates.slice(used - 1 - i);
        setCategorical(best, feature, leftBins, gain, gl, hl, cl, sums);
      }
    }
  }
}
