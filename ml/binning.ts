/**
 * Feature binning for histogram GBDT: every feature value becomes a bin index below 256.
 *
 * Numeric features get quantile bin edges computed on a sample; their last bin index is the
 * missing bin. Categorical features get one bin per frequent category, plus an "other" bin last
 * (missing, rare and unseen categories), which every categorical split sends right.
 *
 * Bin edges are float32 values and values are binned as `Math.fround(x)`, because ONNX Runtime
 * compares float32 features to float32 thresholds: a row lands in the same bin here as it falls
 * on the same side of every exported threshold there.
 */
import { createRng, deriveSeed } from './random';
import { MISSING_CODE, recodeCategorical, type Column } from './table';

/** Largest finite float32: the threshold of a split that sends every non-missing value left. */
export const FLOAT32_MAX = 3.4028234663852886e38;

export interface NumericBinMapper {
  readonly kind: 'numeric';
  /**
   * Upper bounds (inclusive, float32) of all value bins but the last, ascending. A value x goes
   * to the first bin b with fround(x) <= thresholds[b], else to bin thresholds.length.
   * Bin thresholds.length + 1 holds missing values.
   */
  readonly thresholds: number[];
}

export interface CategoricalBinMapper {
  readonly kind: 'categorical';
  /** Category code (in the model's dictionary) of each value bin; the bin after them is "other". */
  readonly categories: number[];
}

export type BinMapper = NumericBinMapper | CategoricalBinMapper;

/** Number of value bins (the missing / other bin comes right after them). */
export function valueBinCount(mapper: BinMapper): number {
  return mapper.kind === 'numeric' ? mapper.thresholds.length + 1 : mapper.categories.length;
}

/** Index of the missing (numeric) or other (categorical) bin. */
export function missingBin(mapper: BinMapper): number {
  return valueBinCount(mapper);
}

/** Total bins, including the missing / other bin. */
export function totalBinCount(mapper: BinMapper): number {
  return valueBinCount(mapper) + 1;
}

/**
 * Upper bound of value bin `b` as a split threshold: values with fround(x) <= it are in bins <= b.
 * The last value bin has no bound; FLOAT32_MAX stands in for it.
 */
export function binUpperBound(mapper: NumericBinMapper, b: number): number {
  return b < mapper.thresholds.length ? mapper.thresholds[b] : FLOAT32_MAX;
}

/** A float32 threshold t with a <= t < b, as near the midpoint as float32 allows. */
function midpoint(a: number, b: number): number {
  const m = Math.fround(a / 2 + b / 2);
  return m >= a && m < b ? m : a;
}

export interface NumericBinOptions {
  /** Maximum number of value bins (the missing bin comes on top), at most 255. @default 255 */
  maxBins?: number;
  /** Rows sampled to place the bin edges. @default 200_000 */
  sampleSize?: number;
  /** Seed of the row sample. @default 0 */
  seed?: number;
}

/**
 * Quantile bin edges for a numeric column. With at most `maxBins` distinct values each value gets
 * its own bin; otherwise edges are cut greedily at equal frequency, and a value holding more than
 * a bin's share of the rows gets a bin of its own.
 *
 * @example
 * const mapper = fitNumericBins(table.columns[0].values, { maxBins: 63 });
 */
export function fitNumericBins(values: Float64Array, options: NumericBinOptions = {}): NumericBinMapper {
  const maxBins = Math.min(255, Math.max(2, options.maxBins ?? 255));
  const sampleSize = options.sampleSize ?? 200_000;
  const n = values.length;
  const rate = n > sampleSize ? sampleSize / n : 1;
  const rng = createRng(deriveSeed(options.seed ?? 0, 0x6269_6e73));
  const sample: number[] = [];
  for (let i = 0; i < n; i++) {
    if (rate < 1 && rng.next() >= rate) continue;
    const v = values[i];
    if (!Number.isNaN(v)) sample.push(Math.fround(v));
  }
  const sorted = Float64Array.from(sample).sort();
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (distinct.length && distinct[distinct.length - 1] === sorted[i]) counts[counts.length - 1]++;
    else {
      distinct.push(sorted[i]);
      counts.push(1);
    }
  }
  const thresholds: number[] = [];
  if (distinct.length <= maxBins) {
    for (let i = 0; i + 1 < distinct.length; i++) thresholds.push(midpoint(distinct[i], distinct[i + 1]));
    return { kind: 'numeric', thresholds };
  }
  let remainingRows = sorted.length;
  let remainingBins = maxBins;
  let acc = 0;
  for (let i = 0; i + 1 < distinct.length && remainingBins > 1; i++) {
    const target = remainingRows / remainingBins;
    // A heavy value starts a bin of its own rather than swelling the current one.
    if (acc > 0 && counts[i] >= target) {
      thresholds.push(midpoint(distinct[i - 1], distinct[i]));
      remainingRows -= acc;
      remainingBins--;
      acc = 0;
      if (remainingBins <= 1) break;
    }
    acc += counts[i];
    if (acc >= remainingRows / remainingBins) {
      thresholds.push(midpoint(distinct[i], distinct[i + 1]));
      remainingRows -= acc;
      remainingBins--;
      acc = 0;
    }
  }
  return { kind: 'numeric', thresholds };
}

export interface CategoricalBinOptions {
  /** Maximum number of category bins; rarer categories share the "other" bin. @default 255 */
  maxBins?: number;
}

/**
 * One bin per category seen, most frequent first (ties by code), up to `maxBins`.
 *
 * @example
 * const mapper = fitCategoricalBins(column.codes, column.dictionary.length);
 */
export function fitCategoricalBins(
  codes: Int32Array,
  dictionarySize: number,
  options: CategoricalBinOptions = {},
): CategoricalBinMapper {
  const maxBins = Math.min(255, Math.max(1, options.maxBins ?? 255));
  const counts = new Float64Array(dictionarySize);
  for (let i = 0; i < codes.length; i++) if (codes[i] >= 0) counts[codes[i]]++;
  const order: number[] = [];
  for (let c = 0; c < dictionarySize; c++) if (counts[c] > 0) order.push(c);
  order.sort((a, b) => counts[b] - counts[a] || a - b);
  return { kind: 'categorical', categories: order.slice(0, maxBins) };
}

/** Bin of one numeric value: binary search of fround(x) among the thresholds; NaN → missing bin. */
export function binNumericValue(thresholds: ArrayLike<number>, x: number): number {
  if (Number.isNaN(x)) return thresholds.length + 1;
  const v = Math.fround(x);
  let lo = 0;
  let hi = thresholds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= thresholds[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Whether two dictionaries list the same categories in the same order (then codes need no re-coding). */
function sameDictionary(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Slots of the value → bin cache of `binNumericColumn` (a power of two). */
const BIN_CACHE_SLOTS = 4096;

/**
 * `binNumericValue` over a column into bins[r * stride + f]. One typed-array signature keeps the
 * search monomorphic, and a direct-mapped cache of recent values skips most searches: real
 * columns repeat values (integers, rounded amounts), and a search costs a mispredicted branch per
 * level.
 */
function binNumericColumn(
  values: Float64Array,
  thresholds: Float64Array,
  bins: Uint8Array,
  stride: number,
  f: number,
  numRows: number,
): void {
  const missing = thresholds.length + 1;
  const cacheValue = new Float64Array(BIN_CACHE_SLOTS).fill(NaN);
  const cacheBin = new Uint8Array(BIN_CACHE_SLOTS);
  const mask = BIN_CACHE_SLOTS - 1;
  for (let r = 0; r < numRows; r++) {
    const x = values[r];
    // Any slot function works (the value is compared); this one spreads integers and fractions.
    const slot = ((x | 0) ^ ((x * 1024) | 0)) & mask;
    if (cacheValue[slot] === x) {
      bins[r * stride + f] = cacheBin[slot];
      continue;
    }
    let bin = missing;
    if (!Number.isNaN(x)) {
      const v = Math.fround(x);
      let lo = 0;
      let hi = thresholds.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (v <= thresholds[mid]) hi = mid;
        else lo = mid + 1;
      }
      bin = lo;
    }
    cacheValue[slot] = x;
    cacheBin[slot] = bin;
    bins[r * stride + f] = bin;
  }
}

/** Maps each category code of the model's dictionary to its bin (the other bin if it has none). */
export function categoryToBin(mapper: CategoricalBinMapper, dictionarySize: number): Uint8Array {
  const lookup = new Uint8Array(dictionarySize).fill(mapper.categories.length);
  mapper.categories.forEach((code, bin) => {
    if (code < dictionarySize) lookup[code] = bin;
  });
  return lookup;
}

/** What binning needs to know of a feature: its kind and, if categorical, the model's dictionary. */
export interface BinnedFeature {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
  readonly categories?: readonly string[];
}

/**
 * Bins the given columns into one row-major matrix: bins[row * F + f]. Row-major keeps the bins
 * of one row together, which is what histogram building reads for each row of a leaf.
 * Categorical columns are first re-coded against the feature's dictionary, so tables whose
 * dictionaries differ from the training table (validation, scoring) bin correctly.
 */
export function binColumns(
  columns: readonly Column[],
  features: readonly BinnedFeature[],
  mappers: readonly BinMapper[],
  numRows: number,
): Uint8Array {
  const F = features.length;
  const bins = new Uint8Array(numRows * F);
  for (let f = 0; f < F; f++) {
    const column = columns[f];
    const mapper = mappers[f];
    if (mapper.kind === 'numeric') {
      if (column.kind !== 'numeric') throw new Error(`feature "${features[f].name}" must be numeric`);
      binNumericColumn(column.values, Float64Array.from(mapper.thresholds), bins, F, f, numRows);
    } else {
      if (column.kind !== 'categorical') throw new Error(`feature "${features[f].name}" must be categorical`);
      const dictionary = features[f].categories ?? [];
      const codes = sameDictionary(column.dictionary, dictionary)
        ? column.codes
        : recodeCategorical(column, dictionary);
      const lookup = categoryToBin(mapper, dictionary.length);
      const other = mapper.categories.length;
      for (let r = 0; r < numRows; r++) {
        const c = codes[r];
        bins[r * F + f] = c === MISSING_CODE ? other : lookup[c];
      }
    }
  }
  return bins;
}
