/**
 * Drift statistics: how far live data has moved from the training data a model learned from. Pure functions over
 * typed arrays and the dataset profile (ml/profile.ts) kept beside every ingested dataset; the monitor
 * (activities/monitor.ts) feeds them the recent prediction log.
 *
 * - PSI (population stability index) over the reference bins: the profile's histogram bins for numeric columns, its
 *   top categories plus "other" for categorical ones, reference deciles for model scores.
 * - Kolmogorov–Smirnov two-sample statistic for numeric columns, equal to `scipy.stats.ks_2samp`'s (checked against a
 *   fixture made by bench/python/ks_reference.py), with the asymptotic p-value of the Kolmogorov distribution.
 * - Pearson's chi-square test of homogeneity for categorical columns (reference counts vs live counts).
 */
import type { CategoricalProfile, NumericProfile, TableProfile } from './profile';

/**
 * Share given to a bin that holds no rows on one side, so PSI stays finite. 1e-4 is the usual choice: one empty bin
 * facing a 10% bin adds 0.1 × ln(0.1 / 1e-4) ≈ 0.69, a clear breach, where a smaller floor would let one rare
 * category dominate the index.
 */
export const PSI_EPSILON = 1e-4;

/**
 * Population stability index of two binnings of the same bins: Σ (a − e) · ln(a / e) over the bins' shares, with
 * empty shares floored at {@link PSI_EPSILON}. 0 = the same distribution; < 0.1 stable, 0.1–0.2 moderate, > 0.2 shifted
 * (the common reading). NaN when either side has no rows.
 *
 * @example
 * psi([50, 50], [25, 75]); // 0.1438
 */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  if (expected.length !== actual.length) {
    throw new RangeError(`psi: ${expected.length} expected bins but ${actual.length} actual bins`);
  }
  let totalE = 0;
  let totalA = 0;
  for (let i = 0; i < expected.length; i++) {
    totalE += expected[i];
    totalA += actual[i];
  }
  if (!(totalE > 0) || !(totalA > 0)) return NaN;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i] / totalE, epsilon);
    const a = Math.max(actual[i] / totalA, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** The present (non-NaN) values, ascending, as a new typed array: sort once, then walk it for PSI and KS. */
export function sortedPresent(values: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === values[i]) n++;
  const out = new Float64Array(n);
  for (let i = 0, k = 0; i < values.length; i++) if (values[i] === values[i]) out[k++] = values[i];
  return out.sort();
}

/**
 * Counts ascending values into the bins of `edges` as ml/profile.ts's `histogramCounts` does (bin i holds
 * [edges[i], edges[i+1]), values outside the edges land in the end bins) with one walk instead of a search per value.
 */
export function binSorted(sorted: Float64Array, edges: readonly number[]): Float64Array {
  const bins = Math.max(edges.length - 1, 1);
  const counts = new Float64Array(bins);
  let i = 0;
  for (let b = 0; b < bins - 1; b++) {
    const upper = edges[b + 1];
    const start = i;
    while (i < sorted.length && sorted[i] < upper) i++;
    counts[b] = i - start;
  }
  counts[bins - 1] = sorted.length - i;
  return counts;
}

/** Result of a two-sample test. */
export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * Two-sample Kolmogorov–Smirnov test of ascending samples: D = sup |F_a(x) − F_b(x)|, the same number as
 * `scipy.stats.ks_2samp(a, b).statistic` (ties handled as scipy does: both empirical CDFs are taken after every value
 * equal to x). One merge walk, O(n + m).
 *
 * The p-value is asymptotic: the Kolmogorov limiting distribution at √(nm/(n+m)) · D, i.e.
 * `scipy.stats.kstwobign.sf(D * sqrt(n*m/(n+m)))`. (scipy's `method='asymp'` now uses the finite-n distribution
 * `kstwo.sf(D, round(nm/(n+m)))`, which agrees closely once nm/(n+m) is in the hundreds, as monitoring windows are.)
 *
 * @example
 * ksTwoSample(Float64Array.of(1, 2, 3), Float64Array.of(2, 3, 4)).statistic; // 1/3
 */
export function ksTwoSample(a: Float64Array, b: Float64Array): TestResult {
  const n = a.length;
  const m = b.length;
  if (!n || !m) return { statistic: NaN, pValue: NaN };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const x = a[i] <= b[j] ? a[i] : b[j];
    while (i < n && a[i] <= x) i++;
    while (j < m && b[j] <= x) j++;
    const diff = Math.abs(i / n - j / m);
    if (diff > d) d = diff;
  }
  // Past the end of one sample its CDF is 1; the other's only grows towards 1, so the gap there is largest right now.
  return { statistic: d, pValue: kolmogorovSf(Math.sqrt((n * m) / (n + m)) * d) };
}

/**
 * Survival function of the Kolmogorov distribution, P(K > x) (`scipy.stats.kstwobign.sf`). Two series, each used
 * where it converges in a few terms.
 */
export function kolmogorovSf(x: number): number {
  if (!(x > 0)) return x === x ? 1 : NaN;
  if (x < 1) {
    // P(K <= x) = √(2π)/x Σ_{k≥1} exp(−(2k−1)²π²/(8x²))
    const t = (Math.PI * Math.PI) / (8 * x * x);
    let sum = 0;
    for (let k = 1; k <= 20; k++) {
      const term = Math.exp(-((2 * k - 1) ** 2) * t);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return 1 - (Math.sqrt(2 * Math.PI) / x) * sum;
  }
  // P(K > x) = 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²x²)
  let sum = 0;
  for (let k = 1; k <= 100; k++) {
    const term = Math.exp(-2 * k * k * x * x);
    sum += k % 2 ? term : -term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Pearson's chi-square test of homogeneity of two count vectors over the same categories (a 2 × k contingency table;
 * `scipy.stats.chi2_contingency([a, b], correction=False)`). Categories empty on both sides are left out; df = k − 1.
 */
export function chiSquareHomogeneity(a: ArrayLike<number>, b: ArrayLike<number>): TestResult & { df: number } {
  if (a.length !== b.length) throw new RangeError(`chi-square: ${a.length} vs ${b.length} categories`);
  let totalA = 0;
  let totalB = 0;
  for (let i = 0; i < a.length; i++) {
    totalA += a[i];
    totalB += b[i];
  }
  const total = totalA + totalB;
  if (!(totalA > 0) || !(totalB > 0)) return { statistic: NaN, pValue: NaN, df: 0 };
  let statistic = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const column = a[i] + b[i];
    if (!(column > 0)) continue;
    k++;
    const ea = (column * totalA) / total;
    const eb = (column * totalB) / total;
    statistic += (a[i] - ea) ** 2 / ea + (b[i] - eb) ** 2 / eb;
  }
  const df = k - 1;
  return { statistic, df, pValue: df > 0 ? chiSquareSf(statistic, df) : 1 };
}

/** P(χ²_df > x): the regularized upper incomplete gamma function Q(df/2, x/2). */
export function chiSquareSf(x: number, df: number): number {
  if (!(x > 0)) return 1;
  return gammaQ(df / 2, x / 2);
}

/** ln Γ(z) for z > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
export function lnGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const x = z - 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a): the power series of P below x = a + 1, Lentz's
 * continued fraction for Q above it (Numerical Recipes §6.2), each to about 1e-15 relative.
 */
export function gammaQ(a: number, x: number): number {
  if (!(x > 0)) return 1;
  const logPrefix = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}

/** PSI and KS of live numeric values against a column's training profile. */
export interface NumericDrift {
  /** Present live values. */
  rows: number;
  psi: number;
  /** Absent when the profile has no reference sample (written before samples existed). */
  ks?: TestResult;
}

/**
 * Compares live values (any order, NaN = missing) with a numeric column's profile: PSI over the profile's histogram
 * bins (exact counts over every training row) and KS against its reference sample.
 */
export function numericDrift(reference: NumericProfile, values: ArrayLike<number>): NumericDrift {
  const sorted = values instanceof Float64Array && isAscending(values) ? values : sortedPresent(values);
  const { edges, counts } = reference.histogram;
  const drift: NumericDrift = { rows: sorted.length, psi: psi(counts, binSorted(sorted, edges)) };
  if (reference.sample?.length) drift.ks = ksTwoSample(Float64Array.from(reference.sample), sorted);
  return drift;
}

function isAscending(values: Float64Array): boolean {
  for (let i = 1; i < values.length; i++) if (!(values[i - 1] <= values[i])) return false;
  return true;
}

/** PSI and chi-square of live categories against a column's training profile. */
export interface CategoricalDrift {
  rows: number;
  psi: number;
  chiSquare: TestResult & { df: number };
}

/**
 * Compares live categories (null = missing) with a categorical column's profile over the profile's bins: its top
 * categories plus one "other" bin holding every category outside them (seen in training or not).
 */
export function categoricalDrift(
  reference: CategoricalProfile,
  values: Iterable<string | number | null | undefined>,
): CategoricalDrift {
  const index = new Map(reference.top.map((t, i) => [t.value, i] as const));
  const expected = Float64Array.from([...reference.top.map((t) => t.count), reference.otherCount]);
  const other = reference.top.length;
  const actual = new Float64Array(other + 1);
  let rows = 0;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    rows++;
    actual[index.get(String(v)) ?? other]++;
  }
  return { rows, psi: psi(expected, actual), chiSquare: chiSquareHomogeneity(expected, actual) };
}

/**
 * Edges at the reference's quantiles (deciles by default) for binning scores, duplicates merged (a model that outputs
 * few distinct scores gets fewer bins). Edges lie strictly inside the reference range; the end bins are open.
 */
export function quantileEdges(sortedReference: ArrayLike<number>, bins = 10): number[] {
  const n = sortedReference.length;
  if (!n) return [];
  const inner: number[] = [];
  for (let k = 1; k < bins; k++) {
    const v = sortedReference[Math.min(n - 1, Math.floor((k * n) / bins))];
    if (!inner.length || v > inner[inner.length - 1]) inner.push(v);
  }
  return [sortedReference[0], ...inner.filter((v) => v > sortedReference[0]), sortedReference[n - 1]];
}

/**
 * Prediction drift: PSI of live scores against reference scores (e.g. the model's scores on its holdout) over the
 * reference's deciles.
 */
export function scoreDrift(referenceScores: ArrayLike<number>, liveScores: ArrayLike<number>, bins = 10): number {
  const reference = sortedPresent(referenceScores);
  const edges = quantileEdges(reference, bins);
  if (edges.length < 2) return NaN;
  return psi(binSorted(reference, edges), binSorted(sortedPresent(liveScores), edges));
}

/** When a statistic counts as drift. */
export interface DriftThresholds {
  /** PSI above this is drift. @default 0.2 */
  psi: number;
  /** KS statistic (not its p-value) above this is drift. @default 0.15 */
  ks: number;
  /** Chi-square p-value below this is drift. @default 0.001 */
  chiSquareP: number;
  /** Score PSI above this is prediction drift. @default 0.2 */
  predictionPsi: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = { psi: 0.2, ks: 0.15, chiSquareP: 0.001, predictionPsi: 0.2 };

/** One line of the drift table: a statistic of a feature (or of the prediction), its threshold and the verdict. */
export interface DriftRow {
  /** Feature name, or `(prediction)` for the score distribution. */
  feature: string;
  statistic: 'psi' | 'ks' | 'chi2';
  value: number;
  /** For ks and chi2. */
  pValue?: number;
  threshold: number;
  /** `value > threshold` (psi, ks) or `pValue < threshold` (chi2). */
  drifted: boolean;
}

/** The prediction row's feature name in a {@link DriftRow}. */
export const PREDICTION_FEATURE = '(prediction)';

/** Live values of one feature: numbers (NaN = missing) or categories (null = missing). */
export type LiveColumn = ArrayLike<number> | readonly (string | number | null)[];

/**
 * Builds the drift table of live features against a training profile: psi + ks rows for numeric columns, psi + chi2
 * rows for categorical ones. Features the profile does not know are skipped (the caller reports them).
 *
 * @example
 * const rows = driftTable(profile, { distance: Float64Array.of(...), origin: ['ORD', 'SFO'] });
 * const drifted = new Set(rows.filter((r) => r.drifted).map((r) => r.feature));
 */
export function driftTable(
  profile: TableProfile,
  live: Readonly<Record<string, LiveColumn>>,
  thresholds: DriftThresholds = DEFAULT_DRIFT_THRESHOLDS,
): DriftRow[] {
  const rows: DriftRow[] = [];
  const round = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(6)) : v);
  const psiRow = (feature: string, psi: number): DriftRow => ({
    feature,
    statistic: 'psi',
    value: round(psi),
    threshold: thresholds.psi,
    drifted: psi > thresholds.psi,
  });
  for (const [feature, values] of Object.entries(live)) {
    const column = profile.columns.find((c) => c.name === feature);
    if (column?.numeric) {
      const numbers = Float64Array.from(values as ArrayLike<unknown>, (v) =>
        typeof v === 'number' ? v : v === null || v === undefined || v === '' ? NaN : Number(v),
      );
      const d = numericDrift(column.numeric, numbers);
      rows.push(psiRow(feature, d.psi));
      if (d.ks) {
        rows.push({
          feature,
          statistic: 'ks',
          value: round(d.ks.statistic),
          pValue: round(d.ks.pValue),
          threshold: thresholds.ks,
          drifted: d.ks.statistic > thresholds.ks,
        });
      }
    } else if (column?.categorical) {
      const d = categoricalDrift(column.categorical, Array.from(values as ArrayLike<string | number | null>));
      rows.push(psiRow(feature, d.psi));
      rows.push({
        feature,
        statistic: 'chi2',
        value: round(d.chiSquare.statistic),
        pValue: d.chiSquare.pValue,
        threshold: thresholds.chiSquareP,
        drifted: d.chiSquare.pValue < thresholds.chiSquareP,
      });
    }
  }
  return rows;
}
