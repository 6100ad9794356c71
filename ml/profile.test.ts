import { describe, expect, it } from 'vitest';
import { histogramCounts, histogramEdges, profileTable, quantileSorted } from './profile';
import { categoricalColumn, numericColumn, tableFromColumns } from './table';

describe('profileTable', () => {
  const n = 1000;
  const ints = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? NaN : i)); // 100 missing
  const floats = Array.from({ length: n }, (_, i) => i / 10 + 0.05);
  const table = tableFromColumns([
    numericColumn('ints', ints),
    numericColumn('floats', floats),
    numericColumn('date', [
      Date.UTC(2001, 0, 1),
      Date.UTC(2001, 5, 30),
      ...new Array(n - 2).fill(Date.UTC(2001, 2, 1)),
    ]),
    categoricalColumn(
      'origin',
      Array.from({ length: n }, (_, i) =>
        i < 500 ? 'ORD' : i < 800 ? 'SFO' : i < 900 ? 'ATL' : i < 950 ? 'BOS' : null,
      ),
    ),
  ]);
  const profile = profileTable(table, { types: { date: 'timestamp' }, topCategories: 2 });
  const column = (name: string) => profile.columns.find((c) => c.name === name)!;

  it('counts rows and nulls and computes moments and quantiles like numpy', () => {
    expect(profile.rows).toBe(n);
    const p = column('ints');
    expect(p).toMatchObject({ type: 'numeric', count: 900, nulls: 100, nullShare: 0.1 });
    const present = ints.filter((v) => !Number.isNaN(v));
    const mean = present.reduce((s, v) => s + v, 0) / present.length;
    expect(p.numeric!.min).toBe(1);
    expect(p.numeric!.max).toBe(999);
    expect(p.numeric!.mean).toBeCloseTo(mean);
    expect(p.numeric!.std).toBeCloseTo(Math.sqrt(present.reduce((s, v) => s + (v - mean) ** 2, 0) / present.length));
    // The counting path (integers) and the sorting path (floats) agree with type-7 interpolation.
    for (const [name, q] of Object.entries({ p1: 0.01, p50: 0.5, p99: 0.99 })) {
      expect(p.numeric!.quantiles[name as 'p1']).toBeCloseTo(quantileSorted(present, q));
      expect(column('floats').numeric!.quantiles[name as 'p1']).toBeCloseTo(quantileSorted(floats, q));
    }
    expect(column('floats').numeric!.quantiles.p50).toBeCloseTo(50);
  });

  it('stores 20 fixed-edge bins that count every present value', () => {
    const { edges, counts } = column('floats').numeric!.histogram;
    expect(edges).toHaveLength(21);
    expect(edges[0]).toBe(0.05);
    expect(edges[20]).toBe(99.95);
    expect(counts.reduce((s, c) => s + c, 0)).toBe(n);
    expect(counts.every((c) => c === 50)).toBe(true);
    const ints = column('ints').numeric!.histogram;
    expect(ints.counts.reduce((s, c) => s + c, 0)).toBe(900);
    expect(histogramCounts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], histogramEdges(1, 10, 3))).toEqual([3, 3, 4]);
    // Later data outside the edges lands in the end bins (for PSI against the training profile).
    expect(histogramCounts([-100, 5, 1e9, NaN], histogramEdges(1, 10, 3))).toEqual([1, 1, 1]);
  });

  it('lists top categories and the rest, and ISO bounds for timestamps', () => {
    expect(column('origin')).toMatchObject({
      type: 'categorical',
      count: 950,
      nulls: 50,
      categorical: {
        distinct: 4,
        top: [
          { value: 'ORD', count: 500 },
          { value: 'SFO', count: 300 },
        ],
        otherCount: 150,
      },
    });
    expect(column('date')).toMatchObject({
      type: 'timestamp',
      minIso: '2001-01-01T00:00:00.000Z',
      maxIso: '2001-06-30T00:00:00.000Z',
    });
  });

  it('is deterministic and handles constant and empty columns', () => {
    expect(JSON.stringify(profileTable(table))).toBe(JSON.stringify(profileTable(table)));
    const odd = profileTable(tableFromColumns([numericColumn('k', [3, 3, 3]), numericColumn('e', [NaN, NaN, NaN])]));
    expect(odd.columns[0].numeric).toMatchObject({ min: 3, max: 3, std: 0, histogram: { edges: [3, 3], counts: [3] } });
    expect(odd.columns[1]).toMatchObject({ count: 0, nulls: 3 });
    expect(odd.columns[1].numeric).toBeUndefined();
  });
});
