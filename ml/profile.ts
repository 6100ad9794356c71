/**
 * Dataset profiles: per-column statistics kept beside every ingested dataset. Numeric histograms store their bin
 * edges, so monitoring can bin live data into the same bins ({@link histogramCounts}) and compare distributions
 * (PSI) against the training data.
 */
import { createRng } from './random';
import type { Table } from './table';

export const PROFILE_QUANTILES = { p1: 0.01, p5: 0.05, p25: 0.25, p50: 0.5, p75: 0.75, p95: 0.95, p99: 0.99 } as const;
export type QuantileName = keyof typeof PROFILE_QUANTILES;

export interface Histogram {
  /** bins + 1 ascending edges; bin i holds [edges[i], edges[i+1]), the last bin also its upper edge. */
  edges: number[];
  counts: number[];
}

export interface NumericProfile {
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  quantiles: Record<QuantileName, number>;
  histogram: Histogram;
  /**
   * A seeded uniform sample (reservoir) of up to {@link ProfileOptions.sampleSize} present values, ascending: the
   * reference sample of the Kolmogorov–Smirnov drift test (ml/drift.ts). Absent in profiles written before it existed.
   */
  sample?: number[];
}

export interface CategoricalProfile {
  /** Distinct categories present. */
  distinct: number;
  /** The most frequent categories, most frequent first (ties by name). */
  top: { value: string; count: number }[];
  /** Rows holding a category outside {@link top}. */
  otherCount: number;
}

export interface ColumnProfile {
  name: string;
  /** The column's declared type when known (number, timestamp, boolean, category), else its kind. */
  type: string;
  /** Non-missing values. */
  count: number;
  nulls: number;
  nullShare: number;
  numeric?: NumericProfile;
  categorical?: CategoricalProfile;
  /** For timestamps: min and max as ISO text, for people reading the profile. */
  minIso?: string;
  maxIso?: string;
}

export interface TableProfile {
  rows: number;
  columns: ColumnProfile[];
}

export interface ProfileOptions {
  /** Declared type per column (`timestamp` adds ISO min/max). */
  types?: Readonly<Record<string, string>>;
  /** Histogram bins of numeric columns. @default 20 */
  bins?: number;
  /** Categories listed per categorical column. @default 20 */
  topCategories?: number;
  /** Values kept per numeric column as the reference sample for drift tests (0 = none). @default 10000 */
  sampleSize?: number;
  /** Seed of the reservoir sample. @default 0 */
  seed?: number;
}

/**
 * Profiles every column of a table. Deterministic: the same table gives the same JSON.
 *
 * @example
 * const profile = profileTable(table, { types: { date: 'timestamp' } });
 * profile.columns.find((c) => c.name === 'distance')?.numeric?.quantiles.p50;
 */
export function profileTable(table: Table, opts: ProfileOptions = {}): TableProfile {
  const bins = opts.bins ?? 20;
  const topCategories = opts.topCategories ?? 20;
  const sampleSize = opts.sampleSize ?? DEFAULT_SAMPLE_SIZE;
  const n = table.numRows;
  const columns = table.columns.map((column): ColumnProfile => {
    const type = opts.types?.[column.name] ?? column.kind;
    if (column.kind === 'categorical') {
      const counts = new Float64Array(column.dictionary.length);
      let nulls = 0;
      for (let i = 0; i < n; i++) {
        const c = column.codes[i];
        if (c < 0) nulls++;
        else counts[c]++;
      }
      const order = Array.from(counts.keys())
        .filter((c) => counts[c] > 0)
        // The dictionary is sorted, so equal counts fall back to name order.
        .sort((a, b) => counts[b] - counts[a] || a - b);
      const top = order.slice(0, topCategories).map((c) => ({ value: column.dictionary[c], count: counts[c] }));
      const listed = top.reduce((s, t) => s + t.count, 0);
      return {
        name: column.name,
        type,
        count: n - nulls,
        nulls,
        nullShare: n ? nulls / n : 0,
        categorical: { distinct: order.length, top, otherCount: n - nulls - listed },
      };
    }
    const numeric = numericProfile(column.values, bins, sampleSize, opts.seed ?? 0);
    const nulls = n - (numeric?.count ?? 0);
    const profile: ColumnProfile = { name: column.name, type, count: n - nulls, nulls, nullShare: n ? nulls / n : 0 };
    if (numeric) {
      profile.numeric = numeric.profile;
      if (type === 'timestamp') {
        profile.minIso = new Date(numeric.profile.min).toISOString();
        profile.maxIso = new Date(numeric.profile.max).toISOString();
      }
    }
    return profile;
  });
  return { rows: n, columns };
}

/** Reference sample per numeric column: enough for KS to resolve differences of ~0.02. */
export const DEFAULT_SAMPLE_SIZE = 10_000;

/**
 * A uniform sample of `size` present values (reservoir sampling, Algorithm R, seeded), ascending. Deterministic for
 * a given seed.
 */
export function reservoirSample(values: ArrayLike<number>, size: number, seed: number): number[] {
  const rng = createRng(seed);
  const kept = new Float64Array(size);
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    if (seen < size) kept[seen] = v;
    else {
      const j = rng.nextInt(seen + 1);
      if (j < size) kept[j] = v;
    }
    seen++;
  }
  return Array.from(kept.subarray(0, Math.min(seen, size)).sort());
}

/** Integer columns spanning at most this many values are counted instead of sorted. */
const MAX_COUNTED_SPAN = 1 << 20;

/** Statistics of the non-missing values, or undefined when there are none. */
function numericProfile(
  values: Float64Array,
  bins: number,
  sampleSize: number,
  seed: number,
): { count: number; profile: NumericProfile } | undefined {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let integers = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    count++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (integers && Math.floor(v) !== v) integers = false;
  }
  if (!count) return undefined;
  const mean = sum / count;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === v) squares += (v - mean) ** 2;
  }
  const edges = histogramEdges(min, max, bins);
  let quantile: (q: number) => number;
  let counts: number[];
  if (integers && max - min <= MAX_COUNTED_SPAN) {
    // Labels, hours, delays in minutes: a counting pass replaces a sort of millions of values.
    const tally = new Float64Array(max - min + 1);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === v) tally[v - min]++;
    }
    const cumulative = new Float64Array(tally.length);
    let running = 0;
    for (let k = 0; k < tally.length; k++) cumulative[k] = running += tally[k];
    const atRank = (rank: number) => {
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid] > rank) hi = mid;
        else lo = mid + 1;
      }
      return min + lo;
    };
    quantile = (q) => {
      const h = (count - 1) * q;
      const lo = Math.floor(h);
      const a = atRank(lo);
      return a + (h - lo) * (atRank(Math.min(lo + 1, count - 1)) - a);
    };
    counts = new Array<number>(edges.length - 1).fill(0);
    const distinct: number[] = [];
    const weights: number[] = [];
    for (let k = 0; k < tally.length; k++) {
      if (!tally[k]) continue;
      distinct.push(min + k);
      weights.push(tally[k]);
    }
    const binOf = histogramCounts(distinct, edges, weights);
    for (let b = 0; b < counts.length; b++) counts[b] = binOf[b];
  } else {
    const sorted = new Float64Array(count);
    for (let i = 0, k = 0; i < values.length; i++) if (values[i] === values[i]) sorted[k++] = values[i];
    sorted.sort();
    quantile = (q) => quantileSorted(sorted, q);
    counts = histogramCounts(sorted, edges);
  }
  const quantiles = Object.fromEntries(
    Object.entries(PROFILE_QUANTILES).map(([name, q]) => [name, quantile(q)]),
  ) as Record<QuantileName, number>;
  const profile: NumericProfile = {
    min,
    max,
    mean,
    std: Math.sqrt(squares / count),
    quantiles,
    histogram: { edges, counts },
  };
  if (sampleSize > 0) profile.sample = reservoirSample(values, sampleSize, seed);
  return { count, profile };
}

/** Quantile `q` of ascending values, interpolating linearly between neighbours (R type 7, numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const m = sorted.length;
  if (!m) return NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, m - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** `bins` equal-width bins over [min, max]; one bin when all values are equal. */
export function histogramEdges(min: number, max: number, bins: number): number[] {
  if (!(max > min)) return [min, max];
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? max : min + ((max - min) * i) / bins));
}

/**
 * Counts values into the bins of `edges`: bin i holds [edges[i], edges[i+1]), the last bin is closed. Values below
 * the first edge count in the first bin and above the last edge in the last, so data binned later (monitoring)
 * lands in the training bins; missing values are not counted.
 */
export function histogramCounts(
  values: ArrayLike<number>,
  edges: readonly number[],
  /** Weight of each value. @default 1 each */
  weights?: ArrayLike<number>,
): number[] {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    // Binary search for the last edge <= v.
    let lo = 0;
    let hi = bins;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (edges[mid] <= v) lo = mid;
      else hi = mid;
    }
    counts[lo] += weights ? weights[i] : 1;
  }
  return counts;
}
