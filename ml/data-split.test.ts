import { describe, expect, it } from 'vitest';
import { sampleRows, splitTable } from './data-split';
import { getColumn, numericColumn, tableFromColumns, TableError, type Table } from './table';

const ids = (table: Table) => {
  const c = getColumn(table, 'id');
  return c.kind === 'numeric' ? Array.from(c.values) : [];
};

describe('splitTable', () => {
  const days = [1, 2, 3, NaN, 25, 26, 31, 24];
  const table = tableFromColumns([
    numericColumn(
      'id',
      days.map((_, i) => i),
    ),
    numericColumn(
      'date',
      days.map((d) => (Number.isNaN(d) ? NaN : Date.UTC(2001, 0, d))),
    ),
  ]);

  it('by time: before validFrom trains, from it validates, rows keep their order', () => {
    const { train, valid, dropped } = splitTable(table, { by: 'time', column: 'date', validFrom: '2001-01-25' });
    expect(ids(train)).toEqual([0, 1, 2, 7]);
    expect(ids(valid)).toEqual([4, 5, 6]);
    expect(dropped).toBe(1); // the missing date
    const bounded = splitTable(table, { by: 'time', column: 'date', validFrom: '2001-01-25', validTo: '2001-01-31' });
    expect(ids(bounded.valid)).toEqual([4, 5]);
    expect(bounded.dropped).toBe(2);
  });

  it('at random: exact sizes, deterministic per seed, disjoint and complete', () => {
    const big = tableFromColumns([
      numericColumn(
        'id',
        Array.from({ length: 1000 }, (_, i) => i),
      ),
    ]);
    const a = splitTable(big, { by: 'random', validFraction: 0.2, seed: 1 });
    const b = splitTable(big, { by: 'random', validFraction: 0.2, seed: 1 });
    const c = splitTable(big, { by: 'random', validFraction: 0.2, seed: 2 });
    expect(a.valid.numRows).toBe(200);
    expect(a.train.numRows).toBe(800);
    expect(ids(a.valid)).toEqual(ids(b.valid));
    expect(ids(a.valid)).not.toEqual(ids(c.valid));
    expect([...ids(a.train), ...ids(a.valid)].sort((x, y) => x - y)).toEqual(ids(big));
    expect(ids(a.valid)).toEqual([...ids(a.valid)].sort((x, y) => x - y));
  });

  it('rejects a categorical or missing time column and a bad bound', () => {
    expect(() => splitTable(table, { by: 'time', column: 'nope', validFrom: 0 })).toThrow(TableError);
    expect(() => splitTable(table, { by: 'time', column: 'date', validFrom: 'soon' })).toThrow(/not a timestamp/);
    expect(() => splitTable(table, { by: 'random', validFraction: 1 })).toThrow(/validFraction/);
  });
});

describe('sampleRows', () => {
  it('keeps n rows in order, the same for the same seed, all rows when n is larger', () => {
    const big = tableFromColumns([
      numericColumn(
        'id',
        Array.from({ length: 100 }, (_, i) => i),
      ),
    ]);
    const s = sampleRows(big, 10, 3);
    expect(s.numRows).toBe(10);
    expect(ids(s)).toEqual([...ids(s)].sort((x, y) => x - y));
    expect(ids(sampleRows(big, 10, 3))).toEqual(ids(s));
    expect(sampleRows(big, 1000)).toBe(big);
  });
});
