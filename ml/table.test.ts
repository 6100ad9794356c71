import { describe, expect, it } from 'vitest';
import {
  categoricalColumn,
  getColumn,
  recodeCategorical,
  sliceRows,
  tableFromColumns,
  tableFromRows,
  tableToRows,
  takeRows,
  TableError,
  numericColumn,
  withColumn,
} from './table';

describe('table', () => {
  it('infers column kinds from rows and encodes missing values', () => {
    const table = tableFromRows([
      { distance: 100, origin: 'SFO', late: true },
      { distance: null, origin: '', late: false },
      { distance: '250', origin: 'JFK' },
    ]);
    expect(table.numRows).toBe(3);
    expect(table.columns.map((c) => [c.name, c.kind])).toEqual([
      ['distance', 'numeric'],
      ['origin', 'categorical'],
      ['late', 'numeric'],
    ]);
    const distance = getColumn(table, 'distance');
    expect(distance.kind === 'numeric' && Array.from(distance.values)).toEqual([100, NaN, 250]);
    const origin = getColumn(table, 'origin');
    expect(origin.kind === 'categorical' && [Array.from(origin.codes), origin.dictionary]).toEqual([
      [1, -1, 0],
      ['JFK', 'SFO'],
    ]);
    expect(tableToRows(table)[2]).toEqual({ distance: 250, origin: 'JFK', late: null });
  });

  it('follows a schema over inference', () => {
    const table = tableFromRows([{ code: 7 }, { code: 3 }], { code: 'categorical' });
    const code = getColumn(table, 'code');
    expect(code.kind === 'categorical' && code.dictionary).toEqual(['3', '7']);
  });

  it('takes, slices and replaces columns', () => {
    const table = tableFromColumns([numericColumn('x', [1, 2, 3]), categoricalColumn('c', ['a', 'b', 'a'])]);
    expect(tableToRows(takeRows(table, [2, 0]))).toEqual([
      { x: 3, c: 'a' },
      { x: 1, c: 'a' },
    ]);
    expect(tableToRows(sliceRows(table, 1))).toEqual([
      { x: 2, c: 'b' },
      { x: 3, c: 'a' },
    ]);
    expect(tableToRows(withColumn(table, numericColumn('x', [0, 0, 0])))[0]).toEqual({ x: 0, c: 'a' });
  });

  it('recodes categories against another dictionary, unseen → -1', () => {
    const column = categoricalColumn('c', ['b', 'zzz', null, 'a']);
    expect(Array.from(recodeCategorical(column, ['a', 'b']))).toEqual([1, -1, -1, 0]);
  });

  it('reports bad tables', () => {
    expect(() => tableFromColumns([numericColumn('x', [1]), numericColumn('y', [1, 2])])).toThrow(TableError);
    expect(() => tableFromColumns([numericColumn('x', [1]), numericColumn('x', [1])])).toThrow(/duplicate/);
    expect(() => getColumn(tableFromRows([{ a: 1 }]), 'b')).toThrow(/no column "b" \(have: a\)/);
  });
});
