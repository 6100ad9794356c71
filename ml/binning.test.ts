import { describe, expect, it } from 'vitest';
import { binColumns, binNumericValue, fitCategoricalBins, fitNumericBins } from './binning';
import { createRng } from './random';
import { categoricalColumn, numericColumn } from './table';

describe('binning', () => {
  it('gives each of few distinct values its own bin, with float32 midpoints', () => {
    const mapper = fitNumericBins(Float64Array.from([3, 1, 2, 2, NaN, 1]));
    expect(mapper.thresholds).toEqual([1.5, 2.5]);
    const bins = [1, 2, 3, NaN, 1.5, 100].map((x) => binNumericValue(mapper.thresholds, x));
    expect(bins).toEqual([0, 1, 2, 3, 0, 2]);
  });

  it('cuts many values into at most maxBins quantile bins of similar size', () => {
    const rng = createRng(1);
    const values = Float64Array.from({ length: 20_000 }, () => rng.next());
    const mapper = fitNumericBins(values, { maxBins: 16 });
    expect(mapper.thresholds.length).toBeLessThanOrEqual(15);
    expect(mapper.thresholds.length).toBeGreaterThanOrEqual(14);
    const counts = new Array(17).fill(0);
    for (const v of values) counts[binNumericValue(mapper.thresholds, v)]++;
    for (const c of counts.slice(0, mapper.thresholds.length + 1)) expect(c).toBeGreaterThan(20_000 / 16 / 2);
    for (const t of mapper.thresholds) expect(Math.fround(t)).toBe(t);
  });

  it('keeps a heavy value in a bin of its own', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => (i < 600 ? 0 : i));
    const mapper = fitNumericBins(values, { maxBins: 8 });
    expect(binNumericValue(mapper.thresholds, 0)).toBe(0);
    expect(binNumericValue(mapper.thresholds, 601)).toBe(1);
  });

  it('bins categories by frequency, rare and unseen ones into the other bin', () => {
    const column = categoricalColumn('c', ['a', 'b', 'b', 'c', 'c', 'c', null]);
    const mapper = fitCategoricalBins(column.codes, column.dictionary.length, { maxBins: 2 });
    expect(mapper.categories).toEqual([2, 1]);
    const scoring = categoricalColumn('c', ['c', 'b', 'a', 'zzz', null]);
    const bins = binColumns(
      [scoring],
      [{ name: 'c', kind: 'categorical', categories: column.dictionary }],
      [mapper],
      5,
    );
    expect(Array.from(bins)).toEqual([0, 1, 2, 2, 2]);
  });

  it('bins row-major, numeric by float32 value', () => {
    const x = numericColumn('x', [0.1, Math.fround(0.1), 0.2]);
    const mapper = { kind: 'numeric' as const, thresholds: [Math.fround(0.1)] };
    const bins = binColumns(
      [x, x],
      [
        { name: 'x', kind: 'numeric' },
        { name: 'x', kind: 'numeric' },
      ],
      [mapper, mapper],
      3,
    );
    expect(Array.from(bins)).toEqual([0, 0, 0, 0, 1, 1]);
  });
});
