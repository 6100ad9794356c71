import { describe, expect, it } from 'vitest';
import { checkExpectations, ExpectationError, formatViolations } from './expectations';
import { categoricalColumn, numericColumn, tableFromColumns } from './table';

const distances = [100, -5, 7000, 300, 6100, -1, 9000, 200, 6001];
const table = tableFromColumns([
  numericColumn('distance', distances),
  numericColumn('delay', [1, NaN, 3, NaN, 5, 6, 7, 8, 9]),
  categoricalColumn('origin', ['ORD', 'SFO', null, 'XXX', 'ORD', 'YYY', 'SFO', 'ORD', null]),
  numericColumn(
    'date',
    distances.map((_, i) => Date.UTC(2001, 0, 1 + i)),
  ),
]);

describe('checkExpectations', () => {
  it('passes when everything holds', () => {
    expect(
      checkExpectations(table, {
        minRows: 9,
        maxRows: 9,
        notNull: ['distance'],
        range: { distance: { min: -10, max: 10_000 }, date: { min: '2001-01-01', max: '2001-01-09' } },
        allowed: { origin: ['ORD', 'SFO', 'XXX', 'YYY'] },
        maxNullShare: { delay: 0.25, origin: 0.25 },
      }),
    ).toEqual([]);
  });

  it('reports each kind with counts, up to 5 example rows and their values', () => {
    const violations = checkExpectations(
      table,
      {
        minRows: 1000,
        notNull: ['delay', 'origin'],
        range: { distance: { min: 0, max: 6000 }, date: { min: '2001-01-03' } },
        allowed: { origin: ['ORD', 'SFO'] },
        maxNullShare: { delay: 0.1 },
      },
      { timestampColumns: ['date'] },
    );
    expect(violations.map((v) => v.message)).toEqual([
      'rows: 9 rows, expected at least 1000',
      'delay: 2 missing values (rows 1, 3)',
      'origin: 2 missing values (rows 2, 8)',
      'distance: 6 values outside [0, 6000] (rows 1, 2, 4, 5, 6, ...: -5, 7000, 6100, -1, 9000, ...)',
      'date: 2 values below 2001-01-03T00:00:00.000Z (rows 0, 1: 2001-01-01T00:00:00.000Z, 2001-01-02T00:00:00.000Z)',
      "origin: 2 values not in the allowed list (2 values) (rows 3, 5: 'XXX', 'YYY')",
      'delay: 22.2% missing (2 of 9 rows), at most 10% allowed (rows 1, 3)',
    ]);
    const range = violations.find((v) => v.expectation === 'range' && v.column === 'distance')!;
    expect(range).toMatchObject({ count: 6, rows: [1, 2, 4, 5, 6], values: [-5, 7000, 6100, -1, 9000] });
    expect(formatViolations(violations)).toMatch(/^7 expectations failed:\n- rows: 9 rows/);
  });

  it('reports maxRows, unknown columns and a range on a category', () => {
    const messages = checkExpectations(table, {
      maxRows: 5,
      notNull: ['nope'],
      range: { origin: { min: 0 } },
    }).map((v) => v.message);
    expect(messages).toEqual([
      'rows: 9 rows, expected at most 5',
      'nope: no such column (have: distance, delay, origin, date), named in notNull',
      'origin: is categorical, range needs a numeric column',
    ]);
  });

  it('refuses a bound that is neither a number nor a timestamp', () => {
    expect(() => checkExpectations(table, { range: { distance: { min: 'soon' } } })).toThrow(ExpectationError);
  });
});
