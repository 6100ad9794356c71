import { describe, expect, it } from 'vitest';
import { compileDerive, deriveFeatures, FeatureExpressionError, parseTimestamp } from './features';
import { categoricalColumn, getColumn, numericColumn, tableFromColumns, tableFromRows, tableToRows } from './table';

const values = (table: ReturnType<typeof deriveFeatures>, name: string) => {
  const c = getColumn(table, name);
  return c.kind === 'numeric' ? Array.from(c.values) : c.codes.map((code) => code);
};

describe('parseTimestamp', () => {
  it('reads the common forms as UTC', () => {
    expect(parseTimestamp('2001/01/14 21:55')).toBe(Date.UTC(2001, 0, 14, 21, 55));
    expect(parseTimestamp('2001-01-14')).toBe(Date.UTC(2001, 0, 14));
    expect(parseTimestamp('2001-01-14T21:55:07.25Z')).toBe(Date.UTC(2001, 0, 14, 21, 55, 7, 250));
    expect(parseTimestamp('2001-01-14 21:55+02:00')).toBe(Date.UTC(2001, 0, 14, 19, 55));
    expect(parseTimestamp('2001-01-14T21:55:00-0130')).toBe(Date.UTC(2001, 0, 14, 23, 25));
  });

  it('rejects what is not a date', () => {
    for (const bad of ['', 'yesterday', '2001-02-29', '2001-13-01', '2001-01-01 24:00', '12', '2001-01-01x']) {
      expect(parseTimestamp(bad), bad).toBeNaN();
    }
    expect(parseTimestamp('2000-02-29')).toBe(Date.UTC(2000, 1, 29));
  });
});

describe('deriveFeatures', () => {
  // 2001-01-14 is a Sunday; 2001-03-01 a Thursday; 1969-12-31 23:30 a Wednesday (negative epoch ms).
  const times = [
    Date.UTC(2001, 0, 14, 21, 55),
    Date.UTC(2001, 2, 1, 0, 5),
    Date.UTC(1969, 11, 31, 23, 30),
    Date.UTC(2000, 1, 29, 12),
    NaN,
  ];
  const table = tableFromColumns([
    numericColumn('date', times),
    numericColumn('delay', [20, 15, -3, NaN, 100]),
    numericColumn('distance', [100, 0, 2000, 50, 10]),
    categoricalColumn('origin', ['ORD', 'SFO', null, 'ORD', 'JFK']),
    categoricalColumn('destination', ['SFO', 'SFO', 'ORD', 'LAX', null]),
  ]);

  it('computes calendar features in UTC', () => {
    const out = deriveFeatures(table, {
      hour: 'hour(date)',
      minute: 'minute(date)',
      dayOfWeek: 'dayOfWeek(date)',
      month: 'month(date)',
      dayOfMonth: 'dayOfMonth(date)',
      year: 'year(date)',
    });
    expect(values(out, 'hour')).toEqual([21, 0, 23, 12, NaN]);
    expect(values(out, 'minute')).toEqual([55, 5, 30, 0, NaN]);
    expect(values(out, 'dayOfWeek')).toEqual([0, 4, 3, 2, NaN]);
    expect(values(out, 'month')).toEqual([1, 3, 12, 2, NaN]);
    expect(values(out, 'dayOfMonth')).toEqual([14, 1, 31, 29, NaN]);
    expect(values(out, 'year')).toEqual([2001, 2001, 1969, 2000, NaN]);
    // Matches Date's own answers on every row.
    times.slice(0, 4).forEach((t, i) => expect(values(out, 'dayOfWeek')[i]).toBe(new Date(t).getUTCDay()));
  });

  it('propagates missing values through comparisons, and keeps 0 for a known false', () => {
    const out = deriveFeatures(table, {
      delayed: 'delay > 15',
      both: 'delay > 15 && distance > 50',
      either: 'delay > 15 || distance > 50',
      missing: 'isNull(delay)',
      not: '!(delay > 15)',
    });
    expect(values(out, 'delayed')).toEqual([1, 0, 0, NaN, 1]);
    expect(values(out, 'both')).toEqual([1, 0, 0, 0, 0]); // NaN && false = false
    expect(values(out, 'either')).toEqual([1, 0, 1, NaN, 1]);
    expect(values(out, 'missing')).toEqual([0, 0, 0, 1, 0]);
    expect(values(out, 'not')).toEqual([0, 1, 1, NaN, 0]);
  });

  it('does arithmetic with precedence, functions, conditionals; x / 0 is missing', () => {
    const out = deriveFeatures(table, {
      a: '1 + 2 * distance - -3',
      b: '(1 + 2) * distance % 7',
      c: 'log1p(distance)',
      d: 'distance / 0',
      e: 'min(delay, 30) + max(0, abs(-2))',
      f: 'delay > 15 ? 1 : 0.5',
      g: 'sqrt(distance) + log(1)',
    });
    expect(values(out, 'a')).toEqual([204, 4, 4004, 104, 24]);
    expect(values(out, 'b')).toEqual([300 % 7, 0, 6000 % 7, 150 % 7, 30 % 7]);
    expect(values(out, 'c')[2]).toBeCloseTo(Math.log1p(2000));
    expect(values(out, 'd').every(Number.isNaN)).toBe(true);
    expect(values(out, 'e')).toEqual([22, 17, -1, NaN, 32]);
    expect(values(out, 'f')).toEqual([1, 0.5, 0.5, NaN, 1]);
  });

  it('compares categories with strings and with each other, and timestamps with date text', () => {
    const out = deriveFeatures(table, {
      fromOrd: "origin == 'ORD'",
      notSfo: 'destination != "SFO"',
      roundTrip: 'origin == destination',
      early: "date < '2001-02-01'",
      copy: 'origin',
    });
    expect(values(out, 'fromOrd')).toEqual([1, 0, NaN, 1, 0]);
    expect(values(out, 'notSfo')).toEqual([0, 0, 1, 1, NaN]);
    expect(values(out, 'roundTrip')).toEqual([0, 1, NaN, 0, NaN]);
    expect(values(out, 'early')).toEqual([1, 0, 1, 1, NaN]);
    expect(tableToRows(out).map((r) => r.copy)).toEqual(['ORD', 'SFO', null, 'ORD', 'JFK']);
  });

  it('lets later features use earlier ones and reports types and raw inputs', () => {
    const derive = compileDerive({
      delayed: 'delay > 15',
      late: 'delayed && hour(date) >= 20',
      km: 'distance * 1.609',
    });
    expect(derive.inputs).toEqual(['delay', 'date', 'distance']);
    const { table: out, types } = derive.applyWithTypes(table);
    expect(types).toEqual({ delayed: 'boolean', late: 'boolean', km: 'number' });
    // Row 3: missing && false is false; row 4: true && missing is missing.
    expect(values(out, 'late')).toEqual([1, 0, 0, 0, NaN]);
    expect(out.columns.map((c) => c.name)).toEqual([...table.columns.map((c) => c.name), 'delayed', 'late', 'km']);
  });

  it('gives serving the same features from request rows that carry timestamps as text', () => {
    const spec = { hour: 'hour(date)', dayOfWeek: 'dayOfWeek(date)', long: 'distance > 1000' };
    const request = tableFromRows([
      { date: '2001/01/14 21:55', distance: 2000 },
      { date: '2001-03-01T00:05Z', distance: 10 },
    ]);
    const served = deriveFeatures(request, spec);
    const trained = deriveFeatures(table, spec);
    expect(values(served, 'hour')).toEqual(values(trained, 'hour').slice(0, 2));
    expect(values(served, 'dayOfWeek')).toEqual(values(trained, 'dayOfWeek').slice(0, 2));
    expect(values(served, 'long')).toEqual([1, 0]);
  });

  it('names the feature and column of a syntax error, an unknown function or column', () => {
    const error = (spec: Record<string, string>) => {
      try {
        deriveFeatures(table, spec);
      } catch (err) {
        expect(err).toBeInstanceOf(FeatureExpressionError);
        return (err as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(error({ x: 'delay >' })).toBe('feature "x": unexpected end of expression at column 8 of `delay >`');
    expect(error({ x: 'delay = 1' })).toMatch(/use "==" to compare at column 7/);
    expect(error({ x: 'hours(date)' })).toMatch(/unknown function "hours" \(have: hour, minute/);
    expect(error({ x: 'hour(date, 1)' })).toMatch(/hour\(\) takes 1 argument\(s\), got 2/);
    expect(error({ x: 'delays > 1' })).toMatch(/no column "delays" \(have: date, delay, distance/);
    expect(error({ x: 'origin > 1' })).toMatch(/needs a number, got the categorical column "origin"/);
    expect(error({ x: "delay > 'soon'" })).toMatch(/'soon' is not a timestamp/);
    expect(error({ x: 'constructor.prototype' })).toMatch(/unexpected character "\."|unexpected "\."/);
  });

  it('accepts backtick column names and literal booleans', () => {
    const t = tableFromColumns([numericColumn('dep delay', [1, 20])]);
    expect(values(deriveFeatures(t, { late: '`dep delay` > 15 == true' }), 'late')).toEqual([0, 1]);
  });
});
